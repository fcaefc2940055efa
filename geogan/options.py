"""Typed options of each stage: frozen dataclasses, validated once, one source of defaults.

What lives here: the option classes a stage takes (:class:`SurveyOptions`,
:class:`GridOptions`, :class:`TrainOptions`, :class:`ScoreOptions`, :class:`EvalOptions`,
:class:`DepositOptions`; :class:`geogan.grid.idw.IDWParams` is built the same way); each
field is declared with :func:`~geogan.optionkeys.option`. Their base
:class:`~geogan.optionkeys.Options`, which checks every field, and
:func:`~geogan.optionkeys.split_options`, which routes a stage's keyword shortcuts to them,
live in :mod:`geogan.optionkeys` (what one option accepts) and are importable from here too.
A field's type, range and default are written once, here: the Python API, the CLI and the
pipeline spec (whose section keys are these field names; a :class:`DepositOptions` field's
:attr:`~DepositOptions.keywords`) all read them from here.
What does not live here: what the stages do with them, and checks that need the data
(a detector's own parameters are checked by :func:`geogan.training.stage.check_train_options`).

>>> EvalOptions().min_dist_km
5.0
>>> EvalOptions(runs=0)
Traceback (most recent call last):
geogan.errors.ConfigError: runs must be ≥ 1, got 0
>>> GridOptions(bounds=[0, 0, 1000, 1000]).bounds   # lists from TOML become tuples
(0.0, 0.0, 1000.0, 1000.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from geogan.errors import GeoganError, GridError
from geogan.gridspec import DEFAULT_CELL_SIZE_M, DEFAULT_TILE, MAX_CELLS
from geogan.optionkeys import Options, option, split_options

__all__ = ["Options", "split_options", "SurveyOptions", "GridOptions", "TrainOptions", "ScoreOptions", "EvalOptions",
           "DepositOptions"]


# -- the stages' options ---------------------------------------------------------------------
@dataclass(frozen=True)
class SurveyOptions(Options):
    """How to read a survey table (see :func:`geogan.survey.read.read_survey`).

    ``x``/``y`` name the coordinate columns (default: detected), ``input_crs`` their CRS
    (default: from the file; EPSG:4326 for lon/lat columns), ``units`` the units of element
    columns whose names carry none. Below-detection values become ``bdl_factor`` × the
    detection limit; ``negative_is_bdl`` reads a negative value ``-v`` as ``<v``; ``missing``
    lists sentinel values meaning no value; ``level_by`` names a batch column (lab, campaign)
    whose batches are levelled to the overall median.

    Parameters
    ----------
    x, y
        Names of the coordinate columns. Default ``None``: detected.
    input_crs
        CRS of the coordinates (``"EPSG:4326"``, an EPSG code, a :class:`pyproj.CRS`).
        Default ``None``: from the file; EPSG:4326 for lon/lat columns.
    units
        Element symbol → unit, for element columns whose names carry none
        (``{"Au": "ppb"}``). Default ``None``.
    bdl_factor
        Below-detection values become ``bdl_factor`` × the detection limit (0.5; above 0, at
        most 1).
    negative_is_bdl
        Read a negative value ``-v`` as ``<v`` (False).
    missing
        Sentinel values meaning no value (``(-9999.0,)``); a list is stored as a tuple of floats.
    level_by
        Batch column (lab, campaign) whose batches are levelled to the overall median.
        Default ``None``: no levelling.

    Raises
    ------
    ConfigError
        A field of the wrong type or out of range; the message names the field and the value.

    Examples
    --------
    >>> from geogan import SurveyOptions
    >>> SurveyOptions(input_crs="EPSG:4326", missing=[-9999, -1]).missing
    (-9999.0, -1.0)
    >>> SurveyOptions(bdl_factor=2)
    Traceback (most recent call last):
    geogan.errors.ConfigError: bdl_factor must be ≤ 1, got 2
    """

    x: str | None = option(None, "str")
    y: str | None = option(None, "str")
    input_crs: Any = option(None, "crs")
    units: dict[str, str] | None = option(None, "units")
    bdl_factor: float = option(0.5, "num", low=0, high=1, low_open=True)  # 0 would make censored values 0
    negative_is_bdl: bool = option(False, "bool")
    missing: tuple[float, ...] = option((-9999.0,), "nums")
    level_by: str | None = option(None, "str")


@dataclass(frozen=True)
class GridOptions(Options):
    """The grid's geometry and contents (see :func:`geogan.grid.stage.grid_survey`).

    ``crs``: grid CRS, projected in metres (default: the survey's when projected);
    ``cell_size_m``: cell edge; ``bounds``: ``(xmin, ymin, xmax, ymax)`` (default: the
    samples' extent snapped outward to cells); ``tile``: tile edge in cells (the Zarr chunk);
    ``allow_geographic``: accept a geographic CRS (cell size in degrees); ``max_cells``: refuse
    larger grids (``None``: no limit); ``elements``: the symbols to grid (default: all).

    Parameters
    ----------
    crs
        Grid CRS, projected in metres (``"EPSG:32650"``). Default ``None``: the survey's,
        when it is projected.
    cell_size_m
        Cell edge (500; above 0, at most 1,000,000).
    bounds
        ``(xmin, ymin, xmax, ymax)`` in the grid CRS; a list is stored as a tuple of floats.
        Default ``None``: the samples' extent snapped outward to cells.
    tile
        Tile edge in cells, the Zarr chunk (512; 1 to 16,384).
    allow_geographic
        Accept a geographic CRS, the cell size then in degrees (False).
    max_cells
        Refuse grids of more cells (:data:`geogan.gridspec.MAX_CELLS`, 1,000,000,000;
        ``None``: no limit).
    elements
        Element symbols to grid (a list; one string stands for one symbol). Default ``None``: all.

    Raises
    ------
    GridError
        A field of the wrong type or out of range (a :class:`~geogan.errors.InputError`,
        like :class:`~geogan.errors.ConfigError`); the message names the field and the value.

    Examples
    --------
    >>> from geogan import GridOptions
    >>> GridOptions(crs="EPSG:32650", cell_size_m=1000).tile
    512
    >>> GridOptions(tile=0)
    Traceback (most recent call last):
    geogan.errors.GridError: tile must be ≥ 1, got 0
    """

    error: ClassVar[type[GeoganError]] = GridError

    crs: Any = option(None, "crs")
    cell_size_m: float = option(DEFAULT_CELL_SIZE_M, "num", low=0, low_open=True, high=1_000_000)
    bounds: tuple[float, float, float, float] | None = option(None, "bounds")
    tile: int = option(DEFAULT_TILE, "int", low=1, high=16_384)
    allow_geographic: bool = option(False, "bool")
    max_cells: int | None = option(MAX_CELLS, "int", low=1, nullable=True)
    elements: list[str] | None = option(None, "strs")


@dataclass(frozen=True)
class TrainOptions(Options):
    """What to train and how (see :func:`geogan.training.stage.train_model` for each field).

    ``None`` fields take the detector's own default. ``params`` holds further detector
    parameters (e.g. ``{"score": "l1_high"}``), overriding the others.

    What is looked for (:mod:`geogan.training.targeting`): ``target`` (a commodity element) and/or
    ``deposit_type`` (a key of the pathfinder catalogue, :mod:`geogan.survey.pathfinders`;
    ``catalogue`` names a file extending it) make the model target-aware; ``alteration``
    adds the type's alteration elements to its suite; ``matrix_correction`` regresses the
    suite on the grid's matrix elements (``None``: when the deposit type has no host rock of
    its own, :func:`geogan.training.targeting.plan_target`); ``target_weight`` is the target's share
    of the score.

    Parameters
    ----------
    detector
        Registry name of the detector (``"alad"``; see :data:`geogan.detectors.DETECTORS`).
    transform
        ``"log"`` (default), ``"clr"``, ``"ilr"`` or ``"none"``.
    elements
        Element symbols to use. Default ``None``: all in the grid.
    sample
        Valid cells drawn at random, training + test (200,000; at least 10).
    test_fraction
        Share of the sample held out (0.3; above 0, at most 1).
    steps, epochs
        Training length of the neural detectors in optimiser updates (1 to 10,000,000) or in
        passes over the training cells (1 to 1,000,000). Default ``None``: the detector's.
    ensemble
        Number of seeds to train and average (1 to 100). Default ``None``: 5 for ALAD, 1 for
        the others.
    enrichment_only
        Score enrichments only. Default ``None``: True, except under ``ilr``.
    batch_size, learning_rate, latent_dim
        Passed to detectors that take them (1 to 1,048,576 rows; above 0; at least 1).
        Default ``None``: the detector's.
    seed
        Seed of the sample, the split and the detector (0; 0 to 2,147,483,647).
    checkpoint_every
        Checkpoint every N epochs (0: none). Default ``None``: about 10 per run.
    mixed_precision
        float16 (GPU) or bfloat16 (CPU) compute in the neural detectors (False).
    params
        Further detector parameters (``{"score": "l1_high"}``), overriding the others.
    target
        A commodity element (``"W"``) to look for. Default ``None``.
    deposit_type
        A deposit type of the pathfinder catalogue (``"orogenic-au"``). Default ``None``.
    catalogue
        A TOML file of deposit types extending the built-in catalogue. Default ``None``.
    alteration
        Add the deposit type's alteration elements to the suite (False).
    matrix_correction
        Correct the suite for the grid's matrix elements. Default ``None``: when the deposit
        type has no host rock of its own.
    target_weight
        The target's share of a target-aware score (0.5; 0 to 1).

    Raises
    ------
    ConfigError
        A field of the wrong type or out of range; the message names the field and the value.
        An unknown detector, transform or detector parameter is refused by
        :func:`~geogan.training.stage.train_model` (and ``geogan run``) before any data is read.

    Examples
    --------
    >>> from geogan import TrainOptions
    >>> options = TrainOptions(detector="mahalanobis", elements=["Cu", "Zn"], sample=5000)
    >>> options.transform, options.ensemble
    ('log', None)
    >>> TrainOptions(test_fraction=0)
    Traceback (most recent call last):
    geogan.errors.ConfigError: test_fraction must be > 0, got 0
    """

    detector: str = option("alad", "str")
    transform: str = option("log", "str")
    elements: list[str] | None = option(None, "strs")
    sample: int = option(200_000, "int", low=10)
    test_fraction: float = option(0.3, "num", low=0, high=1, low_open=True)
    steps: int | None = option(None, "int", low=1, high=10_000_000)
    epochs: int | None = option(None, "int", low=1, high=1_000_000)
    ensemble: int | None = option(None, "int", low=1, high=100)
    enrichment_only: bool | None = option(None, "bool")
    batch_size: int | None = option(None, "int", low=1, high=1_048_576)
    learning_rate: float | None = option(None, "num", low=0, low_open=True)
    latent_dim: int | None = option(None, "int", low=1)
    seed: int = option(0, "int", low=0, high=2**31 - 1)
    checkpoint_every: int | None = option(None, "int", low=0)
    mixed_precision: bool = option(False, "bool")
    params: dict | None = option(None, "table")
    target: str | None = option(None, "str")
    deposit_type: str | None = option(None, "str")
    catalogue: str | None = option(None, "str")
    alteration: bool = option(False, "bool")
    matrix_correction: bool | None = option(None, "bool")
    target_weight: float = option(0.5, "num", low=0, high=1)


@dataclass(frozen=True)
class ScoreOptions(Options):
    """How to score (see :func:`geogan.scoring.stage.score_grid`).

    ``batch_size``: cells per inference batch; ``contributions``: also write each element's
    contribution to every cell's score; ``min_elements``: also score cells holding at least
    this many of the model's elements, imputing the others (default: every element).

    Parameters
    ----------
    batch_size
        Cells per inference batch (16,384; 1 to 1,048,576).
    contributions
        Also write each element's contribution to every cell's score (False).
    min_elements
        Also score cells holding at least this many of the model's elements (at least 1).
        Default ``None``: every element.

    Raises
    ------
    ConfigError
        A field of the wrong type or out of range; the message names the field and the value.

    Examples
    --------
    >>> from geogan import ScoreOptions
    >>> ScoreOptions(contributions=True).batch_size
    16384
    >>> ScoreOptions(min_elements=0)
    Traceback (most recent call last):
    geogan.errors.ConfigError: min_elements must be ≥ 1, got 0
    """

    batch_size: int = option(16384, "int", low=1, high=1_048_576)
    contributions: bool = option(False, "bool")
    min_elements: int | None = option(None, "int", low=1)


@dataclass(frozen=True)
class EvalOptions(Options):
    """How to evaluate a map against deposits (see :mod:`geogan.evaluation.metrics`).

    ``min_dist_km``: negatives of the negative-sampling AUC lie at least this far from every
    deposit; ``runs``: its seeded draws; ``seed``: the first draw's seed (also the P-A
    random baseline's).

    Parameters
    ----------
    min_dist_km
        Least distance of a negative cell from every deposit (5.0; at least 0).
    runs
        Seeded draws of negatives (20; 1 to 10,000).
    seed
        Seed of the first draw (0; 0 to 2,147,483,647).

    Raises
    ------
    ConfigError
        A field of the wrong type or out of range; the message names the field and the value.

    Examples
    --------
    >>> from geogan import EvalOptions
    >>> EvalOptions(min_dist_km=2, runs=5)
    EvalOptions(min_dist_km=2.0, runs=5, seed=0)
    >>> EvalOptions(seed=-1)
    Traceback (most recent call last):
    geogan.errors.ConfigError: seed must be ≥ 0, got -1
    """

    min_dist_km: float = option(5.0, "num", low=0)
    runs: int = option(20, "int", low=1, high=10_000)
    seed: int = option(0, "int", low=0, high=2**31 - 1)


@dataclass(frozen=True)
class DepositOptions(Options):
    """How to read a deposit file (see :func:`geogan.evaluation.deposits.read_deposits`).

    ``x``/``y`` name the coordinate columns and ``input_crs`` their CRS, as for a survey
    (:class:`SurveyOptions`); ``deposit_type`` keeps the deposits of one type, read from
    ``deposit_type_column``. Beside other stages' options (:func:`~geogan.evaluation.stage.evaluate`,
    :func:`~geogan.scoring.stage.score_grid`, the CLI's ``--deposits-x`` ..., a pipeline spec's
    keys) the fields go by the names :attr:`keywords` maps to them.

    Parameters
    ----------
    x, y
        Names of the coordinate columns. Default ``None``: a vector file's geometry, else
        detected as for surveys.
    input_crs
        CRS of the coordinates (``"EPSG:4326"``, an EPSG code, a :class:`pyproj.CRS`).
        Default ``None``: the layer's, EPSG:4326 for lon/lat columns, else the grid's.
    deposit_type
        Keep only the deposits whose type column equals or contains this, any case
        (``"W-Sn"``). Default ``None``: every deposit.
    deposit_type_column
        The type column, with ``deposit_type``. Default ``None``: the first of
        ``deposit_type``, ``type``, ``commodity``, ``commodities`` (any case).

    Raises
    ------
    ConfigError
        A field of the wrong type (the message names the field and the value), or
        ``deposit_type_column`` without ``deposit_type``.

    Examples
    --------
    >>> from geogan import DepositOptions
    >>> DepositOptions(input_crs="EPSG:4326", deposit_type="W-Sn").x is None
    True
    >>> DepositOptions.keywords["deposits_crs"]
    'input_crs'
    >>> DepositOptions(deposit_type_column="type")
    Traceback (most recent call last):
    geogan.errors.ConfigError: deposit_type_column names the column that deposit_type selects by; give deposit_type too
    """

    #: the names the fields go by beside other stages' options: evaluate's and score_grid's
    #: keywords, the CLI flags (``--deposits-crs``), the pipeline spec's keys
    keywords: ClassVar[MappingProxyType] = MappingProxyType({
        "deposits_x": "x", "deposits_y": "y", "deposits_crs": "input_crs", "deposit_type": "deposit_type",
        "deposit_type_column": "deposit_type_column"})

    x: str | None = option(None, "str")
    y: str | None = option(None, "str")
    input_crs: Any = option(None, "crs")
    deposit_type: str | None = option(None, "str")
    deposit_type_column: str | None = option(None, "str")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.deposit_type_column is not None and self.deposit_type is None:
            raise self.error("deposit_type_column names the column that deposit_type selects by; give deposit_type too")
