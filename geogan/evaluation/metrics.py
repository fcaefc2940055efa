"""Evaluation metrics of a score grid against deposits: arrays in, numbers and curves out.

What lives here: the metrics of DESIGN.md "Evaluation definitions" (below) and the AUCs
among them. What does not: the area metrics (:func:`~geogan.evaluation.area.prediction_area`
in :mod:`geogan.evaluation.area`), :class:`~geogan.evaluation.result.EvaluationResult` that
holds them, the per-deposit table and ``metrics.json`` values (:mod:`geogan.evaluation.result`),
evaluating one grid (:mod:`geogan.evaluation.single`), reading score grids or deposit files,
contribution stores, writing reports (:mod:`geogan.evaluation.stage`,
:mod:`geogan.evaluation.report`). Nothing here reads or writes files.

- **ROC AUC, all cells**: positives are the cells holding at least one deposit (a cell
  counts once), negatives every other valid cell. Computed exactly from the sorted valid
  scores (ties count ½), which equals :func:`sklearn.metrics.roc_auc_score` on the same cells.
- **Negative-sampling AUC** (the GeoChemAD benchmark protocol on a grid): positives are the
  scores at the cell of each deposit, negatives as many random valid cells at least
  ``min_dist_km`` from every deposit; ``runs`` seeded draws, mean ± std.
- **Benchmark AUC at the samples** (:func:`sample_benchmark_auc`, GeoChemAD / OpenGADBench's
  ``shared/evaluate.py`` exactly): each deposit's score is the score of the sample nearest to
  it (no distance cap; deposits sharing a sample repeat its score); negatives are as many
  samples drawn with replacement from those at least ``min_dist_km`` from every deposit (all
  samples when none is that far); 20 draws from seed 42, mean ± std. A map is read at the
  samples' cells, so its figure compares with the benchmark's published per-area AUCs.
- **P-A plot** (Yousefi & Carranza 2015): for thresholds ``t`` over the score,
  ``Pr(t)`` = % of deposits in cells scoring ≥ t and ``Oa(t)`` = % of the valid area scoring
  ≥ t; the intersection where ``Pr = 100 − Oa`` and ``Nd = Pr / Oa`` there. The success-rate
  curve (cumulative % deposits against % area ranked by score), its AUC, and the deposit share
  of the top 5 % of cells. Area metrics need equal-area cells, so they are refused for a
  geographic CRS (the AUCs are still computed and the refusal is recorded in the metrics).

>>> import numpy as np
>>> auc, fpr, tpr = roc_auc_all_cells(np.arange(1.0, 11.0), np.array([10.0, 9.0]))
>>> auc
1.0
>>> from geogan.evaluation.area import prediction_area
>>> prediction_area(np.arange(1.0, 11.0), np.array([10.0, 9.0]))["top5_deposit_pct"]
50.0
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pyproj
import xarray as xr
from scipy.spatial import cKDTree

from geogan.evaluation.deposits import Deposits
from geogan.errors import EvaluationError
from geogan.options import EvalOptions
from geogan.evaluation.locate import DepositLocation, locate_deposits, scores_crs

log = logging.getLogger(__name__)

__all__ = [
    "negative_sampling_auc",
    "sample_benchmark_auc",
    "roc_auc_all_cells",
    "sample_negative_cells",
]

_EARTH_RADIUS_KM = 6371.0088

def _auc_sorted(pos_scores: np.ndarray, neg_sorted: np.ndarray) -> float:
    """Mann-Whitney AUC: mean over positives of P(neg < s) + ½ P(neg == s)."""
    less = np.searchsorted(neg_sorted, pos_scores, side="left")
    less_eq = np.searchsorted(neg_sorted, pos_scores, side="right")
    return float(np.sum(less + 0.5 * (less_eq - less), dtype="float64") / (pos_scores.size * neg_sorted.size))


def roc_auc_all_cells(valid_sorted: np.ndarray, positive_scores: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """ROC AUC and curve with positives = ``positive_scores`` (one per positive cell).

    Negatives are all other valid cells; they are never materialised: counts below/at each
    positive score come from the sorted scores of *all* valid cells minus the positives'.

    Parameters
    ----------
    valid_sorted
        Scores of every valid cell, sorted ascending (positives included).
    positive_scores
        Scores of the positive cells (each cell once).

    Returns
    -------
    auc, fpr, tpr
        The AUC (ties ½, equal to scikit-learn's) and the exact ROC curve vertices.
    """
    pos_sorted = np.sort(positive_scores)
    n_pos, n_neg = pos_sorted.size, valid_sorted.size - pos_sorted.size
    if n_pos == 0 or n_neg <= 0:
        raise EvaluationError(
            f"ROC AUC needs positive and negative cells (got {n_pos} positive, {max(n_neg, 0)} negative)"
        )
    all_less = np.searchsorted(valid_sorted, pos_sorted, side="left")
    all_le = np.searchsorted(valid_sorted, pos_sorted, side="right")
    pos_less = np.searchsorted(pos_sorted, pos_sorted, side="left")
    pos_le = np.searchsorted(pos_sorted, pos_sorted, side="right")
    neg_less = all_less - pos_less
    neg_eq = (all_le - all_less) - (pos_le - pos_less)
    auc = float(np.sum(neg_less + 0.5 * neg_eq, dtype="float64") / (n_pos * n_neg))

    # Curve vertices at each distinct positive score t: just above t, then at t (ties give
    # the diagonal segment that the ½ rule integrates).
    thresholds = np.unique(pos_sorted)[::-1]
    lo = np.searchsorted(valid_sorted, thresholds, side="left")
    hi = np.searchsorted(valid_sorted, thresholds, side="right")
    plo = np.searchsorted(pos_sorted, thresholds, side="left")
    phi = np.searchsorted(pos_sorted, thresholds, side="right")
    tp_above, tp_at = n_pos - phi, n_pos - plo
    fp_above = (valid_sorted.size - hi) - tp_above
    fp_at = (valid_sorted.size - lo) - tp_at
    fpr = np.concatenate([[0.0], np.column_stack([fp_above, fp_at]).ravel() / n_neg, [1.0]])
    tpr = np.concatenate([[0.0], np.column_stack([tp_above, tp_at]).ravel() / n_pos, [1.0]])
    return auc, fpr, tpr


def _cell_xyz_km(crs: pyproj.CRS, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points in a space where Euclidean distance is (a monotone function of) ground distance."""
    if crs.is_geographic:
        lon, lat = np.radians(x), np.radians(y)
        return _EARTH_RADIUS_KM * np.column_stack(
            [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
        )
    factor_km = crs.axis_info[0].unit_conversion_factor / 1000.0 if crs.axis_info else 1e-3
    return np.column_stack([x * factor_km, y * factor_km])


def _chord_km(crs: pyproj.CRS, distance_km: float) -> float:
    if crs.is_geographic:  # great-circle distance → chord length on the sphere
        return 2.0 * _EARTH_RADIUS_KM * math.sin(min(distance_km / (2.0 * _EARTH_RADIUS_KM), math.pi / 2))
    return distance_km


def sample_negative_cells(
    scores: xr.DataArray,
    deposits: Deposits,
    n: int,
    *,
    min_dist_km: float = EvalOptions.min_dist_km,
    rng: np.random.Generator,
    values: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw up to ``n`` distinct random valid cells at least ``min_dist_km`` from every deposit.

    Candidates are drawn uniformly over the grid and rejected when NaN or too close to a
    deposit (distances between cell centres; great-circle for a geographic CRS). The pool
    grows until enough are found or the whole grid was examined, so memory stays small on
    large grids with few exclusions. Fewer than ``n`` cells are returned only when the grid
    has fewer eligible cells.

    Returns
    -------
    rows, cols
        Cell indices of the sampled cells.
    """
    crs = scores_crs(scores)
    deposits = deposits.to_crs(crs)
    if values is None:
        values = np.asarray(scores.data)
    height, width = values.shape
    transform = scores.rio.transform()
    finite = np.isfinite(deposits.x) & np.isfinite(deposits.y)
    tree = cKDTree(_cell_xyz_km(crs, deposits.x[finite], deposits.y[finite])) if finite.any() else None
    radius = _chord_km(crs, min_dist_km)
    flat_values = values.reshape(-1)
    pool = height * width
    m = min(pool, max(8 * n, 4096))
    while True:
        cand = rng.choice(pool, size=m, replace=False)
        keep = ~np.isnan(flat_values[cand])
        cand = cand[keep]
        if tree is not None and cand.size:
            rows, cols = np.divmod(cand, width)
            cx, cy = transform * (cols + 0.5, rows + 0.5)
            dist, _ = tree.query(_cell_xyz_km(crs, np.asarray(cx), np.asarray(cy)), k=1)
            cand = cand[dist >= radius]
        if cand.size >= n or m == pool:
            break
        m = min(pool, m * 4)
    rows, cols = np.divmod(cand[:n], width)
    return rows, cols


def negative_sampling_auc(
    scores: xr.DataArray,
    deposits: Deposits,
    *,
    min_dist_km: float = EvalOptions.min_dist_km,
    runs: int = EvalOptions.runs,
    seed: int = 0,
    values: np.ndarray | None = None,
    location: DepositLocation | None = None,
) -> dict:
    """GeoChemAD negative-sampling AUC: ``runs`` seeded draws, mean ± std.

    Positives are the scores at the cells of the deposits on valid cells (a deposit each);
    each draw takes as many negatives (see :func:`sample_negative_cells`).
    """
    if runs < 1:
        raise EvaluationError(f"runs must be ≥ 1 (got {runs})")
    if not min_dist_km >= 0:
        raise EvaluationError(f"min_dist_km must be ≥ 0 (got {min_dist_km})")
    if values is None:
        values = np.asarray(scores.data)
    if location is None:
        location = locate_deposits(scores, deposits, values=values)
    used = location.used
    pos = values[location.row[used], location.col[used]].astype("float64")
    rng = np.random.default_rng(seed)
    aucs, n_negatives = [], []
    shown = time.monotonic()
    for k in range(runs):
        if time.monotonic() - shown > 30:  # a progress line for a long evaluation (up to 10,000 draws)
            shown = time.monotonic()
            log.info(f"negative sampling: {k:,} of {runs:,} draws done")
        rows, cols = sample_negative_cells(
            scores, deposits, pos.size, min_dist_km=min_dist_km, rng=rng, values=values
        )
        if rows.size == 0:
            break
        neg = np.sort(values[rows, cols].astype("float64"))
        aucs.append(_auc_sorted(pos, neg))
        n_negatives.append(int(rows.size))
    out = {
        "negsamp_runs": runs,
        "negsamp_min_dist_km": float(min_dist_km),
        "negsamp_seed": seed,
        "negsamp_n_positives": int(pos.size),
        "negsamp_n_negatives": int(min(n_negatives)) if n_negatives else 0,
        "negsamp_auc_mean": float(np.mean(aucs)) if aucs else None,
        "negsamp_auc_std": float(np.std(aucs)) if aucs else None,
        "negsamp_aucs": [float(a) for a in aucs],
    }
    return out


def sample_benchmark_auc(sample_xy, sample_scores, deposit_xy, *, min_dist_km: float = EvalOptions.min_dist_km, runs: int = EvalOptions.runs,
                         seed: int = 42) -> dict:
    """The GeoChemAD benchmark's AUC at the samples (its ``shared/evaluate.py``).

    Parameters
    ----------
    sample_xy, deposit_xy : array-like, shape (n, 2)
        Sample and deposit coordinates in one projected CRS (metres). Samples are not merged:
        co-located samples each count, as in the benchmark.
    sample_scores : array-like, shape (n,)
        The map's score at each sample (e.g. the score of the cell holding it); samples with a
        NaN score are dropped first.
    min_dist_km, runs, seed
        Negatives lie at least this far from every deposit (all samples when none does);
        draws; the first draw's seed (the benchmark's: 42).

    Returns
    -------
    dict
        ``auc_mean``, ``auc_std`` (over the draws), ``aucs``, ``n_samples``, ``n_positives``
        (= deposits), ``n_distinct_positives`` (distinct nearest samples), ``n_eligible``
        (samples that may be negatives) and ``all_samples_negative`` (True when no sample
        lies ``min_dist_km`` from every deposit).

    Examples
    --------
    >>> xy = np.array([[0.0, 0.0], [100.0, 0.0], [9000.0, 0.0], [9100.0, 0.0]])
    >>> r = sample_benchmark_auc(xy, np.array([5.0, 4.0, 1.0, 2.0]), np.array([[10.0, 0.0]]), runs=3)
    >>> r["auc_mean"], r["n_eligible"]
    (1.0, 2)
    """
    from sklearn.metrics import roc_auc_score

    xy = np.asarray(sample_xy, dtype=np.float64)
    s = np.asarray(sample_scores, dtype=np.float64)
    dxy = np.asarray(deposit_xy, dtype=np.float64).reshape(-1, 2)
    if xy.ndim != 2 or xy.shape[1] != 2 or s.shape != (xy.shape[0],):
        raise EvaluationError("sample_xy must be (n, 2) with one score per sample")
    keep = np.isfinite(s) & np.isfinite(xy).all(axis=1)
    xy, s = xy[keep], s[keep]
    dxy = dxy[np.isfinite(dxy).all(axis=1)]
    if s.size < 2 or dxy.shape[0] == 0:
        raise EvaluationError(f"need scored samples and deposits (got {s.size} samples, {dxy.shape[0]} deposits)")
    if runs < 1:
        raise EvaluationError(f"runs must be ≥ 1 (got {runs})")
    _, nearest = cKDTree(xy).query(dxy)
    pos = s[nearest]
    dist, _ = cKDTree(dxy).query(xy)
    eligible = np.flatnonzero(dist >= float(min_dist_km) * 1000.0)
    all_negative = eligible.size == 0
    if all_negative:
        eligible = np.arange(s.size)
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(pos.size), np.zeros(pos.size)]
    aucs = [float(roc_auc_score(labels, np.r_[pos, s[rng.choice(eligible, size=pos.size, replace=True)]]))
            for _ in range(runs)]
    return {"auc_mean": float(np.mean(aucs)), "auc_std": float(np.std(aucs)), "aucs": aucs, "n_samples": int(s.size),
            "n_positives": int(pos.size), "n_distinct_positives": int(np.unique(nearest).size),
            "n_eligible": int(eligible.size), "all_samples_negative": bool(all_negative),
            "min_dist_km": float(min_dist_km), "runs": int(runs), "seed": int(seed)}
