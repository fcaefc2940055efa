"""Tests of geogan.detectors.neural: the training machinery every TensorFlow detector shares (training
length, epochs and callbacks, seeds, EMA weights, batched scoring, resuming, parameter checks),
through a tiny AutoEncoder. (ALAD's own step, scores and resume: test_alad.py; checkpoint files:
test_checkpoint.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from geogan.detectors import AutoEncoder, NeuralDetector, load_detector
from geogan.errors import ConfigError, InputError, ModelError

pytestmark = [pytest.mark.tf, pytest.mark.slow]

TINY = dict(latent_dim=2, hidden_units=(8,), batch_size=32, learning_rate=1e-2)


def _data(n=200, d=4, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 0.1 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Three epochs in steps mode, checkpointed after the first: ``(det, X, checkpoint, callback calls)``."""
    X = _data()
    ckpt = tmp_path_factory.mktemp("ae") / "epoch_0001"
    calls = []

    def callback(det, epoch, logs):
        calls.append((epoch, dict(logs), int(det.step_.numpy())))
        if epoch == 1:
            det.save_checkpoint(ckpt, extra={"epoch": 1})

    det = AutoEncoder(steps=120, **TINY).fit(X, callback=callback)
    return det, X, ckpt, calls


def test_steps_are_rounded_up_to_whole_epochs_of_at_least_50_steps(run):
    det, X, _, calls = run
    assert isinstance(det, NeuralDetector)
    # 200 rows at batch 32: 6 steps a pass (the remainder dropped); an epoch is 9 passes = 54 steps
    assert det.batches_per_epoch(200) == 54 and det.total_epochs(200) == 3 == det.n_epochs_ == det.epochs_done_
    assert int(det.step_.numpy()) == 162
    assert [c[0] for c in calls] == [1, 2, 3] and [c[2] for c in calls] == [54, 108, 162]
    # the callback's logs are the history's rows: mean losses and seconds
    assert [{"epoch": e, **logs} for e, logs, _ in calls] == det.history_
    assert set(det.history_[0]) == {"epoch", "mse", "seconds"}
    assert det.history_[-1]["mse"] < det.history_[0]["mse"]  # it learns
    # epochs instead of steps: one pass each; a batch larger than the table takes all rows
    assert AutoEncoder(epochs=4, steps=None, **TINY).total_epochs(200) == 4
    assert AutoEncoder(epochs=4, steps=None, **TINY).batches_per_epoch(200) == 6
    assert AutoEncoder(steps=120, **{**TINY, "batch_size": 500}).batches_per_epoch(200) == 50


def test_the_seed_makes_the_model(run):
    det, X, _, _ = run
    again = AutoEncoder(steps=120, **TINY).fit(X)
    np.testing.assert_array_equal(again.decision_function(X), det.decision_function(X))
    assert again.seed_ == det.seed_ == 0
    other = AutoEncoder(steps=120, random_state=1, **TINY).fit(X)
    assert not np.allclose(other.decision_function(X), det.decision_function(X))
    drawn = AutoEncoder(steps=50, random_state=None, **TINY).fit(X)
    assert isinstance(drawn.seed_, int) and drawn.seed_ >= 0


def test_scores_do_not_depend_on_the_scoring_batch(run):
    det, X, _, _ = run
    full = det.decision_function(X)
    assert full.dtype == np.float32 and full.shape == (200,)
    det.set_params(score_batch_size=7)
    try:
        np.testing.assert_allclose(det.decision_function(X), full, rtol=1e-6, atol=1e-7)
    finally:
        det.set_params(score_batch_size=16384)
    # without EMA the live weights are the scoring weights
    assert det.ema_nets_ is det.nets_
    np.testing.assert_array_equal(det.decision_function(X, weights="live"), full)
    with pytest.raises(ConfigError, match="weights must be 'ema' or 'live', got 'best'"):
        det.decision_function(X, weights="best")


def test_ema_weights_are_separate_copies_that_follow_the_live_ones():
    X = _data()
    # decay 0: after every step the shadow weights are the live ones
    det = AutoEncoder(steps=50, ema_decay=0.0, **TINY).fit(X)
    assert det.ema_nets_ is not det.nets_
    for e, v in zip(det.ema_nets_["encoder"].weights, det.nets_["encoder"].weights):
        assert e is not v
        np.testing.assert_array_equal(e.numpy(), v.numpy())
    np.testing.assert_array_equal(det.decision_function(X), det.decision_function(X, weights="live"))
    # a slow EMA lags behind: it scores otherwise than the live weights
    slow = AutoEncoder(steps=50, ema_decay=0.9, **TINY).fit(X)
    assert not np.allclose(slow.decision_function(X), slow.decision_function(X, weights="live"))


def test_resume_continues_a_checkpoint_to_the_uninterrupted_result(run):
    det, X, ckpt, _ = run
    resumed, extra = AutoEncoder.load_checkpoint(ckpt)
    assert extra == {"epoch": 1} and resumed.epochs_done_ == 1 and int(resumed.step_.numpy()) == 54
    resumed.fit(X, resume=True)
    assert resumed.epochs_done_ == 3 and int(resumed.step_.numpy()) == 162
    np.testing.assert_array_equal(resumed.decision_function(X), det.decision_function(X))
    assert [h["mse"] for h in resumed.history_] == [h["mse"] for h in det.history_]


def test_resume_refuses_what_it_cannot_continue(run):
    _, X, ckpt, _ = run
    with pytest.raises(ConfigError, match="nothing to resume"):
        AutoEncoder(steps=50, **TINY).fit(X, resume=True)
    resumed, _ = AutoEncoder.load_checkpoint(ckpt)
    with pytest.raises(InputError, match="cannot resume: X has 3 features, the checkpoint 4"):
        resumed.fit(X[:, :3], resume=True)
    with pytest.raises(ModelError, match="training data differ"):
        resumed.fit(X + 1.0, resume=True)


def test_a_saved_model_keeps_its_training_record(run, tmp_path):
    det, X, _, _ = run
    loaded = load_detector(det.save(tmp_path / "ae"))
    assert (loaded.epochs_done_, loaded.seed_, loaded.dtype_policy_) == (3, 0, "float32")
    assert loaded.history_ == det.history_
    np.testing.assert_array_equal(loaded.decision_function(X), det.decision_function(X))
    # a saved model keeps weights, not the optimiser: it scores, but cannot resume
    with pytest.raises(ConfigError, match="nothing to resume"):
        loaded.fit(X, resume=True)


@pytest.mark.parametrize("params, message", [
    ({"steps": 0}, "steps must be a positive integer, got 0"),
    ({"epochs": 2.5}, "epochs must be a positive integer, got 2.5"),
    ({"batch_size": True}, "batch_size must be a positive integer, got True"),
    ({"score_batch_size": -1}, "score_batch_size must be a positive integer, got -1"),
    ({"steps": None, "epochs": None}, "give the training length as steps (optimiser updates) or epochs"),
    ({"learning_rate": 0.0}, "learning_rate must be positive, got 0.0"),
    ({"ema_decay": 1.0}, "ema_decay must be in [0, 1) or None, got 1.0"),
    ({"random_state": "0"}, "random_state must be an integer or None, got '0'"),
    ({"jit_compile": "auto"}, "jit_compile must be True, False or None (auto), got 'auto'"),
])
def test_training_parameters_are_checked_in_fit(params, message):
    det = AutoEncoder(**{**TINY, **params})
    with pytest.raises(ConfigError) as exc:
        det.fit(_data(n=40))
    assert str(exc.value) == message
    assert not det.is_fitted
