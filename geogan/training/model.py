"""A trained model directory loaded back for scoring: :class:`TrainedModel` and :func:`load_model`.

What lives here: reading and validating a model directory written by
:func:`geogan.training.stage.train_model` (its layout is described there) and scoring raw
concentrations with it (saved transform, imputer, detector). What does not: training or
writing models (:mod:`geogan.training.stage`), drawing cells (:mod:`geogan.training.sampling`), the detector
file formats themselves (:mod:`geogan.detectors.base`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geogan.detectors.base import Detector
from geogan.detectors.modelfile import CONFIG_NAME, checked_only, detector_from_config, local_model, read_config
from geogan.errors import InputError, ModelError
from geogan.stores.remote import is_remote, public_url
from geogan.stores.urls import is_url
from geogan.training.impute import GaussianImputer
from geogan.training.targeting import TargetScorer
from geogan.training.transform import Transform

# the keys a model's config.json may hold (anything else is refused: a tampered or foreign file)
CONFIG_KEYS = {"format", "format_version", "geogan_version", "detector", "created", "elements", "units",
               "transform", "imputer", "training", "grid", "data", "label_informed", "detector_elements", "target"}


@dataclass
class TrainedModel:
    """A model directory loaded for scoring (see :func:`load_model`).

    Each parameter is also an attribute of the same name; :attr:`elements` are the elements
    the model reads, in the order of the raw arrays it scores.

    Parameters
    ----------
    model_dir
        The model directory (a model in object storage: its URL, without credentials).
    config
        Its ``config.json``, validated.
    detector
        The fitted detector (see :mod:`geogan.detectors`).
    transform
        The fitted transform (:class:`geogan.training.transform.Transform`).
    imputer
        The imputer of missing elements (:mod:`geogan.training.impute`); ``None`` for a model
        from before imputation existed.
    target
        A target-aware model's scorer (:mod:`geogan.training.targeting`); ``None`` for a plain
        model.

    Raises
    ------
    InputError
        :meth:`score`: an array that is not cells × the model's elements; a ``min_elements``
        that is not an integer from 1 to the model's element count.
    ModelError
        :meth:`score` with ``min_elements`` below the element count, for a model without an
        imputer.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from geogan import train_model
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> grid = example_grid(d, ["Cu", "Zn", "Pb"])
    >>> model_dir = train_model(grid, os.path.join(d, "model"), detector="mahalanobis", sample=60,
    ...                         progress=False).model_dir
    >>> model = load_model(model_dir)
    >>> model.elements, model.detector_name, model.score_name
    (['Cu', 'Zn', 'Pb'], 'mahalanobis', 'mahalanobis_sq')
    >>> cells = np.array([[1.0, 1.0, 1.0], [40.0, 1.0, 1.0], [np.nan, 1.0, 1.0]])
    >>> scores = model.score(cells)  # higher = more anomalous; a cell with a NaN stays NaN
    >>> bool(scores[1] > scores[0]), bool(np.isnan(scores[2]))
    (True, True)
    >>> bool(np.isfinite(model.score(cells, min_elements=2)[2]))  # Cu imputed from Zn and Pb
    True
    >>> model.score(cells[:, :2])
    Traceback (most recent call last):
    geogan.errors.InputError: expected an array (cells × 3 elements: Cu, Zn, Pb), got shape (3, 2)
    """

    model_dir: Path | str
    config: dict
    detector: Detector
    transform: Transform
    imputer: GaussianImputer | None = None  # None: a model from before imputation existed
    target: TargetScorer | None = None  # a target-aware model's scorer (geogan.training.targeting)

    @property
    def elements(self) -> list[str]:
        """The elements the model reads, in the order of the raw arrays it scores."""
        return list(self.config["elements"])

    @property
    def detector_elements(self) -> list[str]:
        """The elements the detector sees: all of :attr:`elements`, except for a target-aware
        model, whose matrix predictors only correct its suite."""
        return list(self.config.get("detector_elements") or self.config["elements"])

    @property
    def target_element(self) -> str | None:
        return None if self.target is None else self.target.target

    @property
    def detector_name(self) -> str:
        return self.detector.name

    @property
    def score_name(self) -> str:
        """The detector's score; ``target(W, <score>)`` for a target-aware model."""
        inner = self.detector.score_name
        return inner if self.target is None else f"target({self.target.target}, {inner})"

    @property
    def is_ensemble(self) -> bool:
        return self.detector.name == "ensemble"

    def score_with_spread(self, X_raw, *, min_elements: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores and, for an ensemble, the members' spread (percentage points; else None).

        Applies the saved transform, then the detector's score function. A row missing some
        elements gets NaN, unless ``min_elements`` is given and it holds at least that many:
        then its missing elements are imputed from its present ones (see
        :mod:`geogan.training.impute`) and it is scored; :meth:`elements_used` says how many it had.
        """
        X = self._check_raw(X_raw)
        if min_elements is not None and int(min_elements) < X.shape[1]:
            X = self._impute(X, int(min_elements))
        valid = np.isfinite(X).all(axis=1)
        score = np.full(X.shape[0], np.nan, dtype=np.float32)
        spread = np.full(X.shape[0], np.nan, dtype=np.float32) if self.is_ensemble else None
        if valid.any():
            cells = X if valid.all() else X[valid]
            Z = self.transform.transform(self._detector_columns(cells))
            if spread is None:
                s = self.detector.decision_function(Z)
            else:
                s, spread[valid] = self.detector.score_with_spread(Z)
            score[valid] = s if self.target is None else self.target.score(cells, s)
        return score, spread

    def _detector_columns(self, X: np.ndarray) -> np.ndarray:
        """What the transform takes: the raw cells, or a target-aware model's suite corrected
        for the matrix (:meth:`geogan.training.targeting.TargetScorer.corrected`)."""
        return X if self.target is None else self.target.corrected(X)

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
        more anomalous (the detector's ``decision_function``; for a target-aware model, the
        suite's anomaly, before it is fused with the target)."""
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
                f"elements={self.elements!r}" + (f", target={self.target_element!r})" if self.target else ")"))


def load_model(model_dir, *, networks: bool = True) -> TrainedModel:
    """Load a model directory written by :func:`geogan.training.stage.train_model`.

    ``networks=False`` checks everything (config, transform, imputer, architectures, weight
    files' names and shapes) but builds no network, so it never starts TensorFlow: the result
    describes the model and cannot score (``geogan score`` validates a model so on the
    client before its workers load it whole).

    ``config.json`` is validated first (unknown keys, unknown detectors or parameters, Keras
    layers other than the expected ones, Lambda layers above all): a bad or tampered model
    raises :class:`~geogan.errors.ModelError` before any weights are read. Networks are
    rebuilt in Keras safe mode; nothing is unpickled.

    Parameters
    ----------
    model_dir
        The model directory (``geogan train``'s output): a path, or an fsspec URL
        (``s3://bucket/models/alad``; credentials from the backend's usual places), whose
        files are copied to a local cache first (:func:`geogan.detectors.modelfile.fetch_model_dir`)
        and checked as a local model's; errors then name the URL.
    networks
        Build the neural networks and load their weights (True); False checks them only.

    Returns
    -------
    TrainedModel
        The model, ready to score raw concentrations (unless ``networks=False``).

    Raises
    ------
    ModelError
        The directory is missing (naming an unfinished ``<model_dir>.partial``), has no or an
        unreadable ``config.json``, or holds an unknown format, unknown keys, detectors or
        parameters, elements that disagree between its parts, or weight files that do not fit.

    Examples
    --------
    >>> import os, tempfile
    >>> from geogan import train_model
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> grid = example_grid(d, ["Cu", "Zn", "Pb"])
    >>> model_dir = train_model(grid, os.path.join(d, "model"), detector="mahalanobis", sample=60,
    ...                         progress=False).model_dir
    >>> model = load_model(model_dir)
    >>> model  # doctest: +ELLIPSIS
    TrainedModel('...model', detector='mahalanobis', score='mahalanobis_sq', elements=['Cu', 'Zn', 'Pb'])
    >>> model.score([[1.0, 1.0, 1.0]]).dtype
    dtype('float32')
    >>> load_model(os.path.join(d, "missing"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ModelError: ...missing: model directory not found
    """
    if is_url(model_dir):
        with local_model(model_dir) as local:
            model = load_model(local, networks=networks)
        model.model_dir = public_url(str(model_dir)) if is_remote(model_dir) else local
        return model
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
    detector_elements = config.get("detector_elements", elements)
    if not isinstance(detector_elements, list) or not detector_elements or \
            any(e not in elements for e in detector_elements):
        raise ModelError("config 'detector_elements' must be a non-empty list of the model's elements", path=where)
    if transform.elements != detector_elements:
        raise ModelError("the transform's elements differ from the model's", path=where)
    target = None
    if config.get("target") is not None:
        target = TargetScorer.from_dict(config["target"], where=where)
        if target.elements != elements or target.detector_elements != detector_elements:
            raise ModelError("the target section's elements differ from the model's", path=where)
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
    return TrainedModel(model_dir=model_dir, config=config, detector=detector, transform=transform, imputer=imputer,
                        target=target)


__all__ = ["TrainedModel", "load_model"]
