"""The evaluation's result record: :class:`EvaluationResult`, its per-deposit table and ``metrics.json`` values.

What lives here: the record one evaluated score grid makes (its metrics, curves and where
each deposit fell), the per-deposit table (:func:`deposit_table`) and :func:`to_jsonable`
for ``metrics.json``. What does not: computing the metrics (:mod:`geogan.evaluation.metrics`,
:mod:`geogan.evaluation.area`), evaluating a grid (:mod:`geogan.evaluation.single`) and
writing the report (:mod:`geogan.evaluation.report`). Nothing here reads or writes files.

>>> import numpy as np
>>> to_jsonable({"auc": np.float32(0.5), "breaks": (1, float("nan"))})
{'auc': 0.5, 'breaks': [1, None]}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geogan.evaluation.deposits import TYPE_COLUMNS, Deposits
from geogan.evaluation.gis import class_labels, classify
from geogan.evaluation.locate import DepositLocation

__all__ = ["EvaluationResult", "deposit_table", "to_jsonable"]


@dataclass
class EvaluationResult:
    """Metrics and curves of one detector's score grid against deposits.

    ``metrics`` is JSON-able (NaN → None). Curves are float64 arrays; the P-A and success
    curves are ``None`` when area metrics were refused (geographic CRS).

    Made by :func:`geogan.evaluation.single.evaluate_scores` (and :func:`~geogan.evaluation.stage.evaluate`,
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
        :func:`~geogan.evaluation.single.evaluate_scores`, which makes it, raises it when no
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
    #: contributions were added (:func:`geogan.evaluation.single.add_deposit_drivers`).
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
        if type_col is not None:  # a blank type stays blank (None), not the text "nan"
            kind = deposits.attributes[type_col].iloc[k]
            row["type"] = None if pd.isna(kind) else str(kind)
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
