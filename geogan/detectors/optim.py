"""TensorFlow training primitives of the neural detectors: a fused Adam, dynamic loss
scaling and the gradients applied under it, exponential-moving-average (EMA) weights,
in-place spectral normalisation, and the GPU query.

Must not hold: detector classes or their training loop (:mod:`geogan.detectors.neural`), or
anything that imports TensorFlow at import time (each piece imports it when used).
"""

from __future__ import annotations

from geogan._tf import tensorflow


def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU (training then keeps the rows there and compiles with XLA)."""
    return bool(tensorflow().config.list_physical_devices("GPU"))


def training_rows(X):
    """The training rows as one constant tensor, on the GPU when there is one (each step then
    gathers its batches there)."""
    import tensorflow as tf

    X_t = tf.constant(X)
    if gpu_available():
        with tf.device("/GPU:0"):
            X_t = tf.identity(X_t)
    return X_t


class FusedAdam:
    """Adam (β₁, β₂, ε as ``tf.compat.v1.train.AdamOptimizer``) with one fused op per variable.

    Keras' optimiser emits ~15 small ops per variable; with ALAD's ~60 variables and 128-row
    batches those dominate a CPU step. ``ResourceApplyAdam`` does the same update in one
    kernel (and compiles under XLA). State (moments, step) is kept for checkpoints.
    """

    def __init__(self, variables, *, learning_rate: float, beta_1: float, beta_2: float, epsilon: float = 1e-8,
                 name: str = "adam"):
        import tensorflow as tf

        self.variables = list(variables)
        self.learning_rate, self.beta_1, self.beta_2, self.epsilon = learning_rate, beta_1, beta_2, epsilon
        self.m = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name=f"{name}_m{i}")
                  for i, v in enumerate(self.variables)]
        self.v = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name=f"{name}_v{i}")
                  for i, v in enumerate(self.variables)]
        self.iterations = tf.Variable(0.0, trainable=False, name=f"{name}_t")

    def apply(self, grads) -> None:
        """One Adam update of :attr:`variables` by ``grads`` (cast to float32)."""
        import tensorflow as tf

        t = self.iterations.assign_add(1.0)
        b1p, b2p = tf.pow(self.beta_1, t), tf.pow(self.beta_2, t)
        for g, var, m, v in zip(grads, self.variables, self.m, self.v):
            tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle, beta1_power=b1p, beta2_power=b2p,
                                         lr=self.learning_rate, beta1=self.beta_1, beta2=self.beta_2,
                                         epsilon=self.epsilon, grad=g if g.dtype == tf.float32 else tf.cast(g, tf.float32))

    def state(self) -> list:
        """The variables a checkpoint saves: first and second moments, step count."""
        return [*self.m, *self.v, self.iterations]


class LossScale:
    """Dynamic loss scaling for float16 training (skip the step and halve on overflow)."""

    def __init__(self, *, initial: float = 2.0 ** 15, period: int = 2000):
        import tensorflow as tf

        self.scale = tf.Variable(initial, trainable=False, name="loss_scale")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="loss_scale_good_steps")
        self.period = period

    def state(self) -> list:
        """The variables a checkpoint saves: the scale and the overflow-free step count."""
        return [self.scale, self.good_steps]


def spectral_project(kernel, u, *, iterations: int = 1) -> None:
    """Divide ``kernel`` in place by its spectral norm (power iteration with state ``u``).

    The same in-place normalisation ``keras.layers.SpectralNormalization`` performs on every
    training call; geogan applies it once after each optimiser update of the layer instead
    (kernels change only there), which keeps the train step free of per-call conditionals.
    A 3-D ``kernel`` ``(members, in, out)`` with ``u`` ``(members, 1, out)`` is a stack of
    kernels (a stacked ensemble's), each normalised by its own norm.
    """
    import tensorflow as tf

    w = tf.convert_to_tensor(kernel)
    if w.shape.rank != 3:
        w = tf.reshape(w, [-1, kernel.shape[-1]])
    u_hat = tf.convert_to_tensor(u)
    for _ in range(iterations):
        v_hat = tf.math.l2_normalize(tf.matmul(u_hat, w, transpose_b=True), axis=-1)
        u_hat = tf.math.l2_normalize(tf.matmul(v_hat, w), axis=-1)
    u_hat, v_hat = tf.stop_gradient(u_hat), tf.stop_gradient(v_hat)
    sigma = tf.matmul(tf.matmul(v_hat, w), u_hat, transpose_b=True)
    u.assign(u_hat)
    kernel.assign(tf.reshape(w / sigma, kernel.shape))


def apply_gradients(opt: FusedAdam, loss, tape, loss_scale: LossScale | None = None) -> None:
    """Apply the gradients of ``loss`` (recorded on ``tape``) with ``opt``. Under ``loss_scale``
    (float16) ``loss`` was multiplied by its scale by the caller: the gradients are unscaled,
    a step with a non-finite gradient is skipped and the scale halved, and the scale doubles
    after ``period`` good steps."""
    import tensorflow as tf

    if loss_scale is None:
        opt.apply(tape.gradient(loss, opt.variables))
        return
    ls = loss_scale
    grads = tape.gradient(loss, opt.variables)  # loss was multiplied by ls.scale by the caller
    grads = [tf.cast(g, tf.float32) / ls.scale for g in grads]
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])

    def good():
        opt.apply(grads)
        ls.good_steps.assign_add(1)
        return tf.constant(0)

    def bad():
        ls.scale.assign(tf.maximum(ls.scale / 2.0, 1.0))
        ls.good_steps.assign(0)
        return tf.constant(0)

    tf.cond(finite, good, bad)
    grow = ls.good_steps >= ls.period
    ls.scale.assign(tf.where(grow, ls.scale * 2.0, ls.scale))
    ls.good_steps.assign(tf.where(grow, tf.zeros_like(ls.good_steps), ls.good_steps))


def spectral_pairs(nets: dict, names, *, skip, seed: int) -> list[tuple]:
    """The Dense kernels of the networks ``names`` to normalise spectrally (layers named in
    ``skip`` left free), each with its power-iteration vector ``u`` (drawn from ``seed``), as
    ``(network, kernel, u)``, projected a first time with a few power iterations so training
    starts normalised."""
    import tensorflow as tf

    pairs: list[tuple] = []
    for name in names:
        for layer in nets[name].layers:
            kernel = getattr(layer, "kernel", None)
            if kernel is None or layer.name in skip:
                continue
            u = tf.Variable(tf.random.stateless_normal([1, kernel.shape[-1]], seed=[seed, len(pairs)]),
                            trainable=False, name=f"sn_u_{name}_{layer.name}")
            pairs.append((name, kernel, u))
    # a first projection with a few power iterations, so training starts normalised
    for _, kernel, u in pairs:
        spectral_project(kernel, u, iterations=5)
    return pairs


def ema_decay_at(step, decay: float, *, warmup: bool):
    """The EMA decay after optimiser step ``step`` (a tensor): ``decay``, ramped up with
    ``warmup``."""
    import tensorflow as tf

    t = tf.cast(step, tf.float32)
    decay = tf.constant(float(decay))
    if warmup:
        # as tf.train.ExponentialMovingAverage(num_updates=step): short runs (a few
        # hundred steps) would otherwise score with weights ~ their initialisation
        decay = tf.minimum(decay, (1.0 + t) / (10.0 + t))
    return decay


def ema_update(ema_nets: dict, nets: dict, decay) -> None:
    """Move every EMA network's weights towards its live network's by ``1 - decay``."""
    import tensorflow as tf

    for name, net in nets.items():
        for e, v in zip(ema_nets[name].weights, net.weights):
            e.assign_sub((1.0 - decay) * (e - tf.cast(v, e.dtype)))
