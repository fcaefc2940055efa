"""The baselines read from the data's covariance: robust Mahalanobis distance and PCA reconstruction error.

What lives here: :class:`RobustMahalanobis` (minimum covariance determinant, scikit-learn's
:class:`~sklearn.covariance.MinCovDet`) and :class:`PCAReconstruction` (the residual off
the principal axes, :class:`~sklearn.decomposition.PCA`), fitted with scikit-learn and
held, saved and scored as plain arrays like every baseline (:mod:`geogan.detectors.baselines`,
which also holds :class:`~geogan.detectors.baselines.IsolationForest`). What does not:
TensorFlow, or the detector interface itself (:mod:`geogan.detectors.base`).

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(300, 3))
>>> det = PCAReconstruction(n_components=2).fit(X)
>>> det.decision_function(X[:4]).shape
(4,)
"""

from __future__ import annotations

import warnings

import numpy as np

from geogan.detectors.base import DEFAULT_CONTAMINATION, DataError
from geogan.detectors.baselines import ARRAYS, ArrayDetector
from geogan.errors import ConfigError, ModelError

__all__ = ["MAX_COMPONENTS", "PCAReconstruction", "RobustMahalanobis"]

#: upper bound on the principal axes (checked before any data is read): far beyond what a
#: survey's elements need
MAX_COMPONENTS = 10_000


class RobustMahalanobis(ArrayDetector):
    """Squared Mahalanobis distance from a robust (MCD) location and covariance.

    The minimum covariance determinant (Rousseeuw & Van Driessen 1999, scikit-learn's
    :class:`~sklearn.covariance.MinCovDet`) resists the anomalies it is meant to find; it is
    the classical multivariate baseline in exploration geochemistry.

    Parameters
    ----------
    support_fraction
        Share of points in the MCD support (None = scikit-learn's (n + p + 1) / 2n).
    max_fit_samples
        FastMCD is fitted on at most this many rows drawn at random (20000): its cost grows
        with n while the estimate settles long before.
    contamination
        Share of outliers in the training data, for ``threshold_`` and ``predict`` (0.1).
    random_state
        Seed of FastMCD and of the subsample.

    Raises
    ------
    ConfigError
        In ``fit``: ``support_fraction`` outside (0, 1], ``max_fit_samples`` not an integer
        ≥ 2, ``contamination`` outside (0, 0.5].
    DataError
        ``X`` unusable (see :class:`~geogan.detectors.base.Detector`).
    NotFittedError
        Scoring before ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from geogan.detectors import RobustMahalanobis
    >>> X = np.random.default_rng(0).normal(size=(300, 3))
    >>> det = RobustMahalanobis(random_state=0).fit(X)
    >>> det.score_name, det.decision_function([[0.0, 0.0, 0.0], [3.0, 3.0, 3.0]]).astype(float).round(1).tolist()
    ('mahalanobis_sq', [0.0, 28.6])
    >>> RobustMahalanobis(support_fraction=1.5).fit(X)
    Traceback (most recent call last):
    geogan.errors.ConfigError: support_fraction must be in (0, 1], got 1.5
    """

    name = "mahalanobis"
    _default_score_name = "mahalanobis_sq"

    def __init__(self, *, support_fraction: float | None = None, max_fit_samples: int = 20000,
                 contamination: float = DEFAULT_CONTAMINATION, random_state: int | None = 0):
        self.support_fraction = support_fraction
        self.max_fit_samples = max_fit_samples
        self.contamination = contamination
        self.random_state = random_state

    def check_params(self) -> None:
        super().check_params()
        if self.support_fraction is not None and not 0.0 < float(self.support_fraction) <= 1.0:
            raise ConfigError(f"support_fraction must be in (0, 1], got {self.support_fraction!r}")
        if not isinstance(self.max_fit_samples, (int, np.integer)) or self.max_fit_samples < 2:
            raise ConfigError(f"max_fit_samples must be an integer ≥ 2, got {self.max_fit_samples!r}")

    def fit(self, X, y=None) -> RobustMahalanobis:
        """Fit the MCD on ``X`` (``y`` ignored); sets ``threshold_`` from all rows of ``X``."""
        from sklearn.covariance import MinCovDet

        self.check_params()
        X = self.check_X(X, fitting=True)
        X_fit = X.astype(np.float64)
        if X.shape[0] > self.max_fit_samples:
            rng = np.random.default_rng(self.random_state)
            X_fit = X_fit[np.sort(rng.choice(X.shape[0], self.max_fit_samples, replace=False))]
        # a singular covariance (e.g. clr rows summing to zero) is the rule, not the exception: the
        # warnings scikit-learn's MCD gives for it say nothing a user can act on, and pinv handles it
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not full rank")
            warnings.filterwarnings("ignore", message="Determinant has increased")
            mcd = MinCovDet(support_fraction=self.support_fraction, random_state=self.random_state).fit(X_fit)
        self.arrays_ = {"location": mcd.location_, "precision": np.linalg.pinv(mcd.covariance_, hermitian=True)}
        self.n_features_ = X.shape[1]
        return self._fit_threshold(X)

    def _check_arrays(self, path) -> None:
        p = self.n_features_
        if set(self.arrays_) != {"location", "precision"} or self.arrays_["location"].shape != (p,) \
                or self.arrays_["precision"].shape != (p, p):
            raise ModelError(f"{ARRAYS} must hold location ({p},) and precision ({p}, {p})", path=path)

    def decision_function(self, X) -> np.ndarray:
        """Squared robust Mahalanobis distance per row, float32: higher = more anomalous."""
        X = self.check_X(X).astype(np.float64)
        d = X - self.arrays_["location"]
        return np.einsum("ij,jk,ik->i", d, self.arrays_["precision"], d).astype(np.float32)


class PCAReconstruction(ArrayDetector):
    """Squared reconstruction error after projecting onto the leading principal components.

    Parameters
    ----------
    n_components
        Components kept: an integer, or a fraction of variance to explain (0.9).
    contamination
        Share of outliers in the training data, for ``threshold_`` and ``predict`` (0.1).
    random_state
        Only used by randomised solvers (kept for a uniform interface).

    Raises
    ------
    ConfigError
        In ``fit``: ``n_components`` neither an integer from 1 to 10,000 nor a fraction in
        (0, 1); ``contamination`` outside (0, 0.5].
    DataError
        An integer ``n_components`` that leaves no residual (as many as the features or
        rows), or ``X`` unusable (see :class:`~geogan.detectors.base.Detector`).
    NotFittedError
        Scoring before ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from geogan.detectors import PCAReconstruction
    >>> X = np.random.default_rng(0).normal(size=(300, 3))
    >>> det = PCAReconstruction(n_components=2).fit(X)
    >>> det.n_components_, det.score_name
    (2, 'reconstruction_error')
    >>> bool(det.decision_function([[3.0, 3.0, 3.0]])[0] > det.threshold_)
    True
    >>> PCAReconstruction(n_components=3).fit(X)
    Traceback (most recent call last):
    geogan.detectors.base.DataError: n_components=3 leaves no residual with 3 feature(s) and 300 rows
    """

    name = "pca"
    _default_score_name = "reconstruction_error"

    def __init__(self, *, n_components: int | float = 0.9, contamination: float = DEFAULT_CONTAMINATION,
                 random_state: int | None = 0):
        self.n_components = n_components
        self.contamination = contamination
        self.random_state = random_state

    def check_params(self) -> None:
        super().check_params()
        n = self.n_components
        ok = (isinstance(n, (int, np.integer)) and not isinstance(n, bool) and 1 <= n <= MAX_COMPONENTS) or (isinstance(n, float) and 0.0 < n < 1.0)
        if not ok:
            raise ConfigError(f"n_components must be an integer from 1 to {MAX_COMPONENTS:,} or a fraction in (0, 1), "
                              f"got {n!r}")

    def fit(self, X, y=None) -> PCAReconstruction:
        """Fit the principal axes on ``X`` (``y`` ignored); sets ``threshold_``."""
        from sklearn.decomposition import PCA

        self.check_params()
        X = self.check_X(X, fitting=True).astype(np.float64)
        n = self.n_components
        if isinstance(n, (int, np.integer)) and n >= min(X.shape):
            # a DataError (a ValueError, as scikit-learn expects): it depends on X's shape
            raise DataError(f"n_components={n} leaves no residual with {X.shape[1]} feature(s) and "
                            f"{X.shape[0]} rows")
        pca = PCA(n_components=n, svd_solver="full", random_state=self.random_state).fit(X)
        self.arrays_ = {"mean": pca.mean_, "components": pca.components_}
        self.n_features_ = X.shape[1]
        self.n_components_ = int(pca.n_components_)
        return self._fit_threshold(X)

    def _scalar_state(self) -> dict:
        return {"n_components": self.n_components_}

    def _check_arrays(self, path) -> None:
        p = self.n_features_
        a = self.arrays_
        if set(a) != {"mean", "components"} or a["mean"].shape != (p,) or a["components"].ndim != 2 \
                or a["components"].shape[1] != p:
            raise ModelError(f"{ARRAYS} must hold mean ({p},) and components (k, {p})", path=path)
        self.n_components_ = a["components"].shape[0]

    def decision_function(self, X) -> np.ndarray:
        """Squared reconstruction error per row, float32: higher = more anomalous."""
        X = self.check_X(X).astype(np.float64)
        d = X - self.arrays_["mean"]
        V = self.arrays_["components"]
        resid = d - (d @ V.T) @ V
        return np.einsum("ij,ij->i", resid, resid).astype(np.float32)
