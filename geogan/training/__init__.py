"""Training: a random sample of grid cells → transform + detector → a model directory.

:func:`train_model` is the stage (``geogan train``), run in phases
(:mod:`~geogan.training.phases`) that return a :class:`TrainResult`; :func:`load_model` reads
a model directory back for scoring. Around them: cell sampling (:mod:`~geogan.training.sampling`),
compositional transforms (:mod:`~geogan.training.transform`), imputation of missing elements
(:mod:`~geogan.training.impute`), target-aware scores (:mod:`~geogan.training.targeting`) and
the run folder with its checkpoints (:mod:`~geogan.training.run`), where a model directory is
built and put in place, object storage included (:mod:`~geogan.training.outputs`). The
detectors themselves are :mod:`geogan.detectors`.
"""

from geogan._lazy import lazy_exports

#: what this package exports, and the module each name is imported from when first used
_EXPORTS = {
    "TrainedModel": "geogan.training.model",
    "load_model": "geogan.training.model",
    "TrainResult": "geogan.training.phases",
    "train_model": "geogan.training.stage",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["TrainResult", "TrainedModel", "load_model", "train_model"]
