"""ALAD's networks and losses: the five Keras models, the cross-entropies on their logits, the scores.

What lives here: :func:`build_networks` (encoder, generator and the three discriminators,
with the widths, activations, dropout and seeded initialisers the module docstring of
:mod:`geogan.detectors.alad` describes), the losses as pure functions of the
discriminators' logits (:func:`bce`, :func:`discriminator_losses`,
:func:`generator_encoder_losses`; a stacked ensemble reduces them per member) and
:func:`score_graph`, each anomaly score as a graph of the networks. What does not: the
estimator, its parameters and its training step (:class:`geogan.detectors.alad.ALAD`), the
shared training machinery (:mod:`geogan.detectors.neural`).

>>> losses = discriminator_losses({"xz_real": [4.0], "xz_fake": [-4.0], "xx_real": [4.0], "xx_fake": [-4.0]})
>>> sorted(losses), round(float(losses["dis"]), 3)
(['dis', 'dis_xx', 'dis_xz', 'dis_zz'], 0.073)
"""

from __future__ import annotations

__all__ = ["build_networks", "bce", "discriminator_losses", "generator_encoder_losses", "score_graph"]


# -- the losses, as pure functions of the discriminators' logits --------------------------------
def bce(logits, label: float):
    """Mean binary cross-entropy of ``logits`` against a constant ``label`` (from logits)."""
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), label),
                                                                  logits=logits))


def discriminator_losses(logits: dict, bce=bce) -> dict:
    """Discriminator losses from the logits of the six pairs.

    ``logits`` maps ``xz_real`` = D_xz(x, E(x)), ``xz_fake`` = D_xz(G(z), z), ``xx_real`` =
    D_xx(x, x), ``xx_fake`` = D_xx(x, G(E(x))), ``zz_real`` = D_zz(z, z), ``zz_fake`` =
    D_zz(z, E(G(z))) (the ``zz`` pair is optional). Real pairs → 1, fake pairs → 0. ``bce``
    reduces each pair's cross-entropies (one mean; a stacked ensemble's: one per member).
    """
    out = {"dis_xz": bce(logits["xz_real"], 1.0) + bce(logits["xz_fake"], 0.0),
           "dis_xx": bce(logits["xx_real"], 1.0) + bce(logits["xx_fake"], 0.0)}
    out["dis_zz"] = (bce(logits["zz_real"], 1.0) + bce(logits["zz_fake"], 0.0)) if "zz_real" in logits else 0.0
    out["dis"] = out["dis_xz"] + out["dis_xx"] + out["dis_zz"]
    return out


def generator_encoder_losses(logits: dict, bce=bce) -> dict:
    """Generator and encoder losses: the discriminators' labels flipped on every pair (``bce``
    as in :func:`discriminator_losses`)."""
    out = {"gen_xz": bce(logits["xz_fake"], 1.0),
           "enc_xz": bce(logits["xz_real"], 0.0),
           "cost_x": bce(logits["xx_real"], 0.0) + bce(logits["xx_fake"], 1.0)}
    out["cost_z"] = (bce(logits["zz_real"], 0.0) + bce(logits["zz_fake"], 1.0)) if "zz_real" in logits else 0.0
    out["gen"] = out["gen_xz"] + out["cost_x"] + out["cost_z"]
    out["enc"] = out["enc_xz"] + out["cost_x"] + out["cost_z"]
    return out


def _layer_seed(seed: int, k: int) -> int:
    return int((seed * 7919 + k * 104729) % (2 ** 31 - 1))


def build_networks(det, n_features: int, *, dtype, seed: int) -> dict:
    """The five networks of ``det`` (an :class:`~geogan.detectors.alad.ALAD`, whose widths,
    dropout rates, generator activation and ``use_dzz`` they take) for ``n_features`` inputs,
    in compute ``dtype``, every initialiser and dropout layer seeded from ``seed``."""
    import keras
    from keras import layers

    counter = iter(range(10_000))

    def dense(units, name, *, out_dtype=None):
        init = keras.initializers.GlorotUniform(seed=_layer_seed(seed, next(counter)))
        return layers.Dense(int(units), kernel_initializer=init, name=name, dtype=out_dtype or dtype)

    def lrelu(name):
        return layers.LeakyReLU(negative_slope=0.2, name=name, dtype=dtype)

    def dropout(rate, name):
        return layers.Dropout(float(rate), seed=_layer_seed(seed, 5000 + next(counter)), name=name, dtype=dtype)

    L = int(det.latent_dim)
    nets = {}

    x = keras.Input((n_features,), name="x")
    h = x
    for i, u in enumerate(det.encoder_units):
        h = lrelu(f"lrelu{i + 1}")(dense(u, f"dense{i + 1}")(h))
    nets["encoder"] = keras.Model(x, dense(L, "latent", out_dtype="float32")(h), name="encoder")

    z = keras.Input((L,), name="z")
    h = z
    for i, u in enumerate(det.generator_units):
        h = dense(u, f"dense{i + 1}")(h)
        h = (layers.ReLU(name=f"relu{i + 1}", dtype=dtype) if det.generator_activation == "relu"
             else lrelu(f"lrelu{i + 1}"))(h)
    nets["generator"] = keras.Model(z, dense(n_features, "x_out", out_dtype="float32")(h), name="generator")

    x = keras.Input((n_features,), name="x")
    z = keras.Input((L,), name="z")
    branch, joint = det.dxz_units
    hx = lrelu("x_lrelu")(dense(branch, "x_dense")(x))
    hz = dropout(det.dxz_dropout, "z_dropout")(lrelu("z_lrelu")(dense(branch, "z_dense")(z)))
    h = layers.Concatenate(name="concat", dtype=dtype)([hx, hz])
    feat = dropout(det.dxz_dropout, "dropout")(lrelu("lrelu")(dense(joint, "dense")(h)))
    nets["dis_xz"] = keras.Model([x, z], [dense(1, "logit", out_dtype="float32")(feat), feat], name="dis_xz")

    def pair_discriminator(width, units, rate, name):
        a = keras.Input((width,), name="a")
        b = keras.Input((width,), name="b")
        h = layers.Concatenate(name="concat", dtype=dtype)([a, b])
        for i, u in enumerate(units):
            h = dropout(rate, f"dropout{i + 1}")(lrelu(f"lrelu{i + 1}")(dense(u, f"dense{i + 1}")(h)))
        return keras.Model([a, b], [dense(1, "logit", out_dtype="float32")(h), h], name=name)

    nets["dis_xx"] = pair_discriminator(n_features, det.dxx_units, det.dxx_dropout, "dis_xx")
    if det.use_dzz:
        nets["dis_zz"] = pair_discriminator(L, det.dzz_units, det.dzz_dropout, "dis_zz")
    return nets


def score_graph(score: str, x, nets: dict):
    """The anomaly score ``score`` (``latent``, ``l1``, ``l1_high``, ``logit`` or ``fm``; see
    :mod:`geogan.detectors.alad`) of the rows ``x`` as a graph of ``nets``, dropout off."""
    import tensorflow as tf

    if score == "latent":
        z = tf.cast(nets["encoder"](x, training=False), tf.float32)
        return tf.sqrt(tf.reduce_sum(tf.square(z), axis=1))
    rx = tf.cast(nets["generator"](nets["encoder"](x, training=False), training=False), tf.float32)
    if score == "l1":
        return tf.reduce_sum(tf.abs(x - rx), axis=1)
    if score == "l1_high":
        return tf.reduce_sum(tf.nn.relu(x - rx), axis=1)
    logit_fake, f_fake = nets["dis_xx"]([x, rx], training=False)
    if score == "logit":
        # BCE(D_xx(x, G(E(x))), 1): how un-"real" the reconstruction pair looks
        return tf.nn.softplus(-tf.cast(logit_fake[:, 0], tf.float32))
    _, f_real = nets["dis_xx"]([x, x], training=False)
    return tf.reduce_sum(tf.abs(tf.cast(f_real, tf.float32) - tf.cast(f_fake, tf.float32)), axis=1)
