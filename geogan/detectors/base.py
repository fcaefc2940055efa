"""One interface for every anomaly detector, the registry, and the shared neural machinery.

Every detector is a scikit-learn estimator (:class:`sklearn.base.BaseEstimator` and
:class:`~sklearn.base.OutlierMixin`: ``clone``, ``get_params(deep=...)``, ``Pipeline`` work):
``__init__`` only stores (keyword) parameters, ``fit(X, y=None)`` learns and returns
``self``, fitted attributes end in ``_``. Scores follow PyOD and scikit-learn:

- ``decision_function(X)``: one float32 anomaly score per row, **higher = more anomalous**
  (PyOD's convention; geogan's maps are these scores);
- ``score_samples(X)``: ``-decision_function(X)``, **higher = more normal** (scikit-learn's);
- ``contamination`` (0.1, as PyOD): after ``fit``, ``threshold_`` is the (1 − contamination)
  quantile of the training rows' scores ``decision_scores_``, ``labels_`` their 0/1 labels,
  and ``predict(X)`` is ``decision_function(X) > threshold_`` as 0 (inlier) / 1 (outlier),
  PyOD's labels, not scikit-learn's +1 (inlier) / −1 (outlier).

``save(path)`` writes a directory (``config.json`` + weight files, never pickles of code)
and ``load(path)`` reads it back, validating the JSON before anything is built: the Keras
classes named, each layer's width (:data:`MAX_UNITS`), each network's parameter count
(:data:`MAX_PARAMETERS`) and the array shapes in the weight files, so a tampered model can
neither run code nor make TensorFlow allocate without bound.

:class:`NeuralDetector` holds what ALAD, the VAE and the autoencoder share: seeded
networks, a fused Adam, exponential-moving-average (EMA) shadow weights, a ``tf.data``
pipeline of index batches with prefetch, ``tf.function`` train steps, large-batch scoring
through a ``tf.function``, and checkpoints that resume to the same result.
TensorFlow is imported lazily, so the scikit-learn baselines never load it.
"""

from __future__ import annotations

import contextvars
import importlib
import inspect
import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

import geogan
from geogan._tf import tensorflow
from geogan.errors import ConfigError, InputError, ModelError, OutputExistsError
from geogan.store import replace_path

CONFIG_NAME = "config.json"
# default training length of the neural detectors, in optimiser steps (see bench/quality.py
# and the README's "Detection quality" for the figures that chose it)
DEFAULT_STEPS = 5000
MODEL_FORMAT = "geogan-model"
MODEL_FORMAT_VERSION = 1
CHECKPOINT_FORMAT = "geogan-checkpoint"
_DETECTOR_KEYS = {"name", "params", "n_features", "score", "state", "architecture", "threshold"}
#: PyOD's default share of outliers in the training data: ``threshold_`` is the
#: (1 − contamination) quantile of the training scores.
DEFAULT_CONTAMINATION = 0.1
#: Limits on what a model directory, checkpoint or parameter set may ask TensorFlow to build,
#: checked before anything is allocated: the width of any layer or network input (Dense
#: units, latent dimension, features), the weights of one network (~2 GB of float32; geogan's
#: default ALAD has ~0.2 M), and the layers of one network.
MAX_UNITS = 65536
MAX_PARAMETERS = 500_000_000
MAX_LAYERS = 1000


def check_width(name: str, value) -> None:
    """:class:`ConfigError` unless ``value`` is an integer in 1..:data:`MAX_UNITS`."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 1 <= value <= MAX_UNITS:
        raise ConfigError(f"{name} must be an integer between 1 and {MAX_UNITS}, got {value!r}")


def check_widths(name: str, units, *, length: int | None = None) -> None:
    """:class:`ConfigError` unless ``units`` is a non-empty list of layer widths (integers in
    1..:data:`MAX_UNITS`), of ``length`` entries when given."""
    ok = isinstance(units, (list, tuple)) and units and (length is None or len(units) == length) and all(
        isinstance(u, (int, np.integer)) and not isinstance(u, bool) and 1 <= u <= MAX_UNITS for u in units)
    if not ok:
        need = f"{length} integers" if length else "a non-empty list of integers"
        raise ConfigError(f"{name} must be {need} between 1 and {MAX_UNITS}, got {units!r}")


class DataError(InputError, ValueError):
    """``X`` handed to a detector is unusable (not 2-D, empty, NaN, sparse, complex). Also a
    :class:`ValueError`, as scikit-learn expects of an estimator."""


class DataTypeError(DataError, TypeError):
    """``X`` holds values that are not numbers (also a :class:`TypeError`, as NumPy raises)."""


class NotFittedError(ModelError, _SklearnNotFittedError):
    """A detector used before ``fit``: a :class:`~geogan.errors.ModelError` and scikit-learn's
    :class:`~sklearn.exceptions.NotFittedError`."""


# -- registry ----------------------------------------------------------------------------------
_REGISTRY: dict[str, str] = {
    "alad": "geogan.detectors.alad:ALAD",
    "vae": "geogan.detectors.vae:VAE",
    "autoencoder": "geogan.detectors.vae:AutoEncoder",
    "iforest": "geogan.detectors.baselines:IsolationForest",
    "mahalanobis": "geogan.detectors.baselines:RobustMahalanobis",
    "pca": "geogan.detectors.baselines:PCAReconstruction",
    "ensemble": "geogan.detectors.ensemble:Ensemble",
}


class _LazyRegistry(Mapping):
    """``name -> detector class``; a class's module (and TensorFlow) loads on first access."""

    def __getitem__(self, name: str) -> type[Detector]:
        try:
            target = _REGISTRY[name]
        except KeyError:
            raise KeyError(name) from None
        module, cls = target.split(":")
        return getattr(importlib.import_module(module), cls)

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTRY)

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return f"DETECTORS({', '.join(_REGISTRY)})"


DETECTORS: Mapping[str, type[Detector]] = _LazyRegistry()


def detector_class(name: str) -> type[Detector]:
    """The detector class registered as ``name`` (:class:`ConfigError` if unknown)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown detector {name!r}; choose one of {', '.join(_REGISTRY)}")
    return DETECTORS[name]


def get_detector(name: str, **params) -> Detector:
    """A new, unfitted detector by registry name, e.g. ``get_detector("alad", epochs=10)``.

    Raises :class:`~geogan.errors.ConfigError` for an unknown name or parameter.
    """
    cls = detector_class(name)
    accepted = cls._param_names()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(f"detector {name!r} has no parameter(s) {', '.join(unknown)}; "
                          f"it takes {', '.join(accepted)}")
    return cls(**params)


# -- the interface -----------------------------------------------------------------------------
class Detector(OutlierMixin, BaseEstimator):
    """Base class: parameters, input checks, thresholds, save/load. Subclasses set ``name``
    and implement ``fit(X, y=None)`` (ending with :meth:`_fit_threshold`) and
    ``decision_function(X)``.

    A scikit-learn estimator (``clone``, ``get_params(deep=...)``, ``set_params``,
    ``Pipeline``) with PyOD's outlier API: ``decision_function`` (higher = more anomalous),
    ``score_samples`` (its negative, scikit-learn's sign), ``contamination``, ``threshold_``,
    ``decision_scores_``, ``labels_`` and ``predict`` (0 inlier / 1 outlier).
    """

    name: ClassVar[str] = ""

    # -- parameters (scikit-learn conventions) ----------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        """Constructor parameter names in signature order (scikit-learn's are sorted)."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    # get_params(deep=True) is scikit-learn's: the values exactly as given (a tuple stays a
    # tuple, as ``clone`` requires; config.json writes it as a JSON list)

    def set_params(self, **params) -> Detector:
        """Set constructor parameters (unchecked until ``fit``); :class:`ConfigError` for a name
        the detector does not take. Returns ``self``."""
        unknown = set(params) - set(self._param_names())
        if unknown:
            raise ConfigError(f"{type(self).__name__} has no parameter(s) {', '.join(sorted(unknown))}")
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        params = self.get_params(deep=False)
        changed = []
        for k in self._param_names():
            default = sig.parameters[k].default
            if default is inspect.Parameter.empty or _normalise(default) != _normalise(params[k]):
                changed.append(f"{k}={params[k]!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    @property
    def score_name(self) -> str:
        """Which score ``decision_function`` computes (shown in reports)."""
        return getattr(self, "score", None) or self._default_score_name

    _default_score_name: ClassVar[str] = "score"

    def _validate_params(self) -> None:
        """Check the parameters (in ``fit`` and on load, never in ``__init__``); subclasses
        extend it. Here: ``contamination`` in (0, 0.5], as PyOD."""
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)) or not 0.0 < c <= 0.5:
            raise ConfigError(f"contamination must be a number in (0, 0.5], got {c!r}")

    # -- interface -------------------------------------------------------------------------
    def fit(self, X, y=None) -> Detector:  # pragma: no cover - abstract
        raise NotImplementedError

    def decision_function(self, X) -> np.ndarray:  # pragma: no cover - abstract
        """Anomaly score per row, float32, **higher = more anomalous** (PyOD's convention)."""
        raise NotImplementedError

    def score_samples(self, X, **kwargs) -> np.ndarray:
        """``-decision_function(X)``: scikit-learn's sign, **higher = more normal** (float32).

        Keyword arguments go to :meth:`decision_function` (e.g. ``weights="live"``)."""
        return -self.decision_function(X, **kwargs)

    def predict(self, X, **kwargs) -> np.ndarray:
        """PyOD's labels: 1 where ``decision_function(X) > threshold_`` (outlier), else 0.

        scikit-learn's outlier detectors return +1 (inlier) / −1 (outlier) instead; geogan
        follows PyOD (``1 - 2 * predict(X)`` gives scikit-learn's labels)."""
        self._check_fitted()
        if getattr(self, "threshold_", None) is None:
            raise ModelError(f"this {type(self).__name__} has no threshold_ (a model saved before geogan stored "
                             f"one); refit it, or use decision_function and a threshold of your own")
        return self._labels(self.decision_function(X, **kwargs))

    def _labels(self, scores) -> np.ndarray:
        return (np.asarray(scores, dtype=np.float64) > self.threshold_).astype(np.int64)

    def _set_threshold(self, scores) -> Detector:
        """PyOD's fitted outlier attributes from the training rows' decision scores."""
        self.decision_scores_ = np.asarray(scores, dtype=np.float32)
        self.threshold_ = float(np.quantile(self.decision_scores_.astype(np.float64),
                                            1.0 - float(self.contamination)))
        self.labels_ = self._labels(self.decision_scores_)
        return self

    def _fit_threshold(self, X) -> Detector:
        """Score the training rows ``X`` and set ``decision_scores_``, ``threshold_``,
        ``labels_``; the last step of every ``fit``."""
        return self._set_threshold(self.decision_function(X))

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_features_")

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

    @property
    def n_features_in_(self) -> int:
        """Features seen in ``fit`` (scikit-learn's name for ``n_features_``)."""
        return self.n_features_

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    def _check_X(self, X, *, fitting: bool = False) -> np.ndarray:
        """float32, 2-D, finite; ≥ 2 rows when fitting; the fitted width when scoring.

        Errors are :class:`DataError` (an :class:`~geogan.errors.InputError` and a
        :class:`ValueError`) worded as scikit-learn's where its checks look for words."""
        from scipy import sparse

        if sparse.issparse(X):
            raise DataError("sparse input is not supported: pass a dense array (e.g. X.toarray())")
        try:
            X = np.asarray(X)
            if X.dtype.kind == "c":
                raise DataError("Complex data not supported: X must hold real numbers")
            X = X.astype(np.float32, copy=False)
        except TypeError as exc:
            raise DataTypeError(f"X must be a numeric array: {exc}") from None
        except ValueError as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"X must be a numeric array: {exc}") from None
        if X.ndim != 2:
            raise DataError(f"X must be 2-D (samples × features), got shape {X.shape}. Reshape your data: "
                            f"X.reshape(-1, 1) if it has one feature, X.reshape(1, -1) if it is one sample")
        if X.shape[1] == 0:
            raise DataError(f"X is empty: 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
        if X.shape[0] == 0:
            raise DataError(f"X is empty: 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
        if fitting and X.shape[0] < 2:
            raise DataError(f"X has 1 sample (shape={X.shape}); fitting a detector needs at least 2")
        if not fitting:
            self._check_fitted()
            if X.shape[1] != self.n_features_:
                raise DataError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                                f"{self.n_features_} features as input (it was fitted on {self.n_features_})")
        bad = ~np.isfinite(X)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise DataError(f"X has {rows.size} row(s) with NaN or infinite values (first: row {rows[0]}); "
                            f"drop invalid cells before fitting or scoring")
        return np.ascontiguousarray(X)

    # -- persistence -------------------------------------------------------------------------
    def _state_to_disk(self, path: Path) -> dict:  # pragma: no cover - abstract
        """Write weight files under ``path``; return the JSON-able rest of the fitted state."""
        raise NotImplementedError

    def _state_from_disk(self, path: Path, state: dict, section: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    def _architecture(self) -> dict | None:
        return None

    def to_config(self, path: Path) -> dict:
        """The ``detector`` section of ``config.json`` (writes weight files under ``path``)."""
        self._check_fitted()
        section = {"name": self.name, "params": self.get_params(), "n_features": int(self.n_features_),
                   "score": self.score_name, "state": self._state_to_disk(path)}
        if getattr(self, "threshold_", None) is not None and math.isfinite(self.threshold_):
            section["threshold"] = float(self.threshold_)
        arch = self._architecture()
        if arch is not None:
            section["architecture"] = arch
        return section

    def save(self, path, *, metadata: dict | None = None, overwrite: bool = False) -> Path:
        """Write the fitted detector to directory ``path`` (``config.json`` + weights).

        ``metadata`` adds top-level keys to ``config.json`` (the train stage records elements,
        units, the transform and the training run there). The directory is written beside
        ``path`` first and renamed into place, so a crash never leaves half a model.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; pass overwrite=True to replace it")
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        try:
            write_model_files(tmp, self, metadata=metadata)
            replace_path(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path) -> Detector:
        """Load a detector saved with :meth:`save` (any registered kind from ``Detector.load``)."""
        path = Path(path)
        config = read_config(path)
        det = detector_from_config(path, config["detector"], where=path / CONFIG_NAME)
        if cls is not Detector and not isinstance(det, cls):
            raise ModelError(f"{path} holds a {type(det).__name__}, not a {cls.__name__}", path=path)
        return det


def _normalise(v):
    return list(v) if isinstance(v, tuple) else v


def write_model_files(path: Path, det: Detector, *, metadata: dict | None = None) -> dict:
    """Write ``config.json`` and the weight files of ``det`` into the existing dir ``path``."""
    config = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
              "geogan_version": geogan.__version__, "detector": det.to_config(path)}
    for key, value in (metadata or {}).items():
        if key in config:
            raise ConfigError(f"metadata key {key!r} is reserved in config.json")
        config[key] = value
    (path / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return config


def read_config(path: Path) -> dict:
    """Read and check the envelope of ``path/config.json`` (:class:`ModelError` if unusable)."""
    cfg_path = Path(path) / CONFIG_NAME
    if not Path(path).is_dir():
        raise ModelError("model directory not found", path=path)
    if not cfg_path.is_file():
        raise ModelError(f"no {CONFIG_NAME}: not a geogan model directory", path=path)
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"unreadable JSON ({exc})", path=cfg_path) from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise ModelError(f"not a geogan model config (format {config.get('format') if isinstance(config, dict) else None!r})",
                         path=cfg_path)
    if config.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelError(f"model format version {config.get('format_version')} is not supported by this geogan "
                         f"(reads {MODEL_FORMAT_VERSION}); retrain the model", path=cfg_path)
    if not isinstance(config.get("detector"), dict):
        raise ModelError("config has no 'detector' section", path=cfg_path)
    return config


def detector_from_config(path: Path, section: dict, *, where) -> Detector:
    """Rebuild a fitted detector from its ``detector`` config section and weight files."""
    unknown = set(section) - _DETECTOR_KEYS
    if unknown:
        raise ModelError(f"unknown keys in the detector section: {', '.join(sorted(unknown))}", path=where)
    name = section.get("name")
    if name not in _REGISTRY:
        raise ModelError(f"unknown detector {name!r} (known: {', '.join(_REGISTRY)})", path=where)
    cls = DETECTORS[name]
    params = section.get("params")
    if not isinstance(params, dict):
        raise ModelError("detector 'params' must be a JSON object", path=where)
    bad = set(params) - set(cls._param_names())
    if bad:
        raise ModelError(f"unknown parameter(s) for {name}: {', '.join(sorted(bad))}", path=where)
    try:
        det = cls(**params)
        det._validate_params()
    except (TypeError, ValueError, ConfigError) as exc:
        raise ModelError(f"invalid parameters for {name}: {exc}", path=where) from None
    n_features = section.get("n_features")
    if not isinstance(n_features, int) or isinstance(n_features, bool) or not 1 <= n_features <= MAX_UNITS:
        raise ModelError(f"detector 'n_features' must be an integer between 1 and {MAX_UNITS}", path=where)
    state = section.get("state")
    if not isinstance(state, dict):
        raise ModelError("detector 'state' must be a JSON object", path=where)
    threshold = section.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not math.isfinite(threshold)):
        raise ModelError(f"detector 'threshold' must be a finite number, got {threshold!r}", path=where)
    det.n_features_ = n_features
    det._state_from_disk(Path(path), state, section)
    # models saved before geogan kept threshold_ load without one (predict then says so);
    # decision_scores_ and labels_ describe the training rows and are not saved
    det.threshold_ = None if threshold is None else float(threshold)
    return det


# -- neural detectors --------------------------------------------------------------------------
_BUILD_NETWORKS: contextvars.ContextVar[bool] = contextvars.ContextVar("geogan_build_networks", default=True)


@contextmanager
def checked_only() -> Iterator[None]:
    """Within the block, loading a neural detector checks its config, architecture and weight
    files (names, shapes, sizes) without building the networks: nothing imports Keras or
    TensorFlow. The result can be inspected, not used to score (the Dask client of ``geogan
    score`` validates a model this way; the workers load it whole)."""
    token = _BUILD_NETWORKS.set(False)
    try:
        yield
    finally:
        _BUILD_NETWORKS.reset(token)


# Every Keras class a saved architecture may name (layers, the functional container,
# initialisers, dtype policies, tensor references). Anything else is refused before Keras
# sees the config: Lambda layers above all (they carry Python bytecode), and custom objects.
ALLOWED_KERAS_CLASSES = frozenset({
    "Functional", "InputLayer", "Dense", "Dropout", "LeakyReLU", "ReLU", "Concatenate",
    "GlorotUniform", "Zeros", "DTypePolicy", "FloatDTypePolicy", "__keras_tensor__",
})


def check_architecture(config, *, where) -> None:
    """Refuse Keras configs naming classes outside :data:`ALLOWED_KERAS_CLASSES`."""
    def walk(node):
        if isinstance(node, dict):
            cls = node.get("class_name")
            if cls is not None:
                if cls not in ALLOWED_KERAS_CLASSES:
                    raise ModelError(f"the architecture contains a {cls!r} object; geogan models consist only of "
                                     f"Dense, Dropout, LeakyReLU, ReLU and Concatenate layers (no Lambda or custom "
                                     f"code is loaded)", path=where)
                registered = node.get("registered_name")
                if registered not in (None, cls):
                    raise ModelError(f"the architecture refers to a custom object {registered!r}", path=where)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config)


_PASS_THROUGH = {"Dropout", "LeakyReLU", "ReLU"}


def network_weight_shapes(config, *, where) -> list[tuple[int, ...]]:
    """The weight shapes a network's JSON config builds, read from the config alone.

    Widths are propagated through the functional graph (``InputLayer`` → ``Dense`` →
    activations, dropout → ``Concatenate``) without building anything. A layer or input wider
    than :data:`MAX_UNITS`, a network of more than :data:`MAX_PARAMETERS` weights or
    :data:`MAX_LAYERS` layers, a Dense ``build_config`` (Keras builds from it first) other than
    the width the graph feeds it, or a graph that is not geogan's plain kind (one call per
    layer, known inbound layers, no cycle) is a :class:`ModelError`.
    """
    body = config.get("config") if isinstance(config, dict) else None
    layers = body.get("layers") if isinstance(body, dict) else None
    net = body.get("name") if isinstance(body, dict) else None
    if not isinstance(config, dict) or config.get("class_name") != "Functional" or not isinstance(layers, list):
        raise ModelError(f"the architecture of network {net!r} is not a Keras functional model config", path=where)
    if len(layers) > MAX_LAYERS:
        raise ModelError(f"network {net!r} has {len(layers)} layers, over the limit of {MAX_LAYERS}", path=where)

    def fail(layer, what):
        return ModelError(f"network {net!r}: layer {layer!r} {what}", path=where)

    def inbound(layer) -> list:
        found = []

        def walk(node):
            if isinstance(node, dict):
                if node.get("class_name") == "__keras_tensor__":
                    history = (node.get("config") or {}).get("keras_history")
                    found.append(history[0] if isinstance(history, list) and history else None)
                    return
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(layer.get("inbound_nodes"))
        return found

    widths: dict[str, int] = {}
    shapes: list[tuple[int, ...]] = []
    n_params = 0
    pending = []
    for layer in layers:
        name = layer.get("name") if isinstance(layer, dict) else None
        if not isinstance(name, str) or name in {p.get("name") for p in pending} | set(widths):
            raise fail(name, "has no name, or the name of another layer")
        cls, cfg = layer.get("class_name"), layer.get("config")
        if not isinstance(cfg, dict):
            raise fail(name, "has no config")
        if cls == "InputLayer":
            shape = cfg.get("batch_shape")
            if not (isinstance(shape, list) and len(shape) == 2 and shape[0] is None):
                raise fail(name, f"has input shape {shape!r}; geogan networks take (batch, features) inputs")
            width = shape[1]
            if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= MAX_UNITS:
                raise fail(name, f"is {width!r} wide, outside 1..{MAX_UNITS}")
            widths[name] = width
            continue
        if cls != "Concatenate" and cls != "Dense" and cls not in _PASS_THROUGH:
            raise fail(name, f"is a {cls!r}; geogan networks hold Dense, Dropout, LeakyReLU, ReLU and Concatenate "
                             f"layers")
        nodes = layer.get("inbound_nodes")
        if not isinstance(nodes, list) or len(nodes) != 1:
            raise fail(name, "must be called exactly once")
        pending.append(layer)
    # resolve in dependency order (Keras lists layers topologically; any order is accepted)
    while pending:
        progressed = False
        for layer in list(pending):
            name, cls, cfg = layer["name"], layer["class_name"], layer["config"]
            ins = inbound(layer)
            if not ins or not all(isinstance(i, str) for i in ins):
                raise fail(name, "has an invalid inbound tensor reference")
            if not all(i in widths for i in ins):
                continue
            if cls == "Concatenate":
                if cfg.get("axis", -1) not in (-1, 1):
                    raise fail(name, f"concatenates along axis {cfg.get('axis')!r}, not the features")
                width = sum(widths[i] for i in ins)
            elif len(ins) != 1:
                raise fail(name, f"takes {len(ins)} inputs, not 1")
            elif cls == "Dense":
                width = cfg.get("units")
                if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= MAX_UNITS:
                    raise fail(name, f"has {width!r} units; a Dense layer may have 1 to {MAX_UNITS}")
                # Keras builds (allocates) a layer from its build_config before connecting it
                build = layer.get("build_config")
                if build is not None and build != {"input_shape": [None, widths[ins[0]]]}:
                    raise fail(name, f"has build_config {build!r}, but its input is {widths[ins[0]]} wide")
                shapes.append((widths[ins[0]], width))
                n_params += widths[ins[0]] * width
                if cfg.get("use_bias", True):
                    shapes.append((width,))
                    n_params += width
            else:
                width = widths[ins[0]]
            if width > MAX_UNITS:
                raise fail(name, f"is {width} wide, over the limit of {MAX_UNITS}")
            widths[name] = width
            pending.remove(layer)
            progressed = True
        if not progressed:
            names = ", ".join(repr(p["name"]) for p in pending)
            raise ModelError(f"network {net!r}: layers {names} refer to unknown layers or form a cycle", path=where)
    if n_params > MAX_PARAMETERS:
        raise ModelError(f"network {net!r} would have {n_params} parameters, over the limit of {MAX_PARAMETERS}",
                         path=where)
    return shapes


def network_from_config(config: dict, *, where):
    """A Keras model from its JSON config, checked first (classes, widths, parameter count;
    see :func:`check_architecture` and :func:`network_weight_shapes`), deserialised in Keras
    safe mode."""
    check_architecture(config, where=where)
    network_weight_shapes(config, where=where)
    tensorflow()  # quietly (geogan._tf), before Keras imports it
    import keras

    try:
        # Keras consumes the dict it is given: hand it a copy
        return keras.saving.deserialize_keras_object(json.loads(json.dumps(config)), safe_mode=True)
    except Exception as exc:  # Keras raises many kinds on a bad config
        raise ModelError(f"cannot rebuild the network from its config ({type(exc).__name__}: {exc})",
                         path=where) from None


def gpu_available() -> bool:
    return bool(tensorflow().config.list_physical_devices("GPU"))


class FusedAdam:
    """Adam (β₁, β₂, ε as ``tf.compat.v1.train.AdamOptimizer``) with one fused op per variable.

    Keras' optimiser emits ~15 small ops per variable; with ALAD's ~60 variables and 128-row
    batches those dominate a CPU step. ``ResourceApplyAdam`` does the same update in one
    kernel (and compiles under XLA). State (moments, step) is kept for checkpoints.
    """

    def __init__(self, variables, *, learning_rate: float, beta_1: float, beta_2: float, epsilon: float = 1e-8,
                 name: str = "adam"):
        import tensorflow as tf

        self.variables = list(variables)
        self.learning_rate, self.beta_1, self.beta_2, self.epsilon = learning_rate, beta_1, beta_2, epsilon
        self.m = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name=f"{name}_m{i}")
                  for i, v in enumerate(self.variables)]
        self.v = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name=f"{name}_v{i}")
                  for i, v in enumerate(self.variables)]
        self.iterations = tf.Variable(0.0, trainable=False, name=f"{name}_t")

    def apply(self, grads) -> None:
        import tensorflow as tf

        t = self.iterations.assign_add(1.0)
        b1p, b2p = tf.pow(self.beta_1, t), tf.pow(self.beta_2, t)
        for g, var, m, v in zip(grads, self.variables, self.m, self.v):
            tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle, beta1_power=b1p, beta2_power=b2p,
                                         lr=self.learning_rate, beta1=self.beta_1, beta2=self.beta_2,
                                         epsilon=self.epsilon, grad=g if g.dtype == tf.float32 else tf.cast(g, tf.float32))

    def state(self) -> list:
        return [*self.m, *self.v, self.iterations]


class LossScale:
    """Dynamic loss scaling for float16 training (skip the step and halve on overflow)."""

    def __init__(self, *, initial: float = 2.0 ** 15, period: int = 2000):
        import tensorflow as tf

        self.scale = tf.Variable(initial, trainable=False, name="loss_scale")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="loss_scale_good_steps")
        self.period = period

    def state(self) -> list:
        return [self.scale, self.good_steps]


def spectral_project(kernel, u, *, iterations: int = 1) -> None:
    """Divide ``kernel`` in place by its spectral norm (power iteration with state ``u``).

    The same in-place normalisation ``keras.layers.SpectralNormalization`` performs on every
    training call; geogan applies it once after each optimiser update of the layer instead
    (kernels change only there), which keeps the train step free of per-call conditionals.
    """
    import tensorflow as tf

    w = tf.reshape(tf.convert_to_tensor(kernel), [-1, kernel.shape[-1]])
    u_hat = tf.convert_to_tensor(u)
    for _ in range(iterations):
        v_hat = tf.math.l2_normalize(tf.matmul(u_hat, w, transpose_b=True))
        u_hat = tf.math.l2_normalize(tf.matmul(v_hat, w))
    u_hat, v_hat = tf.stop_gradient(u_hat), tf.stop_gradient(v_hat)
    sigma = tf.matmul(tf.matmul(v_hat, w), u_hat, transpose_b=True)
    u.assign(u_hat)
    kernel.assign(tf.reshape(w / sigma, kernel.shape))


class NeuralDetector(Detector):
    """Shared training/scoring machinery of the TensorFlow detectors.

    Subclasses define ``_network_names``, ``_build_networks(n_features, dtype=, seed=)``,
    ``_spectral_networks`` (names whose Dense kernels are spectrally normalised),
    ``_loss_names``, ``_optimizer_groups`` and the graph functions ``_train_step`` and
    ``_score_graph``. Parameters every subclass has: ``epochs``, ``steps``, ``batch_size``,
    ``learning_rate``, ``random_state``, ``ema_decay``, ``mixed_precision``, ``jit_compile``,
    ``score_batch_size``.
    """

    _network_names: ClassVar[tuple[str, ...]] = ()
    _spectral_networks: ClassVar[tuple[str, ...]] = ()
    # output layers left free, as the original ALAD code (its SN layers are the hidden ones)
    _spectral_skip_layers: ClassVar[tuple[str, ...]] = ()
    _loss_names: ClassVar[tuple[str, ...]] = ()
    # ALAD updates the discriminators and then G/E on two different batches per step
    _batches_per_step: ClassVar[int] = 2
    spectral_norm: bool = False
    ema_warmup: bool = True
    steps: int | None = None

    # -- subclass hooks --------------------------------------------------------------------
    def _build_networks(self, n_features: int, *, dtype, seed: int) -> dict:  # pragma: no cover
        raise NotImplementedError

    def _optimizer_groups(self) -> dict[str, tuple[str, ...]]:  # pragma: no cover
        raise NotImplementedError

    def _train_step(self, x_d, x_g, step):  # pragma: no cover
        raise NotImplementedError

    def _score_graph(self, x, nets: dict):  # pragma: no cover
        raise NotImplementedError

    def _validate_params(self) -> None:
        super()._validate_params()
        for name in ("epochs", "steps", "batch_size", "score_batch_size"):
            v = getattr(self, name, None)
            if v is None and name in ("epochs", "steps"):
                continue
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if self.epochs is None and getattr(self, "steps", None) is None:
            raise ConfigError("give the training length as steps (optimiser updates) or epochs")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.ema_decay is not None and not (0.0 <= float(self.ema_decay) < 1.0):
            raise ConfigError(f"ema_decay must be in [0, 1) or None, got {self.ema_decay!r}")
        if self.random_state is not None and not isinstance(self.random_state, (int, np.integer)):
            raise ConfigError(f"random_state must be an integer or None, got {self.random_state!r}")
        if self.jit_compile not in (None, True, False):
            raise ConfigError(f"jit_compile must be True, False or None (auto), got {self.jit_compile!r}")

    # -- building ----------------------------------------------------------------------------
    def _compute_dtype(self) -> str:
        if not self.mixed_precision:
            return "float32"
        # float16 needs loss scaling and is fast on GPUs; CPUs have no fast float16 but
        # recent ones do bfloat16, which needs no scaling
        return "mixed_float16" if gpu_available() else "mixed_bfloat16"

    def _draw_seed(self) -> int:
        if self.random_state is not None:
            return int(self.random_state)
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)

    def _init_state(self, n_features: int, *, seed: int) -> None:
        """Fresh networks, EMA copies, optimisers and counters for ``n_features`` inputs."""
        tf = tensorflow()

        self.n_features_ = int(n_features)
        self.seed_ = int(seed)
        self.dtype_policy_ = self._compute_dtype()
        self.nets_ = self._build_networks(n_features, dtype=self.dtype_policy_, seed=self.seed_)
        if self.ema_decay is not None:
            # separate float32 copies: scoring never sees the live (training) weights
            self.ema_nets_ = self._build_networks(n_features, dtype="float32", seed=self.seed_)
            for name, net in self.nets_.items():
                self.ema_nets_[name].set_weights(net.get_weights())
        else:
            self.ema_nets_ = self.nets_
        self._sn_pairs = []
        self.sn_u_ = []
        if self.spectral_norm:
            for name in self._spectral_networks:
                for layer in self.nets_[name].layers:
                    kernel = getattr(layer, "kernel", None)
                    if kernel is None or layer.name in self._spectral_skip_layers:
                        continue
                    u = tf.Variable(tf.random.stateless_normal([1, kernel.shape[-1]], seed=[self.seed_, len(self.sn_u_)]),
                                    trainable=False, name=f"sn_u_{name}_{layer.name}")
                    self.sn_u_.append(u)
                    self._sn_pairs.append((name, kernel, u))
            # a first projection with a few power iterations, so training starts normalised
            for _, kernel, u in self._sn_pairs:
                spectral_project(kernel, u, iterations=5)
        self.optimizers_ = {}
        for group, names in self._optimizer_groups().items():
            variables = [v for n in names for v in self.nets_[n].trainable_variables]
            self.optimizers_[group] = FusedAdam(variables, learning_rate=float(self.learning_rate),
                                                beta_1=float(getattr(self, "beta_1", 0.9)),
                                                beta_2=float(getattr(self, "beta_2", 0.999)), name=group)
        self.loss_scale_ = LossScale() if self.dtype_policy_ == "mixed_float16" else None
        self.step_ = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._loss_sum = tf.Variable(tf.zeros([len(self._loss_names)], tf.float32), trainable=False)
        self.epochs_done_ = 0
        self.history_ = []
        self._step_fn = None
        self._score_fns = {}

    def _project(self, names) -> None:
        for name, kernel, u in self._sn_pairs:
            if name in names:
                spectral_project(kernel, u)

    def _apply_gradients(self, group: str, loss, tape) -> None:
        """Gradients of ``loss`` for optimiser ``group`` (loss-scaled under float16)."""
        import tensorflow as tf

        opt = self.optimizers_[group]
        if self.loss_scale_ is None:
            opt.apply(tape.gradient(loss, opt.variables))
            return
        ls = self.loss_scale_
        grads = tape.gradient(loss, opt.variables)  # loss was multiplied by ls.scale by the caller
        grads = [tf.cast(g, tf.float32) / ls.scale for g in grads]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])

        def good():
            opt.apply(grads)
            ls.good_steps.assign_add(1)
            return tf.constant(0)

        def bad():
            ls.scale.assign(tf.maximum(ls.scale / 2.0, 1.0))
            ls.good_steps.assign(0)
            return tf.constant(0)

        tf.cond(finite, good, bad)
        grow = ls.good_steps >= ls.period
        ls.scale.assign(tf.where(grow, ls.scale * 2.0, ls.scale))
        ls.good_steps.assign(tf.where(grow, tf.zeros_like(ls.good_steps), ls.good_steps))

    def _scaled(self, loss):
        return loss if self.loss_scale_ is None else loss * self.loss_scale_.scale

    def _ema_update(self) -> None:
        import tensorflow as tf

        if self.ema_decay is None:
            return
        t = tf.cast(self.step_, tf.float32)
        decay = tf.constant(float(self.ema_decay))
        if self.ema_warmup:
            # as tf.train.ExponentialMovingAverage(num_updates=step): short runs (a few
            # hundred steps) would otherwise score with weights ~ their initialisation
            decay = tf.minimum(decay, (1.0 + t) / (10.0 + t))
        for name, net in self.nets_.items():
            for e, v in zip(self.ema_nets_[name].weights, net.weights):
                e.assign_sub((1.0 - decay) * (e - tf.cast(v, e.dtype)))

    def _make_step_fn(self):
        import tensorflow as tf

        jit = self.jit_compile if self.jit_compile is not None else gpu_available()

        def step(X, idx):
            s = self.step_.assign_add(1)
            x_d = tf.gather(X, idx[0])
            x_g = tf.gather(X, idx[-1]) if self._batches_per_step > 1 else x_d
            losses = self._train_step(x_d, x_g, s)
            self._loss_sum.assign_add(tf.cast(tf.stack(losses), tf.float32))
            self._ema_update()

        spec = [tf.TensorSpec([None, self.n_features_], tf.float32), tf.TensorSpec([self._batches_per_step, None], tf.int32)]
        # autograph off: the step has no tensor-dependent Python control flow, and tracing
        # (thousands of ops) is the slow part of a short fit
        return tf.function(step, input_signature=spec, jit_compile=bool(jit), autograph=False)

    # -- data --------------------------------------------------------------------------------
    def _epoch_batches(self, n: int, epoch: int) -> np.ndarray:
        """Index batches ``(n_batches, k, batch)`` for ``epoch``, one permutation of the rows
        per update in a step (ALAD: the discriminators' batch, then G/E's, as the original
        code), drawn from ``(seed, epoch)`` so a resumed run sees the same batches. Only
        indices are shuffled; rows are gathered inside the step. In steps mode an "epoch" on
        a small table is several passes (see :meth:`batches_per_epoch`)."""
        rng = np.random.default_rng([self.seed_, epoch])
        bs = min(int(self.batch_size), n)
        per_pass = self._batches_per_pass(n)
        passes = self._passes_per_epoch(n)
        perms = [np.concatenate([rng.permutation(n)[: per_pass * bs] for _ in range(passes)]).reshape(-1, bs)
                 for _ in range(self._batches_per_step)]
        return np.stack(perms, axis=1).astype(np.int32)

    # -- training length ------------------------------------------------------------------------
    # in steps mode an epoch is at least this many steps: a 200-row table would otherwise run
    # thousands of one-step epochs, each with its own Python round trip
    _min_steps_per_epoch: ClassVar[int] = 50

    def _batches_per_pass(self, n_rows: int) -> int:
        # the remainder is dropped: fixed shapes, one graph
        return max(1, int(n_rows) // min(int(self.batch_size), int(n_rows)))

    def _passes_per_epoch(self, n_rows: int) -> int:
        if self.epochs is not None:
            return 1
        return max(1, math.ceil(self._min_steps_per_epoch / self._batches_per_pass(n_rows)))

    def batches_per_epoch(self, n_rows: int) -> int:
        """Optimiser steps in one epoch on ``n_rows`` training rows: one pass (the remainder
        dropped), or in steps mode enough whole passes for at least 50 steps."""
        return self._batches_per_pass(n_rows) * self._passes_per_epoch(n_rows)

    def total_epochs(self, n_rows: int) -> int:
        """Epochs a fit on ``n_rows`` rows runs: ``epochs`` when given, else ``steps`` rounded up
        to whole epochs. Training length is counted in optimiser steps by default because a
        pass over the data is 1 step on a 200-row table and 1,100 on a 140 k-cell grid."""
        if self.epochs is not None:
            return int(self.epochs)
        return max(1, math.ceil(int(self.steps) / self.batches_per_epoch(n_rows)))

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X, y=None, *, callback: Callable[[NeuralDetector, int, dict], None] | None = None,
            resume: bool = False) -> NeuralDetector:
        """Train on ``X`` (rows = samples) for :meth:`total_epochs` epochs (``steps`` optimiser
        updates, rounded up to whole epochs, unless ``epochs`` is given), then score ``X`` for
        ``threshold_`` (see :class:`Detector`).

        Parameters
        ----------
        X
            ``(n_samples, n_features)``, finite.
        y
            Ignored (scikit-learn's signature).
        callback
            Called after every epoch as ``callback(detector, epoch, logs)`` (``epoch`` counts
            from 1; ``logs`` holds the mean losses and ``seconds``). The train stage writes
            history and checkpoints from it.
        resume
            Continue a detector restored with :meth:`load_checkpoint` (same ``X``) from its
            last finished epoch instead of starting afresh.
        """
        import tensorflow as tf

        self._validate_params()
        X = self._check_X(X, fitting=True)
        if resume:
            if not hasattr(self, "step_"):
                raise ConfigError("nothing to resume: this detector has no training state (restore one with "
                                  "load_checkpoint; a saved model keeps only its weights)")
            if X.shape[1] != self.n_features_:
                raise InputError(f"cannot resume: X has {X.shape[1]} features, the checkpoint {self.n_features_}")
            fp = _fingerprint(X)
            if getattr(self, "data_fingerprint_", fp) != fp:
                raise ModelError("cannot resume: the training data differ from the checkpoint's (same grid, "
                                 "sample, seed and transform are needed)")
        else:
            self._init_state(X.shape[1], seed=self._draw_seed())
        self.data_fingerprint_ = _fingerprint(X)
        self.n_train_ = int(X.shape[0])
        if self._step_fn is None:
            self._step_fn = self._make_step_fn()
        X_t = tf.constant(X)
        if gpu_available():
            # keep the training rows on the GPU: each step gathers its batches there
            with tf.device("/GPU:0"):
                X_t = tf.identity(X_t)
        self.n_epochs_ = self.total_epochs(X.shape[0])
        for epoch in range(self.epochs_done_, self.n_epochs_):
            t0 = time.perf_counter()
            self._loss_sum.assign(tf.zeros_like(self._loss_sum))
            batches = self._epoch_batches(X.shape[0], epoch)
            dataset = tf.data.Dataset.from_tensor_slices(batches).prefetch(tf.data.AUTOTUNE)
            for idx in dataset:
                self._step_fn(X_t, idx)
            sums = self._loss_sum.numpy()
            logs = {name: float(v) / len(batches) for name, v in zip(self._loss_names, sums)}
            logs["seconds"] = time.perf_counter() - t0
            self.epochs_done_ = epoch + 1
            self.history_.append({"epoch": epoch + 1, **logs})
            if callback is not None:
                callback(self, epoch + 1, logs)
        return self._fit_threshold(X)

    # -- scoring -----------------------------------------------------------------------------
    def _score_fn(self, which: str):
        import tensorflow as tf

        key = (which, self.score_name)
        if key not in self._score_fns:
            nets = self.ema_nets_ if which == "ema" else self.nets_
            spec = [tf.TensorSpec([None, self.n_features_], tf.float32)]
            self._score_fns[key] = tf.function(lambda x: self._score_graph(x, nets), input_signature=spec,
                                               autograph=False)
        return self._score_fns[key]

    def decision_function(self, X, *, weights: str = "ema") -> np.ndarray:
        """Anomaly score per row (higher = more anomalous), float32.

        Runs the ``score`` function through one ``tf.function`` on batches of
        ``score_batch_size`` rows with dropout off. ``weights="ema"`` (default) uses the EMA
        shadow weights; ``"live"`` the last training weights (for diagnostics).
        """
        X = self._check_X(X)
        if weights not in ("ema", "live"):
            raise ConfigError(f"weights must be 'ema' or 'live', got {weights!r}")
        self._validate_score()
        fn = self._score_fn(weights)
        bs = int(self.score_batch_size)
        out = np.empty(X.shape[0], dtype=np.float32)
        for start in range(0, X.shape[0], bs):
            out[start:start + bs] = fn(X[start:start + bs]).numpy()
        return out

    def _validate_score(self) -> None:
        pass

    # -- persistence -------------------------------------------------------------------------
    def _architecture(self) -> dict:
        import keras

        return {name: keras.saving.serialize_keras_object(net) for name, net in self.ema_nets_.items()}

    def _state_to_disk(self, path: Path) -> dict:
        wdir = path / "weights"
        wdir.mkdir(parents=True, exist_ok=True)
        files = {}
        for name in self.nets_:
            live = f"weights/{name}.weights.h5"
            self.nets_[name].save_weights(path / live)
            files[name] = {"live": live}
            if self.ema_decay is not None:
                ema = f"weights/{name}.ema.weights.h5"
                self.ema_nets_[name].save_weights(path / ema)
                files[name]["ema"] = ema
        return {"weights": files, "epochs_done": int(self.epochs_done_), "seed": int(self.seed_),
                "dtype_policy": self.dtype_policy_,
                "history": [{k: float(v) for k, v in row.items()} for row in self.history_]}

    def _state_from_disk(self, path: Path, state: dict, section: dict) -> None:
        where = path / CONFIG_NAME
        arch = section.get("architecture")
        if not isinstance(arch, dict) or set(arch) != set(self._network_names):
            raise ModelError(f"the architecture must describe the networks {', '.join(self._network_names)}",
                             path=where)
        files = state.get("weights")
        if not isinstance(files, dict) or set(files) != set(self._network_names) or not all(
                isinstance(e, dict) for e in files.values()):
            raise ModelError("the weight file list does not match the networks", path=where)
        self.nets_, self.ema_nets_ = {}, {}
        for name in self._network_names:
            # sizes and weight-file shapes are checked against the architecture before building
            check_architecture(arch[name], where=where)
            shapes = network_weight_shapes(arch[name], where=where)
            entry = files[name]
            live = _weight_file(path, entry.get("live"), shapes, where=where)
            ema = _weight_file(path, entry.get("ema"), shapes, where=where) if self.ema_decay is not None else None
            if not _BUILD_NETWORKS.get():  # validating only (see checked_only): no Keras, no TensorFlow
                continue
            self.nets_[name] = network_from_config(arch[name], where=where)
            _load_weights(self.nets_[name], path, live)
            if ema is not None:
                self.ema_nets_[name] = network_from_config(arch[name], where=where)
                _load_weights(self.ema_nets_[name], path, ema)
            else:
                self.ema_nets_[name] = self.nets_[name]
        if _BUILD_NETWORKS.get():
            self._check_loaded_networks(where)
        self.epochs_done_ = int(state.get("epochs_done", 0))
        self.seed_ = int(state.get("seed", 0))
        self.dtype_policy_ = str(state.get("dtype_policy", "float32"))
        self.history_ = list(state.get("history", []))
        self._score_fns = {}

    def _check_loaded_networks(self, where) -> None:
        """Subclasses check input/output widths of the rebuilt networks."""

    # -- checkpoints ---------------------------------------------------------------------------
    def _all_state_variables(self) -> dict[str, Any]:
        """Every variable training depends on, by a stable key."""
        out = {}
        for name, net in self.nets_.items():
            for i, v in enumerate(net.variables):  # includes dropout seed-generator states
                out[f"live/{name}/{i}"] = v
            if self.ema_decay is not None:
                for i, v in enumerate(self.ema_nets_[name].weights):
                    out[f"ema/{name}/{i}"] = v
        for group, opt in self.optimizers_.items():
            for i, v in enumerate(opt.state()):
                out[f"opt/{group}/{i}"] = v
        for i, u in enumerate(self.sn_u_):
            out[f"sn/{i}"] = u
        if self.loss_scale_ is not None:
            for i, v in enumerate(self.loss_scale_.state()):
                out[f"loss_scale/{i}"] = v
        out["step"] = self.step_
        return out

    def save_checkpoint(self, path, *, extra: dict | None = None) -> Path:
        """Write everything needed to resume training (weights, EMA, optimiser moments,
        dropout RNG states, step counter, epoch) to directory ``path``, atomically."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        arrays = {k: np.asarray(v.numpy()) for k, v in self._all_state_variables().items()}
        np.savez(tmp / "state.npz", **arrays)
        meta = {"format": CHECKPOINT_FORMAT, "geogan_version": geogan.__version__,
                "detector": {"name": self.name, "params": self.get_params(), "n_features": int(self.n_features_)},
                "epochs_done": int(self.epochs_done_), "seed": int(self.seed_), "dtype_policy": self.dtype_policy_,
                "data_fingerprint": self.data_fingerprint_, "history": self.history_, "extra": extra or {}}
        (tmp / "checkpoint.json").write_text(json.dumps(meta, indent=1, allow_nan=False))
        replace_path(tmp, path)
        return path

    @classmethod
    def load_checkpoint(cls, path) -> tuple[NeuralDetector, dict]:
        """Restore a detector saved with :meth:`save_checkpoint`; returns it and ``extra``.

        Continue training with ``det.fit(X, resume=True)`` on the same ``X``. The metadata is
        validated as a model's ``config.json`` is (known detector and parameters, widths within
        :data:`MAX_UNITS`) before anything is built: a bad checkpoint is a :class:`ModelError`.
        """
        path = Path(path)
        try:
            meta = json.loads((path / "checkpoint.json").read_text())
            arrays = np.load(path / "state.npz", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ModelError(f"unreadable checkpoint ({exc})", path=path) from None
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            raise ModelError("not a geogan checkpoint", path=path)
        det_meta = meta.get("detector")
        if not isinstance(det_meta, dict) or not isinstance(det_meta.get("params"), dict):
            raise ModelError("the checkpoint's 'detector' must be an object with 'params'", path=path)
        name = det_meta.get("name")
        det_cls = DETECTORS[name] if name in _REGISTRY else None
        if det_cls is None or not issubclass(det_cls, NeuralDetector):
            raise ModelError(f"the checkpoint names detector {name!r}, not a neural detector", path=path)
        if cls is not NeuralDetector and det_cls is not cls:
            raise ModelError(f"checkpoint holds a {det_cls.__name__}, not a {cls.__name__}", path=path)
        unknown = sorted(set(det_meta["params"]) - set(det_cls._param_names()))
        if unknown:
            raise ModelError(f"unknown parameter(s) for {name} in the checkpoint: {', '.join(unknown)}", path=path)
        n_features = det_meta.get("n_features")
        if not isinstance(n_features, int) or isinstance(n_features, bool) or not 1 <= n_features <= MAX_UNITS:
            raise ModelError(f"the checkpoint's n_features must be an integer between 1 and {MAX_UNITS}, got "
                             f"{n_features!r}", path=path)
        try:
            det = det_cls(**det_meta["params"])
            det._validate_params()
            seed = int(meta["seed"])
            epochs_done, history = int(meta["epochs_done"]), list(meta["history"])
            dtype_policy, fingerprint = str(meta["dtype_policy"]), meta["data_fingerprint"]
        except KeyError as exc:
            raise ModelError(f"the checkpoint metadata lacks {exc}", path=path) from None
        except (TypeError, ValueError, ConfigError) as exc:
            raise ModelError(f"invalid checkpoint metadata ({exc})", path=path) from None
        det._init_state(n_features, seed=seed)
        if det.dtype_policy_ != dtype_policy:
            raise ModelError(f"checkpoint was written with {dtype_policy} compute, this machine "
                             f"would use {det.dtype_policy_}", path=path)
        variables = det._all_state_variables()
        if set(variables) != set(arrays.files):
            raise ModelError("checkpoint variables do not match the detector's", path=path)
        for key, var in variables.items():
            value = arrays[key]
            if tuple(value.shape) != tuple(var.shape):
                raise ModelError(f"checkpoint variable {key} has shape {value.shape}, expected {tuple(var.shape)}",
                                 path=path)
            var.assign(value)
        det.epochs_done_ = epochs_done
        det.history_ = history
        det.data_fingerprint_ = fingerprint
        extra = meta.get("extra", {})
        if not isinstance(extra, dict):
            raise ModelError("the checkpoint's 'extra' must be an object", path=path)
        return det, extra


def _fingerprint(X: np.ndarray) -> str:
    import hashlib

    h = hashlib.sha256()
    h.update(str(X.shape).encode())
    h.update(np.ascontiguousarray(X).tobytes())
    return h.hexdigest()[:32]


def _weight_file(path: Path, rel, shapes: list[tuple[int, ...]], *, where) -> str:
    """Check the weight file entry ``rel`` under ``path``: a relative path inside the model
    directory to an HDF5 file whose arrays have exactly the ``shapes`` the architecture builds
    (read from the file's metadata; no array is read). Returns ``rel``."""
    import h5py

    if not isinstance(rel, str) or ".." in Path(rel).parts or Path(rel).is_absolute():
        raise ModelError(f"invalid weight file entry {rel!r}", path=where)
    file = path / rel
    if not file.is_file():
        raise ModelError(f"weight file {rel} is missing", path=path)
    expected = Counter(shapes)
    n_found = 0

    def check(name, obj):
        nonlocal n_found
        if not isinstance(obj, h5py.Dataset):
            return None
        n_found += 1
        shape = tuple(obj.shape)
        if expected[shape] < 1:
            return f"array {name} has shape {shape}, which does not match the architecture (its weights have " \
                   f"shapes {', '.join(map(str, sorted(set(shapes))))})"
        expected[shape] -= 1
        return None

    try:
        with h5py.File(file, "r") as f:
            problem = f.visititems(check)
    except Exception as exc:  # h5py raises many kinds on a corrupt file
        raise ModelError(f"cannot read {rel} ({type(exc).__name__}: {exc})", path=path) from None
    if problem is None and +expected:
        problem = f"holds {n_found} arrays, the architecture has {len(shapes)} weights"
    if problem is not None:
        raise ModelError(f"{rel}: {problem}", path=path)
    return rel


def _load_weights(net, path: Path, rel: str) -> None:
    """Load the weight file ``rel`` (checked by :func:`_weight_file`) into ``net``."""
    try:
        net.load_weights(path / rel)
    except Exception as exc:  # h5py/Keras raise many kinds on a corrupt or mismatched file
        raise ModelError(f"cannot load {rel} ({type(exc).__name__}: {exc})", path=path) from None
