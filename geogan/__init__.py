"""geogan: multivariate geochemical anomaly maps at national scale.

The pipeline, one subpackage per stage::

    survey table --grid--> grid.zarr --train--> model dir --score--> scores.zarr + anomaly.tif + report/
    (geogan.survey)  (geogan.grid)  (geogan.training)  (geogan.scoring, geogan.evaluation)

Every stage's function and option class is importable from here, as the command line uses
them (each is imported on first use, so that ``import geogan`` stays quick); ``geogan run SPEC.toml`` is :func:`run_pipeline`.

>>> import geogan
>>> geogan.GridOptions().cell_size_m > 0
True
"""

from geogan._lazy import lazy_exports
from geogan._version import __version__
from geogan.errors import GeoganError

#: what this package exports, and the module each name is imported from when first used
_EXPORTS = {
    "Deposits": "geogan.evaluation",
    "EvaluationResult": "geogan.evaluation",
    "evaluate": "geogan.evaluation",
    "evaluate_many": "geogan.evaluation",
    "evaluate_scores": "geogan.evaluation",
    "open_scores": "geogan.evaluation",
    "read_deposits": "geogan.evaluation",
    "GridResult": "geogan.grid",
    "grid_survey": "geogan.grid",
    "import_rasters": "geogan.grid",
    "GridSpec": "geogan.gridspec",
    "DepositOptions": "geogan.options",
    "EvalOptions": "geogan.options",
    "GridOptions": "geogan.options",
    "ScoreOptions": "geogan.options",
    "SurveyOptions": "geogan.options",
    "TrainOptions": "geogan.options",
    "PipelineSpec": "geogan.pipeline",
    "load_spec": "geogan.pipeline",
    "run_pipeline": "geogan.pipeline",
    "ScoreResult": "geogan.scoring",
    "score_grid": "geogan.scoring",
    "open_grid": "geogan.stores",
    "Survey": "geogan.survey",
    "read_survey": "geogan.survey",
    "make_survey": "geogan.synth",
    "write_synthetic_survey": "geogan.synth",
    "TrainedModel": "geogan.training",
    "TrainResult": "geogan.training",
    "load_model": "geogan.training",
    "train_model": "geogan.training",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "__version__", "GeoganError",
    # options of each stage
    "SurveyOptions", "GridOptions", "TrainOptions", "ScoreOptions", "EvalOptions", "DepositOptions",
    "GridSpec",
    # the stages
    "Survey", "read_survey", "make_survey", "write_synthetic_survey",
    "GridResult", "grid_survey", "import_rasters", "open_grid",
    "TrainResult", "train_model", "TrainedModel", "load_model",
    "ScoreResult", "score_grid",
    "Deposits", "read_deposits", "EvaluationResult", "evaluate", "evaluate_many", "evaluate_scores", "open_scores",
    "PipelineSpec", "load_spec", "run_pipeline",
]
