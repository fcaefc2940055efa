"""The score stage: tile-wise inference on Dask → ``scores.zarr`` + ``anomaly.tif`` (COG) + report.

Each tile is one task that reads the tile's chunk (all elements) from the grid store, scores
it and writes it into the scores store, on the worker: only a count comes back, so a worker
holds one tile at a time however large the grid. The model is loaded once per worker
process from the model dir path, never shipped in the graph (what runs on the workers is
:mod:`geogan.scoring.inference`). Finished tiles are recorded in a manifest so a rerun after a crash
resumes; outputs appear under their final names only when complete.

What lives here: :func:`score_grid`, the stage as a short sequence of named steps, and its
report (the map, or a target-aware map beside its target element). The steps are
:class:`geogan.scoring.run.ScoreRun`'s (checks, claiming outputs, staging, the tiles on Dask);
the maps and their styles are :mod:`geogan.scoring.maps`; the per-tile inference
:mod:`geogan.scoring.inference`; the metrics :mod:`geogan.evaluation.metrics`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from geogan.cluster import check_workers
from geogan.evaluation.deposits import Deposits
from geogan.options import DepositOptions, EvalOptions, ScoreOptions, split_options
from geogan.scoring.maps import cog_tags, detector_label, export_maps
from geogan.scoring.run import ScoreRun
from geogan.stores.files import holds_output_lock
from geogan.stores.scores import open_scores_store

log = logging.getLogger(__name__)


@dataclass
class ScoreResult:
    """What :func:`score_grid` wrote.

    Each parameter is also an attribute of the same name.

    Parameters
    ----------
    out_dir
        The score directory (in object storage its URL, as are the other paths).
    scores
        ``scores.zarr``: ``anomaly(y, x)``.
    cog
        ``anomaly.tif``, the anomaly map as a Cloud-Optimized GeoTIFF.
    report
        The report directory, with deposits; ``None`` without.
    n_cells_scored
        Cells given a score.
    seconds
        Wall time of the run.
    metrics
        The evaluation's metrics, with deposits; ``None`` without.
    evaluation
        The :class:`~geogan.evaluation.result.EvaluationResult`, with deposits.
    contributions
        ``contributions.zarr``, with ``contributions=True``.
    top_anomalies
        The strongest anomalies and their driving elements, with ``contributions=True``.
    spread
        ``spread.tif``, for an ensemble model.
    qml
        ``anomaly.qml``, the QGIS style of ``anomaly.tif``.
    polygons
        ``anomaly_polygons.gpkg``.
    class_breaks
        ``{"P50": score, …, "P99": score}`` of the valid cells.
    target_alone
        A target-aware model's target element evaluated alone (its metrics).

    Raises
    ------
    GeoganError
        Not raised by the record, which checks nothing: :func:`score_grid`, which returns it,
        raises the errors listed there.

    Examples
    --------
    >>> import dataclasses
    >>> [f.name for f in dataclasses.fields(ScoreResult)][:4]
    ['out_dir', 'scores', 'cog', 'report']
    >>> result = score_grid("grid.zarr", "models/alad", "scores/alad", deposits="deposits.csv")  # doctest: +SKIP
    >>> result.cog, result.metrics["roc_auc"]  # doctest: +SKIP
    """

    out_dir: Path | str  # paths are URLs (str) for a score directory in object storage
    scores: Path | str
    cog: Path | str
    report: Path | str | None
    n_cells_scored: int
    seconds: float
    metrics: dict | None = None
    evaluation: object | None = None  # geogan.evaluation.result.EvaluationResult when deposits were given
    contributions: Path | str | None = None  # contributions.zarr, with contributions=True
    top_anomalies: list | None = None  # geogan.evaluation.drivers.top_anomalies rows, with contributions=True
    spread: Path | str | None = None  # spread.tif, for an ensemble model
    qml: Path | str | None = None  # anomaly.qml, the QGIS style of anomaly.tif
    polygons: Path | str | None = None  # anomaly_polygons.gpkg
    class_breaks: dict | None = None  # {"P50": score, …, "P99": score} of the valid cells
    target_alone: dict | None = None  # a target-aware model's target element evaluated alone (its metrics)


def element_alone(ds, element: str):
    """A grid's ``element`` as a map to evaluate beside a target-aware one (named ``<element> alone``)."""
    da = ds["concentration"].sel(element=element).drop_vars("element", errors="ignore")
    da.attrs = {"score": f"{element} concentration", "detector": f"{element} alone"}
    return da


def _evaluate(scores_path: Path, ds, model, deps, report_path: Path, evaluation: EvalOptions, *, name: str, top):
    """The report of a score stage: the map alone, or for a target-aware model the map beside
    its target element's own grid (what the map adds over the element alone, side by side).
    Returns the map's result and the target element's (None for a plain model)."""
    from geogan.evaluation.stage import evaluate, evaluate_many

    if model.target is None:
        return evaluate(scores_path, deps, report_path, evaluation=evaluation, overwrite=True, name=name,
                        **({"top_anomalies": top} if top else {})), None
    target = model.target.target
    element = element_alone(ds, target)
    kind = model.target.info.get("deposit_type")
    title = (f"target-aware map ({target}" + (f", {kind}" if kind else "") + f") beside {target} alone")
    alone = f"{target} alone" if name != f"{target} alone" else f"{target} concentration"
    results = evaluate_many({name: scores_path, alone: element}, deps, report_path, evaluation,
                            overwrite=True, title=title, top_anomalies={name: top} if top else None)
    return results[name], results[alone]


@holds_output_lock("out_dir")
def score_grid(
    grid_path: str | os.PathLike,
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: ScoreOptions | None = None,
    *,
    deposits: Deposits | str | os.PathLike | None = None,
    evaluation: EvalOptions | None = None,
    deposit_options: DepositOptions | None = None,
    name: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **shortcuts,
) -> ScoreResult:
    """Score every valid cell of a grid store with a trained model.

    Writes ``out_dir/scores.zarr`` (``anomaly(y, x)``), ``out_dir/anomaly.tif`` (COG) and,
    with ``deposits``, ``out_dir/report/`` (see :func:`geogan.evaluation.stage.evaluate`), evaluated
    as ``evaluation`` says (:class:`~geogan.options.EvalOptions`: ``min_dist_km``, ``runs``,
    ``seed``); ``name`` labels the detector there (default: the model's detector).
    ``deposits`` is a :class:`~geogan.evaluation.deposits.Deposits` (see
    :func:`geogan.evaluation.deposits.read_deposits` for columns, CRS and deposit type) or a deposit
    file, read as ``deposit_options`` says (:class:`~geogan.options.DepositOptions`; default: columns
    detected, the grid CRS unless the file says otherwise).
    ``options`` (:class:`~geogan.options.ScoreOptions`) holds ``batch_size``,
    ``contributions`` and ``min_elements``; any field of it or of ``evaluation`` may also be
    given by name (``runs=5``, ``contributions=True``), and those of ``deposit_options`` by
    their keywords (``deposits_crs="EPSG:4326"``, ``deposit_type="W-Sn"``).

    Always also written beside the COG, from the scores read once: ``anomaly.qml`` (a QGIS
    style drawing ``anomaly.tif`` in the report's percentile classes) and
    ``anomaly_polygons.gpkg`` (the connected regions of cells ≥ P95 and ≥ P99, with area,
    highest score and the deposits inside); see :mod:`geogan.evaluation.gis`. The COGs carry a band
    description and tags naming the detector, score, transform, elements, geogan version,
    model and grid.
    With ``contributions`` each tile also writes the per-element contributions of its cells
    (:func:`geogan.scoring.contributions.element_contributions`; ``n_elements`` extra scoring passes)
    into ``out_dir/contributions.zarr`` (``contribution(element, y, x)``), and the report
    lists the top 10 anomalies with their driving elements. That store is built inside the
    scores store's staging folder (``scores.zarr.partial/contributions.zarr``), shares its
    done-manifest, and is moved into place just before ``scores.zarr``.
    With ``min_elements`` a cell missing some of the model's elements is still scored when
    it holds at least that many, the missing ones imputed from the present ones
    (:mod:`geogan.training.impute`); ``scores.zarr`` then holds ``elements_used(y, x)`` (uint8, 0 where
    unscored) and ``elements_used.tif`` maps it. Contributions are given for cells with every
    element only.
    Rerunning after a crash resumes from the finished tiles.

    Parameters
    ----------
    grid_path
        The grid store to score (``geogan grid`` / ``geogan import-rasters``).
    model_dir
        A model directory of :func:`geogan.training.stage.train_model`, trained on elements
        the grid has, in the same units.
    out_dir
        The score directory to write (created; other files in it are left alone), or a prefix
        in object storage (``s3://bucket/scores``): the stores are built there in place, the
        maps and the report written locally and uploaded, the folder's marker object last.
        Credentials come from the environment of the client and of every worker.
    options
        ``batch_size``, ``contributions``, ``min_elements`` (:class:`~geogan.options.ScoreOptions`).
    deposits
        Known deposits to evaluate the map against (a :class:`~geogan.evaluation.deposits.Deposits`
        or a deposit file); ``None``: no report.
    evaluation
        The negative-sampling protocol of the report (:class:`~geogan.options.EvalOptions`).
    deposit_options
        How to read a deposit file (:class:`~geogan.options.DepositOptions`: its columns, CRS,
        the deposit type to keep); a :class:`~geogan.evaluation.deposits.Deposits` is used as it is.
    name
        The detector's label in the report. Default: the model's detector.
    scheduler, workers
        Dask scheduler address, or LocalCluster worker processes (see :mod:`geogan.cluster`).
    overwrite
        Replace the outputs of an earlier run in ``out_dir`` (geogan's own only).
    progress
        Show a progress bar over the tiles.
    **shortcuts
        Any field of ``options`` or ``evaluation`` by name (``runs=5``, ``contributions=True``),
        and of ``deposit_options`` by its keyword (:attr:`DepositOptions.keywords
        <geogan.options.DepositOptions.keywords>`: ``deposits_crs``, ``deposit_type``, ...).

    Returns
    -------
    ScoreResult
        The paths written, the number of cells scored, the wall time and, with deposits, the
        evaluation.

    Raises
    ------
    StoreError
        ``grid_path`` is not a complete geogan grid store, or a chunk cannot be read.
    ModelError
        ``model_dir`` is missing or invalid; the grid lacks some of the model's elements, or
        holds them in other units; ``min_elements`` for a model without an imputer.
    InputError
        ``min_elements`` out of range; no cell holds the elements needed; a deposit file that
        cannot be read; ``workers`` out of range, or Dask workers that cannot start.
    EvaluationError
        No deposit falls on the grid.
    ConfigError
        An option out of range; ``contributions`` for a model that cannot give them (ilr).
    OutputExistsError
        Outputs of another run in ``out_dir`` without ``overwrite``, ``out_dir`` a file, or
        a report directory holding files geogan did not write; another process is writing
        ``out_dir``; ``out_dir`` is, holds or lies inside an input.

    Examples
    --------
    A small grid store and a baseline model:

    >>> import os, tempfile
    >>> from geogan import train_model
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> grid = example_grid(d, ["Cu", "Zn", "Pb"])
    >>> model = train_model(grid, os.path.join(d, "model"), detector="mahalanobis", sample=60, progress=False)

    Scoring runs on a Dask cluster (local worker processes by default):

    >>> result = score_grid(grid, model.model_dir, os.path.join(d, "scores"), workers=2)  # doctest: +SKIP
    >>> result.n_cells_scored, result.cog.name  # doctest: +SKIP
    (64, 'anomaly.tif')

    The grid and the model are checked before any output is made:

    >>> score_grid(grid, os.path.join(d, "no-model"), os.path.join(d, "scores"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ModelError: ...no-model: model directory not found
    """
    options, evaluation, deposit_options = split_options(
        "score_grid", shortcuts, (ScoreOptions, options), (EvalOptions, evaluation),
        (DepositOptions, deposit_options, DepositOptions.keywords))
    t0 = time.perf_counter()
    check_workers(workers)
    run = ScoreRun(grid_path, model_dir, out_dir, options, deposits, deposit_options)  # every check before any output
    run.claim(overwrite=overwrite)
    pending = run.stage()
    if pending:
        run.score_tiles(pending, scheduler=scheduler, workers=workers, progress=progress)
    run.finish()
    scores_ds = open_scores_store(run.scores_path)
    n_scored = run.count_scored(scores_ds)
    label = name or detector_label(run.model)
    tags = cog_tags(run.model, run.model_dir, run.token, run.run_key, label=label)
    maps = export_maps(scores_ds, run.spec, run.model, run.out_dir, tags, deposits=run.deposits)
    top = result = alone = None
    if run.contributions:
        from geogan.evaluation.drivers import read_top_anomalies

        top = read_top_anomalies(run.out_dir, n=10)
    if run.deposits is not None:
        result, alone = _evaluate(run.scores_path, run.ds, run.model, run.deposits, run.report_path, evaluation,
                                  name=label, top=top)
    run.seal()
    return ScoreResult(out_dir=run.out_dir, scores=run.scores_path, cog=maps.cog, n_cells_scored=n_scored,
                       report=run.report_path if result is not None else None, seconds=time.perf_counter() - t0,
                       metrics=result.metrics if result is not None else None, evaluation=result,
                       contributions=run.contrib_path if run.contributions else None, top_anomalies=top,
                       spread=maps.spread, qml=maps.qml, polygons=maps.polygons, class_breaks=maps.class_breaks,
                       target_alone=None if alone is None else {"name": alone.name, **alone.metrics})
