"""Tests for geogan.evaluation.area: the P-A curves and their intersection, the success-rate curve
and the top-5 % shares; refused for a geographic CRS."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geogan.errors import EvaluationError
from geogan.evaluation.area import prediction_area
from geogan.evaluation.deposits import Deposits
from geogan.evaluation.single import evaluate_scores
from tests.helpers.scores import CRS, cell_xy, make_scores


def test_prediction_area_by_hand_and_its_refusals():
    # ten cells scoring 1..10, deposits on the 10 and the 9: Pr(t) = 100 up to t = 9, 50 at 10;
    # Oa(t) = (11 - t)·10 %. Pr - (100 - Oa) is +20 at t = 9 and -40 at 10: the curves cross a
    # third of the way, at Pr* = 100 - 50/3, Oa* = 20 - 10/3, Nd = Pr*/Oa* = 5
    pa = prediction_area(np.arange(1.0, 11.0), np.array([10.0, 9.0]))
    assert pa["pa_threshold"].tolist() == list(range(1, 11))
    assert pa["pa_prediction_rate"].tolist() == [100.0] * 9 + [50.0]
    assert pa["pa_intersection_threshold"] == pytest.approx(9 + 1 / 3)
    assert pa["pa_intersection_prediction_rate_pct"] == pytest.approx(100 - 50 / 3)
    assert pa["pa_intersection_area_pct"] == pytest.approx(20 - 10 / 3)
    assert math.isclose(pa["pa_intersection_prediction_rate_pct"] + pa["pa_intersection_area_pct"], 100.0)
    assert pa["pa_nd"] == pytest.approx(5.0)
    # success rate (0,0), (10,50), (20,100) … (100,100): 250 + 750 + 8·1000 = 9000 ‰ of the square
    assert pa["success_rate_auc"] == pytest.approx(0.9)
    # the top 5 % of ten cells is the best cell (10 % of the area), holding one deposit of two
    assert (pa["top5_threshold"], pa["top5_area_pct"], pa["top5_deposit_pct"]) == (10.0, 10.0, 50.0)
    with pytest.raises(EvaluationError, match="needs valid cells and deposits"):
        prediction_area(np.arange(5.0), np.array([]))


def test_pa_intersection_hand_case():
    # scores 1..10, one cell each; deposits on the cells scoring 10, 9, 8 and 3.
    # Oa(t) = (11 - t)·10 %, Pr(8) = 75, Pr(9) = 50 → Pr − (100 − Oa) = +5 at t=8, −30 at t=9
    # → t* = 8 + 5/35, Pr* = 75 − 25/7, Oa* = 100 − Pr*.
    scores = make_scores(np.arange(1, 11).reshape(2, 5))
    flat_cells = np.array([9, 8, 7, 2])  # score = index + 1
    x, y = cell_xy(flat_cells // 5, flat_cells % 5)
    result = evaluate_scores(scores, Deposits.from_xy(x, y, crs=CRS), runs=1, min_dist_km=0.0)
    m = result.metrics
    pr_star = 75 - 25 / 7
    assert result.pa_threshold.tolist() == list(range(1, 11))
    assert result.pa_prediction_rate.tolist() == [100, 100, 100, 75, 75, 75, 75, 75, 50, 25]
    assert result.pa_area_pct == pytest.approx(np.arange(100, 0, -10))
    assert m["pa_intersection_threshold"] == pytest.approx(8 + 1 / 7)
    assert m["pa_intersection_prediction_rate_pct"] == pytest.approx(pr_star)
    assert m["pa_intersection_area_pct"] == pytest.approx(100 - pr_star)
    assert m["pa_nd"] == pytest.approx(pr_star / (100 - pr_star))
    # success rate: (0,0),(10,25),(20,50),(30,75),...,(70,75),(80,100),(90,100),(100,100)
    assert result.success_area_pct.tolist() == pytest.approx([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    # trapezoids × 10: 12.5 + 37.5 + 62.5 + 4·75 + 87.5 + 2·100 = 700
    assert m["success_rate_auc"] == pytest.approx(0.7)
    # all-cells AUC by hand: each deposit cell vs the 6 other cells
    assert m["roc_auc"] == pytest.approx((6 + 6 + 6 + 2) / 24)
    # the exact capture curve (success.png): a step per deposit cell, just above then at its score
    assert result.capture_area_pct.tolist() == pytest.approx([0, 0, 10, 10, 20, 20, 30, 70, 80, 100])
    assert result.capture_deposit_pct.tolist() == pytest.approx([0, 0, 25, 25, 50, 50, 75, 75, 100, 100])
    # the map's classes, over all valid cells (np.percentile of 1..10)
    assert m["class_breaks"] == pytest.approx({"P50": 5.5, "P75": 7.75, "P90": 9.1, "P95": 9.55, "P99": 9.91})
    table = result.deposit_table
    assert [(r["score"], r["percentile"], r["class"]) for r in table] == [
        (10.0, 100.0, "≥ P99"), (9.0, 90.0, "P75–P90"), (8.0, 80.0, "P75–P90"), (3.0, 30.0, "< P50")]
    assert [r["id"] for r in table] == ["1", "2", "3", "4"] and {r["status"] for r in table} == {"used"}


def test_top5_shares():
    values = np.arange(1, 101, dtype="float32").reshape(10, 10)
    flat = np.array([99, 96, 49])  # scores 100, 97, 50
    pa = prediction_area(np.sort(values.ravel()), values.ravel()[flat], crs=CRS)
    assert pa["top5_area_pct"] == pytest.approx(5.0)
    assert pa["top5_deposit_pct"] == pytest.approx(200 / 3)
    assert pa["top5_threshold"] == 96.0


def test_geographic_crs_refuses_area_metrics_but_computes_aucs():
    scores = make_scores(np.arange(20.0).reshape(4, 5), crs="EPSG:4326", cell=0.01, x0=115.0, y0=26.0)
    deposits = Deposits.from_xy([115.045], [25.965], crs="EPSG:4326")  # row 3, col 4
    result = evaluate_scores(scores, deposits, runs=2, min_dist_km=1.0)
    m = result.metrics
    assert m["roc_auc"] == pytest.approx(1.0)
    assert m["negsamp_auc_mean"] == pytest.approx(1.0)
    assert "need a projected CRS" in m["area_metrics"] and "EPSG:4326" in m["area_metrics"]
    assert "pa_nd" not in m and result.pa_threshold is None
    with pytest.raises(EvaluationError, match=r"area metrics .* need a projected CRS .*EPSG:4326 \(geographic, degrees\)"):
        prediction_area(np.arange(5.0), np.array([4.0]), crs="EPSG:4326")
