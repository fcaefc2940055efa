"""Open geogan Zarr v3 stores with checks, and describe one (``geogan info``).

Every chunk a tile writes is stored, all-NaN ones included (``write_empty_chunks``), and a
store lists the arrays every tile writes in ``attrs["all_chunks_written"]`` (``concentration``
in a grid store: ``import-rasters`` leaves ``distance`` unwritten): opening it checks that
each of their chunks exists, since Zarr would silently read a deleted chunk as NaN. Opening
also checks the ``grid`` attribute against the ``x``/``y`` coordinates
(:func:`~geogan.stores.geometry.grid_spec`).

What lives here: :func:`open_store`, :func:`open_grid`, :func:`describe` and the checks of a
store's files and ``units``. What does not live here: the grid store's layout, creating it,
writing tiles and its portable metadata (:mod:`geogan.stores.layout`), the checks of its
geometry and chunks (:mod:`geogan.stores.geometry`), building a store resumably in
``<name>.partial/`` and moving it into place (:mod:`geogan.stores.staging`), exporting a grid
to another format (COG: :mod:`geogan.scoring.cog`), the scores and contributions stores' own
layouts (:mod:`geogan.stores.scores`), output checks, atomic replacement and locks shared by
every stage (:mod:`geogan.stores.files`).
"""

from __future__ import annotations

import os
from pathlib import Path

import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from geogan.errors import StoreError
from geogan.stores.files import partial_path
from geogan.stores.geometry import check_chunks, grid_spec
from geogan.stores.layout import STORE_VERSION, decode_attrs
from geogan.stores.urls import filesystem, is_url

__all__ = ["open_store", "open_grid", "describe", "units_of", "tile_read_error"]


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
    against the coordinates (:func:`~geogan.stores.geometry.grid_spec`), the chunks of the
    ``(y, x)`` arrays against the tile size, and, for stores marked ``all_chunks_written``,
    every chunk must exist: a deleted chunk would read as NaN (:class:`StoreError` naming the
    array and the tile).

    ``path`` may be an fsspec URL (``s3://bucket/grid.zarr``): Zarr reads it through fsspec
    on the client and on every worker, which then need the backend and credentials.

    Parameters
    ----------
    path
        The store: a local path or an fsspec URL.
    kind
        The kind of store expected: ``"grid"``, ``"scores"`` (or ``"contributions"``).

    Returns
    -------
    xarray.Dataset
        The store, lazily loaded (dask-backed), its nested attributes decoded.

    Raises
    ------
    StoreError
        ``path`` does not exist (an unfinished run's ``<path>.partial`` is named) or is not a
        Zarr v3 store; a store geogan did not make, of another kind, of another format
        version, or incomplete; a ``grid`` attribute that disagrees with the coordinates;
        chunks of the wrong size or missing; a file in it that is not a regular file.

    Examples
    --------
    >>> import tempfile
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> path = example_grid(d, ["Cu", "Zn"])
    >>> ds = open_store(path, kind="grid")
    >>> ds.attrs["geogan_kind"], ds.attrs["complete"]
    ('grid', True)
    >>> open_store(path, kind="scores")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.StoreError: ...grid.zarr is a geogan grid store, expected a scores store
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
    check_chunks(ds, path, spec)
    return ds


def open_grid(path: str | os.PathLike) -> xr.Dataset:
    """Open a grid store made by ``geogan grid`` or ``geogan import-rasters``.

    Returns a Dataset with dask-backed ``concentration(element, y, x)`` chunked one tile
    with all elements, ``distance(y, x)``, and the CRS on ``spatial_ref``.

    Parameters
    ----------
    path
        The grid store (``grid.zarr``): a local path or an fsspec URL.

    Returns
    -------
    xarray.Dataset
        ``concentration`` and ``distance`` as above; element units in ``attrs["units"]``,
        the grid's geometry in ``attrs["grid"]`` (see :func:`~geogan.stores.geometry.grid_spec`).

    Raises
    ------
    StoreError
        Not a complete geogan grid store (see :func:`open_store`), no ``concentration``
        variable or one with other dimensions, or a ``units`` attribute that does not map
        element symbols to unit strings.

    Examples
    --------
    >>> import os, tempfile
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> path = example_grid(d, ["Cu", "Zn"])
    >>> ds = open_grid(path)
    >>> ds["concentration"].dims, ds["element"].values.tolist(), ds.attrs["units"]
    (('element', 'y', 'x'), ['Cu', 'Zn'], {'Cu': 'ppm', 'Zn': 'ppm'})
    >>> open_grid(os.path.join(d, "other.zarr"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.StoreError: ...other.zarr does not exist
    """
    ds = open_store(path, kind="grid")
    if "concentration" not in ds:
        raise StoreError(f"{path} has no 'concentration' variable")
    if ds["concentration"].dims != ("element", "y", "x"):
        raise StoreError(f"{path}: 'concentration' has dimensions {ds['concentration'].dims}, expected "
                         f"('element', 'y', 'x')")
    units_of(ds)  # checked now, not after a long run
    return ds


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
    """A short human summary of a store (``geogan info``).

    Parameters
    ----------
    ds
        A store opened by :func:`open_grid` or :func:`open_store`.
    path
        The store's path, shown on the first line; ``None``: no such line.

    Returns
    -------
    str
        One line each: the path, the kind (format, geogan version, creation time), the grid
        (rows, columns, cell size, tiles), the CRS, the bounds and, when the store has them,
        the elements and units, the IDW parameters, the source, the model and the target.

    Raises
    ------
    StoreError
        The store's ``grid`` attribute disagrees with its coordinates
        (:func:`~geogan.stores.geometry.grid_spec`), or its ``units`` attribute does not map
        element symbols to unit strings.

    Examples
    --------
    >>> import tempfile
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> path = example_grid(d, ["Cu", "Zn"])
    >>> print(describe(open_grid(path)))  # doctest: +ELLIPSIS
    kind       grid (format v1, geogan ..., created ...)
    grid       8 rows x 8 cols = 64 cells of 100 m, tiles 4 (4 tiles)
    crs        WGS 84 / UTM zone 50N (EPSG:32650)
    bounds     0.0, 0.0, 800.0, 800.0
    elements   2: Cu (ppm), Zn (ppm)
    source     2 raster(s) imported: Cu_ppm.tif, Zn_ppm.tif
    """
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
