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

import numpy as np
import scipy.sparse
from scipy.spatial import cKDTree

from geogan.errors import GridError

SPACES = ("linear", "log")


@dataclass(frozen=True)
class IDWParams:
    """IDW parameters (stored in the grid's attrs)."""

    neighbors: int = 12
    power: float = 2.0
    max_distance_m: float = float("inf")
    space: str = "log"

    def __post_init__(self):
        if int(self.neighbors) < 1:
            raise GridError(f"neighbors must be >= 1, got {self.neighbors}")
        if not self.power >= 0:
            raise GridError(f"power must be >= 0, got {self.power}")
        if not self.max_distance_m > 0:
            raise GridError(f"max distance must be > 0 m, got {self.max_distance_m}")
        if self.space not in SPACES:
            raise GridError(f"space must be one of {', '.join(SPACES)}, got {self.space!r}")


class SampleGroup:
    """Samples sharing the same presence pattern: one KD-tree for several elements."""

    def __init__(self, xy: np.ndarray, values: np.ndarray, element_index: np.ndarray):
        self.tree = cKDTree(xy)
        self.values = values  # (n_samples_in_group, n_group_elements), float64
        self.element_index = element_index  # positions in the full element list


class SampleIndex:
    """All KD-trees needed to grid a survey, built once (per worker).

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
                 elements: list[str] | None = None):
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
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(present, np.log(np.where(present, values, 1.0)), np.nan)
        xy = np.column_stack([np.asarray(x, np.float64), np.asarray(y, np.float64)])
        self.n_elements = n_el
        self.space = space
        self.all_tree = cKDTree(xy)
        # group elements by identical presence masks: each group needs its own tree
        patterns: dict[bytes, list[int]] = {}
        for j in range(n_el):
            if not present[:, j].any():
                raise GridError(f"element {elements[j]} has no values to interpolate")
            patterns.setdefault(np.packbits(present[:, j]).tobytes(), []).append(j)
        self.groups = []
        for cols in patterns.values():
            rows = present[:, cols[0]]
            self.groups.append(SampleGroup(xy[rows], values[np.ix_(rows, cols)], np.asarray(cols)))

    def nearest_distance(self, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
        """Distance from each query point to the nearest sample (any element)."""
        d, _ = self.all_tree.query(np.column_stack([qx, qy]), k=1)
        return d


def _weights(tree: cKDTree, q: np.ndarray, k: int, power: float) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """Sparse row-normalised IDW weights (cells × samples) and nearest distances."""
    k = min(k, tree.n)
    d, idx = tree.query(q, k=k)
    if k == 1:
        d, idx = d[:, None], idx[:, None]
    with np.errstate(divide="ignore"):
        w = 1.0 / d**power if power > 0 else np.ones_like(d)
    exact = d[:, 0] == 0.0
    if exact.any():
        # a sample on the cell centre gives its value: all weight on it
        w[exact] = 0.0
        w[exact, 0] = 1.0
    w /= w.sum(axis=1, keepdims=True)
    n = q.shape[0]
    indptr = np.arange(0, n * k + 1, k)
    mat = scipy.sparse.csr_matrix((w.ravel(), idx.ravel(), indptr), shape=(n, tree.n))
    return mat, d[:, 0]


def idw(index: SampleIndex, qx: np.ndarray, qy: np.ndarray, params: IDWParams) -> np.ndarray:
    """Interpolate all elements at query points.

    Returns
    -------
    ndarray
        ``(n_elements, n_points)`` float32, NaN where the nearest sample with a value for
        that element is farther than ``params.max_distance_m``.
    """
    q = np.column_stack([np.asarray(qx, np.float64).ravel(), np.asarray(qy, np.float64).ravel()])
    out = np.full((index.n_elements, q.shape[0]), np.nan, dtype=np.float32)
    for group in index.groups:
        mat, nearest = _weights(group.tree, q, int(params.neighbors), float(params.power))
        est = mat @ group.values  # (n_points, n_group_elements)
        if index.space == "log":
            est = np.exp(est)
        est[nearest > params.max_distance_m] = np.nan
        out[group.element_index] = est.T.astype(np.float32)
    return out


def median_spacing(x: np.ndarray, y: np.ndarray) -> float:
    """Median distance from each sample to its nearest other sample."""
    xy = np.column_stack([x, y])
    if len(xy) < 2:
        raise GridError("at least two sample locations are needed to grid")
    d, _ = cKDTree(xy).query(xy, k=2)
    return float(np.median(d[:, 1]))
