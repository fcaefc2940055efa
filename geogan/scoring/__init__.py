"""Scoring: tile-wise inference on Dask → ``scores.zarr`` + the anomaly map as a COG.

:func:`score_grid` is the stage (``geogan score``). What runs on the workers is
:mod:`~geogan.scoring.inference`; :mod:`~geogan.scoring.contributions` computes which
elements drive each cell's score; :mod:`~geogan.scoring.cog` writes Cloud-Optimized GeoTIFFs.
The score folder's names and stores are :mod:`geogan.stores.scores`.
"""

from geogan._lazy import lazy_exports

#: what this package exports, and the module each name is imported from when first used
_EXPORTS = {
    "ScoreResult": "geogan.scoring.stage",
    "score_grid": "geogan.scoring.stage",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["ScoreResult", "score_grid"]
