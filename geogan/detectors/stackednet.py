"""ALAD's networks on stacked member weights: one forward pass for every member of a seed ensemble.

What lives here: :class:`StackedForward` (the encoder, generator and discriminators of
:mod:`geogan.detectors.aladnet` written on weights with a leading member axis, every Dense
layer one batched matmul, dropout drawn for the whole stack), :func:`bce_members` (the
cross-entropy reduced per member, so the members' losses stay their own) and the helpers
that name the Dense layers (:func:`dense_keys`, :func:`layer_of`). What does not: training
and scoring the stack, and writing it back into the members (:mod:`geogan.detectors.stacked`).

>>> import numpy as np
>>> [round(float(v), 4) for v in bce_members(np.zeros((2, 3, 1), "float32"), 1.0)]
[0.6931, 0.6931]
"""

from __future__ import annotations

from geogan.detectors.alad import ALAD

__all__ = ["StackedForward", "bce_members", "dense_keys", "layer_of"]


_SLOPE = 0.2  # ALAD's LeakyReLU


def dense_keys(det: ALAD) -> list[str]:
    """``net/layer`` of every Dense layer of ``det``'s networks, in network order."""
    return [f"{name}/{layer.name}" for name in det.network_names for layer in det.nets_[name].layers
            if getattr(layer, "kernel", None) is not None]


def layer_of(nets: dict, key: str):
    """The layer ``key`` (``net/layer``, as :func:`dense_keys` names it) of ``nets``."""
    net, layer = key.split("/")
    return nets[net].get_layer(layer)


def bce_members(logits, label: float):
    """Mean binary cross-entropy of stacked ``logits`` ``(members, rows, 1)`` against ``label``,
    one per member."""
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    labels = tf.fill(tf.shape(logits), label)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=[1, 2])


class StackedForward:
    """ALAD's five networks on stacked weights ``{net/layer: (kernel, bias)}``.

    Inputs are ``(members, rows, width)``; a 2-D input ``(rows, width)`` is the same rows for
    every member (scoring), taken by one matmul. ``dropout_seed`` (a ``[2]`` int64 tensor)
    turns dropout on; each call draws its own masks from it and a call counter.
    """

    def __init__(self, det: ALAD, weights: dict, *, dropout_seed=None):
        self.det, self.weights, self.seed = det, weights, dropout_seed
        self._calls = 0

    def dense(self, h, key: str):
        import tensorflow as tf

        kernel, bias = self.weights[key]
        y = tf.einsum("bi,mio->mbo", h, kernel) if h.shape.rank == 2 else tf.matmul(h, kernel)
        return y + bias[:, None, :]

    def dropout(self, h, rate: float):
        import tensorflow as tf

        if self.seed is None or not rate:
            return h
        self._calls += 1
        seed = self.seed + tf.constant([0, 1], tf.int64) * self._calls
        return tf.nn.experimental.stateless_dropout(h, rate=float(rate), seed=seed)

    @staticmethod
    def lrelu(h):
        import tensorflow as tf

        return tf.nn.leaky_relu(h, alpha=_SLOPE)

    def encoder(self, x):
        h = x
        for i in range(len(self.det.encoder_units)):
            h = self.lrelu(self.dense(h, f"encoder/dense{i + 1}"))
        return self.dense(h, "encoder/latent")

    def generator(self, z):
        import tensorflow as tf

        h = z
        for i in range(len(self.det.generator_units)):
            h = self.dense(h, f"generator/dense{i + 1}")
            h = tf.nn.relu(h) if self.det.generator_activation == "relu" else self.lrelu(h)
        return self.dense(h, "generator/x_out")

    def dis_xz(self, x, z):
        import tensorflow as tf

        rate = self.det.dxz_dropout
        hx = self.lrelu(self.dense(x, "dis_xz/x_dense"))
        hz = self.dropout(self.lrelu(self.dense(z, "dis_xz/z_dense")), rate)
        feat = self.dropout(self.lrelu(self.dense(tf.concat([hx, hz], -1), "dis_xz/dense")), rate)
        return self.dense(feat, "dis_xz/logit"), feat

    def pair(self, name: str, a, b):
        import tensorflow as tf

        units, rate = (self.det.dxx_units, self.det.dxx_dropout) if name == "dis_xx" else \
            (self.det.dzz_units, self.det.dzz_dropout)
        h = tf.concat([a, b], -1)
        for i in range(len(units)):
            h = self.dropout(self.lrelu(self.dense(h, f"{name}/dense{i + 1}")), rate)
        return self.dense(h, f"{name}/logit"), h

    def pairs(self, x, z) -> dict:
        """:meth:`ALAD.pairs` with a member axis: rows are axis 1."""
        import tensorflow as tf

        ex = self.encoder(x)
        n = tf.shape(z)[1]
        both = self.generator(tf.concat([z, ex], axis=1))
        gz, rx = both[:, :n], both[:, n:]
        out = {"xz_real": (x, ex), "xz_fake": (gz, z), "xx_real": (x, x), "xx_fake": (x, rx)}
        if self.det.use_dzz:
            out.update(zz_real=(z, z), zz_fake=(z, self.encoder(gz)))
        return out

    def logits(self, pairs: dict) -> dict:
        """:meth:`ALAD.logits` with a member axis: real and fake pairs in one call."""
        import tensorflow as tf

        out = {}
        for key in ("xz", "xx", "zz"):
            if f"{key}_real" not in pairs:
                continue
            (a1, b1), (a2, b2) = pairs[f"{key}_real"], pairs[f"{key}_fake"]
            a, b = tf.concat([a1, a2], 1), tf.concat([b1, b2], 1)
            logit, _ = self.dis_xz(a, b) if key == "xz" else self.pair(f"dis_{key}", a, b)
            n = tf.shape(a1)[1]
            out[f"{key}_real"], out[f"{key}_fake"] = logit[:, :n], logit[:, n:]
        return out

    def score(self, x, score: str):
        """:meth:`ALAD._score_graph` for every member: ``(members, rows)`` from rows ``x``."""
        import tensorflow as tf

        ex = self.encoder(x)
        if score == "latent":
            return tf.sqrt(tf.reduce_sum(tf.square(ex), axis=-1))
        rx = self.generator(ex)
        if score == "l1":
            return tf.reduce_sum(tf.abs(x[None] - rx), axis=-1)
        if score == "l1_high":
            return tf.reduce_sum(tf.nn.relu(x[None] - rx), axis=-1)
        xb = tf.broadcast_to(x[None], tf.shape(rx))
        logit_fake, f_fake = self.pair("dis_xx", xb, rx)
        if score == "logit":
            return tf.nn.softplus(-logit_fake[..., 0])
        _, f_real = self.pair("dis_xx", xb, xb)
        return tf.reduce_sum(tf.abs(f_real - f_fake), axis=-1)
