"""Tests of geogan.detectors.optim: the neural detectors' optimiser pieces against NumPy references
(the fused Adam step, loss scaling, spectral projection, EMA weights)."""

from __future__ import annotations

import numpy as np
import pytest

from geogan.detectors.optim import (FusedAdam, LossScale, apply_gradients, ema_decay_at, ema_update, gpu_available,
                                    spectral_pairs, spectral_project, training_rows)

# TensorFlow: the first test a run meets pays its import (~5 s on two cores)
pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _variables(*shapes, seed=0):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    return [tf.Variable(rng.normal(size=s).astype(np.float32)) for s in shapes]


def test_gpu_query_and_training_rows():
    import tensorflow as tf

    assert gpu_available() is bool(tf.config.list_physical_devices("GPU"))
    X = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    rows = training_rows(X)
    assert isinstance(rows, tf.Tensor) and rows.dtype == tf.float32
    np.testing.assert_array_equal(rows.numpy(), X)


def _numpy_adam(var, grads, *, lr, b1, b2, eps):
    """tf.compat.v1.train.AdamOptimizer's update, step by step, in float64."""
    var, m, v = var.astype(np.float64), np.zeros_like(var, np.float64), np.zeros_like(var, np.float64)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        var = var - lr_t * m / (np.sqrt(v) + eps)
    return var, m, v


def test_fused_adam_steps_as_the_adam_formula():
    import tensorflow as tf

    w, b = _variables((4, 3), (3,))
    w0, b0 = w.numpy(), b.numpy()
    opt = FusedAdam([w, b], learning_rate=0.01, beta_1=0.5, beta_2=0.9, epsilon=1e-7)
    rng = np.random.default_rng(1)
    grads = [(rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)) for _ in range(5)]
    for gw, gb in grads:
        opt.apply([tf.constant(gw), tf.constant(gb, tf.float16)])  # a float16 gradient is cast
    for var, start, gs in ((w, w0, [g[0] for g in grads]), (b, b0, [g[1].astype(np.float16) for g in grads])):
        expected, m, v = _numpy_adam(start, [g.astype(np.float64) for g in gs], lr=0.01, b1=0.5, b2=0.9, eps=1e-7)
        np.testing.assert_allclose(var.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(opt.m[0].numpy(), _numpy_adam(w0, [g[0] for g in grads], lr=0.01, b1=0.5, b2=0.9,
                                                             eps=1e-7)[1], rtol=1e-5, atol=1e-7)
    # a checkpoint saves the moments and the step count
    state = opt.state()
    assert len(state) == 5 and state[-1] is opt.iterations and float(opt.iterations.numpy()) == 5.0
    assert all(s.shape == v.shape for s, v in zip(state[:2], (w, b)))


def test_apply_gradients_unscales_skips_overflow_and_grows_the_scale():
    import tensorflow as tf

    (w,), (w_ref,) = _variables((3, 2)), _variables((3, 2))
    opt, ref = (FusedAdam([v], learning_rate=0.1, beta_1=0.9, beta_2=0.999) for v in (w, w_ref))
    ls = LossScale(initial=1024.0, period=2)
    assert float(ls.scale.numpy()) == 1024.0 and int(ls.good_steps.numpy()) == 0 and ls.state() == [ls.scale,
                                                                                                    ls.good_steps]
    target = tf.constant(np.ones((3, 2), np.float32))

    def step(optimizer, var, scale=None, poison=False):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(var - target)) * (np.inf if poison else 1.0)
            scaled = loss * scale.scale if scale is not None else loss
        apply_gradients(optimizer, scaled, tape, scale)

    # a good step: the same update as without loss scaling
    step(opt, w, ls)
    step(ref, w_ref)
    np.testing.assert_allclose(w.numpy(), w_ref.numpy(), rtol=1e-6)
    assert int(ls.good_steps.numpy()) == 1 and float(ls.scale.numpy()) == 1024.0
    # an overflow: the step is skipped and the scale halved
    before = w.numpy().copy()
    step(opt, w, ls, poison=True)
    np.testing.assert_array_equal(w.numpy(), before)
    assert float(ls.scale.numpy()) == 512.0 and int(ls.good_steps.numpy()) == 0
    assert float(opt.iterations.numpy()) == 1.0
    # ``period`` good steps in a row double it
    step(opt, w, ls)
    step(opt, w, ls)
    assert float(ls.scale.numpy()) == 1024.0 and int(ls.good_steps.numpy()) == 0


def test_spectral_project_divides_a_kernel_by_its_spectral_norm():
    import tensorflow as tf

    kernel, = _variables((6, 4), seed=3)
    original = kernel.numpy()
    u = tf.Variable(np.random.default_rng(4).normal(size=(1, 4)).astype(np.float32))
    spectral_project(kernel, u, iterations=30)
    k = kernel.numpy()
    assert np.linalg.norm(k, 2) == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(k * np.linalg.norm(original, 2), original, rtol=1e-4, atol=1e-5)  # same direction
    assert np.linalg.norm(u.numpy()) == pytest.approx(1.0, abs=1e-5)
    # the right singular vector is kept: one more iteration barely moves an already unit kernel
    spectral_project(kernel, u)
    assert np.linalg.norm(kernel.numpy(), 2) == pytest.approx(1.0, abs=1e-4)


def test_spectral_project_normalises_each_kernel_of_a_stack_by_its_own_norm():
    import tensorflow as tf

    stack, = _variables((3, 5, 4), seed=5)
    scales = np.array([0.5, 2.0, 9.0], np.float32)[:, None, None]
    stack.assign(stack.numpy() * scales)
    u0 = np.random.default_rng(6).normal(size=(3, 1, 4)).astype(np.float32)
    # one power iteration: each kernel exactly as it would be projected alone
    alone = []
    for k in range(3):
        kernel, u = tf.Variable(stack.numpy()[k]), tf.Variable(u0[k])
        spectral_project(kernel, u)
        alone.append(kernel.numpy())
    u = tf.Variable(u0)
    spectral_project(stack, u)
    np.testing.assert_allclose(stack.numpy(), np.stack(alone), rtol=1e-5, atol=1e-6)
    # converged: every kernel at norm 1, whatever its scale was
    spectral_project(stack, u, iterations=300)
    assert [np.linalg.norm(k, 2) for k in stack.numpy()] == pytest.approx([1.0, 1.0, 1.0], abs=1e-3)


def test_spectral_pairs_normalise_the_named_networks_but_the_skipped_layers():
    import keras

    def net(name):
        x = keras.Input((5,))
        h = keras.layers.Dense(8, name="hidden", kernel_initializer=keras.initializers.RandomNormal(stddev=2.0,
                                                                                                    seed=1))(x)
        out = keras.layers.Dense(1, name="logit", kernel_initializer=keras.initializers.RandomNormal(stddev=2.0,
                                                                                                    seed=2))(h)
        return keras.Model(x, out, name=name)

    nets = {"dis": net("dis"), "gen": net("gen")}
    before = {n: {layer.name: np.linalg.norm(layer.kernel.numpy(), 2) for layer in m.layers if hasattr(layer, "kernel")}
              for n, m in nets.items()}
    pairs = spectral_pairs(nets, ["dis"], skip=("logit",), seed=0)
    assert [(name, kernel is nets["dis"].get_layer("hidden").kernel) for name, kernel, _ in pairs] == [("dis", True)]
    _, kernel, u = pairs[0]
    assert tuple(u.shape) == (1, 8) and not u.trainable
    assert np.linalg.norm(kernel.numpy(), 2) == pytest.approx(1.0, abs=0.05)  # five power iterations
    assert np.linalg.norm(nets["dis"].get_layer("logit").kernel.numpy(), 2) == pytest.approx(before["dis"]["logit"])
    assert np.linalg.norm(nets["gen"].get_layer("hidden").kernel.numpy(), 2) == pytest.approx(before["gen"]["hidden"])
    assert before["dis"]["hidden"] > 2.0  # so the projection did something


def test_ema_decay_ramps_up_with_warmup():
    for step in (0, 1, 10, 100, 10_000):
        assert float(ema_decay_at(step, 0.999, warmup=False)) == pytest.approx(0.999)
        assert float(ema_decay_at(step, 0.999, warmup=True)) == pytest.approx(min(0.999, (1 + step) / (10 + step)))
    assert float(ema_decay_at(0, 0.999, warmup=True)) == pytest.approx(0.1)


def test_ema_update_moves_the_shadow_weights_towards_the_live_ones():
    import keras

    def net():
        x = keras.Input((3,))
        return keras.Model(x, keras.layers.Dense(2, name="d")(x))

    live, shadow = {"n": net()}, {"n": net()}
    e0 = [w.numpy() for w in shadow["n"].weights]
    v0 = [w.numpy() for w in live["n"].weights]
    ema_update(shadow, live, 0.75)
    for e, before, v in zip(shadow["n"].weights, e0, v0):
        np.testing.assert_allclose(e.numpy(), 0.75 * before + 0.25 * v, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal([w.numpy() for w in live["n"].weights][0], v0[0])  # the live ones are untouched
