"""Cloud-Optimized GeoTIFF export of a 2-D grid: :func:`export_cog`.

What lives here: writing a ``(y, x)`` DataArray that carries its grid description
(``attrs["grid"]``, a :class:`~geogan.gridspec.GridSpec` dict) as a COG, window by window,
and the choice of the overviews' resampling (:func:`overview_resampling`). What does not:
Zarr stores (:mod:`geogan.stores.store`), what a map means or how it is styled (:mod:`geogan.scoring.stage`,
:mod:`geogan.evaluation.gis`), output checks and atomic replacement shared by every stage
(:mod:`geogan.stores.files`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import xarray as xr

from geogan.stores.files import check_output, replace_path
from geogan.errors import StoreError
from geogan.gridspec import GridSpec


@functools.cache
def overview_resampling() -> str:
    """The COG overviews' resampling: ``MAX`` where GDAL builds overviews with it (GDAL ≥ 3.11),
    so a single-cell peak still shows when zoomed out, else ``NEAREST``, which keeps every
    overview value a real score (an average would dilute a peak into its neighbours) but may
    skip a single-cell peak at coarse zoom. Found once, by building a 64 × 64 COG in memory."""
    import rasterio
    import rasterio.shutil
    from affine import Affine

    src, dst = "/vsimem/geogan-probe.tif", "/vsimem/geogan-probe-cog.tif"
    try:
        with rasterio.open(src, "w", driver="GTiff", width=64, height=64, count=1, dtype="float32",
                           transform=Affine(1.0, 0.0, 0.0, 0.0, -1.0, 64.0)) as probe:
            probe.write(np.zeros((1, 64, 64), np.float32))
        # 64 cells in blocks of 32: the COG driver builds one overview level, with MAX
        rasterio.shutil.copy(src, dst, driver="COG", BLOCKSIZE="32", OVERVIEWS="AUTO", OVERVIEW_RESAMPLING="MAX")
        with rasterio.open(dst) as cog:
            return "MAX" if cog.overviews(1) else "NEAREST"
    except Exception:  # GDAL < 3.11: CPLE_AppDefinedError 'Unsupported resampling method "MAX"'
        return "NEAREST"
    finally:
        for p in (src, dst):
            try:
                rasterio.shutil.delete(p)
            except Exception:  # not created
                pass


def export_cog(da: xr.DataArray, path: str | os.PathLike, *, overwrite: bool = False, blocksize: int = 512,
               nodata: float = float("nan"), description: str | None = None,
               tags: dict[str, str] | None = None) -> Path:
    """Write a 2-D ``(y, x)`` DataArray as a Cloud-Optimized GeoTIFF, window by window.

    The array is read one tile-row band at a time into a tiled GTiff beside ``path``, which
    GDAL's COG driver then converts (DEFLATE, ``blocksize`` tiles, overviews resampled with
    :func:`overview_resampling`, nodata, CRS): memory stays bounded by one band of tiles,
    whatever the grid size. The COG appears at ``path`` only when complete.

    ``description`` names band 1 (GDAL's band description: what QGIS lists and rioxarray
    reads as ``long_name``); ``tags`` are written as dataset metadata (GDAL tags, strings).
    """
    import rasterio
    import rasterio.shutil
    from rasterio.windows import Window

    path = check_output(path, overwrite=overwrite, what="GeoTIFF")
    spec = GridSpec.from_dict(da.attrs["grid"]) if "grid" in da.attrs else None
    if spec is None:
        raise StoreError("the array carries no grid description (attrs['grid'])")
    if da.dims != ("y", "x") or da.shape != (spec.height, spec.width):  # rasterio would resample silently
        raise StoreError(f"the array is {dict(zip(da.dims, da.shape))}, but its grid description is "
                         f"{spec.height} rows x {spec.width} columns (dims y, x)")
    token = f"{os.getpid()}-{os.urandom(4).hex()}"  # not a name anyone can place beforehand
    tmp_tiled = path.with_name(f".{path.name}.tiled-{token}.tif")
    tmp_cog = path.with_name(f".{path.name}.cog-{token}.tif")
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
                if description:
                    dst.set_band_description(1, description)
                if tags:
                    dst.update_tags(**{str(k): str(v) for k, v in tags.items()})
            rasterio.shutil.copy(tmp_tiled, tmp_cog, driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES",
                                 BLOCKSIZE=str(blocksize), OVERVIEWS="AUTO", OVERVIEW_RESAMPLING=overview_resampling(),
                                 BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS")
        replace_path(tmp_cog, path)
    finally:
        for p in (tmp_tiled, tmp_cog):
            if p.exists():
                p.unlink()
    return path
