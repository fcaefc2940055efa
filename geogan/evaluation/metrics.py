"""Evaluation metrics of a score grid against deposits: arrays in, numbers and curves out.

What lives here: the metrics of DESIGN.md "Evaluation definitions", :class:`EvaluationResult`
that holds them, the per-deposit table and :func:`to_jsonable` for ``metrics.json``. What
does not: reading score grids or deposit files, contribution stores, writing reports
(:mod:`geogan.evaluation.stage`, :mod:`geogan.evaluation.report`). Nothing here reads or writes files.

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
>>> prediction_area(np.arange(1.0, 11.0), np.array([10.0, 9.0]))["top5_deposit_pct"]
50.0
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pyproj
import xarray as xr
from scipy.spatial import cKDTree

from geogan.evaluation.deposits import TYPE_COLUMNS, Deposits
from geogan.errors import EvaluationError
from geogan.evaluation.gis import class_labels, classify
from geogan.gridspec import parse_crs
from geogan.evaluation.locate import DepositLocation, locate_deposits, scores_crs

log = logging.getLogger(__name__)

__all__ = [
    "EvaluationResult",
    "deposit_table",
    "negative_sampling_auc",
    "prediction_area",
    "sample_benchmark_auc",
    "roc_auc_all_cells",
    "sample_negative_cells",
    "to_jsonable",
]

_EARTH_RADIUS_KM = 6371.0088
_TOP_FRACTION = 0.05
_PA_LEVELS = np.linspace(0.0, 1.0, 1001)

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
    min_dist_km: float = 5.0,
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
    min_dist_km: float = 5.0,
    runs: int = 20,
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


def sample_benchmark_auc(sample_xy, sample_scores, deposit_xy, *, min_dist_km: float = 5.0, runs: int = 20,
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


def prediction_area(
    valid_sorted: np.ndarray,
    deposit_scores: np.ndarray,
    *,
    crs=None,
    levels: np.ndarray = _PA_LEVELS,
) -> dict:
    """P-A curves, their intersection, the success-rate curve and the top-5 % shares.

    Parameters
    ----------
    valid_sorted
        Scores of every valid cell, sorted ascending (cells are equal-area).
    deposit_scores
        Score at the cell of each deposit (one per deposit; several may share a cell).
    crs
        Grid CRS; a geographic CRS is refused because its cells are not equal-area.
    levels
        Quantile levels (0..1) of the valid scores used as thresholds.

    Returns
    -------
    dict
        Curves ``pa_threshold``, ``pa_prediction_rate`` (Pr, %), ``pa_area_pct`` (Oa, %),
        ``success_area_pct``, ``success_deposit_pct`` (the success-rate curve at the
        thresholds), ``capture_area_pct``, ``capture_deposit_pct`` (the same curve exactly,
        a step per deposit score) and scalars ``pa_intersection_*``,
        ``pa_nd``, ``success_rate_auc``, ``top5_area_pct``, ``top5_deposit_pct``.

    Raises
    ------
    EvaluationError
        Geographic CRS, or no valid cells / deposits.
    """
    if crs is not None and parse_crs(crs).is_geographic:
        raise EvaluationError(
            f"area metrics (P-A plot, success rate, top-5 % shares) need a projected CRS with "
            f"equal-area cells; the score grid is in {parse_crs(crs).to_string()} (geographic, degrees). "
            "Reproject the grid (e.g. to a UTM zone or an equal-area CRS); the AUCs are still computed"
        )
    n = valid_sorted.size
    if n == 0 or deposit_scores.size == 0:
        raise EvaluationError("P-A plot needs valid cells and deposits on them")
    idx = np.clip(np.ceil(levels * n).astype("int64") - 1, 0, n - 1)
    thresholds = np.unique(valid_sorted[idx])
    dep_sorted = np.sort(deposit_scores)
    pr = 100.0 * (dep_sorted.size - np.searchsorted(dep_sorted, thresholds, side="left")) / dep_sorted.size
    oa = 100.0 * (n - np.searchsorted(valid_sorted, thresholds, side="left")) / n

    # Pr falls and 100 − Oa rises with t: the first sign change of their difference brackets
    # the intersection; both curves are linear between thresholds.
    diff = pr - (100.0 - oa)
    cross = np.flatnonzero((diff[:-1] > 0) & (diff[1:] <= 0))
    if diff[0] <= 0:
        k, frac = 0, 0.0
    elif cross.size:
        k = int(cross[0])
        frac = diff[k] / (diff[k] - diff[k + 1])
    else:  # Pr stays above 100 − Oa up to the top threshold
        k, frac = thresholds.size - 1, 0.0
    k1 = min(k + 1, thresholds.size - 1)
    t_star = thresholds[k] + frac * (thresholds[k1] - thresholds[k])
    pr_star = pr[k] + frac * (pr[k1] - pr[k])
    oa_star = oa[k] + frac * (oa[k1] - oa[k])

    # Success rate: cells ranked by descending score; each threshold is one point.
    s_area = np.concatenate([[0.0], oa[::-1]])
    s_dep = np.concatenate([[0.0], pr[::-1]])
    if s_area[-1] < 100.0:  # pragma: no cover - the lowest threshold is the minimum score
        s_area, s_dep = np.append(s_area, 100.0), np.append(s_dep, 100.0)
    success_auc = float(np.sum(np.diff(s_area) * (s_dep[1:] + s_dep[:-1]) / 2.0) / 1e4)

    # The same cumulative curve exactly, one step per deposit score (no threshold grid), for
    # the success-rate figure's logarithmic area axis: vertices just above and at each
    # distinct deposit score (ties between cells give a sloped step, as on the ROC curve).
    levels_dep = np.unique(dep_sorted)[::-1]
    c_area = np.column_stack([n - np.searchsorted(valid_sorted, levels_dep, side="right"),
                              n - np.searchsorted(valid_sorted, levels_dep, side="left")]).ravel() / n
    c_dep = np.column_stack([dep_sorted.size - np.searchsorted(dep_sorted, levels_dep, side="right"),
                             dep_sorted.size - np.searchsorted(dep_sorted, levels_dep, side="left")]).ravel()
    capture_area = 100.0 * np.concatenate([[0.0], c_area, [1.0]])
    capture_dep = 100.0 * np.concatenate([[0.0], c_dep / dep_sorted.size, [1.0]])

    k_top = max(1, math.ceil(_TOP_FRACTION * n))
    t_top = valid_sorted[n - k_top]
    top_area = 100.0 * (n - np.searchsorted(valid_sorted, t_top, side="left")) / n
    top_dep = 100.0 * (dep_sorted.size - np.searchsorted(dep_sorted, t_top, side="left")) / dep_sorted.size
    return {
        "pa_threshold": thresholds.astype("float64"),
        "pa_prediction_rate": pr,
        "pa_area_pct": oa,
        "success_area_pct": s_area,
        "success_deposit_pct": s_dep,
        "capture_area_pct": capture_area,
        "capture_deposit_pct": capture_dep,
        "pa_intersection_threshold": float(t_star),
        "pa_intersection_prediction_rate_pct": float(pr_star),
        "pa_intersection_area_pct": float(oa_star),
        "pa_nd": float(pr_star / oa_star) if oa_star > 0 else None,
        "success_rate_auc": success_auc,
        "top5_threshold": float(t_top),
        "top5_area_pct": float(top_area),
        "top5_deposit_pct": float(top_dep),
    }


@dataclass
class EvaluationResult:
    """Metrics and curves of one detector's score grid against deposits.

    ``metrics`` is JSON-able (NaN → None). Curves are float64 arrays; the P-A and success
    curves are ``None`` when area metrics were refused (geographic CRS).

    Made by :func:`geogan.evaluation.stage.evaluate_scores` (and :func:`~geogan.evaluation.stage.evaluate`,
    :func:`~geogan.evaluation.stage.evaluate_many`); each parameter is also an attribute of
    the same name.

    Parameters
    ----------
    name
        Detector label (table row, legend).
    metrics
        Every number of the evaluation (``roc_auc``, ``negsamp_auc_mean``, ``pa_nd``,
        ``success_rate_auc``, ``top5_deposit_pct``, counts, the CRS, ``class_breaks``,
        ``notes``, ...), as written to ``metrics.json``.
    roc_fpr, roc_tpr
        The ROC curve over all valid cells.
    pa_threshold, pa_prediction_rate, pa_area_pct
        The P-A curves: thresholds, Pr (% of deposits in cells scoring ≥ t) and Oa (% of
        the valid area scoring ≥ t).
    success_area_pct, success_deposit_pct
        The success-rate curve at the thresholds (cumulative % deposits against % area).
    capture_area_pct, capture_deposit_pct
        The same curve exactly, a step per deposit score.
    deposit_location
        Where each deposit fell on the grid (:class:`geogan.evaluation.locate.DepositLocation`).
    deposit_table
        One row per deposit (see the attribute below).

    Raises
    ------
    EvaluationError
        Not raised by the record, which checks nothing:
        :func:`~geogan.evaluation.stage.evaluate_scores`, which makes it, raises it when no
        deposit lies on a valid cell or the grid has no valid cells.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from geogan import Deposits, evaluate_scores
    >>> scores = xr.DataArray(
    ...     np.arange(1, 11, dtype="float32").reshape(2, 5), dims=("y", "x"),
    ...     coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0, 350.0, 450.0]},
    ... ).rio.write_crs("EPSG:32650")
    >>> deps = Deposits.from_xy([450.0, 350.0], [50.0, 50.0], crs="EPSG:32650")
    >>> result = evaluate_scores(scores, deps, min_dist_km=0.1, runs=2, name="demo")
    >>> result.name, result.metrics["roc_auc"], result.metrics["top5_deposit_pct"]
    ('demo', 1.0, 50.0)
    >>> sorted(result.curves())[:3]
    ['capture_area_pct', 'capture_deposit_pct', 'pa_area_pct']
    >>> [(row["id"], row["status"], row["score"]) for row in result.deposit_table]
    [('1', 'used', 10.0), ('2', 'used', 9.0)]
    """

    name: str
    metrics: dict
    roc_fpr: np.ndarray
    roc_tpr: np.ndarray
    pa_threshold: np.ndarray | None = None
    pa_prediction_rate: np.ndarray | None = None
    pa_area_pct: np.ndarray | None = None
    success_area_pct: np.ndarray | None = None
    success_deposit_pct: np.ndarray | None = None
    capture_area_pct: np.ndarray | None = None
    capture_deposit_pct: np.ndarray | None = None
    deposit_location: DepositLocation | None = field(default=None, repr=False)
    #: One row per deposit (file order): ``id``, ``x``, ``y`` (grid CRS), ``status`` (``used``,
    #: ``outside``, ``no data``), ``score``, ``percentile`` and ``class`` (None unless used),
    #: ``type`` when the table has a type column, and ``drivers``/``contributions`` when
    #: contributions were added (:func:`geogan.evaluation.stage.add_deposit_drivers`).
    deposit_table: list[dict] | None = field(default=None, repr=False)

    def curves(self) -> dict:
        """The curves as JSON-able lists (absent curves omitted)."""
        names = (
            "roc_fpr",
            "roc_tpr",
            "pa_threshold",
            "pa_prediction_rate",
            "pa_area_pct",
            "success_area_pct",
            "success_deposit_pct",
            "capture_area_pct",
            "capture_deposit_pct",
        )
        return {k: getattr(self, k).tolist() for k in names if getattr(self, k) is not None}


def to_jsonable(value):
    """``value`` as JSON types for ``metrics.json``: numpy scalars as Python numbers, tuples as
    lists, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def deposit_table(deposits: Deposits, location: DepositLocation, values: np.ndarray, valid_sorted: np.ndarray,
                  breaks: dict) -> list[dict]:
    """One row per deposit (see :attr:`EvaluationResult.deposit_table`): ``deposits`` in the
    grid CRS, where they fall (``location``), the grid's ``values``, its valid scores sorted
    ascending (``valid_sorted``, for the percentiles) and the map's class ``breaks``
    (:func:`geogan.evaluation.gis.class_breaks`)."""
    labels = class_labels()
    lower = {str(c).lower(): c for c in deposits.attributes.columns}
    type_col = next((lower[c] for c in TYPE_COLUMNS if c in lower), None)
    ids = deposits.ids.tolist()
    used = location.used
    scores = np.zeros(len(deposits), dtype=valid_sorted.dtype)
    scores[used] = values[location.row[used], location.col[used]]
    # one search for every deposit, in the scores' own dtype (a float64 needle would make
    # numpy cast the whole sorted grid, once per deposit: 90 s for 4,800 deposits on 30 M cells)
    ranks = np.searchsorted(valid_sorted, scores, side="right")
    rows = []
    for k in range(len(deposits)):
        row = {"id": ids[k], "x": float(deposits.x[k]), "y": float(deposits.y[k]), "status": "used",
               "score": None, "percentile": None, "class": None}
        if type_col is not None:
            row["type"] = str(deposits.attributes[type_col].iloc[k])
        if location.outside[k]:
            row["status"] = "outside"
        elif location.on_nodata[k]:
            row["status"] = "no data"
        else:
            score = float(scores[k])
            row["score"] = score
            row["percentile"] = float(100.0 * ranks[k] / valid_sorted.size)
            row["class"] = labels[int(classify(np.array([score]), breaks)[0])]
        rows.append(row)
    return rows

