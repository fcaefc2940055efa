"""Tests for geogan.detectors.baselines: the scikit-learn baselines as geogan detectors."""

import numpy as np
import pytest


@pytest.fixture
def data(planted_data):
    """``(X_train, X_test, y_test)`` with planted anomalies (tests/detectors/conftest.py)."""
    return planted_data


@pytest.fixture
def fitted(small_fitted):
    """Registry name → that detector fitted on ``X_train`` (tests/detectors/conftest.py)."""
    return small_fitted


def test_iforest_matches_scikit_learn(data, fitted):
    from sklearn.ensemble import IsolationForest

    X_train, X_test, _ = data
    sk = IsolationForest(n_estimators=50, random_state=0).fit(X_train)
    np.testing.assert_allclose(fitted["iforest"].decision_function(X_test), -sk.score_samples(X_test), rtol=1e-6)
