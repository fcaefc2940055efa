"""The fixed sets of values that options take, in one module that imports nothing.

The stages that own a set import it from here (``geogan.detectors.alad.SCORES`` is
:data:`ALAD_SCORES`, ``geogan.grid.rasters.RESAMPLING`` is :data:`RESAMPLING`, ...), and the
command line lists them in ``--help`` and refuses other values before a command runs, without
importing those stages (TensorFlow's neighbours, rasterio, scikit-learn) to start.

>>> "alad" in DETECTORS and "l1" in ALAD_SCORES
True
"""

#: detectors ``train --detector`` takes (the registry adds ``ensemble``, made with ``--ensemble N``)
DETECTORS = ("alad", "vae", "autoencoder", "iforest", "mahalanobis", "pca")
#: ALAD's anomaly scores (:mod:`geogan.detectors.alad`)
ALAD_SCORES = ("auto", "latent", "fm", "l1", "logit", "l1_high")
#: compositional transforms (:mod:`geogan.training.transform`)
TRANSFORMS = ("clr", "ilr", "log", "none")
#: IDW averaging spaces (:mod:`geogan.grid.idw`)
IDW_SPACES = ("linear", "log")
#: resampling of rasters onto a reference grid (:mod:`geogan.grid.rasters`)
RESAMPLING = ("nearest", "bilinear", "cubic", "average", "mode", "min", "max", "med")
#: what imported raster values ≤ 0 become (:mod:`geogan.grid.rasters`)
NONPOSITIVE = ("error", "nan", "half-min", "keep")
#: synthetic survey presets (:mod:`geogan.synth.presets`)
SYNTH_PRESETS = ("demo", "national")
#: survey file formats ``synth`` writes (:mod:`geogan.synth.writer`)
SURVEY_FORMATS = ("csv", "parquet")

__all__ = ["ALAD_SCORES", "DETECTORS", "IDW_SPACES", "NONPOSITIVE", "RESAMPLING", "SURVEY_FORMATS", "SYNTH_PRESETS",
           "TRANSFORMS"]
