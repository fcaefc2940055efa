"""Tests of geogan.detectors.covariance: RobustMahalanobis and PCAReconstruction score as
scikit-learn's MinCovDet and PCA do, check their parameters in fit, and save their arrays.
(Every detector's save → load and planted anomalies: test_registry.py; contamination and
thresholds: test_base.py.)"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.covariance import MinCovDet
from sklearn.decomposition import PCA

from geogan.detectors import PCAReconstruction, RobustMahalanobis, load_detector
from geogan.detectors.base import DataError
from geogan.errors import ConfigError, ModelError


def _correlated(n=400, d=4, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3.0
    X[:10] += 8.0  # a few outliers for the robust fit to resist
    return X.astype(np.float32)


# -- RobustMahalanobis ---------------------------------------------------------------------------
@pytest.mark.parametrize("support_fraction", [None, 0.8])
def test_mahalanobis_scores_are_mincovdets_squared_distances(support_fraction):
    X = _correlated()
    det = RobustMahalanobis(support_fraction=support_fraction, random_state=0).fit(X)
    ref = MinCovDet(support_fraction=support_fraction, random_state=0).fit(X.astype(np.float64))
    rows = np.vstack([X[:50], [[0.0, 0.0, 0.0, 0.0], [30.0, -30.0, 30.0, -30.0]]]).astype(np.float32)
    got = det.decision_function(rows)
    assert got.dtype == np.float32 and det.score_name == "mahalanobis_sq"
    np.testing.assert_allclose(got, ref.mahalanobis(rows.astype(np.float64)), rtol=1e-5)
    np.testing.assert_array_equal(det.score_samples(rows), -got)
    # the outliers sit far out, the robust centre is not pulled to them
    assert np.median(got[:10]) > np.quantile(det.decision_scores_, 0.95)


def test_mahalanobis_fits_on_a_subsample_but_thresholds_on_every_row():
    X = _correlated(n=600)
    full = RobustMahalanobis(max_fit_samples=600).fit(X)
    np.testing.assert_allclose(full.decision_function(X),
                               MinCovDet(random_state=0).fit(X.astype(np.float64)).mahalanobis(X), rtol=1e-5)
    sub = RobustMahalanobis(max_fit_samples=200).fit(X)
    assert sub.decision_scores_.shape == (600,)  # threshold from all rows
    assert not np.allclose(sub.decision_function(X), full.decision_function(X))
    # the subsample is drawn from random_state: the same seed, the same fit
    np.testing.assert_array_equal(RobustMahalanobis(max_fit_samples=200).fit(X).decision_function(X),
                                  sub.decision_function(X))
    assert not np.array_equal(RobustMahalanobis(max_fit_samples=200, random_state=1).fit(X).decision_function(X),
                              sub.decision_function(X))


def test_mahalanobis_on_singular_data_ignores_the_null_direction():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 2)) @ np.array([[1.0, 0.4], [0.0, 1.0]])
    X = np.c_[a, -a.sum(axis=1)].astype(np.float32)  # rows sum to zero, as clr rows do
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MinCovDet's rank warnings say nothing a user can act on: kept quiet
        det = RobustMahalanobis().fit(X)
    scores = det.decision_function(X)
    assert np.all(np.isfinite(scores)) and scores.max() < 100
    # a shift along (1, 1, 1), which the data never take, changes nothing
    shifted = (X + 2.0 / np.sqrt(3.0)).astype(np.float32)
    np.testing.assert_allclose(det.decision_function(shifted), scores, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("params, message", [
    ({"support_fraction": 0.0}, "support_fraction must be in (0, 1], got 0.0"),
    ({"support_fraction": 1.5}, "support_fraction must be in (0, 1], got 1.5"),
    ({"max_fit_samples": 1}, "max_fit_samples must be an integer ≥ 2, got 1"),
    ({"max_fit_samples": 100.0}, "max_fit_samples must be an integer ≥ 2, got 100.0"),
    ({"max_fit_samples": "100"}, "max_fit_samples must be an integer ≥ 2, got '100'"),
])
def test_mahalanobis_parameters_are_checked_in_fit(params, message):
    det = RobustMahalanobis(**params)  # stored as given
    assert det.get_params()[next(iter(params))] == next(iter(params.values()))
    with pytest.raises(ConfigError) as exc:
        det.fit(_correlated(n=50))
    assert str(exc.value) == message
    assert not det.is_fitted


# -- PCAReconstruction ---------------------------------------------------------------------------
def _pca_residual(X, n_components) -> np.ndarray:
    pca = PCA(n_components=n_components, svd_solver="full").fit(X.astype(np.float64))
    X64 = X.astype(np.float64)
    return ((X64 - pca.inverse_transform(pca.transform(X64))) ** 2).sum(axis=1)


@pytest.mark.parametrize("n_components, kept", [(1, 1), (2, 2), (0.9, None)])
def test_pca_scores_are_the_squared_residual_off_the_kept_axes(n_components, kept):
    X = _correlated()
    det = PCAReconstruction(n_components=n_components).fit(X)
    expected_kept = PCA(n_components=n_components, svd_solver="full").fit(X.astype(np.float64)).n_components_
    assert det.n_components_ == (kept or expected_kept)
    got = det.decision_function(X)
    assert got.dtype == np.float32 and det.score_name == "reconstruction_error"
    np.testing.assert_allclose(got, _pca_residual(X, n_components), rtol=1e-4, atol=1e-5)
    # a row on the kept axes reconstructs exactly
    on_axes = det.decision_function(X.mean(axis=0, keepdims=True))
    assert on_axes[0] == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("n_components", [0, -1, 10_001, 0.0, 1.0, 1.5, "2", None, True])
def test_pca_n_components_is_checked_in_fit(n_components):
    det = PCAReconstruction(n_components=n_components)
    with pytest.raises(ConfigError, match=r"n_components must be an integer from 1 to 10,000 or a fraction in "
                                          r"\(0, 1\), got "):
        det.fit(_correlated(n=50))


def test_pca_refuses_as_many_components_as_rows_or_features():
    X = _correlated(n=50)
    with pytest.raises(DataError, match="n_components=4 leaves no residual with 4 feature"):
        PCAReconstruction(n_components=4).fit(X)
    with pytest.raises(DataError, match="n_components=3 leaves no residual with 4 feature.* and 3 rows"):
        PCAReconstruction(n_components=3).fit(X[:3])
    assert PCAReconstruction(n_components=2).fit(X[:3]).n_components_ == 2


# -- saving --------------------------------------------------------------------------------------
@pytest.mark.parametrize("det, arrays", [
    (RobustMahalanobis(random_state=0), {"location": (4,), "precision": (4, 4)}),
    (PCAReconstruction(n_components=2), {"mean": (4,), "components": (2, 4)}),
])
def test_saved_arrays_reload_to_the_same_scores_and_are_checked(det, arrays, tmp_path):
    X = _correlated()
    det.fit(X)
    path = det.save(tmp_path / det.name)
    with np.load(path / "arrays.npz", allow_pickle=False) as npz:
        assert {k: npz[k].shape for k in npz.files} == arrays
    loaded = load_detector(path)
    assert type(loaded) is type(det) and loaded.get_params() == det.get_params()
    np.testing.assert_array_equal(loaded.decision_function(X), det.decision_function(X))
    if isinstance(det, PCAReconstruction):
        assert loaded.n_components_ == 2
        assert json.loads((path / "config.json").read_text())["detector"]["state"]["n_components"] == 2
    # arrays of another shape than the config's width are refused
    first = next(iter(arrays))
    with np.load(path / "arrays.npz") as npz:
        bad = {k: npz[k] for k in npz.files}
    bad[first] = np.zeros(3)
    np.savez(path / "arrays.npz", **bad)
    with pytest.raises(ModelError, match=f"arrays.npz must hold {first} \\(4,\\)"):
        load_detector(path)
