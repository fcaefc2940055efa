"""Grids: survey points → IDW grids in a Zarr v3 store, tile by tile on Dask.

:func:`grid_survey` is the stage (``geogan grid``); :func:`import_rasters` brings existing
element GeoTIFFs into the same store layout (``geogan import-rasters``). The kernel is
:mod:`~geogan.grid.idw`; :mod:`~geogan.grid.coverage` says which cells hold which elements.
The grid itself (extent, cell size, CRS, tiling) is :class:`geogan.gridspec.GridSpec`.
"""

from geogan._lazy import lazy_exports

#: what this package exports, and the module each name is imported from when first used
_EXPORTS = {
    "import_rasters": "geogan.grid.rasters",
    "GridResult": "geogan.grid.stage",
    "grid_survey": "geogan.grid.stage",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["GridResult", "grid_survey", "import_rasters"]
