"""The baselines a geochemist compares with: IsolationForest, robust Mahalanobis distance
(minimum covariance determinant) and PCA reconstruction error, wrapping scikit-learn.

Fitting uses scikit-learn; the fitted state is then held as plain arrays (trees as node
tables, the robust location and precision, the principal axes) and scoring runs in NumPy.
Saving writes those arrays to ``arrays.npz`` (read back with ``allow_pickle=False``): no
pickles, and scoring does not depend on scikit-learn's private attributes.

Must not hold: TensorFlow, or the detector interface itself (:mod:`geogan.detectors.base`).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(500, 4))
>>> det = RobustMahalanobis(random_state=0).fit(X)
>>> bool(det.decision_function([[8.0, 8.0, 8.0, 8.0]])[0] > det.decision_function(X).max())
True
>>> int(det.predict([[8.0, 8.0, 8.0, 8.0]])[0]), float(det.labels_.mean())
(1, 0.1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geogan.detectors.base import DEFAULT_CONTAMINATION, DataError, Detector
from geogan.detectors.modelfile import model_file
from geogan.errors import ConfigError, ModelError

_ARRAYS = "arrays.npz"
#: upper bounds on parameters that become time or memory (checked before any data is read):
#: a forest of 10,000 trees or 10,000 principal axes is far beyond what a survey's elements need
MAX_ESTIMATORS = 10_000
MAX_COMPONENTS = 10_000


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
        file = model_file(path, _ARRAYS, what="array file")
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

    ``decision_function`` = 2^(−E[h(x)] / c(ψ)), the original anomaly score in (0, 1]
    (scikit-learn's ``-score_samples``): higher = isolated sooner = more anomalous.
    ``score_samples`` is its negative, as scikit-learn's.

    Parameters
    ----------
    n_estimators, max_samples, max_features
        As scikit-learn (100, "auto" = min(256, n), 1.0).
    contamination
        Share of outliers in the training data, for ``threshold_`` and ``predict`` (0.1, as
        PyOD; scores do not depend on it).
    random_state
        Seed of the subsampling and splits.
    n_jobs
        Parallel tree building (None = 1).
    """

    name = "iforest"
    _default_score_name = "isolation"

    def __init__(self, *, n_estimators: int = 100, max_samples: int | float | str = "auto",
                 max_features: float = 1.0, contamination: float = DEFAULT_CONTAMINATION,
                 random_state: int | None = 0, n_jobs: int | None = None):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.contamination = contamination
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _validate_params(self) -> None:
        super()._validate_params()
        if not isinstance(self.n_estimators, (int, np.integer)) or not 1 <= self.n_estimators <= MAX_ESTIMATORS:
            raise ConfigError(f"n_estimators must be an integer from 1 to {MAX_ESTIMATORS:,} (scikit-learn's default "
                              f"is 100), got {self.n_estimators!r}")

    def fit(self, X, y=None) -> IsolationForest:
        """Fit the forest on ``X`` (``y`` ignored); sets ``threshold_`` (see :class:`Detector`)."""
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
        return self._fit_threshold(X)

    def _check_arrays(self, path) -> None:
        """Check the node table before anything walks it, so that a crafted ``arrays.npz`` can
        neither make scoring loop forever (a child pointing back up its tree) nor index out of
        range (:class:`ModelError` naming the file, the tree and the node).

        :meth:`fit` writes each tree as one block of nodes starting at its root (``roots``
        starts at 0 and increases), and scikit-learn numbers a node's children after it. So
        every child must lie after its parent and inside the parent's block: each tree is then
        acyclic and every walk from a root ends at a leaf. Leaves have feature -1 and children
        -1; split nodes a feature in range and a finite threshold; every node ≥ 1 sample.
        """
        need = {"feature", "threshold", "left", "right", "n_node_samples", "roots", "max_samples"}
        if set(self.arrays_) != need:
            raise ModelError(f"{_ARRAYS} must hold {', '.join(sorted(need))}", path=path)
        file = Path(path) / _ARRAYS
        a = self.arrays_
        for key in sorted(need - {"threshold"}):
            if a[key].dtype.kind not in "iu":
                raise ModelError(f"'{key}' must hold integers, not {a[key].dtype}", path=file)
        if a["threshold"].dtype.kind != "f":
            raise ModelError(f"'threshold' must hold floats, not {a['threshold'].dtype}", path=file)
        nodes = ("feature", "threshold", "left", "right", "n_node_samples")
        n = a["feature"].size
        if any(a[k].ndim != 1 or a[k].size != n for k in nodes):
            raise ModelError(f"{', '.join(nodes)} must be 1-D arrays of one length (one entry per node)", path=file)
        roots = a["roots"].astype(np.int64)
        if roots.ndim != 1 or roots.size == 0 or roots[0] != 0 or np.any(np.diff(roots) <= 0) or roots[-1] >= n:
            raise ModelError(f"'roots' must start at 0 and increase within the {n} nodes, got {roots.tolist()[:10]}",
                             path=file)
        if a["max_samples"].shape != () or int(a["max_samples"]) < 1:
            raise ModelError(f"'max_samples' must be one positive integer, got {a['max_samples'].tolist()}", path=file)
        index = np.arange(n)
        tree = np.searchsorted(roots, index, side="right") - 1
        end = np.append(roots[1:], n)[tree]  # one past the last node of each node's tree
        feature, left, right = (a[k].astype(np.int64) for k in ("feature", "left", "right"))
        split = feature >= 0
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(a["threshold"])
        problems = [
            ((feature < -1) | (feature >= self.n_features_),
             lambda k: f"splits on feature {feature[k]}, outside 0..{self.n_features_ - 1} (-1 marks a leaf)"),
            (~split & ((left != -1) | (right != -1)),
             lambda k: f"is a leaf (feature -1) with children {left[k]}, {right[k]} (must be -1)"),
            (split & ((left <= index) | (left >= end) | (right <= index) | (right >= end)),
             lambda k: f"has children at {left[k]}, {right[k]}: children must come after their parent inside its "
                       f"tree (nodes {roots[tree[k]]}..{end[k] - 1}); this would loop or index out of range"),
            (split & ~finite, lambda k: f"has the non-finite threshold {a['threshold'][k]}"),
            (a["n_node_samples"] < 1, lambda k: f"has n_node_samples {a['n_node_samples'][k]} (must be ≥ 1)"),
        ]
        for bad, what in problems:
            if bad.any():
                k = int(np.argmax(bad))
                raise ModelError(f"tree {tree[k]}: node {k - roots[tree[k]]} (entry {k}) {what(k)}", path=file)

    def decision_function(self, X) -> np.ndarray:
        """2^(−E[h(x)] / c(ψ)) per row, float32: higher = more anomalous."""
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
    contamination
        Share of outliers in the training data, for ``threshold_`` and ``predict`` (0.1).
    random_state
        Seed of FastMCD and of the subsample.
    """

    name = "mahalanobis"
    _default_score_name = "mahalanobis_sq"

    def __init__(self, *, support_fraction: float | None = None, max_fit_samples: int = 20000,
                 contamination: float = DEFAULT_CONTAMINATION, random_state: int | None = 0):
        self.support_fraction = support_fraction
        self.max_fit_samples = max_fit_samples
        self.contamination = contamination
        self.random_state = random_state

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.support_fraction is not None and not 0.0 < float(self.support_fraction) <= 1.0:
            raise ConfigError(f"support_fraction must be in (0, 1], got {self.support_fraction!r}")
        if not isinstance(self.max_fit_samples, (int, np.integer)) or self.max_fit_samples < 2:
            raise ConfigError(f"max_fit_samples must be an integer ≥ 2, got {self.max_fit_samples!r}")

    def fit(self, X, y=None) -> RobustMahalanobis:
        """Fit the MCD on ``X`` (``y`` ignored); sets ``threshold_`` from all rows of ``X``."""
        from sklearn.covariance import MinCovDet

        self._validate_params()
        X = self._check_X(X, fitting=True)
        X_fit = X.astype(np.float64)
        if X.shape[0] > self.max_fit_samples:
            rng = np.random.default_rng(self.random_state)
            X_fit = X_fit[np.sort(rng.choice(X.shape[0], self.max_fit_samples, replace=False))]
        mcd = MinCovDet(support_fraction=self.support_fraction, random_state=self.random_state).fit(X_fit)
        # pinv: a singular covariance (e.g. clr rows summing to zero) is the rule, not the exception
        self.arrays_ = {"location": mcd.location_, "precision": np.linalg.pinv(mcd.covariance_, hermitian=True)}
        self.n_features_ = X.shape[1]
        return self._fit_threshold(X)

    def _check_arrays(self, path) -> None:
        p = self.n_features_
        if set(self.arrays_) != {"location", "precision"} or self.arrays_["location"].shape != (p,) \
                or self.arrays_["precision"].shape != (p, p):
            raise ModelError(f"{_ARRAYS} must hold location ({p},) and precision ({p}, {p})", path=path)

    def decision_function(self, X) -> np.ndarray:
        """Squared robust Mahalanobis distance per row, float32: higher = more anomalous."""
        X = self._check_X(X).astype(np.float64)
        d = X - self.arrays_["location"]
        return np.einsum("ij,jk,ik->i", d, self.arrays_["precision"], d).astype(np.float32)


class PCAReconstruction(_ArrayDetector):
    """Squared reconstruction error after projecting onto the leading principal components.

    Parameters
    ----------
    n_components
        Components kept: an integer, or a fraction of variance to explain (0.9).
    contamination
        Share of outliers in the training data, for ``threshold_`` and ``predict`` (0.1).
    random_state
        Only used by randomised solvers (kept for a uniform interface).
    """

    name = "pca"
    _default_score_name = "reconstruction_error"

    def __init__(self, *, n_components: int | float = 0.9, contamination: float = DEFAULT_CONTAMINATION,
                 random_state: int | None = 0):
        self.n_components = n_components
        self.contamination = contamination
        self.random_state = random_state

    def _validate_params(self) -> None:
        super()._validate_params()
        n = self.n_components
        ok = (isinstance(n, (int, np.integer)) and 1 <= n <= MAX_COMPONENTS) or (isinstance(n, float) and 0.0 < n < 1.0)
        if not ok:
            raise ConfigError(f"n_components must be an integer from 1 to {MAX_COMPONENTS:,} or a fraction in (0, 1), "
                              f"got {n!r}")

    def fit(self, X, y=None) -> PCAReconstruction:
        """Fit the principal axes on ``X`` (``y`` ignored); sets ``threshold_``."""
        from sklearn.decomposition import PCA

        self._validate_params()
        X = self._check_X(X, fitting=True).astype(np.float64)
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
            raise ModelError(f"{_ARRAYS} must hold mean ({p},) and components (k, {p})", path=path)
        self.n_components_ = a["components"].shape[0]

    def decision_function(self, X) -> np.ndarray:
        """Squared reconstruction error per row, float32: higher = more anomalous."""
        X = self._check_X(X).astype(np.float64)
        d = X - self.arrays_["mean"]
        V = self.arrays_["components"]
        resid = d - (d @ V.T) @ V
        return np.einsum("ij,ij->i", resid, resid).astype(np.float32)
