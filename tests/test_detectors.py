"""Every detector: planted anomalies found, save → load identical, registry and errors."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from geogan.detectors import DETECTORS, Detector, get_detector, load_detector
from geogan.errors import ConfigError, GeoganError, InputError, ModelError

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


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def fitted(data):
    X_train, _, _ = data
    return {name: get_detector(name, **SMALL[name]).fit(X_train) for name in SMALL}


def test_registry_names():
    assert set(DETECTORS) == set(SMALL)
    for name in DETECTORS:
        assert DETECTORS[name].name == name


@pytest.mark.parametrize("name", list(SMALL))
def test_detector_separates_planted_anomalies(name, data, fitted):
    _, X_test, y_test = data
    scores = fitted[name].decision_function(X_test)
    assert scores.dtype == np.float32 and scores.shape == (X_test.shape[0],)
    assert roc_auc_score(y_test, scores) >= 0.9


@pytest.mark.parametrize("name", list(SMALL))
def test_save_load_identical_scores(name, data, fitted, tmp_path):
    _, X_test, _ = data
    det = fitted[name]
    det.save(tmp_path / "m")
    loaded = load_detector(tmp_path / "m")
    assert type(loaded) is type(det)
    assert loaded.get_params() == json.loads(json.dumps(det.get_params()))
    assert np.array_equal(loaded.decision_function(X_test), det.decision_function(X_test))
    assert type(det).load(tmp_path / "m").score_name == det.score_name
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["detector"]["name"] == name
    assert not list((tmp_path / "m").rglob("*.pkl")) and not list((tmp_path / "m").rglob("*.pickle"))
    with pytest.raises(GeoganError, match="exists"):
        det.save(tmp_path / "m")


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


def test_iforest_matches_scikit_learn(data, fitted):
    from sklearn.ensemble import IsolationForest

    X_train, X_test, _ = data
    sk = IsolationForest(n_estimators=50, random_state=0).fit(X_train)
    np.testing.assert_allclose(fitted["iforest"].decision_function(X_test), -sk.score_samples(X_test), rtol=1e-6)


def test_get_detector_errors():
    with pytest.raises(ConfigError, match="unknown detector 'gan'.*alad"):
        get_detector("gan")
    with pytest.raises(ConfigError, match="no parameter.*n_trees"):
        get_detector("iforest", n_trees=5)
    with pytest.raises(ConfigError, match="score"):
        get_detector("alad", score="l2").fit(np.zeros((10, 2)))
    with pytest.raises(ConfigError, match="n_components"):
        get_detector("pca", n_components=1.5).fit(np.zeros((10, 2)))


def test_input_errors(fitted, data):
    X_train, _, _ = data
    det = fitted["pca"]
    with pytest.raises(InputError, match="NaN"):
        det.decision_function(np.full((2, 8), np.nan))
    with pytest.raises(InputError, match="fitted on 8"):
        det.decision_function(np.zeros((2, 5)))
    with pytest.raises(InputError, match="2-D"):
        get_detector("iforest").fit(np.zeros(5))
    with pytest.raises(ModelError, match="not fitted"):
        get_detector("mahalanobis").decision_function(X_train)


def test_load_refuses_bad_model_dirs(fitted, tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Detector.load(tmp_path / "nothing")
    path = fitted["pca"].save(tmp_path / "pca")
    config = json.loads((path / "config.json").read_text())
    bad = dict(config, detector={**config["detector"], "pickle": "x"})
    (path / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ModelError, match="unknown keys"):
        Detector.load(path)
    bad = dict(config, detector={**config["detector"], "name": "gan"})
    (path / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ModelError, match="unknown detector"):
        Detector.load(path)
    (path / "config.json").write_text(json.dumps(config))
    (path / "arrays.npz").unlink()
    with pytest.raises(ModelError, match="missing"):
        Detector.load(path)
    from geogan.detectors import VAE

    fitted["iforest"].save(tmp_path / "if")
    with pytest.raises(ModelError, match="holds a"):
        VAE.load(tmp_path / "if")
