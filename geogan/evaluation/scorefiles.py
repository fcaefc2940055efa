"""Open score grids from files: a ``scores.zarr`` or a GeoTIFF, and the name a grid gives itself.

What lives here: :func:`open_scores` (any score grid to a ``(y, x)`` DataArray with a CRS,
a geogan ``scores.zarr`` checked as the score stage's own reads are) and :func:`score_label`.
What does not: evaluating a grid (:mod:`geogan.evaluation.single`), the evaluate entry
points that read the files and write the report (:mod:`geogan.evaluation.stage`) and the
score folder's layout (:mod:`geogan.stores.scores`).

>>> import os, tempfile
>>> import numpy as np, xarray as xr
>>> path = os.path.join(tempfile.mkdtemp(), "anomaly.tif")
>>> xr.DataArray(np.ones((2, 3), dtype="float32"), dims=("y", "x"),
...              coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0]},
...              ).rio.write_crs("EPSG:32650").rio.to_raster(path)
>>> open_scores(path).shape, score_label(path)
((2, 3), None)
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from geogan.errors import CRSError, InputError
from geogan.stores.remote import public_url
from geogan.stores.urls import filesystem, is_url

__all__ = ["open_scores", "score_label"]


def open_scores(path: str | PathLike, *, variable: str = "anomaly") -> xr.DataArray:
    """Open a score grid: ``scores.zarr`` (variable ``anomaly``) or a GeoTIFF (band 1).

    Returns a lazily loaded ``(y, x)`` float DataArray with a rioxarray CRS and transform;
    NaN marks cells without a score.

    Parameters
    ----------
    path
        ``scores.zarr`` or ``anomaly.tif`` of ``geogan score``, or any single-band GeoTIFF or
        Zarr store of ``(y, x)`` scores with a CRS; a local path or an fsspec URL
        (``s3://bucket/scores/anomaly.tif``: read in ranges, through fsspec).
    variable
        The store's variable to read (``anomaly``); a store with a single 2-D variable is
        read whatever its name.

    Returns
    -------
    xarray.DataArray
        The ``(y, x)`` scores; ``attrs`` carry ``source`` (the path) and, for a store of
        ``geogan score``, the ``detector`` and ``score`` that made it.

    Raises
    ------
    InputError
        The path does not exist or is neither a Zarr store nor a raster.
    CRSError
        The grid carries no CRS.
    StoreError
        A geogan ``scores.zarr`` that is incomplete or damaged (see
        :func:`geogan.stores.store.open_store`).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, xarray as xr
    >>> path = os.path.join(tempfile.mkdtemp(), "anomaly.tif")
    >>> xr.DataArray(np.arange(10, dtype="float32").reshape(2, 5), dims=("y", "x"),
    ...              coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0, 350.0, 450.0]},
    ...              ).rio.write_crs("EPSG:32650").rio.to_raster(path)
    >>> scores = open_scores(path)
    >>> scores.dims, scores.shape, scores.rio.crs.to_string()
    (('y', 'x'), (2, 5), 'EPSG:32650')
    >>> open_scores(path + ".missing")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.InputError: ...anomaly.tif.missing: score grid not found
    """
    if is_url(path):
        fs, key = filesystem(str(path))
        shown = public_url(str(path))
        fs.invalidate_cache()
        if fs.isfile(key.rstrip("/") + "/zarr.json"):
            scores = _open_store(str(path), variable, shown=shown)
        elif fs.isfile(key):
            scores = _open_raster(key, shown=shown, opener=fs)
        else:
            raise InputError("score grid not found", path=shown)
    else:
        path = shown = Path(path)
        if not path.exists():
            raise InputError("score grid not found", path=path)
        scores = _open_store(path, variable, shown=path) if path.is_dir() else _open_raster(path, shown=path)
    if scores.dims != ("y", "x"):
        raise InputError(f"score grid has dims {scores.dims}; expected ('y', 'x')", path=shown)
    if scores.rio.crs is None:
        raise CRSError("score grid has no CRS; write one (rio.write_crs) before evaluating", path=shown)
    scores.attrs.setdefault("source", str(shown))
    return scores


def _open_store(path, variable: str, *, shown) -> xr.DataArray:
    """``variable`` (or the single 2-D variable) of the Zarr store at ``path`` (a folder or a URL)."""
    try:
        ds = xr.open_zarr(path, consolidated=False)
    except Exception as exc:  # zarr raises several types for "not a store"
        raise InputError(f"cannot open as a Zarr store ({exc})", path=shown) from None
    from geogan.stores.layout import decode_attrs

    ds.attrs = decode_attrs(ds.attrs)  # geogan stores keep nested attributes as JSON strings
    kind = ds.attrs.get("geogan_kind")
    if kind is not None and kind != "scores":  # a grid store's 'distance' is not a score
        raise InputError(f"is a geogan {kind} store, not a score grid: give the scores.zarr or anomaly.tif "
                         f"of 'geogan score'", path=shown)
    if kind == "scores":
        from geogan.stores.store import open_store

        # a geogan score store is validated as the score stage's own reads are: complete,
        # its grid attribute agreeing with the coordinates, no chunk missing
        ds = open_store(path, kind="scores")
    if "spatial_ref" in ds.data_vars:
        ds = ds.set_coords("spatial_ref")
    if variable not in ds.data_vars:
        candidates = [v for v in ds.data_vars if ds[v].ndim == 2]
        if len(candidates) != 1:
            raise InputError(
                f"no {variable!r} variable in the store (variables: {', '.join(map(str, ds.data_vars))})",
                path=shown,
            )
        variable = candidates[0]
    scores = ds[variable]
    # The score stage records which detector and score made the grid at store level
    # (attrs["model"]); carry them to the array so reports can say which score was used.
    model = ds.attrs.get("model") if isinstance(ds.attrs.get("model"), dict) else {}
    for key in ("detector", "score"):
        value = ds.attrs.get(key, model.get(key))
        if value is not None:
            scores.attrs.setdefault(key, value)
    return scores


def _open_raster(path, *, shown, opener=None) -> xr.DataArray:
    """Band 1 of the single-band raster at ``path``. With ``opener`` (an fsspec filesystem),
    ``path`` is its object, read in ranges through it and loaded (evaluating reads every
    cell anyway): the dataset is closed here, in the context that opened it, as rasterio's
    Python openers require."""
    try:
        if opener is None:
            scores = rioxarray.open_rasterio(path, masked=True)
        else:
            with rioxarray.open_rasterio(path, masked=True, opener=opener) as opened:
                scores = opened.load()
    except Exception as exc:  # rasterio raises RasterioIOError and friends
        raise InputError(f"cannot open as a raster ({exc})", path=shown) from None
    if "band" in scores.dims:
        if scores.sizes["band"] != 1:
            raise InputError(f"raster has {scores.sizes['band']} bands; give a single-band anomaly map", path=shown)
        scores = scores.squeeze("band", drop=True)
    return scores


def score_label(path: str | PathLike) -> str | None:
    """The name a score grid gives itself: the ``name`` or ``detector`` tag of a COG written by
    ``geogan score``, the detector recorded in a ``scores.zarr``, else a GeoTIFF's band
    description. ``None`` when it names nothing, or cannot be opened (evaluating it says why)."""
    from geogan.errors import GeoganError

    try:
        attrs = open_scores(path).attrs
    except GeoganError:
        return None
    for key in ("name", "detector", "long_name"):
        value = attrs.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
