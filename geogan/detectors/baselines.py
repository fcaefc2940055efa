"""The baselines a geochemist compares with: IsolationForest, robust Mahalanobis distance
(minimum covariance determinant) and PCA reconstruction error, wrapping scikit-learn.

Fitting uses scikit-learn; the fitted state is then held as plain arrays (trees as node
tables, the robust location and precision, the principal axes) and scoring runs in NumPy.
Saving writes those arrays to ``arrays.npz`` (read back with ``allow_pickle=False``): no
pickles, and scoring does not depend on scikit-learn's private attributes.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(500, 4))
>>> det = RobustMahalanobis(random_state=0).fit(X)
>>> bool(det.score_samples([[8.0, 8.0, 8.0, 8.0]])[0] > det.score_samples(X).max())
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geogan.detectors.base import Detector
from geogan.errors import ConfigError, ModelError

_ARRAYS = "arrays.npz"


def _average_path_length(n) -> np.ndarray:
    """Expected path length of an unsuccessful BST search among ``n`` points, c(n)
    (Liu et al. 2008), as scikit-learn: 0 for n ≤ 1, 1 for n = 2."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    two = n == 2
    big = n > 2
    out[two] = 1.0
    nb = n[big]
    out[big] = 2.0 * (np.log(nb - 1.0) + np.euler_gamma) - 2.0 * (nb - 1.0) / nb
    return out


class _ArrayDetector(Detector):
    """Baselines whose fitted state is a dict of arrays ``self.arrays_``."""

    random_state = None

    def _state_to_disk(self, path: Path) -> dict:
        np.savez(path / _ARRAYS, **self.arrays_)
        return {"arrays": _ARRAYS, **self._scalar_state()}

    def _scalar_state(self) -> dict:
        return {}

    def _state_from_disk(self, path: Path, state: dict, section: dict) -> None:
        if state.get("arrays") != _ARRAYS:
            raise ModelError(f"the detector state must name {_ARRAYS}", path=path)
        file = path / _ARRAYS
        if not file.is_file():
            raise ModelError(f"{_ARRAYS} is missing", path=path)
        try:
            with np.load(file, allow_pickle=False) as npz:
                self.arrays_ = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {_ARRAYS} ({exc})", path=path) from None
        self._check_arrays(path)

    def _check_arrays(self, path) -> None:
        pass


class IsolationForest(_ArrayDetector):
    """Isolation forest (Liu et al. 2008) via :class:`sklearn.ensemble.IsolationForest`.

    Score = 2^(−E[h(x)] / c(ψ)), the original anomaly score in (0, 1] (scikit-learn's
    ``-score_samples``): higher = isolated sooner = more anomalous.

    Parameters
    ----------
    n_estimators, max_samples, max_features
        As scikit-learn (100, "auto" = min(256, n), 1.0).
    random_state
        Seed of the subsampling and splits.
    n_jobs
        Parallel tree building (None = 1).
    """

    name = "iforest"
    _default_score_name = "isolation"

    def __init__(self, *, n_estimators: int = 100, max_samples: int | float | str = "auto",
                 max_features: float = 1.0, random_state: int | None = 0, n_jobs: int | None = None):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _validate_params(self) -> None:
        if not isinstance(self.n_estimators, (int, np.integer)) or self.n_estimators < 1:
            raise ConfigError(f"n_estimators must be a positive integer, got {self.n_estimators!r}")

    def fit(self, X) -> IsolationForest:
        from sklearn.ensemble import IsolationForest as SkIsolationForest

        self._validate_params()
        X = self._check_X(X, fitting=True)
        try:
            forest = SkIsolationForest(n_estimators=self.n_estimators, max_samples=self.max_samples,
                                       max_features=self.max_features, random_state=self.random_state,
                                       n_jobs=self.n_jobs).fit(X)
        except ValueError as exc:
            raise ConfigError(f"IsolationForest: {exc}") from None
        # one node table for all trees; feature ids mapped back to X's columns
        feats, thr, left, right, size, roots = [], [], [], [], [], []
        offset = 0
        for est, cols in zip(forest.estimators_, forest.estimators_features_):
            t = est.tree_
            leaf = t.children_left == -1
            feats.append(np.where(leaf, -1, np.asarray(cols)[np.maximum(t.feature, 0)]))
            thr.append(t.threshold)
            left.append(np.where(leaf, -1, t.children_left + offset))
            right.append(np.where(leaf, -1, t.children_right + offset))
            size.append(t.n_node_samples)
            roots.append(offset)
            offset += t.node_count
        self.arrays_ = {
            "feature": np.concatenate(feats).astype(np.int32), "threshold": np.concatenate(thr).astype(np.float64),
            "left": np.concatenate(left).astype(np.int64), "right": np.concatenate(right).astype(np.int64),
            "n_node_samples": np.concatenate(size).astype(np.int64), "roots": np.asarray(roots, np.int64),
            "max_samples": np.asarray(forest.max_samples_, np.int64),
        }
        self.n_features_ = X.shape[1]
        return self

    def _check_arrays(self, path) -> None:
        need = {"feature", "threshold", "left", "right", "n_node_samples", "roots", "max_samples"}
        if set(self.arrays_) != need:
            raise ModelError(f"{_ARRAYS} must hold {', '.join(sorted(need))}", path=path)

    def score_samples(self, X) -> np.ndarray:
        X = self._check_X(X)
        a = self.arrays_
        feature, threshold, left, right = a["feature"], a["threshold"], a["left"], a["right"]
        n = X.shape[0]
        depth_sum = np.zeros(n, dtype=np.float64)
        rows = np.arange(n)
        # X is float32 in training too: scikit-learn compares float32 values with the
        # float64 thresholds, so do the same
        for root in a["roots"]:
            node = np.full(n, root, dtype=np.int64)
            depth = np.zeros(n, dtype=np.float64)
            active = feature[node] >= 0
            while active.any():
                idx = rows[active]
                nd = node[idx]
                go_left = X[idx, feature[nd]] <= threshold[nd]
                node[idx] = np.where(go_left, left[nd], right[nd])
                depth[idx] += 1.0
                active[idx] = feature[node[idx]] >= 0
            depth_sum += depth + _average_path_length(a["n_node_samples"][node])
        mean_depth = depth_sum / len(a["roots"])
        c = _average_path_length([int(a["max_samples"])])[0]
        return np.power(2.0, -mean_depth / c).astype(np.float32)


class RobustMahalanobis(_ArrayDetector):
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
    random_state
        Seed of FastMCD and of the subsample.
    """

    name = "mahalanobis"
    _default_score_name = "mahalanobis_sq"

    def __init__(self, *, support_fraction: float | None = None, max_fit_samples: int = 20000,
                 random_state: int | None = 0):
        self.support_fraction = support_fraction
        self.max_fit_samples = max_fit_samples
        self.random_state = random_state

    def _validate_params(self) -> None:
        if self.support_fraction is not None and not 0.0 < float(self.support_fraction) <= 1.0:
            raise ConfigError(f"support_fraction must be in (0, 1], got {self.support_fraction!r}")
        if not isinstance(self.max_fit_samples, (int, np.integer)) or self.max_fit_samples < 2:
            raise ConfigError(f"max_fit_samples must be an integer ≥ 2, got {self.max_fit_samples!r}")

    def fit(self, X) -> RobustMahalanobis:
        from sklearn.covariance import MinCovDet

        self._validate_params()
        X = self._check_X(X, fitting=True).astype(np.float64)
        if X.shape[0] > self.max_fit_samples:
            rng = np.random.default_rng(self.random_state)
            X = X[np.sort(rng.choice(X.shape[0], self.max_fit_samples, replace=False))]
        mcd = MinCovDet(support_fraction=self.support_fraction, random_state=self.random_state).fit(X)
        # pinv: a singular covariance (e.g. clr rows summing to zero) is the rule, not the exception
        self.arrays_ = {"location": mcd.location_, "precision": np.linalg.pinv(mcd.covariance_, hermitian=True)}
        self.n_features_ = X.shape[1]
        return self

    def _check_arrays(self, path) -> None:
        p = self.n_features_
        if set(self.arrays_) != {"location", "precision"} or self.arrays_["location"].shape != (p,) \
                or self.arrays_["precision"].shape != (p, p):
            raise ModelError(f"{_ARRAYS} must hold location ({p},) and precision ({p}, {p})", path=path)

    def score_samples(self, X) -> np.ndarray:
        X = self._check_X(X).astype(np.float64)
        d = X - self.arrays_["location"]
        return np.einsum("ij,jk,ik->i", d, self.arrays_["precision"], d).astype(np.float32)


class PCAReconstruction(_ArrayDetector):
    """Squared reconstruction error after projecting onto the leading principal components.

    Parameters
    ----------
    n_components
        Components kept: an integer, or a fraction of variance to explain (0.9).
    random_state
        Only used by randomised solvers (kept for a uniform interface).
    """

    name = "pca"
    _default_score_name = "reconstruction_error"

    def __init__(self, *, n_components: int | float = 0.9, random_state: int | None = 0):
        self.n_components = n_components
        self.random_state = random_state

    def _validate_params(self) -> None:
        n = self.n_components
        ok = (isinstance(n, (int, np.integer)) and n >= 1) or (isinstance(n, float) and 0.0 < n < 1.0)
        if not ok:
            raise ConfigError(f"n_components must be an integer ≥ 1 or a fraction in (0, 1), got {n!r}")

    def fit(self, X) -> PCAReconstruction:
        from sklearn.decomposition import PCA

        self._validate_params()
        X = self._check_X(X, fitting=True).astype(np.float64)
        n = self.n_components
        if isinstance(n, (int, np.integer)) and n >= min(X.shape):
            raise ConfigError(f"n_components={n} leaves no residual with {X.shape[1]} features and {X.shape[0]} rows")
        pca = PCA(n_components=n, svd_solver="full", random_state=self.random_state).fit(X)
        self.arrays_ = {"mean": pca.mean_, "components": pca.components_}
        self.n_features_ = X.shape[1]
        self.n_components_ = int(pca.n_components_)
        return self

    def _scalar_state(self) -> dict:
        return {"n_components": self.n_components_}

    def _check_arrays(self, path) -> None:
        p = self.n_features_
        a = self.arrays_
        if set(a) != {"mean", "components"} or a["mean"].shape != (p,) or a["components"].ndim != 2 \
                or a["components"].shape[1] != p:
            raise ModelError(f"{_ARRAYS} must hold mean ({p},) and components (k, {p})", path=path)
        self.n_components_ = a["components"].shape[0]

    def score_samples(self, X) -> np.ndarray:
        X = self._check_X(X).astype(np.float64)
        d = X - self.arrays_["mean"]
        V = self.arrays_["components"]
        resid = d - (d @ V.T) @ V
        return np.einsum("ij,ij->i", resid, resid).astype(np.float32)
