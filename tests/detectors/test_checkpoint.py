"""Tests for geogan.detectors.checkpoint: everything a fit needs to resume, written and read back
with the same checks as a model's config.json (a tiny ALAD: two optimiser steps)."""

import json
import shutil

import numpy as np
import pytest

from geogan.detectors import ALAD, VAE
from geogan.detectors.checkpoint import _state_variables, read_checkpoint, write_checkpoint
from geogan.detectors.modelfile import data_fingerprint
from geogan.detectors.neural import NeuralDetector
from geogan.errors import ModelError

pytestmark = [pytest.mark.tf, pytest.mark.slow]

TINY = dict(latent_dim=2, encoder_units=[8], generator_units=[8], dxz_units=[8, 4], dxx_units=[8], dzz_units=[4],
            batch_size=32, epochs=1, steps=None, ema_decay=0.99, score="fm", random_state=3)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny ALAD after one epoch (two steps), checkpointed: ``(det, X, path)``."""
    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    det = ALAD(**TINY).fit(X)
    path = write_checkpoint(det, tmp_path_factory.mktemp("ckpt") / "epoch_0001", extra={"note": "epoch 1"})
    return det, X, path


def _copy_with(src, dst, change):
    """The checkpoint at ``src`` copied to ``dst`` with its checkpoint.json changed by ``change``."""
    shutil.copytree(src, dst)
    meta = json.loads((dst / "checkpoint.json").read_text())
    change(meta)
    (dst / "checkpoint.json").write_text(json.dumps(meta))
    return dst


def test_a_checkpoint_restores_every_training_variable(checkpoint):
    det, X, path = checkpoint
    assert sorted(p.name for p in path.iterdir()) == ["checkpoint.json", "state.npz"]
    back, extra = read_checkpoint(path, ALAD, base=NeuralDetector)
    assert extra == {"note": "epoch 1"} and type(back) is ALAD
    assert back.get_params() == det.get_params() and back.n_features_ == 4
    assert back.epochs_done_ == det.epochs_done_ == 1 and back.history_ == det.history_
    assert back.data_fingerprint_ == data_fingerprint(X)
    mine, theirs = _state_variables(det), _state_variables(back)
    assert set(mine) == set(theirs) and any(k.startswith("ema/") for k in mine) and any(k.startswith("opt/") for k in mine)
    for key, var in mine.items():
        np.testing.assert_array_equal(np.asarray(theirs[key].numpy()), np.asarray(var.numpy()), err_msg=key)
    assert int(back.step_.numpy()) == int(det.step_.numpy()) == 2
    # the same weights score alike; the base class reads any neural detector's checkpoint
    back._set_threshold(back.decision_function(X))
    np.testing.assert_array_equal(back.decision_function(X), det.decision_function(X))
    assert type(NeuralDetector.load_checkpoint(path)[0]) is ALAD


def test_a_checkpoint_of_another_detector_is_refused(checkpoint, tmp_path):
    _, _, path = checkpoint
    with pytest.raises(ModelError, match=r"checkpoint holds a ALAD, not a VAE"):
        VAE.load_checkpoint(path)
    bad = _copy_with(path, tmp_path / "c", lambda m: m["detector"].update(name="iforest"))
    with pytest.raises(ModelError, match=r"the checkpoint names detector 'iforest', not a neural detector"):
        ALAD.load_checkpoint(bad)


@pytest.mark.parametrize(("change", "message"), [
    pytest.param(lambda m: m.update(format="other"), r"not a geogan checkpoint", id="format"),
    pytest.param(lambda m: m.update(detector=[]), r"'detector' must be an object with 'params'", id="detector"),
    pytest.param(lambda m: m["detector"]["params"].update(bogus=1),
                 r"unknown parameter\(s\) for alad in the checkpoint: bogus", id="param"),
    pytest.param(lambda m: m["detector"].update(n_features=10**6), r"n_features must be an integer between 1 and",
                 id="n_features"),
    pytest.param(lambda m: m.pop("seed"), r"the checkpoint metadata lacks 'seed'", id="seed"),
    pytest.param(lambda m: m.update(epochs_done="two"), r"invalid checkpoint metadata", id="epochs"),
    pytest.param(lambda m: m.update(dtype_policy="mixed_float16"),
                 r"checkpoint was written with mixed_float16 compute, this machine would use float32", id="dtype"),
    pytest.param(lambda m: m.update(extra=[1]), r"the checkpoint's 'extra' must be an object", id="extra"),
])
def test_bad_checkpoint_metadata_is_refused(checkpoint, tmp_path, change, message):
    _, _, path = checkpoint
    with pytest.raises(ModelError, match=message):
        ALAD.load_checkpoint(_copy_with(path, tmp_path / "c", change))


def test_state_arrays_must_match_the_detectors_variables(checkpoint, tmp_path):
    _, _, path = checkpoint
    arrays = dict(np.load(path / "state.npz"))
    bad = tmp_path / "shape"
    shutil.copytree(path, bad)
    key = next(k for k in arrays if arrays[k].ndim == 2)
    np.savez(bad / "state.npz", **{**arrays, key: np.zeros((1, 1), arrays[key].dtype)})
    with pytest.raises(ModelError, match=rf"checkpoint variable {key} has shape \(1, 1\), expected"):
        ALAD.load_checkpoint(bad)
    fewer = tmp_path / "fewer"
    shutil.copytree(path, fewer)
    np.savez(fewer / "state.npz", **{k: v for k, v in arrays.items() if k != key})
    with pytest.raises(ModelError, match=r"checkpoint variables do not match the detector's"):
        ALAD.load_checkpoint(fewer)
    (fewer / "state.npz").unlink()
    with pytest.raises(ModelError, match=r"unreadable checkpoint"):
        ALAD.load_checkpoint(fewer)
