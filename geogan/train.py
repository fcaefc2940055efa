"""The train stage: a random sample of grid cells → transform + detector → a model directory.

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
uninterrupted one. ``load_model`` reads a model directory back for scoring.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geogan._io import check_disjoint, holds_output_lock
from geogan._tf import tensorflow
from geogan.coverage import coverage_attr
from geogan.detectors.base import (CONFIG_NAME, Detector, NeuralDetector, checked_only, detector_class,
                                   detector_from_config, gpu_available, read_config, write_model_files)
from geogan.errors import ConfigError, GeoganError, InputError, ModelError, OutputExistsError
from geogan.impute import GaussianImputer
from geogan.progress import Progress
from geogan.transform import KINDS, Transform
from geogan.urls import is_url

HISTORY_NAME = "history.csv"
CHECKPOINTS = "checkpoints"
RUN_FILE = "run.json"
# label-free defaults chosen with bench/quality.py (README, "Detection quality")
DEFAULT_TRANSFORM = "log"
DEFAULT_ENSEMBLE = {"alad": 5}
# the per-epoch "mean test score" is computed on at most this many test cells: enough for
# a stable mean, cheap next to an epoch
MONITOR_CELLS = 16384
CONFIG_KEYS = {"format", "format_version", "geogan_version", "detector", "created", "elements", "units",
               "transform", "imputer", "training", "grid", "data", "label_informed"}
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

    def __str__(self) -> str:
        text = (f"model written to {self.model_dir}: {self.detector} (score {self.score_name}) on "
                f"{len(self.elements)} elements, {self.n_train:,} training / {self.n_test:,} test cells "
                f"of {self.n_valid_cells:,} valid, "
                + (f"{self.steps:,} steps ({self.epochs} epochs)" if self.steps else f"{self.epochs} epoch(s)")
                + (f" × {self.ensemble} models" if self.ensemble > 1 else "")
                + f" in {self.seconds:.0f} s; "
                f"mean test score {self.test_score_mean:.4g}")
        if self.resumed_from_epoch:
            text += f" (resumed after epoch {self.resumed_from_epoch})"
        if self.label_informed_test_auc is not None:
            text += f"; label-informed test AUC {self.label_informed_test_auc:.3f} (not used for training)"
        return text


@dataclass
class TrainedModel:
    """A model directory loaded for scoring (see :func:`load_model`)."""

    model_dir: Path
    config: dict
    detector: Detector
    transform: Transform
    imputer: GaussianImputer | None = None  # None: a model from before imputation existed

    @property
    def elements(self) -> list[str]:
        return list(self.config["elements"])

    @property
    def detector_name(self) -> str:
        return self.detector.name

    @property
    def score_name(self) -> str:
        return self.detector.score_name

    @property
    def is_ensemble(self) -> bool:
        return self.detector.name == "ensemble"

    def score_with_spread(self, X_raw, *, min_elements: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores and, for an ensemble, the members' spread (percentage points; else None).

        Applies the saved transform, then the detector's score function. A row missing some
        elements gets NaN, unless ``min_elements`` is given and it holds at least that many:
        then its missing elements are imputed from its present ones (see
        :mod:`geogan.impute`) and it is scored; :meth:`elements_used` says how many it had.
        """
        X = self._check_raw(X_raw)
        if min_elements is not None and int(min_elements) < X.shape[1]:
            X = self._impute(X, int(min_elements))
        valid = np.isfinite(X).all(axis=1)
        score = np.full(X.shape[0], np.nan, dtype=np.float32)
        spread = np.full(X.shape[0], np.nan, dtype=np.float32) if self.is_ensemble else None
        if valid.any():
            Z = self.transform.transform(X if valid.all() else X[valid])
            if spread is None:
                score[valid] = self.detector.decision_function(Z)
            else:
                score[valid], spread[valid] = self.detector.score_with_spread(Z)
        return score, spread

    def check_min_elements(self, min_elements: int | None) -> None:
        """Refuse a ``min_elements`` this model cannot honour (before any output is made)."""
        if min_elements is None:
            return
        n = len(self.elements)
        if isinstance(min_elements, bool) or not isinstance(min_elements, (int, np.integer)) \
                or not 1 <= min_elements <= n:
            raise InputError(f"min_elements must be an integer from 1 to the model's {n} elements, got "
                             f"{min_elements!r}")
        if min_elements < n and self.imputer is None:
            raise ModelError("this model has no imputer (trained before geogan imputed missing elements): "
                             "retrain it to score cells with missing elements", path=self.model_dir)

    def _impute(self, X: np.ndarray, min_elements: int) -> np.ndarray:
        self.check_min_elements(min_elements)
        return self.imputer.impute(X, min_present=min_elements).astype(np.float32)

    @staticmethod
    def elements_used(X_raw) -> np.ndarray:
        """How many of the model's elements each row holds (uint8): what its score rests on."""
        return np.isfinite(np.asarray(X_raw, dtype=np.float32)).sum(axis=1).astype(np.uint8)

    def _check_raw(self, X_raw) -> np.ndarray:
        X = np.asarray(X_raw, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.elements):
            raise InputError(f"expected an array (cells × {len(self.elements)} elements: "
                             f"{', '.join(self.elements)}), got shape {X.shape}")
        return X

    def score_transformed(self, Z) -> np.ndarray:
        """Scores of already transformed features (``self.transform.transform(X_raw)``), higher =
        more anomalous (the detector's ``decision_function``)."""
        return self.detector.decision_function(Z)

    def score(self, X_raw, *, min_elements: int | None = None) -> np.ndarray:
        """Anomaly scores (float32, higher = more anomalous) for concentrations ``X_raw``
        ``(n, n_elements)`` in the grid's units and :attr:`elements` order; rows with a NaN
        stay NaN unless they hold ``min_elements`` elements (see :meth:`score_with_spread`).

        geogan's map score: the saved transform, then the detector's ``decision_function``
        (PyOD's sign), not scikit-learn's ``score_samples`` (higher = more normal)."""
        return self.score_with_spread(X_raw, min_elements=min_elements)[0]

    def __repr__(self) -> str:
        return (f"TrainedModel({str(self.model_dir)!r}, detector={self.detector_name!r}, score={self.score_name!r}, "
                f"elements={self.elements!r})")


def load_model(model_dir, *, networks: bool = True) -> TrainedModel:
    """Load a model directory written by :func:`train_model`.

    ``networks=False`` checks everything (config, transform, imputer, architectures, weight
    files' names and shapes) but builds no network, so it never starts TensorFlow: the result
    describes the model and cannot score (``geogan score`` validates a model so on the
    client before its workers load it whole).

    ``config.json`` is validated first (unknown keys, unknown detectors or parameters, Keras
    layers other than the expected ones, Lambda layers above all): a bad or tampered model
    raises :class:`~geogan.errors.ModelError` before any weights are read. Networks are
    rebuilt in Keras safe mode; nothing is unpickled.
    """
    model_dir = Path(model_dir)
    if not model_dir.exists() and Path(f"{model_dir}.partial").exists():
        raise ModelError(f"training did not finish ({model_dir}.partial exists): rerun 'geogan train' with "
                         f"--resume", path=model_dir)
    config = read_config(model_dir)
    where = model_dir / CONFIG_NAME
    unknown = set(config) - CONFIG_KEYS
    if unknown:
        raise ModelError(f"unknown keys in config.json: {', '.join(sorted(unknown))}", path=where)
    elements = config.get("elements")
    if not isinstance(elements, list) or not elements or not all(isinstance(e, str) for e in elements):
        raise ModelError("config 'elements' must be a non-empty list of element symbols", path=where)
    try:
        transform = Transform.from_dict(config.get("transform"))
    except ModelError as exc:  # name the file
        raise ModelError(exc.message, path=where) from None
    if transform.elements != elements:
        raise ModelError("the transform's elements differ from the model's", path=where)
    if networks:
        detector = detector_from_config(model_dir, config["detector"], where=where)
    else:
        with checked_only():
            detector = detector_from_config(model_dir, config["detector"], where=where)
    n_out = transform.n_features_out
    if detector.n_features_ != n_out:
        raise ModelError(f"the detector takes {detector.n_features_} features but the transform makes {n_out}",
                         path=where)
    imputer = None
    if config.get("imputer") is not None:
        imputer = GaussianImputer.from_dict(config["imputer"], where=where)
        if imputer.mean_.size != len(elements):
            raise ModelError("the imputer's elements differ from the model's", path=where)
    return TrainedModel(model_dir=model_dir, config=config, detector=detector, transform=transform, imputer=imputer)


# -- sampling cells ---------------------------------------------------------------------------------
@dataclass
class CellSample:
    """Cells drawn from a grid: raw values in the elements' order and their grid position."""

    values: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    n_valid: int


def _valid_mask(block: np.ndarray, index: list[int]) -> np.ndarray:
    return np.isfinite(block[index]).all(axis=0)


def _count_valid(block: np.ndarray, index: list[int]) -> int:
    return int(_valid_mask(block, index).sum())


def _draw_in_block(block: np.ndarray, index: list[int], k: int, seed: tuple[int, ...]):
    mask = _valid_mask(block, index)
    r, c = np.nonzero(mask)
    pick = np.sort(np.random.default_rng(list(seed)).choice(r.size, size=k, replace=False))
    r, c = r[pick], c[pick]
    return block[index][:, r, c].T.astype(np.float32), r, c


def sample_cells(ds, elements: list[str], n: int, *, seed: int) -> CellSample:
    """Draw ``n`` cells uniformly at random among the valid cells (no selected element NaN).

    Two passes over the chunks, never more than a few chunks in memory: count the valid
    cells per chunk, split ``n`` across chunks by a multivariate hypergeometric draw (which
    makes the whole sample uniform without replacement), draw within each chunk. The result
    depends only on the grid, ``elements``, ``n`` and ``seed``. Returns all valid cells when
    there are at most ``n``. A chunk that cannot be read (damaged) is a
    :class:`~geogan.errors.StoreError` naming the store and the tile.
    """
    import dask

    from geogan.store import tile_read_error

    data = ds["concentration"].data
    all_elements = [str(e) for e in ds["element"].values]
    index = [all_elements.index(e) for e in elements]
    row_chunks, col_chunks = data.chunks[1], data.chunks[2]
    row_starts = np.concatenate([[0], np.cumsum(row_chunks)])
    col_starts = np.concatenate([[0], np.cumsum(col_chunks)])
    blocks = [(i, j) for i in range(len(row_chunks)) for j in range(len(col_chunks))]

    def part(i, j):
        # read here (not as a dask dependency of the task) so that a failure names the tile
        try:
            return data[:, row_starts[i]:row_starts[i + 1], col_starts[j]:col_starts[j + 1]].compute(
                scheduler="synchronous")
        except MemoryError:
            raise
        except Exception as exc:  # Zarr/Blosc raise many kinds on a damaged chunk
            raise tile_read_error(ds.encoding.get("source", "the grid store"), i, j, exc) from None

    def count(i, j):
        return _count_valid(part(i, j), index)

    def draw(i, j, k):
        return _draw_in_block(part(i, j), index, k, (seed, i, j))

    counts = np.array(dask.compute(*[dask.delayed(count)(i, j) for i, j in blocks], scheduler="threads"),
                      dtype=np.int64)
    n_valid = int(counts.sum())
    if n_valid == 0:
        raise InputError(f"the grid has no cell where all of {', '.join(elements)} have values")
    rng = np.random.default_rng(seed)
    take = counts if n >= n_valid else rng.multivariate_hypergeometric(counts, n)
    tasks = [dask.delayed(draw)(i, j, int(k)) for (i, j), k in zip(blocks, take) if k > 0]
    drawn = dask.compute(*tasks, scheduler="threads")
    values, rows, cols = [], [], []
    for ((i, j), k), (v, r, c) in zip([(b, k) for b, k in zip(blocks, take) if k > 0], drawn):
        values.append(v)
        rows.append(r + row_starts[i])
        cols.append(c + col_starts[j])
    order = rng.permutation(int(take.sum()))  # chunk order → random order before the split
    return CellSample(values=np.concatenate(values)[order], rows=np.concatenate(rows)[order].astype(np.int64),
                      cols=np.concatenate(cols)[order].astype(np.int64), n_valid=n_valid)


# -- deposits (label-informed monitoring only) ---------------------------------------------------------
def _deposit_cells(ds, deposits, elements: list[str]):
    """Raw values and (row, col) of the valid grid cells holding ≥ 1 deposit (each once)."""
    from geogan.evaluate import read_deposits
    from geogan.store import grid_spec

    spec = grid_spec(ds)
    dep = read_deposits(deposits, crs=spec.pyproj_crs)
    row, col, inside = spec.cell_of(dep.x, dep.y)
    cells = sorted(set(zip(row[inside].tolist(), col[inside].tolist())))
    if not cells:
        raise InputError("no deposit falls inside the grid; label-informed AUC cannot be computed", path=deposits)
    import xarray as xr

    r = xr.DataArray([c[0] for c in cells], dims="cell")
    c = xr.DataArray([c[1] for c in cells], dims="cell")
    vals = ds["concentration"].sel(element=elements).isel(y=r, x=c).transpose("cell", "element").values
    ok = np.isfinite(vals).all(axis=1)
    if not ok.any():
        raise InputError("every deposit cell lacks a value for some element; label-informed AUC cannot be "
                         "computed", path=deposits)
    rc = np.array(cells, dtype=np.int64)[ok]
    return vals[ok].astype(np.float32), rc[:, 0], rc[:, 1]


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney AUC, ties ½."""
    neg = np.sort(neg)
    less = np.searchsorted(neg, pos, side="left")
    less_eq = np.searchsorted(neg, pos, side="right")
    return float(np.sum(less + 0.5 * (less_eq - less)) / (pos.size * neg.size))


# -- helpers ------------------------------------------------------------------------------------------
def tune_cpu_threads() -> bool:
    """On a CPU-only machine with ≤ 8 cores, run TensorFlow ops side by side (inter-op) rather
    than splitting each small matmul across cores (intra-op): ~15 % faster training at batch
    128. Only possible before TensorFlow starts; returns whether it was applied."""
    applied = []

    def configure(tf) -> None:
        n = os.cpu_count() or 1
        if n > 8 or os.environ.get("TF_NUM_INTRAOP_THREADS") or tf.config.list_physical_devices("GPU"):
            return
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(n)
        applied.append(True)

    tensorflow(configure=configure)
    return bool(applied)


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


def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    ckpts = sorted(p for p in ckpt_dir.glob("epoch_*") if (p / "checkpoint.json").is_file())
    return ckpts[-1] if ckpts else None


def _has_progress(work: Path) -> bool:
    """Whether an unfinished run in ``work`` holds a checkpoint or a finished ensemble member."""
    return any((work / CHECKPOINTS).glob("**/checkpoint.json")) or any((work / "members").glob(f"*/{CONFIG_NAME}"))


def _describe_progress(work: Path) -> str:
    ckpts = sorted(p.parent.relative_to(work).as_posix() for p in (work / CHECKPOINTS).glob("**/checkpoint.json"))
    members = sorted((work / "members").glob(f"*/{CONFIG_NAME}"))
    parts = [f"last checkpoint {ckpts[-1]}"] if ckpts else []
    if members:
        parts.append(f"{len(members)} finished ensemble member(s)")
    return ", ".join(parts)


def _write_history(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, restval="")
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})


# -- the stage --------------------------------------------------------------------------------------
def check_train_options(*, detector: str = "alad", transform: str = DEFAULT_TRANSFORM, sample: int = 200_000,
                        test_fraction: float = 0.3, steps: int | None = None, epochs: int | None = None,
                        batch_size: int | None = None, learning_rate: float | None = None,
                        latent_dim: int | None = None, seed: int = 0, ensemble: int | None = None,
                        enrichment_only: bool | None = None, checkpoint_every: int | None = None,
                        mixed_precision: bool = False, detector_params: dict | None = None,
                        **_data_options) -> tuple[Detector, int, bool]:
    """Validate :func:`train_model`'s options without touching data (``geogan run`` checks every
    ``[train.<name>]`` table with it before any stage runs).

    Returns the (unfitted) detector, the ensemble size and the resolved ``enrichment_only``.
    Options about data (``elements``, ``deposits``, ...) are accepted and not checked here.
    """
    from geogan.detectors.ensemble import Ensemble

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
    if not 0.0 < float(test_fraction) < 1.0:
        raise ConfigError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    if not isinstance(sample, (int, np.integer)) or sample < 10:
        raise ConfigError(f"sample must be an integer ≥ 10, got {sample!r}")
    if checkpoint_every is not None and (not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 0):
        raise ConfigError(f"checkpoint_every must be an integer ≥ 0, got {checkpoint_every!r}")
    if ensemble is None:
        ensemble = DEFAULT_ENSEMBLE.get(detector, 1)
    if not isinstance(ensemble, (int, np.integer)) or isinstance(ensemble, bool) or not 1 <= ensemble <= 100:
        raise ConfigError(f"ensemble must be an integer between 1 and 100, got {ensemble!r}")
    shared = {"steps": steps, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
              "latent_dim": latent_dim, "seed": seed, "mixed_precision": mixed_precision}
    det = cls(**_resolve_params(cls, shared, detector_params))
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
    *,
    detector: str = "alad",
    transform: str = DEFAULT_TRANSFORM,
    elements: list[str] | None = None,
    sample: int = 200_000,
    test_fraction: float = 0.3,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    latent_dim: int | None = None,
    seed: int = 0,
    ensemble: int | None = None,
    enrichment_only: bool | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    mixed_precision: bool = False,
    deposits=None,
    overwrite: bool = False,
    progress: bool = True,
    detector_params: dict | None = None,
    echo=None,
) -> TrainResult:
    """Train a detector on a random sample of grid cells and write a model directory.

    Parameters
    ----------
    grid_path
        Grid store (``geogan grid`` / ``geogan import-rasters``).
    out_dir
        Model directory to create.
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
        detector's, 5000), or ``epochs`` passes over the training cells when given.
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
        enrichments can make a cell anomalous (see :class:`geogan.transform.Transform`);
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
    detector_params
        Further detector parameters (e.g. ``{"score": "l1_high"}``); they override the above.
    echo
        Callable for status lines (default: print when ``progress``, else silent).
    """
    from geogan.detectors.ensemble import Ensemble, member_dir
    from geogan.store import grid_spec, location, metadata_fingerprint, open_grid, units_of

    t_start = time.perf_counter()
    if echo is None:
        echo = print if progress else (lambda *a, **k: None)
    grid_path, final = (grid_path if is_url(grid_path) else Path(grid_path)), Path(out_dir)
    check_disjoint([final, final.with_name(final.name + ".partial")], [grid_path, deposits], what="model directory")
    # -- validate everything cheap before reading data ---------------------------------------------
    det, ensemble, enrichment_only = check_train_options(
        detector=detector, transform=transform, sample=sample, test_fraction=test_fraction, steps=steps,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, latent_dim=latent_dim, seed=seed,
        ensemble=ensemble, enrichment_only=enrichment_only, checkpoint_every=checkpoint_every,
        mixed_precision=mixed_precision, detector_params=detector_params)
    neural = isinstance(det, NeuralDetector)
    member_params = {k: v for k, v in det.get_params().items() if k != "random_state"}
    work = final.with_name(final.name + ".partial")
    ds = open_grid(grid_path)
    grid_elements = [str(e) for e in ds["element"].values]
    elements = list(grid_elements if elements is None else elements)
    missing = [e for e in elements if e not in grid_elements]
    if missing or len(set(elements)) != len(elements) or not elements:
        raise InputError(f"elements must be distinct symbols in the grid ({', '.join(grid_elements)}); "
                         f"unknown: {', '.join(missing) or 'none'}", path=grid_path)
    run_key = {"grid": location(grid_path), "grid_fingerprint": metadata_fingerprint(grid_path),
               "detector": detector, "params": det.get_params(), "transform": transform, "elements": elements,
               "enrichment_only": bool(enrichment_only), "ensemble": int(ensemble),
               "sample": int(sample), "test_fraction": float(test_fraction), "seed": int(seed),
               "checkpoint_every": checkpoint_every, "deposits": None if deposits is None else str(deposits)}
    progress_found = neural and _has_progress(work)
    if resume and work.exists():
        try:
            previous = json.loads((work / RUN_FILE).read_text())
        except (OSError, ValueError):
            previous = None
        if previous != json.loads(json.dumps(run_key)):
            raise ConfigError(f"{work} holds an unfinished run with other settings; rerun with the same arguments "
                              f"to resume, or with --overwrite to start afresh")
    if not resume and not overwrite and progress_found:
        raise OutputExistsError(f"{work} holds an unfinished run ({_describe_progress(work)}); pass --resume to "
                                f"continue it, or --overwrite to start afresh")
    if final.exists() and not overwrite and not (resume and work.exists()):
        hint = "; it is a finished model, nothing to resume" if resume else ""
        raise OutputExistsError(f"{final} exists{hint}; pass --overwrite to replace it")
    # -- data (before the work folder exists: a refusal here leaves nothing behind) ----------------
    t0 = time.perf_counter()
    try:
        cells = sample_cells(ds, elements, int(sample), seed=int(seed))
    except GeoganError:  # e.g. a damaged chunk
        if not (resume and progress_found):  # made by this run, holding no progress: leave nothing behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    n = cells.values.shape[0]
    n_test = int(round(n * float(test_fraction)))
    if n - n_test < 2 or n_test < 1:
        raise InputError(f"only {n} valid cells: too few to split into training and test cells", path=grid_path)
    train_raw, test_raw = cells.values[n_test:], cells.values[:n_test]
    tr = Transform(transform, elements=elements, enrichment_only=enrichment_only).fit(train_raw)
    X_train, X_test = tr.transform(train_raw), tr.transform(test_raw)
    if tr.constant_:
        echo(f"warning: {', '.join(tr.constant_)} ha{'s' if len(tr.constant_) == 1 else 've'} one value in every "
             f"training cell (e.g. 100 % below detection) and cannot tell cells apart; consider leaving "
             f"{'it' if len(tr.constant_) == 1 else 'them'} out (--elements)")
    stored = coverage_attr(ds)
    if stored is not None and stored.n_data:
        echo(f"{cells.n_valid:,} cells are valid for all {len(elements)} elements: "
             f"{100 * cells.n_valid / stored.n_data:.1f} % of the grid's {stored.n_data:,} cells with data, the "
             f"part this model can score (geogan score --min-elements reaches further)")
    echo(f"sampled {n:,} of {cells.n_valid:,} valid cells in {time.perf_counter() - t0:.1f} s: "
         f"{X_train.shape[0]:,} training, {n_test:,} test; transform {transform}"
         + (", enrichment only" if enrichment_only else ""))
    monitor = X_test[:MONITOR_CELLS]
    labels = None
    if deposits is not None:
        dep_raw, dep_rows, dep_cols = _deposit_cells(ds, deposits, elements)
        dep_cells = set(zip(dep_rows.tolist(), dep_cols.tolist()))
        negative = np.array([(r, c) not in dep_cells for r, c in zip(cells.rows[:n_test], cells.cols[:n_test])])
        labels = (tr.transform(dep_raw), X_test[negative])
        echo(f"label-informed monitoring: {len(dep_cells)} deposit cell(s) vs {int(negative.sum()):,} test cells "
             f"(recorded in the history only)")

    # -- the work folder -----------------------------------------------------------------------------
    if not (resume and progress_found):
        if work.exists():
            echo(f"removing {work} left by an earlier run" if not resume else
                 f"no checkpoint in {work}: starting afresh")
            shutil.rmtree(work)
        work.mkdir(parents=True)
        (work / RUN_FILE).write_text(json.dumps(run_key, indent=1))
    tuned = tune_cpu_threads() if neural else False

    # -- training -----------------------------------------------------------------------------------
    history: list[dict] = []
    resumed_from = None
    label_auc = None

    def label_informed(d) -> float:
        return _auc(d.decision_function(labels[0]), d.decision_function(labels[1]))

    def fit_one(d: Detector, ckpt_dir: Path, member: int | None) -> Detector:
        """Fit one detector (resuming from its latest checkpoint in ``ckpt_dir``)."""
        nonlocal label_auc, resumed_from
        tag = {} if member is None else {"member": member}
        if not isinstance(d, NeuralDetector):
            t_fit = time.perf_counter()
            d.fit(X_train)
            row = {**tag, "epoch": 1, "mean_test_score": float(np.mean(d.decision_function(monitor))),
                   "seconds": time.perf_counter() - t_fit}
            if labels is not None:
                row["label_informed_test_auc"] = label_auc = label_informed(d)
            history.append(row)
            return d
        checkpoint = _latest_checkpoint(ckpt_dir) if resume else None
        if checkpoint is not None:
            d, extra = type(d).load_checkpoint(checkpoint)
            history[:] = list(extra.get("history", history))
            resumed_from = d.epochs_done_ if member is None else f"member {member}, epoch {d.epochs_done_}"
            echo(f"resuming {'' if member is None else f'member {member} '}from {checkpoint.name} "
                 f"(epoch {d.epochs_done_} of {d.total_epochs(len(X_train))})")
        total = d.total_epochs(len(X_train))
        every = checkpoint_every if checkpoint_every is not None else max(1, math.ceil(total / 10))
        what = f"training {detector}" + ("" if member is None else f" {member + 1}/{ensemble}")
        bar = Progress(total, what, unit="epochs", enabled=progress)
        bar.update(d.epochs_done_ if checkpoint is not None else 0, "")

        def on_epoch(dd: NeuralDetector, epoch: int, logs: dict) -> None:
            nonlocal label_auc
            last = epoch == total
            row = {**tag, "epoch": epoch, "steps": epoch * dd.batches_per_epoch(len(X_train)),
                   **{k: v for k, v in logs.items() if k != "seconds"}, "seconds": logs["seconds"]}
            if (every and epoch % every == 0) or last:
                row["mean_test_score"] = float(np.mean(dd.decision_function(monitor)))
                if labels is not None:
                    row["label_informed_test_auc"] = label_auc = label_informed(dd)
            history.append(row)
            if every and epoch % every == 0 and not last:
                dd.save_checkpoint(ckpt_dir / f"epoch_{epoch:04d}", extra={"history": history})
            shown = [k for k in ("dis", "gen", "enc") if k in logs] or list(dd._loss_names)
            info = " ".join(f"{k} {logs[k]:.3f}" for k in shown)
            bar.update(epoch, info)

        try:
            d.fit(X_train, callback=on_epoch, resume=checkpoint is not None)
        finally:
            bar.close()
        return d

    if ensemble == 1:
        det = fit_one(det, work / CHECKPOINTS, None)
    else:
        ens = Ensemble(detector=detector, n_members=int(ensemble), params=member_params,
                       contamination=det.contamination, random_state=int(seed))
        members = []
        hist_files = sorted((work / "members").glob("*.history.json")) if resume else []
        if hist_files:
            history[:] = json.loads(hist_files[-1].read_text())
        for k in range(int(ensemble)):
            done = work / member_dir(k)
            if resume and (done / CONFIG_NAME).is_file():
                members.append(Detector.load(done))
                continue
            member = fit_one(ens.make_member(k), work / CHECKPOINTS / f"member_{k:02d}", k)
            done.mkdir(parents=True, exist_ok=True)
            write_model_files(done, member)  # a finished member survives an interruption
            done.with_name(f"{done.name}.history.json").write_text(json.dumps(history))
            shutil.rmtree(work / CHECKPOINTS / f"member_{k:02d}", ignore_errors=True)
            members.append(member)
        det = ens.set_members(members, X_train)
        echo(f"ensemble of {ensemble} {detector} models (seeds {seed}, {seed + 1000}, ...): scores are their mean "
             f"percentile; the spread of their percentiles is a second map")

    # -- the model directory ------------------------------------------------------------------------
    test_scores = det.decision_function(X_test)
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
        "transform": tr.to_dict(),
        "imputer": GaussianImputer(log=transform != "none").fit(train_raw).to_dict(),
        "training": {"sample": int(sample), "n_sampled": n, "n_train": int(X_train.shape[0]), "n_test": n_test,
                     "test_fraction": float(test_fraction), "seed": int(seed), "epochs": n_epochs, "steps": n_steps,
                     "ensemble": int(ensemble), "checkpoint_every": checkpoint_every,
                     "mixed_precision": bool(mixed_precision), "detector_params": dict(detector_params or {}),
                     "device": ("GPU" if gpu_available() else "CPU") if neural else "CPU",
                     "cpu_threads_tuned": tuned, "resumed_from_epoch": resumed_from, "seconds": round(seconds, 1)},
        "grid": {"path": location(grid_path), "metadata_sha256": run_key["grid_fingerprint"],
                 "created": ds.attrs.get("created"), "geogan_version": ds.attrs.get("geogan_version"),
                 "source": ds.attrs.get("source"), "spec": spec.to_dict(), "n_valid_cells": cells.n_valid},
        "data": {"test_score_mean": float(np.mean(test_scores)),
                 "test_score_quantiles": dict(zip(["50", "90", "95", "99"], q))},
    }
    if labels is not None:
        metadata["label_informed"] = {
            "deposits": str(deposits), "n_deposit_cells": int(labels[0].shape[0]), "test_auc": label_auc,
            "note": "AUC of deposit cells against test cells, recorded for monitoring; never used to select "
                    "epochs or settings"}
    write_model_files(work, det, metadata=metadata)
    _write_history(work / HISTORY_NAME, history)
    (work / RUN_FILE).unlink(missing_ok=True)
    if ensemble > 1:
        shutil.rmtree(work / CHECKPOINTS, ignore_errors=True)
        for f in (work / "members").glob("*.history.json"):
            f.unlink()
    from geogan.store import replace_path

    replace_path(work, final)
    return TrainResult(model_dir=final, detector=detector, score_name=det.score_name, elements=elements,
                       n_valid_cells=cells.n_valid, n_train=int(X_train.shape[0]), n_test=n_test,
                       epochs=n_epochs, seconds=seconds, test_score_mean=float(np.mean(test_scores)),
                       resumed_from_epoch=resumed_from, label_informed_test_auc=label_auc, history=history,
                       steps=n_steps, ensemble=int(ensemble))


__all__ = ["CellSample", "TrainResult", "TrainedModel", "load_model", "sample_cells", "train_model",
           "tune_cpu_threads"]
