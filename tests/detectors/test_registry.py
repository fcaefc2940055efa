"""Every registered detector (geogan.detectors.registry): names, planted anomalies found, save → load
identical, errors. The detectors are fitted once in tests/detectors/conftest.py."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from geogan.detectors import DETECTORS, get_detector, load_detector
from geogan.errors import ConfigError, GeoganError, InputError, ModelError
from tests.helpers.detectors import SMALL

#: the registry's names; the neural detectors' cases train TensorFlow networks
NAMES = [pytest.param(n, marks=[pytest.mark.tf, pytest.mark.slow]) if n in ("alad", "vae", "autoencoder") else n
         for n in SMALL]


@pytest.fixture
def data(planted_data):
    """``(X_train, X_test, y_test)`` with planted anomalies (tests/detectors/conftest.py)."""
    return planted_data


@pytest.fixture
def fitted(small_fitted):
    """Registry name → that detector fitted on ``X_train`` (tests/detectors/conftest.py)."""
    return small_fitted


def test_registry_names():
    assert set(DETECTORS) == set(SMALL)
    for name in DETECTORS:
        assert DETECTORS[name].name == name


def test_package_exports_the_registered_classes_lazily_without_tensorflow():
    # one table: geogan.detectors exports each class the registry names, imported on first use
    code = ("import sys\n"
            "import geogan.detectors as d\n"
            "classes = sorted(d.DETECTORS[n].__name__ for n in ('iforest', 'mahalanobis', 'pca', 'ensemble'))\n"
            "print(sorted(set(d.__all__) - {'DETECTORS', 'Detector', 'NeuralDetector', 'detector_class',\n"
            "                               'get_detector', 'load_detector'}))\n"
            "print(classes, d.PCAReconstruction is d.DETECTORS['pca'], 'tensorflow' in sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    exported, loaded = res.stdout.splitlines()
    assert exported == str(sorted(["ALAD", "VAE", "AutoEncoder", "IsolationForest", "RobustMahalanobis",
                                   "PCAReconstruction", "Ensemble"]))
    assert loaded == "['Ensemble', 'IsolationForest', 'PCAReconstruction', 'RobustMahalanobis'] True False"


@pytest.mark.parametrize("name", NAMES)
def test_detector_separates_planted_anomalies(name, data, fitted):
    _, X_test, y_test = data
    scores = fitted[name].decision_function(X_test)
    assert scores.dtype == np.float32 and scores.shape == (X_test.shape[0],)
    assert roc_auc_score(y_test, scores) >= 0.9


@pytest.mark.parametrize("name", NAMES)
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


@pytest.mark.tf
@pytest.mark.slow
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
    with pytest.raises(InputError, match="X has 5 features, but PCAReconstruction is expecting 8 features"):
        det.decision_function(np.zeros((2, 5)))
    with pytest.raises(InputError, match="Expected 2D array"):
        get_detector("iforest").fit(np.zeros(5))
    with pytest.raises(ModelError, match="not fitted"):
        get_detector("mahalanobis").decision_function(X_train)
