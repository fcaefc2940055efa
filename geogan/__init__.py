"""geogan: multivariate geochemical anomaly maps at national scale.

The pipeline, one subpackage per stage::

    survey table --grid--> grid.zarr --train--> model dir --score--> scores.zarr + anomaly.tif + report/
    (geogan.survey)  (geogan.grid)  (geogan.training)  (geogan.scoring, geogan.evaluation)

Every stage's function and option class is importable from here, as the command line uses
them; ``geogan run SPEC.toml`` is :func:`run_pipeline`.

>>> import geogan
>>> geogan.GridOptions().cell_size_m > 0
True
"""

from geogan._version import __version__
from geogan.errors import GeoganError
from geogan.evaluation import Deposits, EvaluationResult, evaluate, evaluate_many, evaluate_scores, open_scores, read_deposits
from geogan.grid import GridResult, grid_survey, import_rasters
from geogan.gridspec import GridSpec
from geogan.options import EvalOptions, GridOptions, ScoreOptions, SurveyOptions, TrainOptions
from geogan.pipeline import PipelineSpec, load_spec, run_pipeline
from geogan.scoring import ScoreResult, score_grid
from geogan.stores import open_grid
from geogan.survey import Survey, read_survey
from geogan.synth import make_survey, write_synthetic_survey
from geogan.training import TrainedModel, TrainResult, load_model, train_model

__all__ = [
    "__version__", "GeoganError",
    # options of each stage
    "SurveyOptions", "GridOptions", "TrainOptions", "ScoreOptions", "EvalOptions", "GridSpec",
    # the stages
    "Survey", "read_survey", "make_survey", "write_synthetic_survey",
    "GridResult", "grid_survey", "import_rasters", "open_grid",
    "TrainResult", "train_model", "TrainedModel", "load_model",
    "ScoreResult", "score_grid",
    "Deposits", "read_deposits", "EvaluationResult", "evaluate", "evaluate_many", "evaluate_scores", "open_scores",
    "PipelineSpec", "load_spec", "run_pipeline",
]
