"""The train stage: a random sample of grid cells → transform + detector → a model directory.

What lives here: :func:`train_model` (the stage: options, sample, split, fit, the model
directory), :func:`check_train_options` and :class:`TrainResult`. What does not: drawing the
cells (:mod:`geogan.training.sampling`), the work folder, checkpoints, resume and the history
(:mod:`geogan.training.run`), loading a model back for scoring (:mod:`geogan.training.model`), the
detectors and their files (:mod:`geogan.detectors`).

``train_model`` draws ``sample`` valid cells uniformly at random from a grid store (reading
it chunk by chunk: count the valid cells of every chunk, allocate the sample across chunks
with a multivariate hypergeometric draw, then draw within each chunk), splits them into
training and test cells, fits the transform on the training cells, trains the detector, and
writes the model directory::

    model_dir/
      config.json        detector (name, parameters, score, architecture), elements, units,
                         fitted transform, training parameters and seed, grid path + metadata
      weights/           <network>.weights.h5 and <network>.ema.weights.h5 (neural detectors)
      arrays.npz         fitted arrays (scikit-learn baselines)
      history.csv        per epoch: losses, mean test score, seconds
                         (+ label_informed_test_auc at checkpoints, with deposits)
      checkpoints/       epoch_0010/ ... every checkpoint_every epochs (neural detectors)

It is built in ``<model_dir>.partial/`` and renamed into place when complete; ``resume``
continues an interrupted run from its last checkpoint to the same result as an
uninterrupted one. :func:`geogan.training.model.load_model` reads a model directory back for scoring.
Status lines go to the ``geogan.training.stage`` and ``geogan.training.run`` loggers; caveats are
:class:`~geogan.errors.GeoganWarning`.
"""

from __future__ import annotations

import datetime as _dt
import logging
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geogan.stores.files import check_disjoint, holds_output_lock, replace_path
from geogan.stores.ownership import check_replaceable
from geogan.grid.coverage import coverage_attr
from geogan.detectors.base import Detector
from geogan.detectors.modelfile import write_model_files
from geogan.detectors.neural import NeuralDetector
from geogan.detectors.optim import gpu_available
from geogan.detectors.registry import detector_class
from geogan.errors import ConfigError, GeoganError, GeoganWarning, InputError
from geogan.training.impute import GaussianImputer
from geogan.options import TrainOptions, split_options
from geogan.training.sampling import CellSample, deposit_cells, sample_cells
from geogan.stores.staging import partial_path
from geogan.training.targeting import TargetPlan, TargetScorer, check_target_options, plan_target
from geogan.training.run import (CHECKPOINTS, Fitter, check_work_folder, finish_work_folder, has_progress, make_run_key,
                             start_work_folder, tune_cpu_threads)
from geogan.training.transform import KINDS, Transform
from geogan.stores.urls import is_url

log = logging.getLogger(__name__)

# label-free defaults chosen with bench/quality.py (README, "Detection quality")
DEFAULT_ENSEMBLE = {"alad": 5}
# the per-epoch "mean test score" is computed on at most this many test cells: enough for
# a stable mean, cheap next to an epoch
MONITOR_CELLS = 16384
# train_model arguments passed on to detectors that take a parameter of that name
_SHARED_PARAMS = {"steps": "steps", "epochs": "epochs", "batch_size": "batch_size", "learning_rate": "learning_rate",
                  "latent_dim": "latent_dim", "seed": "random_state", "mixed_precision": "mixed_precision"}


# -- results ------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    """What :func:`train_model` did."""

    model_dir: Path
    detector: str
    score_name: str
    elements: list[str]
    n_valid_cells: int
    n_train: int
    n_test: int
    epochs: int
    seconds: float
    test_score_mean: float
    resumed_from_epoch: int | str | None = None
    label_informed_test_auc: float | None = None
    history: list[dict] = field(default_factory=list, repr=False)
    steps: int | None = None
    ensemble: int = 1
    target: str | None = None  # TargetScorer.describe() of a target-aware model
    detector_elements: list[str] | None = None  # a target-aware model's suite (elements: + matrix predictors)

    def __str__(self) -> str:
        n_det = len(self.detector_elements or self.elements)
        extra = len(self.elements) - n_det
        text = (f"model written to {self.model_dir}: {self.detector} (score {self.score_name}) on "
                f"{n_det} elements" + (f" (+ {extra} matrix predictor{'s' if extra > 1 else ''})" if extra else "")
                + f", {self.n_train:,} training / {self.n_test:,} test cells "
                f"of {self.n_valid_cells:,} valid, "
                + (f"{self.steps:,} steps ({self.epochs} epochs)" if self.steps else f"{self.epochs} epoch(s)")
                + (f" × {self.ensemble} models" if self.ensemble > 1 else "")
                + f" in {self.seconds:.0f} s; "
                f"mean test score {self.test_score_mean:.4g}")
        if self.resumed_from_epoch:
            text += f" (resumed after epoch {self.resumed_from_epoch})"
        if self.label_informed_test_auc is not None:
            text += f"; label-informed test AUC {self.label_informed_test_auc:.3f} (not used for training)"
        if self.target:
            text += f"; {self.target}"
        return text


# -- helpers ------------------------------------------------------------------------------------------
def _resolve_params(cls: type[Detector], shared: dict, detector_params: dict | None) -> dict:
    names = set(cls._param_names())
    # None = the detector's own default (e.g. ALAD's steps); the seed is always passed
    params = {dst: shared[src] for src, dst in _SHARED_PARAMS.items()
              if dst in names and shared.get(src) is not None}
    if "epochs" in params and "steps" in names:
        params.setdefault("steps", None)  # an explicit epoch count replaces the default steps
    extra = dict(detector_params or {})
    unknown = sorted(set(extra) - names)
    if unknown:
        raise ConfigError(f"detector {cls.name!r} has no parameter(s) {', '.join(unknown)}; it takes "
                          f"{', '.join(sorted(names))}")
    params.update(extra)
    return params


# -- the stage --------------------------------------------------------------------------------------
def check_train_options(options: TrainOptions) -> tuple[Detector, int, bool]:
    """Check what :class:`~geogan.options.TrainOptions` cannot check alone: the detector, its
    parameters and the transform, without touching data (``geogan run`` checks every
    ``[train.<name>]`` table with it before any stage runs; types and ranges were checked when
    ``options`` was built).

    Returns the (unfitted) detector, the ensemble size and the resolved ``enrichment_only``.
    """
    from geogan.detectors.ensemble import Ensemble

    detector, transform, enrichment_only, ensemble, seed = (options.detector, options.transform,
                                                            options.enrichment_only, options.ensemble, options.seed)

    check_target_options(target=options.target, deposit_type=options.deposit_type, catalogue_path=options.catalogue,
                         alteration=options.alteration)
    cls = detector_class(detector)
    if cls is Ensemble:
        raise ConfigError("train an ensemble with ensemble=N (--ensemble N) and the members' detector")
    if transform not in KINDS:
        raise ConfigError(f"unknown transform {transform!r}; choose one of {', '.join(KINDS)}")
    if enrichment_only is None:
        enrichment_only = transform != "ilr"
    if enrichment_only and transform == "ilr":
        raise ConfigError("enrichment_only needs one feature per element, which ilr balances are not: use the log, "
                          "clr or none transform, or --two-sided")
    if ensemble is None:
        ensemble = DEFAULT_ENSEMBLE.get(detector, 1)
    shared = {k: getattr(options, k) for k in ("steps", "epochs", "batch_size", "learning_rate", "latent_dim",
                                                "seed", "mixed_precision")}
    det = cls(**_resolve_params(cls, shared, options.params))
    det._validate_params()
    if ensemble > 1:
        member_params = {k: v for k, v in det.get_params().items() if k != "random_state"}
        Ensemble(detector=detector, n_members=int(ensemble), params=member_params, contamination=det.contamination,
                 random_state=seed)._validate_params()
    return det, int(ensemble), bool(enrichment_only)


@holds_output_lock("out_dir")
def train_model(
    grid_path,
    out_dir,
    options: TrainOptions | None = None,
    *,
    resume: bool = False,
    deposits=None,
    overwrite: bool = False,
    progress: bool = True,
    detector_params: dict | None = None,
    **shortcuts,
) -> TrainResult:
    """Train a detector on a random sample of grid cells and write a model directory.

    Parameters
    ----------
    grid_path
        Grid store (``geogan grid`` / ``geogan import-rasters``).
    out_dir
        Model directory to create.
    options
        What to train and how: a :class:`~geogan.options.TrainOptions`, whose fields follow
        (default: its defaults). Any field may also be given by name (``detector="pca"``,
        ``sample=5000``), overriding ``options``.
    detector
        Registry name: ``alad``, ``vae``, ``autoencoder``, ``iforest``, ``mahalanobis``, ``pca``.
    transform
        ``log`` (default), ``clr``, ``ilr`` or ``none``, then median/IQR scaling fitted on the
        training cells.
    elements
        Element symbols to use (default: all in the grid).
    sample
        Valid cells drawn uniformly at random (training + test).
    test_fraction
        Share of the sample held out; its mean score is recorded per epoch.
    steps, epochs
        Training length of the neural detectors: ``steps`` optimiser updates (default: the
        detector's, 5000; rounded up to whole epochs of at least 50 steps, so ``steps=10``
        trains 50), or ``epochs`` passes over the training cells when given.
    batch_size, learning_rate, latent_dim, mixed_precision
        Passed to detectors that take them (default: the detector's own defaults).
    seed
        Seeds the sample, the split and the detector (``random_state``): same seed on CPU →
        identical model.
    ensemble
        Train this many copies of the detector with seeds ``seed``, ``seed + 1000``, ... and
        score by their mean calibrated percentile, with their spread as a second map (see
        :class:`geogan.detectors.ensemble.Ensemble`). Default: 5 for ALAD (a GAN's map
        should not depend on one seed), 1 (a single model) for the others.
    enrichment_only
        Clip the standardised features at the training median from below, so only
        enrichments can make a cell anomalous (see :class:`geogan.training.transform.Transform`);
        False scores depletions too. Default: True, except under ``ilr`` (whose balances
        mix elements).
    checkpoint_every
        Write a checkpoint every N epochs (0: none; default: about 10 per run). Neural
        detectors only.
    resume
        Continue the unfinished run in ``<out_dir>.partial`` from its last checkpoint (same
        arguments required); reaches the same model as an uninterrupted run. Without it, an
        unfinished run with checkpoints is refused (``overwrite=True`` discards it).
    deposits
        Deposit points (CSV/GeoPackage; x/y columns auto-detected, grid CRS unless the file
        says otherwise). Adds ``label_informed_test_auc`` (deposit cells vs the test cells) to
        the history at each checkpoint, for monitoring only: nothing is selected by it.
    overwrite
        Replace an existing ``out_dir``.
    progress
        Show a progress bar (epoch, losses, time left).
    params, detector_params
        Further detector parameters (e.g. ``{"score": "l1_high"}``); they override the above.
        (``detector_params`` is the keyword spelling of the ``params`` field.)
    target, deposit_type
        What is looked for: a commodity element (``"Au"``) and/or a deposit type of the
        pathfinder catalogue (``"orogenic-au"``; :mod:`geogan.survey.pathfinders`). Either makes the
        model **target-aware** (:mod:`geogan.training.targeting`): the detector is trained on the
        type's pathfinders present in the grid (unless ``elements`` is given), and a cell's
        score fuses the target's own percentile (corrected for the matrix elements, with
        ``matrix_correction``) with the suite's anomaly, ``target_weight`` : ``1 - target_weight``.
        Default: neither, a plain anomaly model.
    catalogue
        A TOML file of deposit types extending the built-in catalogue.
    alteration
        Add the deposit type's alteration elements (K, Na, ...) to the suite (False).
    matrix_correction
        Correct the suite for the grid's matrix elements outside it (robust regression).
        Default ``None``: on when the deposit type has no ``host`` in the catalogue (orogenic
        gold, epithermal, VMS, SEDEX, a target without a type), off when it has one (W–Sn
        granite, LCT pegmatite, porphyry, Ni–Cu–PGE, IOCG: every matrix element is then a
        proxy of the rock the deposit belongs to).
    target_weight
        The target's share of a target-aware score (0.5).
    """
    t_start = time.perf_counter()
    grid_path, final = (grid_path if is_url(grid_path) else Path(grid_path)), Path(out_dir)
    work = partial_path(final)
    check_disjoint([final, work], [grid_path, deposits], what="model directory")
    # -- validate everything cheap before reading data ---------------------------------------------
    if detector_params is not None:
        shortcuts["params"] = detector_params
    (options,) = split_options("train_model", shortcuts, (TrainOptions, options))
    det, ensemble, enrichment_only = check_train_options(options)
    neural = isinstance(det, NeuralDetector)
    ds, elements = _open_grid(grid_path, options.elements)
    plan = None
    if options.target is not None or options.deposit_type is not None:
        plan = plan_target([str(e) for e in ds["element"].values], target=options.target,
                           deposit_type=options.deposit_type, catalogue_path=options.catalogue,
                           alteration=options.alteration, matrix_correction=options.matrix_correction,
                           elements=options.elements)
        elements = plan.elements
    run_key = make_run_key(grid_path, options, det, elements, enrichment_only=enrichment_only, ensemble=ensemble,
                           deposits=deposits)
    if plan is not None:  # absent for plain models: their run keys stay as before
        run_key["target"] = {**plan.spec.to_dict(), "predictors": plan.predictors,
                             "weight": float(options.target_weight)}
    progress_found = check_work_folder(work, final, run_key, resume=resume, overwrite=overwrite, neural=neural)
    # -- data (before the work folder exists: a refusal here leaves nothing behind) ----------------
    data = _sample(ds, grid_path, elements, options, enrichment_only, deposits, work=work,
                   resuming=resume and progress_found, plan=plan)
    start_work_folder(work, run_key, resume=resume, progress_found=progress_found)
    tuned = tune_cpu_threads() if neural else False
    # -- training -----------------------------------------------------------------------------------
    fitter = Fitter(data.X_train, data.X_test[:MONITOR_CELLS], data.labels, resume=resume,
                    checkpoint_every=options.checkpoint_every, progress=progress, detector=options.detector,
                    ensemble=ensemble)
    try:
        det = _fit_members(det, ensemble, options, work, fitter)
        scorer = None if plan is None else _fit_target(det, data)
    except GeoganError:  # a setting the data refuse (n_components above the elements): nothing to resume
        if not has_progress(work):
            shutil.rmtree(work, ignore_errors=True)
        raise
    # -- the model directory ------------------------------------------------------------------------
    return _write_model_dir(det, ensemble, options, data, fitter, ds, grid_path, run_key, work, final,
                            deposits=deposits, neural=neural, tuned=tuned, t_start=t_start, scorer=scorer)


# -- the phases of train_model ------------------------------------------------------------------------
@dataclass
class _Sample:
    """The sampled cells, split (test cells first) and transformed; ``labels`` are the
    transformed deposit cells and the test cells on no deposit (with ``deposits``)."""

    elements: list[str]          # the model's elements (raw columns of cells.values)
    detector_elements: list[str]  # the detector's (transform's) elements: all, or a target model's suite
    cells: CellSample
    n_test: int
    train_raw: np.ndarray
    transform: Transform
    X_train: np.ndarray
    X_test: np.ndarray
    labels: tuple[np.ndarray, np.ndarray] | None
    scorer: TargetScorer | None = None  # a target-aware model's (matrix correction fitted)


def _fit_target(det: Detector, data: _Sample) -> TargetScorer:
    """Fit the target-aware score's reference distributions on the training cells."""
    scorer = data.scorer.fit_scores(data.train_raw, det.decision_function(data.X_train))
    log.info(scorer.describe())
    return scorer


def _open_grid(grid_path, elements: list[str] | None) -> tuple:
    """Open the grid and check ``elements`` (default: all) against it; returns both."""
    from geogan.stores.store import open_grid

    ds = open_grid(grid_path)
    grid_elements = [str(e) for e in ds["element"].values]
    elements = list(grid_elements if elements is None else elements)
    missing = [e for e in elements if e not in grid_elements]
    if missing or len(set(elements)) != len(elements) or not elements:
        raise InputError(f"elements must be distinct symbols in the grid ({', '.join(grid_elements)}); "
                         f"unknown: {', '.join(missing) or 'none'}", path=grid_path)
    return ds, elements


def _sample(ds, grid_path, elements: list[str], options: TrainOptions, enrichment_only: bool, deposits, *,
            work: Path, resuming: bool, plan: TargetPlan | None = None) -> _Sample:
    """Draw the cells, split them, fit the transform on the training cells, read the deposits."""
    transform = options.transform
    t0 = time.perf_counter()
    try:
        cells = sample_cells(ds, elements, int(options.sample), seed=int(options.seed))
    except GeoganError:  # e.g. a damaged chunk
        if not resuming:  # made by this run, holding no progress: leave nothing behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    n = cells.values.shape[0]
    n_test = int(round(n * float(options.test_fraction)))
    if n - n_test < 2 or n_test < 1:
        raise InputError(f"only {n} valid cells: too few to split into training and test cells", path=grid_path)
    train_raw, test_raw = cells.values[n_test:], cells.values[:n_test]
    det_elements, scorer, signs = elements, None, None
    if plan is not None:
        det_elements = plan.detector_elements
        signs = {e: plan.spec.directions.get(e, 1) for e in det_elements}
        info = {**plan.spec.to_dict(), "detector_elements": det_elements}
        scorer = TargetScorer(target=plan.spec.target, elements=elements, detector_elements=det_elements,
                              predictors=plan.predictors, weight=float(options.target_weight), info=info)
        scorer.fit_correction(train_raw, seed=int(options.seed))

    def detector_input(raw):  # what the transform sees: the suite, corrected for the matrix
        return raw if scorer is None else scorer.corrected(raw)

    tr = Transform(transform, elements=det_elements, enrichment_only=enrichment_only, signs=signs).fit(
        detector_input(train_raw))
    X_train, X_test = tr.transform(detector_input(train_raw)), tr.transform(detector_input(test_raw))
    if tr.constant_:
        # stacklevel 4: past train_model and holds_output_lock's wrapper, to train_model's caller
        warnings.warn(f"{', '.join(tr.constant_)} ha{'s' if len(tr.constant_) == 1 else 've'} one value in every "
                      f"training cell (e.g. 100 % below detection) and cannot tell cells apart; consider leaving "
                      f"{'it' if len(tr.constant_) == 1 else 'them'} out (--elements)", GeoganWarning, stacklevel=4)
    stored = coverage_attr(ds)
    if stored is not None and stored.n_data:
        log.info(f"{cells.n_valid:,} cells are valid for all {len(elements)} elements: "
                 f"{100 * cells.n_valid / stored.n_data:.1f} % of the grid's {stored.n_data:,} cells with data, the "
                 f"part this model can score (geogan score --min-elements reaches further)")
    log.info(f"sampled {n:,} of {cells.n_valid:,} valid cells in {time.perf_counter() - t0:.1f} s: "
             f"{X_train.shape[0]:,} training, {n_test:,} test; transform {transform}"
             + (", enrichment only" if enrichment_only else ""))
    labels = None
    if deposits is not None:
        dep_raw, dep_rows, dep_cols = deposit_cells(ds, deposits, elements)
        dep_cells = set(zip(dep_rows.tolist(), dep_cols.tolist()))
        negative = np.array([(r, c) not in dep_cells for r, c in zip(cells.rows[:n_test], cells.cols[:n_test])])
        labels = (tr.transform(detector_input(dep_raw)), X_test[negative])
        log.info(f"label-informed monitoring: {len(dep_cells)} deposit cell(s) vs {int(negative.sum()):,} test "
                 f"cells (recorded in the history only)")
    return _Sample(elements, det_elements, cells, n_test, train_raw, tr, X_train, X_test, labels, scorer)


def _fit_members(det: Detector, ensemble: int, options: TrainOptions, work: Path, fitter: Fitter) -> Detector:
    """Fit the detector, or an ensemble of ``ensemble`` copies of it; returns the fitted detector."""
    from geogan.detectors.ensemble import Ensemble

    if ensemble == 1:
        return fitter.fit(det, work / CHECKPOINTS, None)
    detector, seed = options.detector, options.seed
    member_params = {k: v for k, v in det.get_params().items() if k != "random_state"}
    ens = Ensemble(detector=detector, n_members=int(ensemble), params=member_params,
                   contamination=det.contamination, random_state=int(seed))
    det = fitter.fit_ensemble(ens, work)
    log.info(f"ensemble of {ensemble} {detector} models (seeds {seed}, {seed + 1000}, ...): scores are their "
             f"mean percentile; the spread of their percentiles is a second map")
    return det


def _write_model_dir(det: Detector, ensemble: int, options: TrainOptions, data: _Sample, fitter: Fitter, ds,
                     grid_path, run_key: dict, work: Path, final: Path, *, deposits, neural: bool, tuned: bool,
                     t_start: float, scorer: TargetScorer | None = None) -> TrainResult:
    """Write the model files, config and history into ``work`` and move it to ``final``."""
    from geogan.stores.store import grid_spec, location, units_of

    o, X_train, X_test, labels = options, data.X_train, data.X_test, data.labels
    elements, n, n_test = data.elements, data.cells.values.shape[0], data.n_test
    test_scores = det.decision_function(X_test)
    if scorer is not None:
        test_scores = scorer.score(data.cells.values[:n_test], test_scores)
    q = np.percentile(test_scores, [50, 90, 95, 99]).tolist()
    seconds = time.perf_counter() - t_start
    spec = grid_spec(ds)
    units = units_of(ds)
    base = det.members_[0] if ensemble > 1 else det
    n_epochs = base.total_epochs(len(X_train)) if isinstance(base, NeuralDetector) else 1
    n_steps = n_epochs * base.batches_per_epoch(len(X_train)) if isinstance(base, NeuralDetector) else None
    metadata = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "elements": elements,
        "units": {e: units.get(e) for e in elements},
        "transform": data.transform.to_dict(),
        "imputer": GaussianImputer(log=o.transform != "none").fit(data.train_raw).to_dict(),
        "training": {"sample": int(o.sample), "n_sampled": n, "n_train": int(X_train.shape[0]), "n_test": n_test,
                     "test_fraction": float(o.test_fraction), "seed": int(o.seed), "epochs": n_epochs,
                     "steps": n_steps, "ensemble": int(ensemble), "checkpoint_every": o.checkpoint_every,
                     "mixed_precision": bool(o.mixed_precision), "detector_params": dict(o.params or {}),
                     "device": ("GPU" if gpu_available() else "CPU") if neural else "CPU",
                     "cpu_threads_tuned": tuned, "resumed_from_epoch": fitter.resumed_from,
                     "seconds": round(seconds, 1)},
        "grid": {"path": location(grid_path), "metadata_sha256": run_key["grid_fingerprint"],
                 "created": ds.attrs.get("created"), "geogan_version": ds.attrs.get("geogan_version"),
                 "source": ds.attrs.get("source"), "spec": spec.to_dict(), "n_valid_cells": data.cells.n_valid},
        "data": {"test_score_mean": float(np.mean(test_scores)),
                 "test_score_quantiles": dict(zip(["50", "90", "95", "99"], q))},
    }
    if scorer is not None:
        metadata["detector_elements"] = list(data.detector_elements)
        metadata["target"] = scorer.to_dict()
    if labels is not None:
        metadata["label_informed"] = {
            "deposits": str(deposits), "n_deposit_cells": int(labels[0].shape[0]), "test_auc": fitter.label_auc,
            "note": "AUC of deposit cells against test cells, recorded for monitoring; never used to select "
                    "epochs or settings"}
    write_model_files(work, det, metadata=metadata)
    finish_work_folder(work, fitter.history, ensemble=ensemble)
    check_replaceable(final, what="model directory", kind="model")  # a user may have written there meanwhile
    replace_path(work, final)
    return TrainResult(model_dir=final, detector=o.detector, score_name=det.score_name, elements=elements,
                       n_valid_cells=data.cells.n_valid, n_train=int(X_train.shape[0]), n_test=n_test,
                       epochs=n_epochs, seconds=seconds, test_score_mean=float(np.mean(test_scores)),
                       resumed_from_epoch=fitter.resumed_from, label_informed_test_auc=fitter.label_auc,
                       history=fitter.history, steps=n_steps, ensemble=int(ensemble),
                       target=None if scorer is None else scorer.describe(),
                       detector_elements=list(data.detector_elements))


__all__ = ["TrainResult", "check_train_options", "train_model"]
