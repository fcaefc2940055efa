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
