"""Tests for geogan.detectors.modelfile: model directories (config.json, parameter widths, the
files in them) and the checks that run on load before anything is built; no TensorFlow (the
networks' architectures and weight files: test_netfiles.py)."""

import json

import numpy as np
import pytest

from geogan.detectors import Detector, PCAReconstruction
from geogan.detectors.modelfile import (
    MAX_UNITS,
    check_width,
    check_widths,
    data_fingerprint,
    detector_from_config,
    model_file,
    read_config,
    write_model_files,
)
from geogan.errors import ConfigError, ModelError


@pytest.fixture
def fitted(small_fitted):
    """Registry name → that detector fitted on planted data (tests/detectors/conftest.py)."""
    return small_fitted


@pytest.fixture
def pca_dir(tmp_path):
    """A PCA model directory (no TensorFlow) and the rows it was fitted on."""
    X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    det = PCAReconstruction(n_components=2).fit(X)
    return det.save(tmp_path / "pca"), det, X


# -- parameters --------------------------------------------------------------------------------
def test_widths_are_integers_within_the_limit():
    check_width("latent_dim", 1)
    check_width("latent_dim", np.int64(MAX_UNITS))
    for bad in (0, MAX_UNITS + 1, 2.0, True, "8", None):
        with pytest.raises(ConfigError, match=rf"latent_dim must be an integer between 1 and {MAX_UNITS}"):
            check_width("latent_dim", bad)
    check_widths("hidden_units", [64, 32])
    check_widths("hidden_units", (8,), length=1)
    for bad in ([], [64, 0], [64, True], "64", [64, 32.0]):
        with pytest.raises(ConfigError, match=r"hidden_units must be a non-empty list of integers"):
            check_widths("hidden_units", bad)
    with pytest.raises(ConfigError, match=r"hidden_units must be 2 integers between 1 and"):
        check_widths("hidden_units", [8], length=2)


# -- config.json ---------------------------------------------------------------------------------
def test_a_saved_model_reads_back_through_its_config(pca_dir):
    path, det, X = pca_dir
    config = read_config(path)
    assert config["format"] == "geogan-model" and config["format_version"] == 1 and config["geogan_version"]
    section = config["detector"]
    assert section["name"] == "pca" and section["n_features"] == 4 and section["params"]["n_components"] == 2
    again = detector_from_config(path, section, where=path)
    assert type(again) is PCAReconstruction and again.threshold_ == pytest.approx(det.threshold_)
    np.testing.assert_array_equal(again.decision_function(X), det.decision_function(X))


@pytest.mark.parametrize(("change", "message"), [
    pytest.param(lambda c: {**c, "format": "other"}, r"not a geogan model config \(format 'other'\)", id="format"),
    pytest.param(lambda c: {**c, "format_version": 2},
                 r"model format version 2 is not supported by this geogan \(reads 1\)", id="version"),
    pytest.param(lambda c: {k: v for k, v in c.items() if k != "detector"}, r"config has no 'detector' section",
                 id="no-detector"),
    pytest.param(lambda c: [c], r"not a geogan model config \(format None\)", id="not-an-object"),
])
def test_read_config_refuses_what_is_not_a_geogan_model(pca_dir, change, message):
    path, *_ = pca_dir
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps(change(config)))
    with pytest.raises(ModelError, match=message):
        read_config(path)


def test_read_config_names_a_missing_directory_file_or_bad_json(tmp_path):
    with pytest.raises(ModelError, match="model directory not found"):
        read_config(tmp_path / "none")
    with pytest.raises(ModelError, match="no config.json: not a geogan model directory"):
        read_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"unreadable JSON"):
        read_config(tmp_path)


@pytest.mark.parametrize(("change", "message"), [
    ({"hooks": ["x"]}, r"unknown keys in the detector section: hooks"),
    ({"name": "gan"}, r"unknown detector 'gan' \(known: alad"),
    ({"params": []}, r"detector 'params' must be a JSON object"),
    ({"params": {"n_components": 2, "lambda": 1}}, r"unknown parameter\(s\) for pca: lambda"),
    ({"params": {"n_components": -3}}, r"invalid parameters for pca"),
    ({"n_features": True}, r"'n_features' must be an integer between 1 and"),
    ({"n_features": MAX_UNITS + 1}, r"'n_features' must be an integer between 1 and"),
    ({"state": "x"}, r"detector 'state' must be a JSON object"),
    ({"threshold": float("nan")}, r"detector 'threshold' must be a finite number, got nan"),
    ({"threshold": "high"}, r"detector 'threshold' must be a finite number, got 'high'"),
], ids=["unknown-key", "unknown-detector", "params-not-object", "unknown-param", "invalid-param", "n_features-bool",
        "n_features-huge", "state-not-object", "threshold-nan", "threshold-text"])
def test_detector_sections_are_checked_before_anything_is_built(pca_dir, change, message):
    path, *_ = pca_dir
    section = {**read_config(path)["detector"], **change}
    with pytest.raises(ModelError, match=message):
        detector_from_config(path, section, where=path)


def test_metadata_cannot_replace_the_config_envelope(pca_dir, tmp_path):
    _, det, _ = pca_dir
    out = tmp_path / "m"
    out.mkdir()
    with pytest.raises(ConfigError, match=r"metadata key 'detector' is reserved in config.json"):
        write_model_files(out, det, metadata={"detector": {}})
    config = write_model_files(out, det, metadata={"elements": ["Au", "Cu", "Zn", "As"]})
    assert json.loads((out / "config.json").read_text()) == config and config["elements"][0] == "Au"


# -- files ------------------------------------------------------------------------------------------
def test_model_files_must_be_regular_files_inside_the_model(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "arrays.npz").write_bytes(b"x")
    assert model_file(model, "arrays.npz", what="array file") == model / "arrays.npz"
    with pytest.raises(ModelError, match="array file gone.npz is missing"):
        model_file(model, "gone.npz", what="array file")
    (model / "dir.npz").mkdir()
    with pytest.raises(ModelError, match="array file dir.npz is not a regular file"):
        model_file(model, "dir.npz", what="array file")
    (tmp_path / "outside.npz").write_bytes(b"x")
    (model / "link.npz").symlink_to(tmp_path / "outside.npz")
    with pytest.raises(ModelError, match="array file link.npz is a link out of the model directory"):
        model_file(model, "link.npz", what="array file")


def test_the_data_fingerprint_is_of_the_shape_and_the_bytes():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert data_fingerprint(X) == data_fingerprint(X.copy()) and len(data_fingerprint(X)) == 32
    assert data_fingerprint(X.reshape(3, 4)) != data_fingerprint(X)  # same bytes, another shape
    assert data_fingerprint(np.asfortranarray(X)) == data_fingerprint(X)  # the values, not the memory layout
    Y = X.copy()
    Y[3, 2] += 1
    assert data_fingerprint(Y) != data_fingerprint(X)


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


# -- model directories in object storage ------------------------------------------------------------
def test_a_model_url_is_copied_once_with_the_files_loading_reads_and_within_limits(pca_dir, tmp_path,
                                                                                   monkeypatch):
    import fsspec

    from geogan.detectors import modelfile

    pca_dir, _, _ = pca_dir
    monkeypatch.setenv("GEOGAN_CACHE_DIR", str(tmp_path / "cache"))
    fs = fsspec.filesystem("memory")
    root = f"/geogan-test-modelfile-{tmp_path.name}"
    url = f"memory://{root}/pca"
    fs.put(str(pca_dir), f"{root}/pca", recursive=True)
    fs.pipe_file(f"{root}/pca/notes.txt", b"the user's")
    fs.pipe_file(f"{root}/pca/checkpoints/epoch_0001/state.npz", b"old")
    try:
        copy = modelfile.fetch_model_dir(url)
        assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in pca_dir.iterdir())
        assert modelfile.fetch_model_dir(url) == copy and read_config(url) == read_config(pca_dir)
        with modelfile.local_model(url) as local:
            assert local == copy
        with pytest.raises(ModelError, match=rf"^{url}/config.json: bad {url} model$"):  # the URL, not the copy
            with modelfile.local_model(url) as local:
                raise ModelError(f"bad {local} model", path=local / "config.json")
        monkeypatch.setattr(modelfile, "MAX_FETCH_BYTES", 100)
        fs.pipe_file(f"{root}/pca/config.json", fs.cat_file(f"{root}/pca/config.json") + b"\n")  # another model
        with pytest.raises(ModelError, match=rf"^{url}: its model files are [\d,]+ bytes, more than geogan loads"):
            modelfile.fetch_model_dir(url)
        assert list((tmp_path / "cache").iterdir()) == [copy]  # no partial copy left
    finally:
        fs.rm(root, recursive=True)


def test_the_copies_folder_is_the_users_own(tmp_path, monkeypatch):
    import os
    import tempfile

    from geogan.detectors.modelfile import user_dir
    from geogan.errors import OutputExistsError

    monkeypatch.delenv("GEOGAN_CACHE_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert user_dir("GEOGAN_CACHE_DIR", "models") == tmp_path / f"geogan-{os.getuid()}" / "models"
    assert (tmp_path / f"geogan-{os.getuid()}").stat().st_mode & 0o777 == 0o700
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "other"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / f"geogan-{os.getuid()}").symlink_to(tmp_path / f"geogan-{os.getuid()}")
    with pytest.raises(OutputExistsError, match="is a link or another user's folder; set GEOGAN_CACHE_DIR"):
        user_dir("GEOGAN_CACHE_DIR", "models")
    monkeypatch.setenv("GEOGAN_CACHE_DIR", str(tmp_path / "mine"))
    assert user_dir("GEOGAN_CACHE_DIR", "models") == tmp_path / "mine"
