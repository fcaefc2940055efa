"""The grid store's layout on disk: creating it, writing tiles into it, and its portable metadata.

Layout of a grid store (``grid.zarr``)::

    concentration(element, y, x) float32   chunks (all elements, tile, tile)
    distance(y, x)               float32   metres to the nearest sample
    x, y                                    cell centres (y descending)
    element                                 symbols, units in attrs["units"]
    spatial_ref                             CRS + transform (rioxarray)

Every chunk a tile writes is stored, all-NaN ones included (:func:`write_region`), and a
store lists the arrays every tile writes in ``attrs["all_chunks_written"]``
(:data:`ALL_CHUNKS_WRITTEN`), so that opening it can check that each of their chunks exists
(:func:`geogan.stores.geometry.check_chunks`): Zarr would silently read a deleted chunk as NaN.

What lives here: :func:`create_grid_store` (the metadata and coordinates of an empty
store), :func:`write_region` (a tile's chunks, all-NaN ones included), the attributes as
netCDF holds them (:func:`encode_attrs`, :func:`decode_attrs`, :func:`finalize_metadata`)
and a store's identity (:func:`location`, :func:`metadata_fingerprint`). What does not:
opening a store with its checks (:mod:`geogan.stores.store`, :mod:`geogan.stores.geometry`)
and building one resumably (:mod:`geogan.stores.staging`).

>>> decode_attrs(encode_attrs({"grid": {"tile": 256}, "kind": "grid"}))
{'grid': {'tile': 256}, 'kind': 'grid'}
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
import zarr

from geogan._version import __version__
from geogan.errors import StoreError
from geogan.gridspec import GridSpec
from geogan.stores.urls import filesystem, is_url

__all__ = ["STORE_VERSION", "ALL_CHUNKS_WRITTEN", "COMPRESSORS", "now_iso", "create_grid_store", "write_region",
           "encode_attrs", "decode_attrs", "finalize_metadata", "location", "metadata_fingerprint", "iter_regions",
           "dumps"]


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
                      units: dict[str, str], attrs: dict) -> Path | str:
    """Write the metadata and coordinates of an empty grid store at ``path`` (a local path or
    a URL, returned as given: a Path, or the URL string).

    Chunks are not written: tiles fill them later by region (:func:`write_region`), every
    chunk of ``concentration``, so the store lists it in ``all_chunks_written``.
    """
    path = path if is_url(path) else Path(path)
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
    arr = zarr.open_array(f"{str(path).rstrip('/')}/{name}", mode="r+").with_config({"write_empty_chunks": True})
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
    """A store's identity in run keys and provenance: the URL (without credentials), or the
    absolute local path."""
    from geogan.stores.remote import public_url

    return public_url(str(path)) if is_url(path) else str(Path(path).resolve())


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


def iter_regions(spec: GridSpec, tiles: Iterable[tuple[int, int]]):
    for i, j in tiles:
        yield (i, j), spec.tile_slices(i, j)


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
