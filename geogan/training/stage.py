"""The train stage: a random sample of grid cells → transform + detector → a model directory.

What lives here: :func:`train_model` (the stage: options, run key and work folder, then its
phases in turn) and :func:`check_train_options`. What does not: the phases themselves (open the
grid, sample and split, fit, write the model directory) and the
:class:`~geogan.training.phases.TrainResult` they return (:mod:`geogan.training.phases`), drawing the
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

It is built in ``<model_dir>.partial/`` and renamed into place when complete (a model in object
storage: built in a local work folder named by its URL and uploaded; :mod:`geogan.training.outputs`); ``resume``
continues an interrupted run from its last checkpoint to the same result as an
uninterrupted one. :func:`geogan.training.model.load_model` reads a model directory back for scoring.
Status lines go to the ``geogan.training.stage`` and ``geogan.training.run`` loggers; caveats are
:class:`~geogan.errors.GeoganWarning`.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from geogan.stores.files import check_disjoint, holds_output_lock
from geogan.detectors.base import Detector
from geogan.detectors.neural import NeuralDetector
from geogan.detectors.registry import detector_class
from geogan.errors import ConfigError, GeoganError
from geogan.options import DepositOptions, TrainOptions, split_options
from geogan.training.phases import (TrainResult, fit_members, fit_target, open_training_grid, sample_training_cells,
                                    write_model_dir)
from geogan.training.outputs import model_paths
from geogan.training.targeting import check_target_options, plan_target
from geogan.training.run import (Fitter, check_work_folder, has_progress, make_run_key, start_work_folder,
                                 tune_cpu_threads)
from geogan.training.transform import KINDS
from geogan.evaluation.deposits import read_deposits
from geogan.stores.geometry import grid_spec
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


# -- helpers ------------------------------------------------------------------------------------------
def _resolve_params(cls: type[Detector], shared: dict, detector_params: dict | None) -> dict:
    names = set(cls.param_names())
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
    det.check_params()
    if ensemble > 1:
        member_params = {k: v for k, v in det.get_params().items() if k != "random_state"}
        Ensemble(detector=detector, n_members=int(ensemble), params=member_params, contamination=det.contamination,
                 random_state=seed).check_params()
    return det, int(ensemble), bool(enrichment_only)


@holds_output_lock("out_dir")
def train_model(
    grid_path,
    out_dir,
    options: TrainOptions | None = None,
    *,
    resume: bool = False,
    deposits=None,
    deposit_options: DepositOptions | None = None,
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
        Model directory to create: a path, or an fsspec URL (``s3://bucket/models/alad``;
        credentials from the backend's usual places), where the finished model is uploaded
        (:mod:`geogan.training.outputs`; ``config.json`` last, so it appears whole or not at all).
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
    deposit_options
        How to read ``deposits`` (:class:`~geogan.options.DepositOptions`: coordinate columns,
        their CRS, one deposit type); default: detected, as for surveys.
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

    Returns
    -------
    TrainResult
        The model directory, the detector and its score, the cell counts, the training
        length and time, the mean test score and the history.

    Raises
    ------
    ConfigError
        An option out of range; an unknown detector, transform or detector parameter;
        ``enrichment_only`` with ``ilr``; an unknown target or deposit type; an unfinished
        run in ``<out_dir>.partial`` with other settings (under ``resume``).
    InputError
        ``elements`` not distinct symbols of the grid; too few valid cells, or none where all
        the elements have values; deposits of which none falls on a complete cell.
    StoreError
        ``grid_path`` is not a complete geogan grid store, or a chunk cannot be read.
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is false; an unfinished run with checkpoints
        without ``resume``; another process is writing ``out_dir``; ``out_dir`` is, holds
        or lies inside an input.

    Examples
    --------
    A baseline trains in a fraction of a second:

    >>> import os, tempfile
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> grid = example_grid(d, ["Cu", "Zn", "Pb"])
    >>> result = train_model(grid, os.path.join(d, "model"), detector="mahalanobis", sample=60, progress=False)
    >>> result.elements, result.n_train, result.n_test
    (['Cu', 'Zn', 'Pb'], 42, 18)
    >>> sorted(os.listdir(result.model_dir))
    ['arrays.npz', 'config.json', 'history.csv']

    ALAD, geogan's method, trains a 5-seed ensemble on TensorFlow (minutes on a real grid):

    >>> result = train_model(grid, os.path.join(d, "alad"), elements=["Cu", "Zn", "Pb"],
    ...                      sample=40_000, seed=0)  # doctest: +SKIP

    Options are checked before any cell is read:

    >>> train_model(grid, os.path.join(d, "gan"), detector="gan")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ConfigError: unknown detector 'gan'; choose one of alad, vae, autoencoder, iforest, mahalanobis, ...
    """
    t_start = time.perf_counter()
    grid_path = grid_path if is_url(grid_path) else Path(grid_path)
    final, work = model_paths(out_dir)  # an object-storage model: built in a local folder, then uploaded
    check_disjoint([final, work], [grid_path, deposits], what="model directory")
    # -- validate everything cheap before reading data ---------------------------------------------
    if detector_params is not None:
        shortcuts["params"] = detector_params
    (options,) = split_options("train_model", shortcuts, (TrainOptions, options))
    det, ensemble, enrichment_only = check_train_options(options)
    neural = isinstance(det, NeuralDetector)
    ds, elements = open_training_grid(grid_path, options.elements)
    known = None if deposits is None else read_deposits(deposits, crs=grid_spec(ds).pyproj_crs,
                                                        options=deposit_options)
    plan = None
    if options.target is not None or options.deposit_type is not None:
        plan = plan_target([str(e) for e in ds["element"].values], target=options.target,
                           deposit_type=options.deposit_type, catalogue_path=options.catalogue,
                           alteration=options.alteration, matrix_correction=options.matrix_correction,
                           elements=options.elements)
        elements = plan.elements
    run_key = make_run_key(grid_path, options, det, elements, enrichment_only=enrichment_only, ensemble=ensemble,
                           deposits=deposits, deposit_options=deposit_options)
    if plan is not None:  # absent for plain models: their run keys stay as before
        run_key["target"] = {**plan.spec.to_dict(), "predictors": plan.predictors,
                             "weight": float(options.target_weight)}
    progress_found = check_work_folder(work, final, run_key, resume=resume, overwrite=overwrite, neural=neural)
    # -- data (before the work folder exists: a refusal here leaves nothing behind) ----------------
    data = sample_training_cells(ds, grid_path, elements, options, enrichment_only, known, work=work,
                                 resuming=resume and progress_found, plan=plan)
    start_work_folder(work, run_key, resume=resume, progress_found=progress_found)
    tuned = tune_cpu_threads() if neural else False
    # -- training -----------------------------------------------------------------------------------
    fitter = Fitter(data.X_train, data.X_test[:MONITOR_CELLS], data.labels, resume=resume,
                    checkpoint_every=options.checkpoint_every, progress=progress, detector=options.detector,
                    ensemble=ensemble)
    try:
        det = fit_members(det, ensemble, options, work, fitter)
        scorer = None if plan is None else fit_target(det, data)
    except GeoganError:  # a setting the data refuse (n_components above the elements): nothing to resume
        if not has_progress(work):
            shutil.rmtree(work, ignore_errors=True)
        raise
    # -- the model directory ------------------------------------------------------------------------
    return write_model_dir(det, ensemble, options, data, fitter, ds, grid_path, run_key, work, final,
                           deposits=deposits, neural=neural, tuned=tuned, t_start=t_start, scorer=scorer)


__all__ = ["check_train_options", "train_model"]
