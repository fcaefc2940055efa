"""Tests for geogan.training.run: the run folder's checkpoints, a crash in training, and --resume
equal to an uninterrupted run (single models and ensembles trained side by side)."""

import numpy as np
import pytest

from geogan.errors import ConfigError, ModelError, OutputExistsError
from geogan.training.model import load_model
from geogan.training.stage import train_model
from tests.helpers.grids import TINY_ALAD

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def test_resume_equals_uninterrupted(grid, tmp_path, monkeypatch):
    from geogan.progress import Progress

    path, conc, _ = grid
    opts = dict(detector="vae", sample=600, epochs=4, batch_size=32, latent_dim=2, checkpoint_every=2, seed=5,
                detector_params={"hidden_units": [8, 4]}, progress=False)
    a = train_model(path, tmp_path / "a", **opts)

    class Crash(Exception):
        pass

    original = Progress.update

    def crash_at_three(self, completed, info=""):
        if completed == 3:
            raise Crash("simulated crash in epoch 3")
        original(self, completed, info)

    monkeypatch.setattr(Progress, "update", crash_at_three)
    with pytest.raises(Crash):
        train_model(path, tmp_path / "b", **opts)
    monkeypatch.setattr(Progress, "update", original)
    partial = tmp_path / "b.partial"
    assert (partial / "checkpoints" / "epoch_0002").is_dir() and not (tmp_path / "b").exists()
    with pytest.raises(ModelError, match="--resume"):
        load_model(tmp_path / "b")
    with pytest.raises(ConfigError, match="other settings"):
        train_model(path, tmp_path / "b", **{**opts, "seed": 6}, resume=True)
    b = train_model(path, tmp_path / "b", **opts, resume=True)
    assert b.resumed_from_epoch == 2 and not partial.exists()
    cells = conc[:, 35:40, 10:50].reshape(5, -1).T
    assert np.array_equal(load_model(a.model_dir).score(cells), load_model(b.model_dir).score(cells))
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    assert [r.get("mean_test_score") for r in a.history] == [r.get("mean_test_score") for r in b.history]


def test_ensemble_trained_side_by_side_resumes_from_its_members_checkpoints(grid, tmp_path, monkeypatch):
    from geogan.detectors.neural import NeuralDetector

    path, conc, _ = grid
    opts = dict(detector="alad", sample=600, steps=200, batch_size=64, latent_dim=3, seed=1, ensemble=3,
                checkpoint_every=1, progress=False, detector_params=TINY_ALAD)
    a = train_model(path, tmp_path / "a", **opts)

    class Crash(Exception):
        pass

    save = NeuralDetector.save_checkpoint
    saved = []

    def crash_in_second_round(self, where, **kw):
        if len(saved) == 4:  # the three members' epoch-1 checkpoints and member 0's of epoch 2
            raise Crash("killed while checkpointing epoch 2")
        saved.append(where)
        return save(self, where, **kw)

    monkeypatch.setattr(NeuralDetector, "save_checkpoint", crash_in_second_round)
    with pytest.raises(Crash):
        train_model(path, tmp_path / "b", **opts)
    monkeypatch.setattr(NeuralDetector, "save_checkpoint", save)
    work = tmp_path / "b.partial"
    assert sorted(p.relative_to(work).as_posix() for p in (work / "checkpoints").glob("*/epoch_*")) == [
        "checkpoints/member_00/epoch_0001", "checkpoints/member_00/epoch_0002", "checkpoints/member_01/epoch_0001",
        "checkpoints/member_02/epoch_0001"]
    with pytest.raises(OutputExistsError, match="last checkpoint"):
        train_model(path, tmp_path / "b", **opts)
    b = train_model(path, tmp_path / "b", resume=True, **opts)  # from epoch 1: the latest all three hold
    assert b.resumed_from_epoch == 1
    cells = conc[:, 0:10, 0:40].reshape(5, -1).T
    np.testing.assert_array_equal(load_model(a.model_dir).score(cells), load_model(b.model_dir).score(cells))
    assert not (tmp_path / "b.partial").exists() and a.steps == b.steps


def test_the_run_key_holds_how_deposits_are_read_with_none_and_the_defaults_alike():
    from geogan.detectors.registry import get_detector
    from geogan.options import DepositOptions, TrainOptions
    from geogan.training.run import make_run_key

    def key(deposits, how):
        return make_run_key("/nonexistent/grid.zarr", TrainOptions(detector="pca"), get_detector("pca"), ["Cu"],
                            enrichment_only=True, ensemble=1, deposits=deposits, deposit_options=how)

    assert "deposit_options" not in key(None, DepositOptions(x="E"))  # no deposits: nothing to read
    assert key("d.csv", None) == key("d.csv", DepositOptions())  # the API's None is the CLI's defaults
    assert key("d.csv", DepositOptions(x="E", y="N"))["deposit_options"]["x"] == "E"
    assert key("d.csv", DepositOptions(input_crs="EPSG:4326")) != key("d.csv", None)
