"""Tests for geogan.evaluation.metrics: arrays in, numbers and curves out (ROC AUC over all cells,
negative sampling, the samples' benchmark AUC; the area metrics: test_area.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from geogan.errors import EvaluationError
from geogan.evaluation.deposits import Deposits
from geogan.evaluation.metrics import (
    negative_sampling_auc,
    roc_auc_all_cells,
    sample_benchmark_auc,
    sample_negative_cells,
)
from geogan.evaluation.single import evaluate_scores
from tests.helpers.scores import CRS, cell_xy, make_scores


# --------------------------------------------------------------------------- all-cells AUC


def test_roc_auc_all_cells_equals_sklearn_with_ties_and_its_curve_integrates_to_it():
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=500), 1)  # 0.1 steps: many ties, positives tied with negatives
    positive = np.zeros(values.size, bool)
    positive[rng.choice(values.size, 25, replace=False)] = True
    auc, fpr, tpr = roc_auc_all_cells(np.sort(values), values[positive])
    assert auc == pytest.approx(roc_auc_score(positive, values), abs=1e-12)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc, abs=1e-12)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_roc_auc_all_cells_by_hand_and_its_refusals():
    # positives 5 and 3 among 1..5, negatives 1, 2, 4: 5 beats all three, 3 beats two
    assert roc_auc_all_cells(np.arange(1.0, 6.0), np.array([5.0, 3.0]))[0] == pytest.approx(5 / 6)
    # a positive tied with a negative counts half
    assert roc_auc_all_cells(np.array([1.0, 2.0, 2.0]), np.array([2.0]))[0] == pytest.approx(0.75)
    with pytest.raises(EvaluationError, match=r"got 0 positive, 3 negative"):
        roc_auc_all_cells(np.arange(3.0), np.array([]))
    with pytest.raises(EvaluationError, match=r"got 2 positive, 0 negative"):
        roc_auc_all_cells(np.array([1.0, 2.0]), np.array([1.0, 2.0]))


# --------------------------------------------------------------------------- negative sampling


def test_negative_sampling_options_are_checked():
    scores = make_scores(np.arange(9.0).reshape(3, 3))
    deposits = Deposits.from_xy(*cell_xy(np.array([1]), np.array([1])), crs=CRS)
    with pytest.raises(EvaluationError, match=r"runs must be ≥ 1 \(got 0\)"):
        negative_sampling_auc(scores, deposits, runs=0)
    with pytest.raises(EvaluationError, match=r"min_dist_km must be ≥ 0 \(got -1"):
        negative_sampling_auc(scores, deposits, min_dist_km=-1.0)


def test_negative_cells_in_a_geographic_crs_keep_a_great_circle_distance():
    # 0.01° cells at 60° N: a cell is ~0.56 km wide and ~1.1 km tall
    scores = make_scores(np.ones((40, 40)), crs="EPSG:4326", cell=0.01, x0=25.0, y0=60.2)
    lon, lat = cell_xy(np.array([20]), np.array([20]), cell=0.01, x0=25.0, y0=60.2)
    deposits = Deposits.from_xy(lon, lat, crs="EPSG:4326")
    rows, cols = sample_negative_cells(scores, deposits, 300, min_dist_km=3.0, rng=np.random.default_rng(1))
    assert rows.size == 300
    cx, cy = cell_xy(rows, cols, cell=0.01, x0=25.0, y0=60.2)
    phi1, phi2 = np.radians(lat[0]), np.radians(cy)
    a = np.sin((phi2 - phi1) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(np.radians(cx - lon[0]) / 2) ** 2
    km = 2 * 6371.0088 * np.arcsin(np.sqrt(a))
    assert km.min() >= 3.0 and km.min() < 3.6  # kept out of the disc, and drawn right up to its edge


# --------------------------------------------------------------------------- the benchmark AUC at the samples


def test_sample_benchmark_auc_reads_the_nearest_sample_and_draws_far_negatives():
    xy = np.array([[0.0, 0.0], [50.0, 0.0], [9000.0, 0.0], [9050.0, 0.0], [20000.0, 0.0]])
    scores = np.array([5.0, 4.0, 3.0, 1.0, 1.0])
    deposits = np.array([[10.0, 0.0], [8990.0, 0.0]])  # nearest samples: 0 (score 5) and 2 (score 3)
    r = sample_benchmark_auc(xy, scores, deposits, min_dist_km=5.0, runs=4)
    assert r["n_positives"] == 2 and r["n_distinct_positives"] == 2 and r["n_samples"] == 5
    assert r["n_eligible"] == 1 and not r["all_samples_negative"]  # only the sample 11 km from both
    assert r["aucs"] == [1.0] * 4 and r["auc_mean"] == 1.0 and r["auc_std"] == 0.0
    assert (r["min_dist_km"], r["runs"], r["seed"]) == (5.0, 4, 42)
    # no sample that far: every sample may be a negative, and the result says so
    near = sample_benchmark_auc(xy, scores, deposits, min_dist_km=50.0, runs=2, seed=0)
    assert near["all_samples_negative"] and near["n_eligible"] == 5 and near["auc_mean"] < 1.0
    # two deposits sharing a nearest sample repeat its score; NaN-scored samples are dropped first
    shared = sample_benchmark_auc(xy, np.r_[scores[:4], np.nan], [[0.0, 1.0], [1.0, 0.0]], min_dist_km=1.0,
                                  runs=1)
    assert shared["n_positives"] == 2 and shared["n_distinct_positives"] == 1 and shared["n_samples"] == 4


def test_sample_benchmark_auc_refuses_bad_inputs():
    xy = np.array([[0.0, 0.0], [1.0, 0.0]])
    with pytest.raises(EvaluationError, match="one score per sample"):
        sample_benchmark_auc(xy, np.array([1.0]), [[0.0, 0.0]])
    with pytest.raises(EvaluationError, match=r"need scored samples and deposits \(got 2 samples, 0 deposits\)"):
        sample_benchmark_auc(xy, np.array([1.0, 2.0]), np.empty((0, 2)))
    with pytest.raises(EvaluationError, match=r"runs must be ≥ 1"):
        sample_benchmark_auc(xy, np.array([1.0, 2.0]), [[0.0, 0.0]], runs=0)


def test_negative_sampling_respects_min_dist_and_is_seeded():
    rng = np.random.default_rng(0)
    scores = make_scores(rng.random((60, 60)))  # 6 × 6 km
    x, y = cell_xy(np.array([10, 30, 50]), np.array([10, 45, 20]))
    deposits = Deposits.from_xy(x, y, crs=CRS)
    rows, cols = sample_negative_cells(scores, deposits, 200, min_dist_km=1.5, rng=np.random.default_rng(3))
    assert rows.size == 200 and np.unique(rows * 60 + cols).size == 200
    cx, cy = cell_xy(rows, cols)
    dist_km = np.hypot(cx[:, None] - x[None], cy[:, None] - y[None]).min(axis=1) / 1000
    assert dist_km.min() >= 1.5

    a = negative_sampling_auc(scores, deposits, min_dist_km=1.5, runs=5, seed=7)
    b = negative_sampling_auc(scores, deposits, min_dist_km=1.5, runs=5, seed=7)
    c = negative_sampling_auc(scores, deposits, min_dist_km=1.5, runs=5, seed=8)
    assert a == b and a["negsamp_aucs"] != c["negsamp_aucs"]
    assert len(a["negsamp_aucs"]) == 5
    assert a["negsamp_auc_mean"] == pytest.approx(np.mean(a["negsamp_aucs"]))
    assert a["negsamp_n_positives"] == a["negsamp_n_negatives"] == 3


def test_negative_sampling_skips_nodata_and_reports_shortage():
    values = np.full((20, 20), np.nan)
    values[:2, :2] = 1.0  # four valid cells far from the deposit …
    values[19, 19] = 2.0  # … and the deposit's own cell
    scores = make_scores(values)
    deposits = Deposits.from_xy(*cell_xy(np.array([19] * 6), np.array([19] * 6)), crs=CRS)
    rows, cols = sample_negative_cells(scores, deposits, 6, min_dist_km=1.0, rng=np.random.default_rng(0))
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    m = evaluate_scores(scores, deposits, runs=2, min_dist_km=1.0).metrics
    assert m["negsamp_n_negatives"] == 4 and m["negsamp_auc_mean"] == 1.0
    assert any("only 4 valid cells" in n for n in m["notes"])
    m = evaluate_scores(scores, deposits, runs=2, min_dist_km=100.0).metrics
    assert m["negsamp_auc_mean"] is None and any("not computed" in n for n in m["notes"])
