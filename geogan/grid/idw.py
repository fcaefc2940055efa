"""Inverse-distance-weighted interpolation, the gridding kernel.

Definition (exactly what :func:`idw` computes): for each element, at each cell centre,
take the ``k`` nearest samples *that have a value for that element*, weight them by
``1 / d**power`` and average (``space="linear"``) or take the weighted geometric mean
(``space="log"``). A sample at distance 0 gives its value. The cell is NaN for that
element when its nearest such sample is farther than ``max_distance_m``.

Elements measured on the same set of samples share one KD-tree and one k-NN query per
cell: the weights are computed once as a sparse (cells × samples) matrix and applied to
all of those elements in one sparse-dense product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse
from scipy.spatial import cKDTree

from geogan.choices import IDW_SPACES
from geogan.errors import GeoganError, GridError
from geogan.optionkeys import option
from geogan.options import Options

SPACES = IDW_SPACES


@dataclass(frozen=True)
class IDWParams(Options):
    """IDW parameters (stored in the grid's attrs; typed options of the grid stage).

    ``neighbors`` nearest samples with a value, weighted ``1 / d**power``, averaged in
    ``space`` (``log``: weighted geometric mean, or ``linear``); cells farther than
    ``max_distance_m`` from their nearest such sample are NaN. ``max_distance_m=None``: no
    limit here; :func:`geogan.grid.stage.grid_survey` takes it as 3 × the median sample spacing.
    """

    error: ClassVar[type[GeoganError]] = GridError

    neighbors: int = option(12, "int", low=1)
    power: float = option(2.0, "num", low=0)
    max_distance_m: float | None = option(None, "num", low=0, low_open=True)
    space: str = option("log", "str", choices=SPACES)


class SampleGroup:
    """Samples sharing the same presence pattern: one KD-tree for several elements."""

    def __init__(self, xy: np.ndarray, values: np.ndarray, element_index: np.ndarray):
        self.tree = cKDTree(xy)
        self.values = values  # (n_samples_in_group, n_group_elements), float64
        self.element_index = element_index  # positions in the full element list


class SampleIndex:
    """All KD-trees needed to grid a survey, built once (per worker).

    Most elements of a survey are measured on (nearly) every sample. Those share one k-NN
    query per cell on the tree of all samples: elements present everywhere use its first
    ``k`` neighbours directly; elements with a few gaps (≤ ``shared_max_missing``) take
    their first ``k`` present samples among ``k + extra`` candidates (cells where too few
    are present fall back to a wider query, then to the element's own tree, so the result
    is exact). Elements with many gaps get trees of their own, grouped by presence pattern.

    Parameters
    ----------
    x, y
        Sample coordinates in the grid CRS.
    values
        ``(n_samples, n_elements)``; NaN = no value for that element.
    space
        ``"log"`` stores log-values so the kernel averages in log space.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, values: np.ndarray, *, space: str = "log",
                 elements: list[str] | None = None, shared_max_missing: float = 0.2):
        values = np.asarray(values, dtype=np.float64)
        n_el = values.shape[1]
        elements = elements or [f"element {i}" for i in range(n_el)]
        present = ~np.isnan(values)
        if space == "log":
            bad = present & (values <= 0)
            if bad.any():
                j = int(np.nonzero(bad.any(axis=0))[0][0])
                raise GridError(
                    f"element {elements[j]} has {int(bad[:, j].sum())} values <= 0, which log-space IDW "
                    "cannot average; use --space linear or check the below-detection-limit handling")
            values = np.where(present, np.log(np.where(present, values, 1.0)), np.nan)
        for j in range(n_el):
            if not present[:, j].any():
                raise GridError(f"element {elements[j]} has no values to interpolate")
        xy = np.column_stack([np.asarray(x, np.float64), np.asarray(y, np.float64)])
        self.n_elements = n_el
        self.space = space
        self.xy = xy
        self.all_tree = cKDTree(xy)
        missing_frac = 1.0 - present.mean(axis=0)
        self.full = np.nonzero(missing_frac == 0)[0]
        self.shared = np.nonzero((missing_frac > 0) & (missing_frac <= shared_max_missing))[0]
        # elements on the shared query, absent values filled with 0 (corrected per cell below)
        self.shared_cols = np.concatenate([self.full, self.shared])
        self.filled_values = np.where(present, values, 0.0)[:, self.shared_cols]
        self.shared_present = [np.ascontiguousarray(present[:, j]) for j in self.shared]
        # per sample, a bit per shared element it lacks (64 elements to a word): one gather
        # and one OR-reduce over a cell's neighbours tell which elements need a correction
        n_words = max(1, -(-self.shared.size // 64))
        self.absent_bits = np.zeros((len(xy), n_words), dtype=np.uint64)
        for s_, j in enumerate(self.shared):
            self.absent_bits[~present[:, j], s_ // 64] |= np.uint64(1) << np.uint64(s_ % 64)
        self.shared_values_t = [np.ascontiguousarray(self.filled_values[:, len(self.full) + s])
                                for s in range(len(self.shared))]
        # candidates beyond k so that k present samples are almost always among them
        worst = float(missing_frac[self.shared].max()) if self.shared.size else 0.0
        self.extra = int(np.ceil(2 * worst * 12)) + 2 if self.shared.size else 0
        self._own_trees: dict[int, tuple[cKDTree, np.ndarray]] = {}
        patterns: dict[bytes, list[int]] = {}
        for j in np.nonzero(missing_frac > shared_max_missing)[0]:
            patterns.setdefault(np.packbits(present[:, j]).tobytes(), []).append(int(j))
        self.groups = []
        for cols in patterns.values():
            rows = present[:, cols[0]]
            self.groups.append(SampleGroup(xy[rows], values[np.ix_(rows, cols)], np.asarray(cols)))
        self._present = present
        self._values = values

    def own_tree(self, s: int) -> tuple[cKDTree, np.ndarray]:
        """KD-tree and values of shared element ``s`` alone (built on first fallback)."""
        if s not in self._own_trees:
            j = self.shared[s]
            rows = self._present[:, j]
            self._own_trees[s] = (cKDTree(self.xy[rows]), self._values[rows, j])
        return self._own_trees[s]

    def nearest_distance(self, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
        """Distance from each query point to the nearest sample (any element)."""
        d, _ = self.all_tree.query(np.column_stack([qx, qy]), k=1)
        return d


def _normalised_weights(d: np.ndarray, power: float, keep: np.ndarray | None = None) -> np.ndarray:
    """IDW weights per row, summing to 1; a zero distance takes all the weight."""
    with np.errstate(divide="ignore"):
        w = 1.0 / d**power if power > 0 else np.ones_like(d)
    if keep is not None:
        w = np.where(keep, w, 0.0)
        zero = keep & (d == 0.0)
    else:
        zero = d == 0.0
    exact = zero.any(axis=1)
    if exact.any():
        # a sample on the cell centre gives its value (the first such sample, if several)
        first = np.argmax(zero[exact], axis=1)
        w[exact] = 0.0
        w[np.nonzero(exact)[0], first] = 1.0
    return w / w.sum(axis=1, keepdims=True)


def _weights(tree: cKDTree, q: np.ndarray, k: int, power: float) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """Sparse row-normalised IDW weights (cells × samples) and nearest distances."""
    k = min(k, tree.n)
    d, idx = tree.query(q, k=k)
    if k == 1:
        d, idx = d[:, None], idx[:, None]
    return _sparse(_normalised_weights(d, power), idx, tree.n), d[:, 0]


def _sparse(w: np.ndarray, idx: np.ndarray, n_samples: int) -> scipy.sparse.csr_matrix:
    n, k = w.shape
    indptr = np.arange(0, n * k + 1, k)
    return scipy.sparse.csr_matrix((w.ravel(), idx.ravel(), indptr), shape=(n, n_samples))


def _select_present(d: np.ndarray, idx: np.ndarray, present: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mask of each row's first ``k`` candidates that have a value, and their count."""
    pres = present[idx]
    keep = pres & (np.cumsum(pres, axis=1) <= k)
    return keep, keep.sum(axis=1)


def idw(index: SampleIndex, qx: np.ndarray, qy: np.ndarray, params: IDWParams, *,
        return_distance: bool = False):
    """Interpolate all elements at query points.

    Returns
    -------
    ndarray
        ``(n_elements, n_points)`` float32, NaN where the nearest sample with a value for
        that element is farther than ``params.max_distance_m``.
    ndarray, optional
        With ``return_distance``: distance from each point to the nearest sample of any
        element (from the shared query when there is one, so it costs nothing extra).
    """
    q = np.column_stack([np.asarray(qx, np.float64).ravel(), np.asarray(qy, np.float64).ravel()])
    out = np.full((index.n_elements, q.shape[0]), np.nan, dtype=np.float32)
    k, power = int(params.neighbors), float(params.power)
    max_d = np.inf if params.max_distance_m is None else params.max_distance_m

    def finish(est, nearest):
        if index.space == "log":
            est = np.exp(est)
        est[nearest > max_d] = np.nan
        return est

    if index.shared_cols.size:
        n_all = index.all_tree.n
        kk = min(k + index.extra, n_all)
        d, idx = index.all_tree.query(q, k=kk)
        if kk == 1:
            d, idx = d[:, None], idx[:, None]
        kf = min(k, n_all)
        # one sparse weight matrix on the first k neighbours serves every element whose
        # first k neighbours all have a value: one sparse-dense product for all of them
        mat = _sparse(_normalised_weights(d[:, :kf], power), idx[:, :kf], n_all)
        est = mat @ index.filled_values  # (n_points, n_shared_cols)
        nearest_any = d[:, 0]
        est[nearest_any > max_d] = np.nan  # no element has a sample nearer than the nearest of all
        if index.shared.size:
            lacking = np.bitwise_or.reduce(index.absent_bits[idx[:, :kf]], axis=1)  # (n_points, n_words)
            touched = np.nonzero(lacking.any(axis=1))[0]
            lacking = lacking[touched]
        for s in range(index.shared.size):
            # cells that used a sample lacking this element: redo them with its first k
            # present samples among the kk candidates (or its own tree when too few)
            bit = np.uint64(1) << np.uint64(s % 64)
            cells = touched[(lacking[:, s // 64] & bit) != 0]
            if cells.size == 0:
                continue
            col = index.full.size + s
            present = index.shared_present[s]
            k_e = min(k, int(present.sum()))
            dc, ic = d[cells], idx[cells]
            keep, count = _select_present(dc, ic, present, k_e)
            ok = count == k_e
            w = _normalised_weights(dc[ok], power, keep[ok])
            est_c = np.empty(cells.size)
            near_c = np.empty(cells.size)
            est_c[ok] = (w * index.shared_values_t[s][ic[ok]]).sum(axis=1)
            near_c[ok] = np.where(keep[ok], dc[ok], np.inf).min(axis=1)
            if not ok.all():
                tree, vals = index.own_tree(s)
                d2, i2 = tree.query(q[cells[~ok]], k=k_e)
                if k_e == 1:
                    d2, i2 = d2[:, None], i2[:, None]
                est_c[~ok] = (_normalised_weights(d2, power) * vals[i2]).sum(axis=1)
                near_c[~ok] = d2[:, 0]
            est_c[near_c > max_d] = np.nan
            est[cells, col] = est_c
        if index.space == "log":
            np.exp(est, out=est)
        out[index.shared_cols] = est.T
    else:
        nearest_any = None
    for group in index.groups:
        mat, nearest = _weights(group.tree, q, k, power)
        out[group.element_index] = finish(mat @ group.values, nearest).T
    if not return_distance:
        return out
    if nearest_any is None:
        nearest_any = index.nearest_distance(q[:, 0], q[:, 1])
    return out, nearest_any


def median_spacing(x: np.ndarray, y: np.ndarray) -> float:
    """Median distance from each sample to its nearest other sample."""
    xy = np.column_stack([x, y])
    if len(xy) < 2:
        raise GridError("at least two sample locations are needed to grid")
    d, _ = cKDTree(xy).query(xy, k=2)
    return float(np.median(d[:, 1]))
