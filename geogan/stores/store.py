"""Zarr v3 stores: the grid layout, tile writes, portable metadata, and opening with checks.

Layout of a grid store (``grid.zarr``)::

    concentration(element, y, x) float32   chunks (all elements, tile, tile)
    distance(y, x)               float32   metres to the nearest sample
    x, y                                    cell centres (y descending)
    element                                 symbols, units in attrs["units"]
    spatial_ref                             CRS + transform (rioxarray)

Every chunk a tile writes is stored, all-NaN ones included (``write_empty_chunks``), and a
store lists the arrays every tile writes in ``attrs["all_chunks_written"]`` (``concentration``
in a grid store: ``import-rasters`` leaves ``distance`` unwritten): opening it checks that
each of their chunks exists, since Zarr would silently read a deleted chunk as NaN. Opening
also checks the ``grid`` attribute against the ``x``/``y`` coordinates (:func:`grid_spec`).

What does not live here: building a store resumably in ``<name>.partial/`` and moving it
into place (:mod:`geogan.stores.staging`), exporting a grid to another format (COG:
:mod:`geogan.scoring.cog`), the scores and contributions stores' own layouts (:mod:`geogan.scoring.stage`),
output checks, atomic replacement and locks shared by every stage (:mod:`geogan.stores.files`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
import zarr

from geogan._version import __version__
from geogan.errors import GeoganError, StoreError
from geogan.gridspec import GridSpec
from geogan.stores.files import partial_path
from geogan.stores.urls import filesystem, is_url

STORE_VERSION = 1
# attribute listing the arrays of which every chunk is written (see the module docstring);
# stores made before it existed may lack all-NaN chunks, so their chunks are not checked
ALL_CHUNKS_WRITTEN = "all_chunks_written"
COMPRESSORS = [zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")]


# -- time stamps -------------------------------------------------------------------------------
def now_iso() -> str:
    """The current UTC time to the second, ISO 8601 (the ``created`` attribute of a store)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- creating a grid store -----------------------------------------------------------------
def _template(spec: GridSpec, elements: list[str]) -> xr.Dataset:
    import dask.array as da

    rows, cols = spec.chunks
    conc = da.full((len(elements), spec.height, spec.width), np.nan, dtype=np.float32,
                   chunks=((len(elements),), rows, cols))
    dist = da.full((spec.height, spec.width), np.nan, dtype=np.float32, chunks=(rows, cols))
    ds = xr.Dataset(
        {"concentration": (("element", "y", "x"), conc), "distance": (("y", "x"), dist)},
        coords={"element": np.array(elements, dtype=object), "y": spec.y_coords(), "x": spec.x_coords()},
    )
    ds["x"].attrs.update(units="m", standard_name="projection_x_coordinate", long_name="cell centre x")
    ds["y"].attrs.update(units="m", standard_name="projection_y_coordinate", long_name="cell centre y")
    ds["distance"].attrs.update(units="m", long_name="distance from the cell centre to the nearest sample")
    ds["concentration"].attrs.update(long_name="interpolated concentration, in each element's unit (attrs units)")
    ds = ds.rio.write_crs(spec.crs).rio.write_transform(spec.transform)
    return ds


def create_grid_store(path: str | os.PathLike, spec: GridSpec, elements: list[str], *,
                      units: dict[str, str], attrs: dict) -> Path:
    """Write the metadata and coordinates of an empty grid store at ``path``.

    Chunks are not written: tiles fill them later by region (:func:`write_region`), every
    chunk of ``concentration``, so the store lists it in ``all_chunks_written``.
    """
    path = Path(path)
    ds = _template(spec, elements)
    ds.attrs.update(attrs)
    ds.attrs.update(
        geogan_kind="grid", geogan_version=__version__, geogan_store_version=STORE_VERSION,
        units={e: units[e] for e in elements}, grid=spec.to_dict(), complete=False,
        **{ALL_CHUNKS_WRITTEN: ["concentration"]},  # distance: written by 'geogan grid' only
    )
    t = spec.tile
    encoding = {
        "concentration": {"chunks": (len(elements), t, t), "compressors": COMPRESSORS, "fill_value": np.nan},
        "distance": {"chunks": (t, t), "compressors": COMPRESSORS, "fill_value": np.nan},
    }
    for name, enc in encoding.items():  # explicit encoding replaces rioxarray's grid_mapping link
        enc.update({k: v for k, v in ds[name].encoding.items() if k == "grid_mapping"})
    ds.to_zarr(path, mode="w", compute=False, zarr_format=3, consolidated=False, encoding=encoding)
    return path


def write_region(path: str | os.PathLike, name: str, data: np.ndarray, region: tuple[slice, ...]) -> None:
    """Write ``data`` into array ``name`` of the store at ``region`` (must be chunk-aligned).

    Every chunk is stored, all-NaN ones too (Zarr skips chunks equal to the fill value by
    default): a complete store has all its chunks, so a missing one is damage, not a hole.
    """
    arr = zarr.open_array(str(Path(path) / name), mode="r+").with_config({"write_empty_chunks": True})
    for sl, c, n in zip(region, arr.chunks, arr.shape):
        start, stop, _ = sl.indices(n)
        if start % c or not (stop % c == 0 or stop == n):
            # misaligned writes from two tasks into one chunk corrupt it silently
            raise StoreError(f"region {region} is not aligned with chunks {arr.chunks} of {name}")
    arr[region] = data


# -- portable attributes -------------------------------------------------------------------------
def encode_attrs(attrs: dict) -> dict:
    """Attributes as netCDF can hold them: every mapping or sequence value (``grid``, ``idw``,
    ``source``, ``units``, ``run_key``, …) becomes a JSON string, so ``ds.to_netcdf()`` of a
    store opened with plain xarray works; :func:`decode_attrs` reverses it."""
    return {k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list, tuple)) else v for k, v in attrs.items()}


def decode_attrs(attrs) -> dict:
    """Attributes as geogan uses them: the JSON strings of :func:`encode_attrs` parsed back
    into mappings and lists; stores written before (with nested attributes) read unchanged."""
    out = {}
    for key, value in dict(attrs).items():
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except ValueError:
                pass  # a plain string that merely starts with a bracket
        out[key] = value
    return out


def finalize_metadata(path: str | os.PathLike, attrs: dict | None = None) -> None:
    """Make a finished store readable outside geogan, in place.

    Adds ``attrs`` (and ``geogan_version`` when missing), stores nested attributes as JSON
    strings (:func:`encode_attrs`) and consolidates the metadata, so plain
    ``xr.open_zarr(path, decode_coords="all")`` opens the store without a warning and
    ``.rio.crs``, ``.rio.to_raster`` and ``.to_netcdf`` work (the arrays name their
    ``grid_mapping``). Zarr warns that consolidated metadata is not yet part of the Zarr v3
    specification: it is an addition readers may ignore, so the warning is silenced here.
    """
    import warnings

    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    merged = {"geogan_version": __version__, **decode_attrs(group.attrs.asdict()), **(attrs or {})}
    group.attrs.put(encode_attrs(merged))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(str(path))


def location(path: str | os.PathLike) -> str:
    """A store's identity in run keys and provenance: the URL, or the absolute local path."""
    return str(path) if is_url(path) else str(Path(path).resolve())


def metadata_fingerprint(path: str | os.PathLike) -> str:
    """SHA-256 of a store's metadata documents (``zarr.json`` of the group and its arrays;
    the attrs include the creation time): identifies a store without reading its chunks."""
    fs, root = filesystem(str(path)) if is_url(path) else (None, None)
    h = hashlib.sha256()
    if fs is None:
        path = Path(path)
        docs = [(d.relative_to(path).as_posix(), d.read_bytes())
                for d in sorted(path.glob("zarr.json")) + sorted(path.glob("*/zarr.json"))]
    else:
        root = root.rstrip("/")
        found = sorted(fs.glob(f"{root}/zarr.json")) + sorted(fs.glob(f"{root}/*/zarr.json"))
        docs = [(d[len(root) + 1:], fs.cat_file(d)) for d in found]
    for name, data in docs:
        h.update(name.encode())
        h.update(data)
    return h.hexdigest()


# -- opening ------------------------------------------------------------------------------------
def _check_plain_files(path: Path) -> None:
    """Refuse a store holding anything but folders and regular files: reading a FIFO or a
    device in place of a chunk would block or never end (a few thousand entries: milliseconds)."""
    stack = [path]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif not e.is_file():
                    raise StoreError(f"{Path(e.path).relative_to(path)} is not a regular file (a FIFO, a device or "
                                     f"a broken link); recreate the store with the command that made it", path=path)


def open_store(path: str | os.PathLike, *, kind: str) -> xr.Dataset:
    """Open a complete geogan store of ``kind`` ("grid" or "scores"), validating it.

    Besides the kind, format version and completeness, the ``grid`` attribute is checked
    against the coordinates (:func:`grid_spec`), the chunks of the ``(y, x)`` arrays against
    the tile size, and, for stores marked ``all_chunks_written``, every chunk must exist: a
    deleted chunk would read as NaN (:class:`StoreError` naming the array and the tile).

    ``path`` may be an fsspec URL (``s3://bucket/grid.zarr``): Zarr reads it through fsspec
    on the client and on every worker, which then need the backend and credentials.
    """
    if is_url(path):
        fs, remote = filesystem(path)
        if not fs.isfile(f"{remote.rstrip('/')}/zarr.json"):
            raise StoreError(f"{path} is not a Zarr v3 store (no zarr.json)")
    else:
        path = Path(path)
        if not path.exists():
            hint = ""
            if partial_path(path).exists():
                hint = f"; an unfinished run left {partial_path(path).name}: rerun the same command to resume it"
            raise StoreError(f"{path} does not exist{hint}")
        if not (path / "zarr.json").is_file():
            raise StoreError(f"{path} is not a Zarr v3 store (no zarr.json); geogan stores are made by "
                             f"'geogan grid' or 'geogan import-rasters'")
        _check_plain_files(path)
    try:
        ds = xr.open_zarr(path, consolidated=False, decode_coords="all", zarr_format=3)
    except Exception as exc:  # zarr raises many kinds on corrupt metadata
        raise StoreError(f"{path} cannot be opened as a Zarr store ({type(exc).__name__}: {exc})") from None
    ds.attrs = decode_attrs(ds.attrs)  # nested attributes are stored as JSON strings (finalize_metadata)
    found = ds.attrs.get("geogan_kind")
    if found is None:
        raise StoreError(f"{path} is a Zarr store but not a geogan {kind} store (no geogan attributes)")
    if found != kind:
        raise StoreError(f"{path} is a geogan {found} store, expected a {kind} store")
    version = ds.attrs.get("geogan_store_version")
    if version != STORE_VERSION:
        raise StoreError(f"{path} has store format version {version}, this geogan reads version "
                         f"{STORE_VERSION}; regrid with this version")
    if not ds.attrs.get("complete", False):
        raise StoreError(f"{path} is incomplete; rerun the command that made it")
    ds.encoding["source"] = str(path)  # names the store in later errors (grid_spec, tile reads)
    spec = grid_spec(ds)
    _check_chunks(ds, path, spec)
    return ds


def open_grid(path: str | os.PathLike) -> xr.Dataset:
    """Open a grid store made by ``geogan grid`` or ``geogan import-rasters``.

    Returns a Dataset with dask-backed ``concentration(element, y, x)`` chunked one tile
    with all elements, ``distance(y, x)``, and the CRS on ``spatial_ref``.
    """
    ds = open_store(path, kind="grid")
    if "concentration" not in ds:
        raise StoreError(f"{path} has no 'concentration' variable")
    if ds["concentration"].dims != ("element", "y", "x"):
        raise StoreError(f"{path}: 'concentration' has dimensions {ds['concentration'].dims}, expected "
                         f"('element', 'y', 'x')")
    units_of(ds)  # checked now, not after a long run
    return ds


_GRID_KEYS = ("crs", "cell_size_m", "xmin", "ymax", "width", "height", "tile")


def grid_spec(ds: xr.Dataset) -> GridSpec:
    """The :class:`GridSpec` of a store, its geometry checked against the coordinates.

    The ``x``/``y`` cell centres are the truth: the width and height are their lengths, the
    cell size their spacing (even, square, ``y`` descending), the corner half a cell beyond
    the first ones. The ``grid`` attribute (which alone gives the CRS and the tile) must agree
    with them to 1e-6 (relative; of a cell for the corner), so a false attribute can never
    georeference an output: a disagreement is a :class:`StoreError` naming the attribute, its
    value and the value the coordinates give.
    """
    where = ds.encoding.get("source", "the store")
    attrs = ds.attrs.get("grid")
    if not isinstance(attrs, dict):
        raise StoreError(f"{where} has no 'grid' attribute describing the grid (a mapping with "
                         f"{', '.join(_GRID_KEYS)}); it is not a complete geogan store")
    missing = [k for k in _GRID_KEYS if k not in attrs]
    if missing:
        raise StoreError(f"{where}: the 'grid' attribute lacks {', '.join(missing)}")
    for key in ("width", "height", "tile"):
        if not isinstance(attrs[key], int) or isinstance(attrs[key], bool) or attrs[key] < 1:
            raise StoreError(f"{where}: 'grid' attribute {key} must be a positive integer, got {attrs[key]!r}")
    for key in ("cell_size_m", "xmin", "ymax") + (("cell_size_y_m",) if attrs.get("cell_size_y_m") is not None else ()):
        v = attrs[key]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise StoreError(f"{where}: 'grid' attribute {key} must be a finite number, got {v!r}")
    if not isinstance(attrs["crs"], str):
        raise StoreError(f"{where}: 'grid' attribute crs must be a WKT string, got {type(attrs['crs']).__name__}")
    coords = {}
    for axis in ("x", "y"):
        values = np.asarray(ds[axis].values, dtype=np.float64) if axis in ds.coords else None
        if values is None or values.ndim != 1 or not values.size or not np.isfinite(values).all():
            raise StoreError(f"{where}: the {axis} coordinate must be a non-empty 1-D array of finite cell centres")
        coords[axis] = values
    x, y = coords["x"], coords["y"]
    size = {"x": float(attrs["cell_size_m"]), "y": float(attrs.get("cell_size_y_m") or attrs["cell_size_m"])}
    cell = {}
    for axis, d in (("x", np.diff(x)), ("y", -np.diff(y))):  # cell centres: x ascending, y descending
        cell[axis] = float(d[0]) if d.size else size[axis]  # one cell: no spacing to read
        if d.size and not (cell[axis] > 0 and np.allclose(d, cell[axis], rtol=1e-6, atol=0.0)):
            raise StoreError(f"{where}: the {axis} coordinates are not evenly spaced "
                             f"{'ascending' if axis == 'x' else 'descending'} cell centres ({cell[axis]:.10g} then "
                             f"{d.min():.10g} to {d.max():.10g}); geogan grids are north-up and regular")
    derived = {"width": x.size, "height": y.size, "cell_size_m": cell["x"], "cell_size_y_m": cell["y"],
               "xmin": x[0] - cell["x"] / 2, "ymax": y[0] + cell["y"] / 2}
    for key, value in derived.items():
        given = size["y"] if key == "cell_size_y_m" else attrs[key]
        if key in ("width", "height"):
            same = given == value
        elif key in ("cell_size_m", "cell_size_y_m"):
            same = math.isclose(given, value, rel_tol=1e-6)
        else:
            same = abs(given - value) <= 1e-6 * cell["x" if key == "xmin" else "y"]
        if not same:
            raise StoreError(f"{where}: the 'grid' attribute {key} is {given:.10g} but the x/y coordinates give "
                             f"{value:.10g}; the store's metadata is damaged or was edited, recreate it")
    try:
        return GridSpec.from_dict(attrs)
    except GeoganError as exc:
        raise StoreError(f"{where}: invalid 'grid' attribute ({exc})") from None


def _check_chunks(ds: xr.Dataset, path, spec: GridSpec) -> None:
    """Every ``(…, y, x)`` array is chunked one tile, and every chunk of the arrays listed in
    ``all_chunks_written`` exists (listing the array's chunk keys; nothing is read)."""
    names = [str(n) for n, v in ds.data_vars.items() if v.dims[-2:] == ("y", "x")]
    for name in names:
        chunks = tuple(ds[name].encoding.get("chunks") or ())
        if chunks[-2:] != (spec.tile, spec.tile):
            raise StoreError(f"{path}: the 'grid' attribute tile is {spec.tile} but '{name}' is stored in chunks of "
                             f"{chunks[-2:]} cells; the store's metadata is damaged or was edited, recreate it")
    listed = ds.attrs.get(ALL_CHUNKS_WRITTEN)
    names = [n for n in names if isinstance(listed, list) and n in listed]
    if not names:
        return
    group = zarr.open_group(str(path), mode="r")
    if is_url(path):
        fs, root = filesystem(str(path))
        root = root.rstrip("/")
    for name in names:
        arr = group[name]
        if is_url(path):
            prefix = f"{root}/{name}/"
            present = {p[len(prefix):] for p in fs.find(prefix)}
        else:
            base = Path(path) / name
            present = {(Path(d) / f).relative_to(base).as_posix() for d, _, files in os.walk(base) for f in files}
        for index in itertools.product(*(range(n) for n in arr.cdata_shape)):
            key = arr.metadata.encode_chunk_key(index)
            if key not in present:
                n_missing = sum(arr.metadata.encode_chunk_key(k) not in present
                                for k in itertools.product(*(range(n) for n in arr.cdata_shape)))
                more = f" ({n_missing} chunks of '{name}' are missing)" if n_missing > 1 else ""
                raise StoreError(f"{path}: chunk {key} of '{name}' (tile row {index[-2]}, col {index[-1]}) is missing"
                                 f"{more}: the store is damaged (a complete store has every chunk); recreate it "
                                 f"with the command that made it")


def units_of(ds: xr.Dataset) -> dict[str, str]:
    """The ``units`` attribute (element → unit) of a store; :class:`StoreError` unless it
    maps element symbols to unit strings."""
    units = ds.attrs.get("units", {})
    if not isinstance(units, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in units.items()):
        bad = next((f"{k}: {v!r}" for k, v in units.items() if not isinstance(v, str)), None) \
            if isinstance(units, dict) else f"a {type(units).__name__}"
        raise StoreError(f"{ds.encoding.get('source', 'the store')}: the 'units' attribute must map element "
                         f"symbols to unit strings, got {bad}")
    return dict(units)


def tile_read_error(where, i: int, j: int, exc: Exception) -> StoreError:
    """The error for tile ``(i, j)`` of the store ``where`` that cannot be read (a damaged
    chunk: Zarr/Blosc raise many kinds)."""
    return StoreError(f"tile row {i}, col {j} cannot be read ({type(exc).__name__}: {exc}); a chunk is damaged "
                      f"(or the store unreachable): recreate the store with the command that made it", path=where)


def describe(ds: xr.Dataset, path: str | os.PathLike | None = None) -> str:
    """A short human summary of a store (``geogan info``)."""
    spec = grid_spec(ds)
    crs = spec.pyproj_crs
    lines = []
    if path is not None:
        lines.append(f"store      {path}")
    lines += [
        f"kind       {ds.attrs.get('geogan_kind')} (format v{ds.attrs.get('geogan_store_version')}, "
        f"geogan {ds.attrs.get('geogan_version')}, created {ds.attrs.get('created')})",
        f"grid       {spec.height} rows x {spec.width} cols = {spec.n_cells:,} cells of "
        f"{spec.cell_label} m, tiles {spec.tile} ({spec.n_tiles} tiles)",
        f"crs        {crs.name} ({crs.to_string()})",
        "bounds     " + ", ".join(f"{b:.1f}" for b in spec.bounds),
    ]
    if "concentration" in ds:
        units = units_of(ds)
        els = [f"{e} ({units.get(e, '?')})" for e in ds["element"].values.tolist()]
        lines.append(f"elements   {len(els)}: " + ", ".join(els))
    if "idw" in ds.attrs:
        p = ds.attrs["idw"]
        lines.append(f"idw        k={p['neighbors']} power={p['power']} space={p['space']} "
                     f"max_distance={p['max_distance_m']:.0f} m")
    src = ds.attrs.get("source")
    if isinstance(src, dict) and isinstance(src.get("path"), list):  # imported rasters, one per element
        paths = [str(p) for p in src["path"]]
        shown = ", ".join(Path(p).name for p in paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
        lines.append(f"source     {len(paths)} raster(s) imported: {shown}")
    elif isinstance(src, dict) and src.get("path"):
        n = src.get("n_samples")
        lines.append(f"source     {src.get('path')} (sha256 {str(src.get('sha256'))[:12]}…"
                     + (f", {n:,} samples)" if isinstance(n, int) else ")"))
    model = ds.attrs.get("model")
    if isinstance(model, dict) and model.get("detector"):
        lines.append(f"model      {model.get('detector')} (score {model.get('score')}) on "
                     f"{', '.join(model.get('elements') or [])}")
    target = ds.attrs.get("target")
    if isinstance(target, dict) and target.get("description"):
        lines.append(f"target     {target['description']}")
    return "\n".join(lines)


def iter_regions(spec: GridSpec, tiles: Iterable[tuple[int, int]]):
    for i, j in tiles:
        yield (i, j), spec.tile_slices(i, j)


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)

