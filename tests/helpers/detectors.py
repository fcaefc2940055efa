"""Planted-anomaly data and small settings per registered detector (tests/detectors)."""

from __future__ import annotations

import numpy as np

# small, fast settings per detector (CPU, a few seconds each)
SMALL = {
    "alad": dict(epochs=8, batch_size=64, latent_dim=4, learning_rate=1e-3, spectral_norm=False, score="l1",
                 encoder_units=[32, 16], generator_units=[16, 32], dxz_units=[16, 32], dxx_units=[32, 16],
                 dzz_units=[16, 8]),
    "vae": dict(epochs=8, batch_size=64, latent_dim=3, learning_rate=1e-3, hidden_units=[32, 16]),
    "autoencoder": dict(epochs=8, batch_size=64, latent_dim=3, learning_rate=1e-3, hidden_units=[32, 16]),
    "iforest": dict(n_estimators=50),
    "mahalanobis": dict(),
    "pca": dict(n_components=3),
    "ensemble": dict(detector="pca", n_members=3, params={"n_components": 3}),
}


def planted(seed=0, n=1500, d=8, n_anomalies=60):
    """Normal rows on a noisy 3-D subspace of 8 features; anomalies off it."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, 3))
    normal = rng.normal(size=(n, 3)) @ A.T + 0.1 * rng.normal(size=(n, d))
    mean, std = normal.mean(0), normal.std(0)
    anomalies = mean + std * 2.0 * rng.normal(size=(n_anomalies, d))
    X_train = ((normal[:1000] - mean) / std).astype(np.float32)
    X_test = ((np.vstack([normal[1000:], anomalies]) - mean) / std).astype(np.float32)
    y_test = np.r_[np.zeros(n - 1000), np.ones(n_anomalies)]
    return X_train, X_test, y_test
