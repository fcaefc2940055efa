"""Tests for geogan.training.model: a model directory read back for scoring (TrainedModel,
load_model) and its checks."""

import json
import os
import subprocess
import sys

import pytest

from geogan.errors import ModelError
from geogan.training.model import load_model
from tests.helpers.grids import make_grid

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _run(args, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kw)


def test_load_model_validates_config(alad_model, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(alad_model.model_dir, out)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "hooks": ["x"]}))
    with pytest.raises(ModelError, match="unknown keys.*hooks"):
        load_model(out)
    (out / "config.json").write_text(json.dumps({**config, "elements": ["Ag"]}))
    with pytest.raises(ModelError, match="elements differ"):
        load_model(out)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "none")


@pytest.mark.cluster
def test_score_client_validates_a_neural_model_without_tensorflow(tmp_path):
    from geogan.training.model import load_model
    from geogan.training.stage import train_model

    grid, *_ = make_grid(tmp_path / "grid.zarr")
    train_model(grid, tmp_path / "m", detector="alad", steps=20, ensemble=2, sample=500, latent_dim=4,
                progress=False)
    checked = load_model(tmp_path / "m", networks=False)
    assert checked.is_ensemble and checked.elements and checked.detector.members_[0].nets_ == {}
    script = tmp_path / "score_it.py"
    script.write_text(
        "import sys\n"
        "if __name__ == '__main__':\n"
        "    from geogan.scoring.stage import score_grid\n"
        f"    res = score_grid({str(grid)!r}, {str(tmp_path / 'm')!r}, {str(tmp_path / 's')!r}, workers=1,\n"
        "                     progress=False)\n"
        "    print(res.n_cells_scored, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    res = _run([sys.executable, script], tmp_path)
    assert res.returncode == 0, res.stderr
    n, tf_loaded, keras_loaded = res.stdout.split()
    assert int(n) > 0 and tf_loaded == "False" and keras_loaded == "False"


# -- a model directory in object storage -------------------------------------------------------------
@pytest.fixture
def pca_model(tmp_path, monkeypatch):
    """A PCA model trained on a small grid (no TensorFlow), the local copies of object-storage
    models kept under the test's folder: ``(model_dir, cells)``."""
    import numpy as np

    from geogan.training.stage import train_model

    monkeypatch.setenv("GEOGAN_CACHE_DIR", str(tmp_path / "cache"))
    grid, _, conc, _ = make_grid(tmp_path / "grid.zarr")
    model = train_model(grid, tmp_path / "pca", detector="pca", sample=500, seed=0, progress=False).model_dir
    cells = conc.reshape(conc.shape[0], -1).T
    return model, cells[np.isfinite(cells).all(axis=1)][:200]


def _upload(local, url):
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    for f in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.pipe_file(f"{root}/{f.relative_to(local).as_posix()}", f.read_bytes())
    fs.invalidate_cache()


def test_a_model_in_object_storage_loads_as_its_local_copy(pca_model, tmp_path, s3_bucket):
    import fsspec
    import numpy as np

    from geogan.detectors import load_detector

    local, cells = pca_model
    url = f"{s3_bucket}/models/pca"
    _upload(local, url)
    here, there = load_model(local), load_model(url)
    assert there.model_dir == url and "s3://" in repr(there) and there.config == here.config
    np.testing.assert_array_equal(there.score(cells), here.score(cells))
    np.testing.assert_array_equal(load_detector(url).decision_function(here.transform.transform(cells)),
                                  here.detector.decision_function(here.transform.transform(cells)))
    assert load_model(f"file://{local}").elements == here.elements  # a file:// URL is its local path
    # loaded again (a worker's next task, another worker): the copy is reused, nothing is fetched
    fs = fsspec.filesystem("s3")
    fs.rm(f"{url[5:]}/arrays.npz")
    np.testing.assert_array_equal(load_model(url).score(cells), here.score(cells))
    (copy,) = (tmp_path / "cache").iterdir()
    assert sorted(p.name for p in copy.iterdir()) == ["arrays.npz", "config.json", "history.csv"]
    # a model replaced at the URL (another config) is fetched afresh: here without its arrays
    config = json.loads((local / "config.json").read_text())
    fs.pipe_file(f"{url[5:]}/config.json", json.dumps({**config, "created": "2020-01-01T00:00:00+00:00"}).encode())
    with pytest.raises(ModelError, match=rf"^{url}: array file arrays.npz is missing"):
        load_model(url)


def test_a_tampered_or_missing_model_in_object_storage_is_refused_naming_its_url(pca_model, tmp_path):
    import fsspec

    from geogan.detectors.modelfile import MAX_CONFIG_BYTES

    local, _ = pca_model
    url = "memory://geogan-test-models/tampered"
    _upload(local, url)
    fs = fsspec.filesystem("memory")
    config = json.loads((local / "config.json").read_text())
    fs.pipe_file("/geogan-test-models/tampered/config.json", json.dumps({**config, "hooks": ["x"]}).encode())
    with pytest.raises(ModelError, match=rf"^{url}/config.json: unknown keys in config.json: hooks") as err:
        load_model(url)
    assert str(tmp_path / "cache") not in str(err.value)  # the URL, not the local copy
    with pytest.raises(ModelError, match=rf"^{url}/config.json: not a geogan model config"):
        fs.pipe_file("/geogan-test-models/tampered/config.json", b'{"format": "pickle"}')
        load_model(url)
    fs.pipe_file("/geogan-test-models/tampered/config.json", b" " * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ModelError, match=rf"^{url}: config.json is [\d,]+ bytes, more than geogan writes there"):
        load_model(url)
    with pytest.raises(ModelError, match=r"^memory://geogan-test-models/none: model directory not found$"):
        load_model("memory://geogan-test-models/none")
    fs.pipe_file("/geogan-test-models/notes/readme.txt", b"not a model")
    with pytest.raises(ModelError, match=r"^memory://geogan-test-models/notes: no config.json: not a geogan model"):
        load_model("memory://geogan-test-models/notes")
    fs.rm("/geogan-test-models", recursive=True)


def test_a_neural_model_in_object_storage_loads_its_weights_and_not_its_checkpoints(alad_model, tmp_path,
                                                                                    monkeypatch):
    import fsspec
    import numpy as np

    monkeypatch.setenv("GEOGAN_CACHE_DIR", str(tmp_path / "cache"))
    local = alad_model.model_dir
    url = f"memory://geogan-test-models-{os.getpid()}/alad"
    _upload(local, url)
    try:
        cells = np.random.default_rng(0).lognormal(size=(64, len(load_model(local).elements))).astype(np.float32)
        np.testing.assert_array_equal(load_model(url).score(cells), load_model(local).score(cells))
        (copy,) = (tmp_path / "cache").iterdir()
        assert (copy / "weights" / "encoder.ema.weights.h5").is_file() and not (copy / "checkpoints").exists()
    finally:
        fsspec.filesystem("memory").rm(url[len("memory://"):].split("/")[0], recursive=True)
