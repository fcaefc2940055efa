"""Tests for geogan.detectors.vae: the VAE's scores and the autoencoder's bottleneck (fitted once in
tests/detectors/conftest.py)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from geogan.detectors import get_detector

pytestmark = [pytest.mark.tf, pytest.mark.slow]


@pytest.fixture
def data(planted_data):
    """``(X_train, X_test, y_test)`` with planted anomalies (tests/detectors/conftest.py)."""
    return planted_data


@pytest.fixture
def fitted(small_fitted):
    """Registry name → that detector fitted on ``X_train`` (tests/detectors/conftest.py)."""
    return small_fitted


def test_vae_scores(data, fitted):
    _, X_test, y_test = data
    vae = fitted["vae"]
    assert vae.score_name == "reconstruction_probability"
    # a cell's score does not depend on the batch it is scored in
    full = vae.decision_function(X_test)
    np.testing.assert_allclose(vae.decision_function(X_test[::-1])[::-1], full, rtol=1e-5, atol=1e-5)
    vae.set_params(score="reconstruction_error")
    try:
        assert roc_auc_score(y_test, vae.decision_function(X_test)) >= 0.9
    finally:
        vae.set_params(score="reconstruction_probability")


def test_autoencoder_bottleneck_is_capped(fitted):
    ae = get_detector("autoencoder", latent_dim=64)
    assert ae.bottleneck(8) == 4
    assert fitted["autoencoder"].nets_["encoder"].outputs[0].shape[-1] == 3
