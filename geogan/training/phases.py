"""The phases of a train run, and what it returns: grid, sample, fit, model directory.

What lives here: the steps :func:`geogan.training.stage.train_model` runs in turn, once its
options are checked and the work folder is decided: open the grid and check the elements
(:func:`open_training_grid`), draw and split the cells and fit the transform
(:func:`sample_training_cells`, into a :class:`TrainingSample`), fit the detector or an
ensemble of it (:func:`fit_members`) and a target-aware score (:func:`fit_target`), and write
the model directory (:func:`write_model_dir`), which returns the :class:`TrainResult`. What
does not: the options and their checks, the run key and the order of the phases
(:mod:`geogan.training.stage`), drawing the cells from the chunks
(:mod:`geogan.training.sampling`), the work folder, checkpoints and the history
(:mod:`geogan.training.run`).

>>> from pathlib import Path
>>> result = TrainResult(model_dir=Path("model"), detector="pca", score_name="pca_error", elements=["Cu", "Zn"],
...                      n_valid_cells=64, n_train=42, n_test=18, epochs=1, seconds=0.2, test_score_mean=0.5)
>>> print(result)  # doctest: +ELLIPSIS
model written to model: pca (score pca_error) on 2 elements, 42 training / 18 test cells of 64 valid, 1 epoch(s) ...
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

from geogan.detectors.base import Detector
from geogan.detectors.modelfile import write_model_files
from geogan.detectors.neural import NeuralDetector
from geogan.detectors.optim import gpu_available
from geogan.errors import GeoganError, GeoganWarning, InputError
from geogan.grid.coverage import coverage_attr
from geogan.options import TrainOptions
from geogan.training.impute import GaussianImputer
from geogan.training.outputs import publish_model
from geogan.training.run import CHECKPOINTS, Fitter, finish_work_folder
from geogan.training.sampling import CellSample, deposit_cells, sample_cells
from geogan.training.targeting import TargetPlan, TargetScorer
from geogan.training.transform import Transform

# the train stage's status lines, under the logger they have always had
log = logging.getLogger("geogan.training.stage")

__all__ = ["TrainResult", "TrainingSample", "open_training_grid", "sample_training_cells", "fit_members", "fit_target",
           "write_model_dir"]


# -- results ------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    """What :func:`~geogan.training.stage.train_model` did.

    ``str(result)`` is the line ``geogan train`` prints. Each parameter is also an attribute
    of the same name.

    Parameters
    ----------
    model_dir
        The model directory written (a model in object storage: its URL, without credentials).
    detector, score_name
        The detector's registry name and the score it computes.
    elements
        The model's elements (a target-aware model's suite plus its matrix predictors).
    n_valid_cells, n_train, n_test
        Valid cells of the grid, and the training and test cells drawn from them.
    epochs
        Epochs trained (1 for the scikit-learn baselines).
    seconds
        Wall time of the run.
    test_score_mean
        Mean score of the test cells.
    resumed_from_epoch
        The checkpoint a resumed run continued from; ``None`` for a fresh run.
    label_informed_test_auc
        With ``deposits``: the last AUC of deposit cells against test cells (monitoring only).
    history
        Per epoch: losses, mean test score, seconds.
    steps
        Optimiser updates of a neural detector; ``None`` otherwise.
    ensemble
        Number of models trained (1: a single model).
    target
        A target-aware model's description; ``None`` for a plain one.
    detector_elements
        The elements the detector sees: all of ``elements``, or a target-aware model's suite.

    Raises
    ------
    GeoganError
        Not raised by the record, which checks nothing:
        :func:`~geogan.training.stage.train_model`, which returns it, raises the errors listed
        there.

    Examples
    --------
    >>> import os, tempfile
    >>> from geogan import train_model
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> grid = example_grid(d, ["Cu", "Zn", "Pb"])
    >>> result = train_model(grid, os.path.join(d, "model"), detector="mahalanobis", sample=60, progress=False)
    >>> result.detector, result.score_name, result.n_valid_cells, result.n_train, result.n_test
    ('mahalanobis', 'mahalanobis_sq', 64, 42, 18)
    >>> print(result)  # doctest: +ELLIPSIS
    model written to ...model: mahalanobis (score mahalanobis_sq) on 3 elements, 42 training / 18 test cells of 64 ...
    """

    model_dir: Path | str
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


# -- the phases of train_model ------------------------------------------------------------------------
@dataclass
class TrainingSample:
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


def fit_target(det: Detector, data: TrainingSample) -> TargetScorer:
    """Fit the target-aware score's reference distributions on the training cells."""
    scorer = data.scorer.fit_scores(data.train_raw, det.decision_function(data.X_train))
    log.info(scorer.describe())
    return scorer


def open_training_grid(grid_path, elements: list[str] | None) -> tuple:
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


def sample_training_cells(ds, grid_path, elements: list[str], options: TrainOptions, enrichment_only: bool,
                          deposits, *, work: Path, resuming: bool, plan: TargetPlan | None = None) -> TrainingSample:
    """Draw the cells, split them, fit the transform on the training cells, and find the cells of
    ``deposits`` (a :class:`~geogan.evaluation.deposits.Deposits` in the grid CRS, or None)."""
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
    return TrainingSample(elements, det_elements, cells, n_test, train_raw, tr, X_train, X_test, labels, scorer)


def fit_members(det: Detector, ensemble: int, options: TrainOptions, work: Path, fitter: Fitter) -> Detector:
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


def write_model_dir(det: Detector, ensemble: int, options: TrainOptions, data: TrainingSample, fitter: Fitter, ds,
                    grid_path, run_key: dict, work: Path, final: Path | str, *, deposits, neural: bool, tuned: bool,
                    t_start: float, scorer: TargetScorer | None = None) -> TrainResult:
    """Write the model files, config and history into ``work`` and put it in place at ``final``
    (:func:`~geogan.training.outputs.publish_model`: renamed, or uploaded to object storage)."""
    from geogan.stores.geometry import grid_spec
    from geogan.stores.layout import location
    from geogan.stores.store import units_of

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
    model_dir = publish_model(work, final)  # refused if a user has written there meanwhile
    return TrainResult(model_dir=model_dir, detector=o.detector, score_name=det.score_name, elements=elements,
                       n_valid_cells=data.cells.n_valid, n_train=int(X_train.shape[0]), n_test=n_test,
                       epochs=n_epochs, seconds=seconds, test_score_mean=float(np.mean(test_scores)),
                       resumed_from_epoch=fitter.resumed_from, label_informed_test_auc=fitter.label_auc,
                       history=fitter.history, steps=n_steps, ensemble=int(ensemble),
                       target=None if scorer is None else scorer.describe(),
                       detector_elements=list(data.detector_elements))
