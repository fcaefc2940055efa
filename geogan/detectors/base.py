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
from sklearn.utils.validation import validate_data

from geogan.stores.files import staged_directory
from geogan.stores.ownership import check_replaceable
from geogan.detectors.modelfile import CONFIG_NAME, detector_from_config, local_model, read_config, write_model_files
from geogan.errors import ConfigError, InputError, ModelError, OutputExistsError

#: PyOD's default share of outliers in the training data: ``threshold_`` is the
#: (1 − contamination) quantile of the training scores.
DEFAULT_CONTAMINATION = 0.1


class DataError(InputError, ValueError):
    """``X`` handed to a detector is unusable (not 2-D, empty, NaN, complex, another width or
    other columns than in ``fit``). Also a :class:`ValueError`, as scikit-learn expects of an
    estimator."""


class DataTypeError(DataError, TypeError):
    """``X`` of the wrong type: values that are not numbers, or a sparse matrix (also a
    :class:`TypeError`, as NumPy and scikit-learn raise)."""


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
        fitting, or has another width than in ``fit`` or, when ``fit`` saw a pandas DataFrame,
        other column names (an :class:`~geogan.errors.InputError` and a :class:`ValueError`;
        :class:`DataTypeError`, also a :class:`TypeError`, for values that are not numbers or a
        sparse matrix). See :meth:`check_X`.
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
    def param_names(cls) -> list[str]:
        """The detector's constructor parameters, in signature order.

        The names are scikit-learn's (``_get_param_names``, which ``get_params`` and ``clone``
        use, and which refuses ``*args``); scikit-learn sorts them, this list keeps the
        signature's order because the repr and the error messages listing parameters show it
        (the detector's own parameters first, ``contamination`` and ``random_state`` last).

        Returns
        -------
        list of str

        Raises
        ------
        RuntimeError
            The constructor takes ``*args`` (scikit-learn's rule; no geogan detector does).

        Examples
        --------
        >>> from geogan.detectors import PCAReconstruction
        >>> PCAReconstruction.param_names()
        ['n_components', 'contamination', 'random_state']
        """
        names = set(cls._get_param_names())
        return [name for name in inspect.signature(cls.__init__).parameters if name in names]

    # get_params(deep=True) is scikit-learn's: the values exactly as given (a tuple stays a
    # tuple, as ``clone`` requires; config.json writes it as a JSON list)

    def set_params(self, **params) -> Detector:
        """Set constructor parameters (unchecked until ``fit``); :class:`ConfigError` for a name
        the detector does not take. Returns ``self``."""
        unknown = set(params) - set(self.param_names())
        if unknown:
            raise ConfigError(f"{type(self).__name__} has no parameter(s) {', '.join(sorted(unknown))}")
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        params = self.get_params(deep=False)
        changed = []
        for k in self.param_names():
            default = sig.parameters[k].default
            if default is inspect.Parameter.empty or _normalise(default) != _normalise(params[k]):
                changed.append(f"{k}={params[k]!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    @property
    def score_name(self) -> str:
        """Which score ``decision_function`` computes (shown in reports)."""
        return getattr(self, "score", None) or self._default_score_name

    _default_score_name: ClassVar[str] = "score"

    def check_params(self) -> None:
        """Check the parameters' values: ``fit`` and loading a model call it, never ``__init__``
        (scikit-learn's rule). Each detector extends it with its own; here ``contamination``
        must be in (0, 0.5], as PyOD's. (scikit-learn's private ``_validate_params``, for
        ``_parameter_constraints``, which geogan's detectors do not declare, is not overridden.)

        Raises
        ------
        ConfigError
            A parameter out of range, naming it.

        Examples
        --------
        >>> from geogan.detectors import IsolationForest
        >>> IsolationForest(contamination=0.7).check_params()
        Traceback (most recent call last):
        geogan.errors.ConfigError: contamination must be a number in (0, 0.5], got 0.7
        """
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
        """Score the training rows ``X`` (as :meth:`check_X` returned them) and set
        ``decision_scores_``, ``threshold_``, ``labels_``; the last step of every ``fit``."""
        # the checked array has no column names: scoring it must not warn that fit saw some
        names = self.__dict__.pop("feature_names_in_", None)
        try:
            scores = self.decision_function(X)
        finally:
            if names is not None:
                self.feature_names_in_ = names
        return self._set_threshold(scores)

    # Widths: ``n_features_`` is the fitted model's (set when it is built or loaded; saved as
    # ``n_features``; its presence means fitted), ``n_features_in_`` scikit-learn's, of the X
    # ``fit`` last checked (set by validate_data, and on load); they agree once ``fit`` returns
    # (resuming a checkpoint refuses X whose width differs from the checkpoint's n_features_).
    @property
    def is_fitted(self) -> bool:
        """Whether the detector holds a fitted model (from ``fit``, ``load`` or a checkpoint)."""
        return hasattr(self, "n_features_")

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    def check_X(self, X, *, fitting: bool = False) -> np.ndarray:
        """``X`` as a C-contiguous float32 array of finite values, checked by scikit-learn's
        ``validate_data``: 2-D, real numbers, not sparse, at least one row and one feature.

        When ``fitting``, at least 2 rows, and it records ``n_features_in_`` (and, for a pandas
        DataFrame, ``feature_names_in_``). Otherwise the detector must be fitted and ``X`` have
        the fitted width and, if ``fit`` saw a DataFrame, the same columns in the same order
        (an array without names only warns, as scikit-learn does).

        Parameters
        ----------
        X
            Array-like ``(n_samples, n_features)``, or a pandas DataFrame.
        fitting
            Check rows to fit on (and record their width and column names).

        Returns
        -------
        numpy.ndarray
            float32, C-contiguous, finite.

        Raises
        ------
        DataError
            ``X`` unusable, in scikit-learn's words, or with NaN or infinite values.
        DataTypeError
            Values that are not numbers, or a sparse matrix.
        NotFittedError
            Not ``fitting``, and the detector is not fitted.

        Examples
        --------
        >>> import numpy as np
        >>> from geogan.detectors import PCAReconstruction
        >>> det = PCAReconstruction(n_components=1).fit(np.random.default_rng(0).normal(size=(50, 3)))
        >>> det.check_X([[1, 2, 3]])
        array([[1., 2., 3.]], dtype=float32)
        >>> det.check_X([[1, 2]])
        Traceback (most recent call last):
        geogan.detectors.base.DataError: X has 2 features, but PCAReconstruction is expecting 3 features as input.
        """
        if not fitting:
            self._check_fitted()
        try:
            X = validate_data(self, X, reset=fitting, dtype=np.float32, ensure_min_samples=2 if fitting else 1,
                              ensure_all_finite=False)
        except TypeError as exc:  # a sparse matrix, values that are not numbers
            raise DataTypeError(str(exc)) from None
        except ValueError as exc:  # shape, emptiness, complex values, width or columns other than fit's
            raise DataError(str(exc)) from None
        # checked here, not by validate_data: its message names neither how many rows nor which
        # (geogan's rows are grid cells), and suggests estimators that accept NaN
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

    def restore_state(self, path: Path, state: dict, section: dict) -> None:  # pragma: no cover
        """Restore the fitted state saved in model directory ``path``: its ``config.json``
        ``detector`` ``section`` and that section's ``state``. Loading calls it (see
        :func:`~geogan.detectors.modelfile.detector_from_config`) on a detector made from the
        checked parameters, with ``n_features_`` set. Each detector implements it.

        Parameters
        ----------
        path, state, section
            The model directory, the section's ``state``, the section.

        Raises
        ------
        ModelError
            A state or weight file that does not fit the detector.
        """
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
        if getattr(self, "feature_names_in_", None) is not None:  # fitted on a DataFrame
            section["feature_names"] = [str(name) for name in self.feature_names_in_]
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
        """Load a detector saved with :meth:`save` (any registered kind from ``Detector.load``);
        ``path`` may be a URL (``s3://...``: see :func:`geogan.detectors.modelfile.local_model`)."""
        with local_model(path) as path:
            config = read_config(path)
            det = detector_from_config(path, config["detector"], where=path / CONFIG_NAME)
            if cls is not Detector and not isinstance(det, cls):
                raise ModelError(f"{path} holds a {type(det).__name__}, not a {cls.__name__}", path=path)
            return det


def _normalise(v):
    return list(v) if isinstance(v, tuple) else v
