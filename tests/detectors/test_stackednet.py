"""Tests of geogan.detectors.stackednet: ALAD's networks on weights with a member axis compute, for
each member, what that member's Keras networks compute (training a stack, and its one-pass scores:
test_stacked.py)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from geogan.detectors import ALAD
from geogan.detectors.stackednet import StackedForward, bce_members, dense_keys, layer_of
from tests.helpers.grids import TINY_ALAD

pytestmark = [pytest.mark.tf, pytest.mark.slow]

NETWORKS = ("encoder", "generator", "dis_xz", "dis_xx", "dis_zz")


@pytest.fixture(scope="module")
def alad():
    """A tiny ALAD after one epoch (two steps) on 64 rows of 5 features: ``(det, X)``."""
    X = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    return ALAD(epochs=1, steps=None, batch_size=32, latent_dim=3, random_state=0, **TINY_ALAD).fit(X), X


def _weights(det) -> dict:
    return {key: (layer_of(det.nets_, key).kernel.numpy(), layer_of(det.nets_, key).bias.numpy())
            for key in dense_keys(det)}


def _other_weights(det, seed=1) -> dict:
    """Weights of the same shapes as ``det``'s, drawn at random: a second member."""
    rng = np.random.default_rng(seed)
    return {key: (rng.normal(scale=0.5, size=k.shape).astype(np.float32),
                  rng.normal(scale=0.1, size=b.shape).astype(np.float32)) for key, (k, b) in _weights(det).items()}


def _stacked(*members) -> dict:
    import tensorflow as tf

    return {key: tuple(tf.constant(np.stack([m[key][a] for m in members])) for a in (0, 1)) for key in members[0]}


@contextlib.contextmanager
def _networks_with(det, weights):
    """``det``'s Keras networks holding ``weights`` for the duration."""
    saved = _weights(det)
    try:
        for key, (k, b) in weights.items():
            layer_of(det.nets_, key).kernel.assign(k)
            layer_of(det.nets_, key).bias.assign(b)
        yield det.nets_
    finally:
        for key, (k, b) in saved.items():
            layer_of(det.nets_, key).kernel.assign(k)
            layer_of(det.nets_, key).bias.assign(b)


def test_dense_keys_name_every_dense_layer_of_every_network(alad):
    det, _ = alad
    keys = dense_keys(det)
    assert [k.split("/")[0] for k in keys] == sorted((k.split("/")[0] for k in keys), key=NETWORKS.index)
    for net in NETWORKS:
        layers = [layer.name for layer in det.nets_[net].layers if getattr(layer, "kernel", None) is not None]
        assert [k.split("/")[1] for k in keys if k.startswith(f"{net}/")] == layers
    assert keys[:3] == ["encoder/dense1", "encoder/dense2", "encoder/latent"]
    assert {"generator/x_out", "dis_xz/logit", "dis_xx/logit", "dis_zz/logit"} <= set(keys)
    layer = layer_of(det.nets_, "encoder/latent")
    assert layer is det.nets_["encoder"].get_layer("latent") and tuple(layer.kernel.shape) == (8, 3)


def test_bce_members_is_the_mean_cross_entropy_of_each_member():
    logits = np.random.default_rng(0).normal(scale=2.0, size=(3, 7, 1)).astype(np.float32)
    softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
    np.testing.assert_allclose(bce_members(logits, 1.0).numpy(), softplus(-logits).mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(bce_members(logits, 0.0).numpy(), softplus(logits).mean(axis=(1, 2)), rtol=1e-5)
    assert bce_members(logits.astype(np.float16), 1.0).dtype == np.float32


def test_encoder_and_generator_give_each_members_own_outputs(alad):
    import tensorflow as tf

    det, X = alad
    mine, other = _weights(det), _other_weights(det)
    fwd = StackedForward(det, _stacked(mine, other))
    ex = fwd.encoder(tf.constant(X))  # 2-D rows: the same rows for every member
    z = np.random.default_rng(2).normal(size=(2, 10, 3)).astype(np.float32)
    gz = fwd.generator(tf.constant(z))  # 3-D: each member its own rows
    assert tuple(ex.shape) == (2, 64, 3) and tuple(gz.shape) == (2, 10, 5)
    for k, weights in enumerate((mine, other)):
        with _networks_with(det, weights) as nets:
            np.testing.assert_allclose(ex[k].numpy(), nets["encoder"](X, training=False).numpy(), rtol=1e-5,
                                       atol=1e-5)
            np.testing.assert_allclose(gz[k].numpy(), nets["generator"](z[k], training=False).numpy(), rtol=1e-5,
                                       atol=1e-5)
    assert not np.allclose(ex[0].numpy(), ex[1].numpy())


def test_pairs_and_logits_without_dropout_are_alads(alad):
    import tensorflow as tf

    det, X = alad
    mine, other = _weights(det), _other_weights(det)
    fwd = StackedForward(det, _stacked(mine, other))  # no dropout seed: dropout off, as scoring
    x = np.stack([X[:16], X[16:32]])
    z = np.random.default_rng(3).normal(size=(2, 16, 3)).astype(np.float32)
    pairs = fwd.pairs(tf.constant(x), tf.constant(z))
    logits = fwd.logits(pairs)
    assert set(pairs) == {"xz_real", "xz_fake", "xx_real", "xx_fake", "zz_real", "zz_fake"} == set(logits)
    for k, weights in enumerate((mine, other)):
        with _networks_with(det, weights):
            want_pairs = det.pairs(tf.constant(x[k]), tf.constant(z[k]))
            want_logits = det.logits(want_pairs, training=False)
            for name, (a, b) in want_pairs.items():
                np.testing.assert_allclose(pairs[name][0][k].numpy(), a.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
                np.testing.assert_allclose(pairs[name][1][k].numpy(), b.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
            for name, logit in want_logits.items():
                assert tuple(logits[name][k].shape) == (16, 1)
                np.testing.assert_allclose(logits[name][k].numpy(), logit.numpy(), rtol=1e-4, atol=1e-5,
                                           err_msg=name)


def test_dropout_is_off_without_a_seed_and_fresh_at_every_call_with_one(alad):
    import tensorflow as tf

    det, _ = alad
    h = tf.ones([2, 4, 200])
    off = StackedForward(det, {})
    assert off.dropout(h, 0.5) is h
    np.testing.assert_allclose(StackedForward.lrelu(tf.constant([-1.0, 2.0])).numpy(), [-0.2, 2.0], rtol=1e-6)
    seed = tf.constant([7, 0], tf.int64)
    on = StackedForward(det, {}, dropout_seed=seed)
    assert on.dropout(h, 0.0) is h
    first, second = on.dropout(h, 0.5).numpy(), on.dropout(h, 0.5).numpy()
    assert set(np.unique(first)) == {0.0, 2.0}  # kept units scaled by 1 / (1 - rate)
    assert 0.4 < (first == 0).mean() < 0.6
    assert not np.array_equal(first, second)  # each call its own masks
    assert not np.array_equal(first[0], first[1])  # and each member
    again = StackedForward(det, {}, dropout_seed=seed)
    np.testing.assert_array_equal(again.dropout(h, 0.5).numpy(), first)  # drawn from the seed and the call count
