"""Area metrics of a score grid: the P-A curves, the success-rate curve and the top-5 % shares.

What lives here: :func:`prediction_area`, the **P-A plot** as :mod:`geogan.evaluation.metrics`
defines it (Yousefi & Carranza 2015: the prediction rate ``Pr`` against the area ``Oa`` over
score thresholds, their intersection and ``Nd`` there), the success-rate curve and its AUC,
and the deposit share of the top 5 % of cells. What does not: the AUCs
(:mod:`geogan.evaluation.metrics`) and the record that holds the results
(:mod:`geogan.evaluation.result`). Nothing here reads or writes files.

>>> import numpy as np
>>> prediction_area(np.arange(1.0, 11.0), np.array([10.0, 9.0]))["top5_deposit_pct"]
50.0
"""

from __future__ import annotations

import math

import numpy as np

from geogan.errors import EvaluationError
from geogan.gridspec import parse_crs

__all__ = ["prediction_area"]

_TOP_FRACTION = 0.05
_PA_LEVELS = np.linspace(0.0, 1.0, 1001)


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
