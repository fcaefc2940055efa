"""Zarr v3 stores: the grid layout, tile writes, the done-manifest, and safe finalisation.

Layout of a grid store (``grid.zarr``)::

    concentration(element, y, x) float32   chunks (all elements, tile, tile)
    distance(y, x)               float32   metres to the nearest sample
    x, y                                    cell centres (y descending)
    element                                 symbols, units in attrs["units"]
    spatial_ref                             CRS + transform (rioxarray)

A store is built in a staging folder ``<name>.partial/`` beside its final path: the Zarr
store itself in ``store.zarr/``, and finished tiles recorded one marker file each in
``work/done/`` (chunk existence is not a marker: a chunk may be half-written when a process
dies). Only when every tile is done is ``store.zarr`` moved to the final name, so a store at
the final path is always complete.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
import zarr

import geogan
from geogan.errors import OutputExistsError, StoreError
from geogan.gridspec import GridSpec
from geogan.urls import filesystem, is_url

STORE_VERSION = 1
COMPRESSORS = [zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")]


# -- paths and overwrite policy ----------------------------------------------------------
def partial_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".partial")


def check_output(path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Refuse to replace an existing output unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it", path=None)
    return path


def replace_path(src: Path, dst: Path) -> None:
    """Move a finished ``src`` to ``dst``, replacing ``dst`` only after ``src`` is complete."""
    src, dst = Path(src), Path(dst)
    old = None
    if dst.exists():
        old = dst.with_name(f"{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def now_iso() -> str:
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

    Chunks are not written: tiles fill them later by region.
    """
    path = Path(path)
    ds = _template(spec, elements)
    ds.attrs.update(attrs)
    ds.attrs.update(
        geogan_kind="grid", geogan_version=geogan.__version__, geogan_store_version=STORE_VERSION,
        units={e: units[e] for e in elements}, grid=spec.to_dict(), complete=False,
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
    """Write ``data`` into array ``name`` of the store at ``region`` (must be chunk-aligned)."""
    arr = zarr.open_array(str(Path(path) / name), mode="r+")
    for sl, c, n in zip(region, arr.chunks, arr.shape):
        start, stop, _ = sl.indices(n)
        if start % c or not (stop % c == 0 or stop == n):
            # misaligned writes from two tasks into one chunk corrupt it silently
            raise StoreError(f"region {region} is not aligned with chunks {arr.chunks} of {name}")
    arr[region] = data


# -- staging and the done-manifest ---------------------------------------------------------------
class Staging:
    """Where the store for ``final`` is built: ``<final>.partial/{store.zarr, work/}``.

    Workers construct their own ``Staging(final)`` from the path to write tiles and markers.
    """

    def __init__(self, final: str | os.PathLike):
        self.final = Path(final)
        self.root = partial_path(self.final)
        self.store = self.root / "store.zarr"
        self.work = self.root / "work"
        self.done_dir = self.work / "done"
        self.params_file = self.work / "params.json"

    def exists(self) -> bool:
        return self.root.exists()

    def remove(self) -> None:
        shutil.rmtree(self.root)

    def start(self, params: dict) -> None:
        """Begin a fresh build (the store must be created next)."""
        self.done_dir.mkdir(parents=True, exist_ok=True)
        self.params_file.write_text(json.dumps(params, sort_keys=True, default=str))

    def params(self) -> dict | None:
        try:
            return json.loads(self.params_file.read_text())
        except (OSError, ValueError):
            return None

    def mark(self, i: int, j: int) -> None:
        # written last, after the tile's chunks: a marker means the tile is complete
        (self.done_dir / f"{i}_{j}").touch()

    def done(self) -> set[tuple[int, int]]:
        if not self.done_dir.exists():
            return set()
        out = set()
        for p in self.done_dir.iterdir():
            i, _, j = p.name.partition("_")
            out.add((int(i), int(j)))
        return out

    def finalize(self, *, extra_attrs: dict | None = None) -> Path:
        """Mark the finished store complete and move it to its final path."""
        group = zarr.open_group(str(self.store), mode="r+")
        attrs = dict(extra_attrs or {})
        attrs.update(complete=True, created=now_iso())
        group.attrs.update(attrs)
        replace_path(self.store, self.final)
        shutil.rmtree(self.root)
        return self.final


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
def open_store(path: str | os.PathLike, *, kind: str) -> xr.Dataset:
    """Open a complete geogan store of ``kind`` ("grid" or "scores"), validating it.

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
    try:
        ds = xr.open_zarr(path, consolidated=False, decode_coords="all", zarr_format=3)
    except Exception as exc:  # zarr raises many kinds on corrupt metadata
        raise StoreError(f"{path} cannot be opened as a Zarr store ({type(exc).__name__}: {exc})") from None
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
    return ds


def open_grid(path: str | os.PathLike) -> xr.Dataset:
    """Open a grid store made by ``geogan grid`` or ``geogan import-rasters``.

    Returns a Dataset with dask-backed ``concentration(element, y, x)`` chunked one tile
    with all elements, ``distance(y, x)``, and the CRS on ``spatial_ref``.
    """
    ds = open_store(path, kind="grid")
    if "concentration" not in ds:
        raise StoreError(f"{path} has no 'concentration' variable")
    return ds


def grid_spec(ds: xr.Dataset) -> GridSpec:
    """The :class:`GridSpec` a store was made with."""
    return GridSpec.from_dict(ds.attrs["grid"])


def units_of(ds: xr.Dataset) -> dict[str, str]:
    return dict(ds.attrs.get("units", {}))


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
        f"{spec.cell_size_m:g} m, tiles {spec.tile} ({spec.n_tiles} tiles)",
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
    if isinstance(src, dict) and src.get("path"):
        lines.append(f"source     {src.get('path')} (sha256 {str(src.get('sha256'))[:12]}…, "
                     f"{src.get('n_samples', '?')} samples)")
    return "\n".join(lines)


def iter_regions(spec: GridSpec, tiles: Iterable[tuple[int, int]]):
    for i, j in tiles:
        yield (i, j), spec.tile_slices(i, j)


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


# -- COG export ---------------------------------------------------------------------------------
def export_cog(da: xr.DataArray, path: str | os.PathLike, *, overwrite: bool = False, blocksize: int = 512,
               nodata: float = float("nan")) -> Path:
    """Write a 2-D ``(y, x)`` DataArray as a Cloud-Optimized GeoTIFF, window by window.

    The array is read one tile-row band at a time into a tiled GTiff beside ``path``, which
    GDAL's COG driver then converts (DEFLATE, ``blocksize`` tiles, overviews, nodata, CRS):
    memory stays bounded by one band of tiles, whatever the grid size. The COG appears at
    ``path`` only when complete.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.windows import Window

    path = check_output(path, overwrite=overwrite)
    spec = GridSpec.from_dict(da.attrs["grid"]) if "grid" in da.attrs else None
    if spec is None:
        raise StoreError("the array carries no grid description (attrs['grid'])")
    tmp_tiled = path.with_name(f".{path.name}.tiled-{os.getpid()}.tif")
    tmp_cog = path.with_name(f".{path.name}.cog-{os.getpid()}.tif")
    profile = dict(driver="GTiff", width=spec.width, height=spec.height, count=1, dtype="float32",
                   crs=spec.pyproj_crs.to_wkt(), transform=spec.transform, nodata=nodata, tiled=True,
                   blockxsize=blocksize, blockysize=blocksize, compress="deflate", predictor=1,
                   BIGTIFF="IF_SAFER")
    try:
        with rasterio.Env(GDAL_CACHEMAX=256):
            with rasterio.open(tmp_tiled, "w", **profile) as dst:
                step = max(blocksize, spec.tile)
                for r0 in range(0, spec.height, step):
                    r1 = min(r0 + step, spec.height)
                    band = np.asarray(da.isel(y=slice(r0, r1)).values, dtype=np.float32)
                    dst.write(band, 1, window=Window(0, r0, spec.width, r1 - r0))
            rasterio.shutil.copy(tmp_tiled, tmp_cog, driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES",
                                 BLOCKSIZE=str(blocksize), OVERVIEWS="AUTO", OVERVIEW_RESAMPLING="AVERAGE",
                                 BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS")
        replace_path(tmp_cog, path)
    finally:
        for p in (tmp_tiled, tmp_cog):
            if p.exists():
                p.unlink()
    return path
