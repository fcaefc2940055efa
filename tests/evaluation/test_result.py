"""Tests for geogan.evaluation.result: the EvaluationResult record (its fields and curves), the
per-deposit table and the metrics.json values (the evaluation that fills them: test_single.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from geogan.evaluation.deposits import Deposits
from geogan.evaluation.gis import class_breaks
from geogan.evaluation.locate import locate_deposits
from geogan.evaluation.result import EvaluationResult, deposit_table, to_jsonable
from geogan.evaluation.single import evaluate_scores
from tests.helpers.scores import CRS, X0, Y0, cell_xy, make_scores

CURVES = ("roc_fpr", "roc_tpr", "pa_threshold", "pa_prediction_rate", "pa_area_pct", "success_area_pct",
          "success_deposit_pct", "capture_area_pct", "capture_deposit_pct")


def test_a_bare_record_has_only_its_roc_curve():
    result = EvaluationResult("alad", {"roc_auc": 0.75}, np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 1.0]))
    assert result.name == "alad" and result.metrics == {"roc_auc": 0.75}
    assert all(getattr(result, k) is None for k in CURVES[2:])
    assert result.deposit_location is None and result.deposit_table is None
    assert result.curves() == {"roc_fpr": [0.0, 0.5, 1.0], "roc_tpr": [0.0, 1.0, 1.0]}
    assert all(type(v) is float for v in result.curves()["roc_tpr"])  # Python floats, not numpy's
    result.deposit_table = [{"id": "1"}]
    assert "deposit_table" not in repr(result) and "deposit_location" not in repr(result) and "roc_fpr" in repr(result)


def test_an_evaluated_grid_fills_every_curve_and_json_able_metrics():
    values = np.arange(1.0, 101.0).reshape(10, 10)
    values[0, 0] = np.nan
    deposits = Deposits.from_xy(*cell_xy([9, 9, 0], [9, 8, 0]), crs=CRS)  # the two top cells, one on no-data
    result = evaluate_scores(make_scores(values), deposits, runs=2, min_dist_km=0.15, name="demo")
    curves = result.curves()
    assert list(curves) == list(CURVES)
    for k in CURVES:
        np.testing.assert_array_equal(curves[k], getattr(result, k))
    assert curves["capture_area_pct"][0] == 0.0 and curves["capture_deposit_pct"][-1] == 100.0
    assert result.metrics["roc_auc"] == 1.0 and result.metrics["n_on_nodata"] == 1
    assert json.loads(json.dumps(result.metrics, allow_nan=False)) == result.metrics
    assert json.loads(json.dumps(curves, allow_nan=False)) == curves
    assert result.deposit_location.used.tolist() == [True, True, False]


def test_a_geographic_grid_has_no_area_curves():
    scores = make_scores(np.arange(30.0).reshape(5, 6), crs="EPSG:4326", cell=0.01, x0=115.0, y0=26.0)
    result = evaluate_scores(scores, Deposits.from_xy([115.055], [25.955], crs="EPSG:4326"), runs=1, min_dist_km=1.0)
    assert list(result.curves()) == ["roc_fpr", "roc_tpr"]
    assert "projected CRS" in result.metrics["area_metrics"] and result.metrics["notes"]


def test_to_jsonable_makes_python_types_and_none_for_non_finite_floats():
    value = {
        1: np.float32(0.5),
        "n": np.int64(7),
        "ok": np.bool_(True),
        "breaks": (1, float("nan"), np.float64(np.inf), -math.inf),
        "nested": [{"auc": np.float64(0.25)}, ("a", None)],
    }
    out = to_jsonable(value)
    assert out == {"1": 0.5, "n": 7, "ok": True, "breaks": [1, None, None, None],
                   "nested": [{"auc": 0.25}, ["a", None]]}
    assert type(out["1"]) is float and type(out["n"]) is int and type(out["ok"]) is bool
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert value["breaks"][1] != value["breaks"][1]  # the input is left as it was


def test_deposit_table_rows_status_score_percentile_and_class():
    values = np.arange(1.0, 21.0).reshape(4, 5)  # 1 … 20
    values[0, 0] = np.nan  # 19 valid cells, 2 … 20
    grid = make_scores(values)
    x, y = cell_xy([3, 2, 0, 1], [4, 0, 0, 2])
    deposits = Deposits.from_xy(np.r_[x, X0 - 50.0], np.r_[y, Y0 - 50.0], crs=CRS, attributes=pd.DataFrame(
        {"Site_Code": ["a", "b", "c", "d", "e"], "Deposit_Type": ["W", "Sn", "Pb", "Au", "Cu"]}))
    location = locate_deposits(grid, deposits)
    valid_sorted = np.sort(values[np.isfinite(values)]).astype("float32")
    breaks = class_breaks(values)
    rows = deposit_table(deposits, location, values.astype("float32"), valid_sorted, breaks)

    assert [r["id"] for r in rows] == ["a", "b", "c", "d", "e"]  # the id column, file order
    assert [r["type"] for r in rows] == ["W", "Sn", "Pb", "Au", "Cu"]  # the type column, any case
    assert [r["status"] for r in rows] == ["used", "used", "no data", "used", "outside"]
    assert [r["score"] for r in rows] == [20.0, 11.0, None, 8.0, None]
    # % of valid cells scoring at or below the deposit's: 19/19, 10/19, 7/19
    assert rows[0]["percentile"] == 100.0 and rows[1]["percentile"] == pytest.approx(100 * 10 / 19)
    assert rows[3]["percentile"] == pytest.approx(100 * 7 / 19)
    assert [r["class"] for r in rows] == ["≥ P99", "P50–P75", None, "< P50", None]
    assert rows[2]["percentile"] is None and rows[4]["class"] is None
    assert (rows[0]["x"], rows[0]["y"]) == (x[0], y[0]) and type(rows[0]["x"]) is float

    plain = Deposits.from_xy(x[:2], y[:2], crs=CRS)
    rows = deposit_table(plain, locate_deposits(grid, plain), values.astype("float32"), valid_sorted, breaks)
    assert [r["id"] for r in rows] == ["1", "2"] and all("type" not in r for r in rows)  # row numbers, no type


def test_deposit_table_leaves_a_blank_type_blank():
    values = np.arange(1.0, 21.0).reshape(4, 5)
    grid = make_scores(values)
    x, y = cell_xy([0, 1], [0, 1])
    deposits = Deposits.from_xy(x, y, crs=CRS, attributes=pd.DataFrame({"type": ["W", np.nan]}))
    valid_sorted = np.sort(values.ravel()).astype("float32")
    rows = deposit_table(deposits, locate_deposits(grid, deposits), values.astype("float32"), valid_sorted,
                         class_breaks(values))
    assert [r["type"] for r in rows] == ["W", None]  # not the text "nan"
