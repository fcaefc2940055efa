"""The interface every anomaly detector implements: the :class:`Detector` base class.

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
and ``load(path)`` reads it back, validating the JSON before anything is built (see
:mod:`geogan.detectors.modelfile`), so a tampered model can neither run code nor make
TensorFlow allocate without bound.

Must not hold: the registry (:mod:`geogan.detectors.registry`), model-file formats and checks
(:mod:`geogan.detectors.modelfile`), the neural machinery (:mod:`geogan.detectors.neural`),
or any detector. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from geogan.stores.files import staged_directory
from geogan.stores.ownership import check_replaceable
from geogan.detectors.modelfile import CONFIG_NAME, detector_from_config, read_config, write_model_files
from geogan.errors import ConfigError, InputError, ModelError, OutputExistsError

#: PyOD's default share of outliers in the training data: ``threshold_`` is the
#: (1 − contamination) quantile of the training scores.
DEFAULT_CONTAMINATION = 0.1


class DataError(InputError, ValueError):
    """``X`` handed to a detector is unusable (not 2-D, empty, NaN, sparse, complex). Also a
    :class:`ValueError`, as scikit-learn expects of an estimator."""


class DataTypeError(DataError, TypeError):
    """``X`` holds values that are not numbers (also a :class:`TypeError`, as NumPy raises)."""


class NotFittedError(ModelError, _SklearnNotFittedError):
    """A detector used before ``fit``: a :class:`~geogan.errors.ModelError` and scikit-learn's
    :class:`~sklearn.exceptions.NotFittedError`."""


# -- the interface -----------------------------------------------------------------------------
class Detector(OutlierMixin, BaseEstimator):
    """Base class: parameters, input checks, thresholds, save/load. Subclasses set ``name``
    and implement ``fit(X, y=None)`` (ending with :meth:`_fit_threshold`) and
    ``decision_function(X)``.

    A scikit-learn estimator (``clone``, ``get_params(deep=...)``, ``set_params``,
    ``Pipeline``) with PyOD's outlier API: ``decision_function`` (higher = more anomalous),
    ``score_samples`` (its negative, scikit-learn's sign), ``contamination``, ``threshold_``,
    ``decision_scores_``, ``labels_`` and ``predict`` (0 inlier / 1 outlier).

    The base class takes no parameters; each detector's are listed on its own class.

    Raises
    ------
    ConfigError
        A parameter out of range (checked in ``fit`` and on load, never in ``__init__``;
        ``contamination`` must be in (0, 0.5]), or one the detector does not take
        (:meth:`set_params`).
    DataError
        ``X`` that is not a 2-D array of finite real numbers, is empty, has one row when
        fitting, or has another width than in ``fit`` (an :class:`~geogan.errors.InputError`
        and a :class:`ValueError`; :class:`DataTypeError`, also a :class:`TypeError`, for
        values that are not numbers).
    NotFittedError
        Scoring or saving before ``fit`` (a :class:`~geogan.errors.ModelError` and
        scikit-learn's :class:`~sklearn.exceptions.NotFittedError`).
    OutputExistsError
        :meth:`save` to an existing path without ``overwrite``, or over a folder geogan did
        not write.
    ModelError
        :meth:`load`: a missing, invalid or tampered model directory, or one holding another
        kind of detector than the class it is loaded with.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from geogan.detectors import Detector, RobustMahalanobis
    >>> det = RobustMahalanobis(random_state=0)
    >>> isinstance(det, Detector), det.name
    (True, 'mahalanobis')
    >>> det.decision_function([[0.0, 0.0, 0.0]])
    Traceback (most recent call last):
    geogan.detectors.base.NotFittedError: this RobustMahalanobis is not fitted yet; call fit(X) first
    >>> X = np.random.default_rng(0).normal(size=(300, 3))
    >>> det = det.fit(X)
    >>> det.predict([[0.0, 0.0, 0.0], [9.0, 9.0, 9.0]]).tolist()  # PyOD's labels: 1 = outlier
    [0, 1]
    >>> bool(det.score_samples([[9.0, 9.0, 9.0]])[0] == -det.decision_function([[9.0, 9.0, 9.0]])[0])
    True
    >>> det.decision_function([[np.nan, 0.0, 0.0]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.detectors.base.DataError: X has 1 row(s) with NaN or infinite values (first: row 0); drop invalid cells ...
    >>> path = det.save(os.path.join(tempfile.mkdtemp(), "mahalanobis"))
    >>> Detector.load(path)
    RobustMahalanobis()
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
        # the Python API's wording (geogan.stores.files.check_output names the CLI's --overwrite)
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; pass overwrite=True to replace it")
        check_replaceable(path, what="model directory", kind="model")  # geogan's models only, even then
        with staged_directory(path) as tmp:
            write_model_files(tmp, self, metadata=metadata)
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
