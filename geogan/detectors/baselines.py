"""The baselines a geochemist compares with: IsolationForest, robust Mahalanobis distance
(minimum covariance determinant) and PCA reconstruction error, wrapping scikit-learn.

What lives here: :class:`IsolationForest` and :class:`ArrayDetector`, the base of every
baseline; the two read from the covariance,
:class:`~geogan.detectors.covariance.RobustMahalanobis` and
:class:`~geogan.detectors.covariance.PCAReconstruction`, live in
:mod:`geogan.detectors.covariance`. Fitting uses scikit-learn; the fitted state is then held
as plain arrays (trees as node tables, the robust location and precision, the principal
axes) and scoring runs in NumPy.
Saving writes those arrays to ``arrays.npz`` (read back with ``allow_pickle=False``): no
pickles, and scoring does not depend on scikit-learn's private attributes.

Must not hold: TensorFlow, or the detector interface itself (:mod:`geogan.detectors.base`).

>>> import numpy as np
>>> from geogan.detectors.covariance import RobustMahalanobis
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

from geogan.detectors.base import DEFAULT_CONTAMINATION, Detector
from geogan.detectors.modelfile import model_file
from geogan.errors import ConfigError, ModelError

#: the file every baseline's fitted arrays are saved to
ARRAYS = "arrays.npz"
#: upper bound on a parameter that becomes time or memory (checked before any data is read):
#: a forest of 10,000 trees is far beyond what a survey's elements need
MAX_ESTIMATORS = 10_000


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


class ArrayDetector(Detector):
    """Baselines whose fitted state is a dict of arrays ``self.arrays_``."""

    random_state = None

    def _state_to_disk(self, path: Path) -> dict:
        np.savez(path / ARRAYS, **self.arrays_)
        return {"arrays": ARRAYS, **self._scalar_state()}

    def _scalar_state(self) -> dict:
        return {}

    def restore_state(self, path: Path, state: dict, section: dict) -> None:
        if state.get("arrays") != ARRAYS:
            raise ModelError(f"the detector state must name {ARRAYS}", path=path)
        file = model_file(path, ARRAYS, what="array file")
        try:
            with np.load(file, allow_pickle=False) as npz:
                self.arrays_ = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {ARRAYS} ({exc})", path=path) from None
        self._check_arrays(path)

    def _check_arrays(self, path) -> None:
        pass


class IsolationForest(ArrayDetector):
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

    Raises
    ------
    ConfigError
        In ``fit``: ``n_estimators`` not an integer from 1 to 10,000, ``contamination`` outside
        (0, 0.5], or another parameter scikit-learn refuses (its message quoted).
    DataError
        ``X`` unusable (see :class:`~geogan.detectors.base.Detector`).
    NotFittedError
        Scoring before ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from geogan.detectors import IsolationForest
    >>> X = np.random.default_rng(0).normal(size=(300, 3))
    >>> det = IsolationForest(n_estimators=50, random_state=0).fit(X)
    >>> scores = det.decision_function([[0.0, 0.0, 0.0], [6.0, -6.0, 6.0]])
    >>> bool(0 < scores[0] < scores[1] <= 1), det.predict([[0.0, 0.0, 0.0], [6.0, -6.0, 6.0]]).tolist()
    (True, [0, 1])
    >>> IsolationForest(n_estimators=0).fit(X)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ConfigError: n_estimators must be an integer from 1 to 10,000 (scikit-learn's default is 100), got 0
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

    def check_params(self) -> None:
        super().check_params()
        if not isinstance(self.n_estimators, (int, np.integer)) or not 1 <= self.n_estimators <= MAX_ESTIMATORS:
            raise ConfigError(f"n_estimators must be an integer from 1 to {MAX_ESTIMATORS:,} (scikit-learn's default "
                              f"is 100), got {self.n_estimators!r}")

    def fit(self, X, y=None) -> IsolationForest:
        """Fit the forest on ``X`` (``y`` ignored); sets ``threshold_`` (see :class:`Detector`)."""
        from sklearn.ensemble import IsolationForest as SkIsolationForest

        self.check_params()
        X = self.check_X(X, fitting=True)
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
            raise ModelError(f"{ARRAYS} must hold {', '.join(sorted(need))}", path=path)
        file = Path(path) / ARRAYS
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
        X = self.check_X(X)
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
