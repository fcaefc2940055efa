"""Tests for geogan.evaluation.single: one score grid in memory against deposits, every metric
into one result (the metrics themselves: test_metrics.py and test_area.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from geogan.errors import EvaluationError
from geogan.evaluation.deposits import Deposits, read_deposits
from geogan.evaluation.single import evaluate_scores
from tests.helpers.scores import CRS, X0, Y0, cell_xy, make_scores


def test_roc_auc_equals_sklearn_with_ties_duplicates_outside_and_nodata():
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(size=(30, 40)), 1)  # 0.1 steps: many ties
    values[rng.random(values.shape) < 0.1] = np.nan
    scores = make_scores(values)
    rows = rng.integers(0, 30, 40)
    cols = rng.integers(0, 40, 40)
    x, y = cell_xy(rows, cols, dx=rng.random(40), dy=rng.random(40))
    # two more deposits in the first deposit's cell, plus two outside the grid
    x2, y2 = cell_xy([rows[0]] * 2, [cols[0]] * 2, dx=np.array([0.1, 0.9]), dy=np.array([0.2, 0.8]))
    deposits = Deposits.from_xy(
        np.r_[x, x2, X0 - 50.0, X0 + 1e6], np.r_[y, y2, Y0 - 50.0, Y0], crs=CRS
    )
    result = evaluate_scores(scores, deposits, runs=3, min_dist_km=0.3)
    m = result.metrics

    valid = ~np.isnan(values)
    positive = np.zeros_like(valid)
    on_nodata = 0
    for r, c in zip(np.r_[rows, [rows[0]] * 2], np.r_[cols, [cols[0]] * 2], strict=True):
        if valid[r, c]:
            positive[r, c] = True
        else:
            on_nodata += 1
    expected = roc_auc_score(positive[valid].astype(int), values[valid])
    assert m["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert m["n_outside"] == 2
    assert m["n_on_nodata"] == on_nodata > 0
    assert m["n_deposits"] == 44
    assert m["n_deposits_used"] == 42 - on_nodata
    assert m["n_positive_cells"] == positive.sum() < m["n_deposits_used"]
    assert m["n_valid_cells"] == valid.sum()
    # the plotted curve integrates to the same AUC
    assert np.trapezoid(result.roc_tpr, result.roc_fpr) == pytest.approx(expected, abs=1e-12)
    assert np.all(np.diff(result.roc_fpr) >= 0) and np.all(np.diff(result.roc_tpr) >= 0)


def test_no_deposit_on_valid_cells_is_an_error_with_counts():
    scores = make_scores(np.ones((3, 3)))
    deposits = Deposits.from_xy([0.0], [0.0], crs=CRS)
    with pytest.raises(EvaluationError, match=r"none of the 1 deposits .*1 outside the grid"):
        evaluate_scores(scores, deposits, runs=1)


def test_degrees_in_an_assumed_projected_crs_get_a_hint(tmp_path):
    p = tmp_path / "sites.csv"
    p.write_text("X,Y,name\n115.1,26.2,a\n115.2,26.3,b\n")
    deposits = read_deposits(p, crs=CRS)  # no CRS named: the grid's is assumed
    assert deposits.source_crs_assumed
    with pytest.raises(EvaluationError, match=r"sites\.csv: none of the 2 deposits .*look like degrees.*EPSG:4326"):
        evaluate_scores(make_scores(np.ones((3, 3))), deposits, runs=1)
