"""Tests for geogan.training.impute: the Gaussian conditional-mean imputer (fit, impute, its state
saved and read back, refused states and inputs)."""

import json
import re

import numpy as np
import pytest

from geogan.errors import ModelError
from geogan.training.impute import GaussianImputer


def gaussian(n=4000, seed=0):
    """Three correlated Gaussian columns with known mean and covariance."""
    mean = np.array([1.0, -2.0, 0.5])
    cov = np.array([[1.0, 0.8, 0.3], [0.8, 2.0, -0.4], [0.3, -0.4, 0.5]])
    return np.random.default_rng(seed).multivariate_normal(mean, cov, size=n), mean, cov


def conditional_mean(mean, cov, x, missing):
    """μ_M + Σ_MO Σ_OO⁻¹ (x_O − μ_O), written out for one row."""
    m = np.array(missing, dtype=int)
    o = np.setdiff1d(np.arange(len(mean)), m)
    out = x.copy()
    out[m] = mean[m] + cov[np.ix_(m, o)] @ np.linalg.inv(cov[np.ix_(o, o)]) @ (x[o] - mean[o])
    return out


def test_fit_takes_the_mean_and_covariance_of_the_complete_rows():
    X, _, _ = gaussian()
    with_gaps = np.vstack([X, [[np.nan, 100.0, 100.0], [100.0, np.inf, 100.0]]])  # incomplete rows are left out
    imp = GaussianImputer(log=False, ridge=0.0).fit(with_gaps)
    np.testing.assert_allclose(imp.mean_, X.mean(axis=0))
    np.testing.assert_allclose(imp.cov_, np.cov(X, rowvar=False))
    ridged = GaussianImputer(log=False, ridge=0.1).fit(X)
    bump = 0.1 * np.mean(np.diag(np.cov(X, rowvar=False)))  # relative to the mean variance, on the diagonal only
    np.testing.assert_allclose(ridged.cov_ - imp.cov_, bump * np.eye(3), atol=1e-12)


def test_log_imputer_fits_log_concentrations_and_fills_positive_values():
    X, _, _ = gaussian()
    conc = np.exp(X)
    imp = GaussianImputer().fit(conc)
    np.testing.assert_allclose(imp.mean_, X.mean(axis=0))
    row = np.array([[conc[0, 0], np.nan, conc[0, 2]]])
    filled = imp.impute(row, min_present=1)
    expected = conditional_mean(imp.mean_, imp.cov_, X[0], [1])
    assert filled[0, 1] > 0
    np.testing.assert_allclose(np.log(filled[0]), expected)
    np.testing.assert_array_equal(filled[0, [0, 2]], row[0, [0, 2]])  # present values kept exactly


def test_each_missing_pattern_gets_its_own_conditional_mean():
    X, _, _ = gaussian()
    imp = GaussianImputer(log=False).fit(X)
    rows = X[:6].copy()
    missing = [[0], [1], [2], [0, 1], [1, 2], []]
    for r, m in enumerate(missing):
        rows[r, m] = np.nan
    filled = imp.impute(rows, min_present=1)
    for r, m in enumerate(missing):
        np.testing.assert_allclose(filled[r], conditional_mean(imp.mean_, imp.cov_, np.where(np.isnan(rows[r]), 0,
                                                                                              rows[r]), m))
    np.testing.assert_array_equal(filled[5], X[5])  # a complete row is unchanged
    # the regression recovers the known Gaussian's: the fitted parameters are close to the true ones
    _, mean, cov = gaussian()
    truth = conditional_mean(mean, cov, np.array([2.0, 0.0, 1.0]), [1])
    got = imp.impute(np.array([[2.0, np.nan, 1.0]]), min_present=2)
    np.testing.assert_allclose(got[0], truth, atol=0.1)


def test_rows_below_min_present_stay_incomplete_and_the_input_is_not_changed():
    X, _, _ = gaussian()
    imp = GaussianImputer(log=False).fit(X)
    rows = np.array([[1.0, np.nan, np.nan], [np.nan, np.nan, np.nan], [1.0, 2.0, np.nan]])
    copy = rows.copy()
    filled = imp.impute(rows, min_present=2)
    np.testing.assert_array_equal(filled[:2], rows[:2])  # one and zero values present: left unscored
    assert np.isfinite(filled[2]).all()
    np.testing.assert_array_equal(rows, copy)
    # min_present below 1 is 1: a row without any value is never filled with the mean
    filled = imp.impute(rows, min_present=0)
    assert np.isfinite(filled[0]).all() and np.isnan(filled[1]).all()


def test_collinear_elements_still_impute():
    X, _, _ = gaussian()
    dup = np.hstack([X, X[:, :1]])  # the same analysis twice: a singular covariance without the ridge
    imp = GaussianImputer(log=False).fit(dup)
    filled = imp.impute(np.array([[np.nan, 0.0, 0.0, 1.5]]), min_present=1)
    assert filled[0, 0] == pytest.approx(1.5, abs=1e-3)  # its twin's value


def test_the_state_round_trips_through_json():
    X, _, _ = gaussian()
    imp = GaussianImputer(ridge=1e-3).fit(np.exp(X))
    state = json.loads(json.dumps(imp.to_dict()))
    assert set(state) == {"log", "ridge", "mean", "cov"} and state["log"] is True and state["ridge"] == 1e-3
    back = GaussianImputer.from_dict(state)
    rows = np.exp(X[:20])
    rows[::2, 1] = np.nan
    np.testing.assert_array_equal(back.impute(rows, min_present=1), imp.impute(rows, min_present=1))


def test_too_few_complete_rows_and_an_unfitted_imputer_are_refused():
    with pytest.raises(ModelError, match="imputation needs at least two complete training cells"):
        GaussianImputer().fit(np.array([[1.0, 2.0], [np.nan, 1.0], [0.0, 1.0]]))  # log(0) is not finite
    imp = GaussianImputer()
    with pytest.raises(ModelError, match="the imputer is not fitted"):
        imp.impute(np.ones((2, 2)), min_present=1)
    with pytest.raises(ModelError, match="the imputer is not fitted"):
        imp.to_dict()


@pytest.mark.parametrize("X", [np.ones((2, 2)), np.ones(3), np.ones((1, 4))], ids=["two-columns", "1-d", "four"])
def test_rows_of_another_width_are_refused(X):
    imp = GaussianImputer(log=False).fit(gaussian()[0])
    with pytest.raises(ModelError, match=re.escape(f"expected 3 columns, got shape {X.shape}")):
        imp.impute(X, min_present=1)


@pytest.mark.parametrize(("change", "pattern"), [
    (lambda d: d.pop("cov"), r"invalid imputer state \('cov'\)"),
    (lambda d: d.update(ridge="x"), r"invalid imputer state \(could not convert string to float: 'x'\)"),
    (lambda d: d.update(cov=[[1.0, 0.0], [0.0, 1.0]]), r"invalid imputer state \(mean/covariance shapes or values\)"),
    (lambda d: d.update(mean=[[0.0, 0.0, 0.0]]), r"invalid imputer state \(mean/covariance shapes or values\)"),
    (lambda d: d.update(mean=[0.0, float("nan"), 0.0]), r"invalid imputer state \(mean/covariance shapes or values\)"),
], ids=["no-cov", "ridge-text", "cov-shape", "mean-2d", "mean-nan"])
def test_a_damaged_state_is_a_model_error_naming_the_file(change, pattern):
    state = GaussianImputer(log=False).fit(gaussian()[0]).to_dict()
    change(state)
    with pytest.raises(ModelError, match=rf"model/config.json: {pattern}"):
        GaussianImputer.from_dict(state, where="model/config.json")
