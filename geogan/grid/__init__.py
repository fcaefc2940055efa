"""Grids: survey points → IDW grids in a Zarr v3 store, tile by tile on Dask.

:func:`grid_survey` is the stage (``geogan grid``); :func:`import_rasters` brings existing
element GeoTIFFs into the same store layout (``geogan import-rasters``). The kernel is
:mod:`~geogan.grid.idw`; :mod:`~geogan.grid.coverage` says which cells hold which elements.
The grid itself (extent, cell size, CRS, tiling) is :class:`geogan.gridspec.GridSpec`.
"""

from geogan.grid.rasters import import_rasters
from geogan.grid.stage import GridResult, grid_survey

__all__ = ["GridResult", "grid_survey", "import_rasters"]
