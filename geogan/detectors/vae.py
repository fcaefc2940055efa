"""Reconstruction detectors: a variational autoencoder (the comparison in Zhang & Zuo) and a
plain autoencoder, on the same training machinery as ALAD.

- :class:`VAE`: Gaussian encoder q(z|x) and Gaussian decoder p(x|z) (mean and log-variance
  per feature), ELBO loss. Scores: ``reconstruction_probability`` (An & Cho 2015: the mean
  negative log-likelihood of x under p(x|z) over ``n_samples`` draws z ~ q(z|x); the draws
  are fixed per model, so a cell's score does not depend on its batch) or
  ``reconstruction_error`` (‖x − μ_x(μ_z(x))‖²).
- :class:`AutoEncoder`: x → 256 → 128 → latent → 128 → 256 → x, mean squared error; score =
  ‖x − x̂‖². The bottleneck is capped at half the number of features: a code as wide as its
  input can learn the identity and then reconstructs anomalies as well as anything else.

Must not hold: the shared training machinery (:mod:`geogan.detectors.neural`); only these two
models' networks, losses and scores.

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(256, 6)).astype("float32")
>>> VAE(steps=4, batch_size=64, latent_dim=2).fit(X).decision_function(X[:2]).shape
(2,)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from geogan.detectors.base import DEFAULT_CONTAMINATION
from geogan.detectors.modelfile import check_width, check_widths
from geogan.detectors.neural import DEFAULT_STEPS, NeuralDetector
from geogan.errors import ConfigError, ModelError

_LOG_2PI = math.log(2.0 * math.pi)
# the decoder's log-variance is clipped: an unbounded one lets the likelihood of a few
# perfectly reconstructed training rows run to infinity
_LOGVAR_MIN, _LOGVAR_MAX = -8.0, 8.0
#: most draws of z per cell for the reconstruction probability
MAX_SAMPLES = 100


def _layer_seed(seed: int, k: int) -> int:
    return int((seed * 6151 + k * 92821) % (2 ** 31 - 1))


class _Reconstruction(NeuralDetector):
    """Shared parameters and checks of the VAE and the autoencoder."""

    _batches_per_step = 1

    def check_params(self) -> None:
        super().check_params()
        check_width("latent_dim", self.latent_dim)
        check_widths("hidden_units", self.hidden_units)
        self._validate_score()

    def _validate_score(self) -> None:
        if self.score not in self._scores:
            raise ConfigError(f"unknown {type(self).__name__} score {self.score!r}; "
                              f"choose one of {', '.join(self._scores)}")

    def _optimizer_groups(self) -> dict[str, tuple[str, ...]]:
        return {"all": self.network_names}

    def _dense_factory(self, seed: int, dtype):
        import keras
        from keras import layers

        counter = iter(range(10_000))

        def dense(units, name, *, out_dtype=None, activation=None):
            init = keras.initializers.GlorotUniform(seed=_layer_seed(seed, next(counter)))
            return layers.Dense(int(units), activation=activation, kernel_initializer=init, name=name,
                                dtype=out_dtype or dtype)

        return dense


class VAE(_Reconstruction):
    """Variational autoencoder with a Gaussian decoder.

    Parameters
    ----------
    latent_dim
        Width of z (64; unused dimensions collapse to the prior under the KL term).
    hidden_units
        Encoder widths (256, 128); the decoder mirrors them.
    epochs, steps, batch_size, learning_rate
        Training length (``steps`` optimiser updates, 5000, unless ``epochs`` is given),
        minibatch rows, Adam step.
    beta
        Weight of the KL term (1 = the ELBO).
    score
        ``"reconstruction_probability"`` (default) or ``"reconstruction_error"``.
    n_samples
        Draws of z per cell for the reconstruction probability (10; at most 100).
    ema_decay
        EMA of the weights for scoring (None = score with the trained weights).
    mixed_precision, jit_compile, score_batch_size, contamination, random_state
        As :class:`~geogan.detectors.ALAD`.

    Raises
    ------
    ConfigError
        In ``fit``: ``score`` unknown, ``n_samples`` not an integer from 1 to 100, ``beta``
        below 0, a width, training length, ``learning_rate``, ``ema_decay`` or
        ``contamination`` out of range; :meth:`set_params` with a name the VAE does not take.
    DataError
        ``X`` unusable (see :class:`~geogan.detectors.base.Detector`).
    NotFittedError
        Scoring before ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from geogan.detectors import VAE
    >>> det = VAE(latent_dim=4, steps=2000, score="reconstruction_error")
    >>> det.get_params()["n_samples"], det.score_name
    (10, 'reconstruction_error')
    >>> X = np.random.default_rng(0).normal(size=(5000, 6)).astype("float32")
    >>> det.fit(X).decision_function(X[:3]).shape  # trains on TensorFlow  # doctest: +SKIP
    (3,)
    >>> det.decision_function(X[:3])
    Traceback (most recent call last):
    geogan.detectors.base.NotFittedError: this VAE is not fitted yet; call fit(X) first
    """

    name = "vae"
    network_names = ("encoder", "decoder")
    loss_names = ("loss", "nll", "kl")
    _scores = ("reconstruction_probability", "reconstruction_error")

    def __init__(self, *, latent_dim: int = 64, hidden_units: Sequence[int] = (256, 128), epochs: int | None = None, steps: int | None = DEFAULT_STEPS,
                 batch_size: int = 128, learning_rate: float = 1e-4, beta: float = 1.0,
                 score: str = "reconstruction_probability", n_samples: int = 10, ema_decay: float | None = None,
                 mixed_precision: bool = False, jit_compile: bool | None = None, score_batch_size: int = 16384,
                 contamination: float = DEFAULT_CONTAMINATION, random_state: int | None = 0):
        self.latent_dim = latent_dim
        self.hidden_units = hidden_units
        self.epochs = epochs
        self.steps = steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.beta = beta
        self.score = score
        self.n_samples = n_samples
        self.ema_decay = ema_decay
        self.mixed_precision = mixed_precision
        self.jit_compile = jit_compile
        self.score_batch_size = score_batch_size
        self.contamination = contamination
        self.random_state = random_state

    def check_params(self) -> None:
        super().check_params()
        # scoring holds score_batch_size x n_samples decoded rows at once
        if not isinstance(self.n_samples, (int, np.integer)) or isinstance(self.n_samples, bool) \
                or not 1 <= self.n_samples <= MAX_SAMPLES:
            raise ConfigError(f"n_samples must be an integer between 1 and {MAX_SAMPLES}, got {self.n_samples!r}")
        if not float(self.beta) >= 0.0:
            raise ConfigError(f"beta must be ≥ 0, got {self.beta!r}")

    def _build_networks(self, n_features: int, *, dtype, seed: int) -> dict:
        import keras

        dense = self._dense_factory(seed, dtype)
        L = int(self.latent_dim)
        x = keras.Input((n_features,), name="x")
        h = x
        for i, u in enumerate(self.hidden_units):
            h = dense(u, f"dense{i + 1}", activation="relu")(h)
        enc = keras.Model(x, [dense(L, "z_mean", out_dtype="float32")(h),
                              dense(L, "z_logvar", out_dtype="float32")(h)], name="encoder")
        z = keras.Input((L,), name="z")
        h = z
        for i, u in enumerate(reversed(tuple(self.hidden_units))):
            h = dense(u, f"dense{i + 1}", activation="relu")(h)
        dec = keras.Model(z, [dense(n_features, "x_mean", out_dtype="float32")(h),
                              dense(n_features, "x_logvar", out_dtype="float32")(h)], name="decoder")
        return {"encoder": enc, "decoder": dec}

    def _check_loaded_networks(self, where) -> None:
        enc, dec = self.nets_["encoder"], self.nets_["decoder"]
        if enc.inputs[0].shape[-1] != self.n_features_ or dec.outputs[0].shape[-1] != self.n_features_:
            raise ModelError("network widths do not match n_features in the config", path=where)

    @staticmethod
    def _nll(x, mean, logvar):
        import tensorflow as tf

        logvar = tf.clip_by_value(logvar, _LOGVAR_MIN, _LOGVAR_MAX)
        return 0.5 * tf.reduce_sum(_LOG_2PI + logvar + tf.square(x - mean) * tf.exp(-logvar), axis=-1)

    def _train_step(self, x, _x_second, step):
        import tensorflow as tf

        seed = tf.stack([tf.constant(self.seed_, tf.int64), tf.cast(step, tf.int64)])
        with tf.GradientTape() as tape:
            mu, logvar = self.nets_["encoder"](x, training=True)
            eps = tf.random.stateless_normal(tf.shape(mu), seed=seed)
            z = mu + tf.exp(0.5 * logvar) * eps
            x_mean, x_logvar = self.nets_["decoder"](z, training=True)
            nll = tf.reduce_mean(self._nll(x, x_mean, x_logvar))
            kl = tf.reduce_mean(-0.5 * tf.reduce_sum(1.0 + logvar - tf.square(mu) - tf.exp(logvar), axis=1))
            loss = nll + float(self.beta) * kl
            scaled = self._scaled(loss)
        self._apply_gradients("all", scaled, tape)
        return [loss, nll, kl]

    def _score_graph(self, x, nets: dict):
        import tensorflow as tf

        mu, logvar = nets["encoder"](x, training=False)
        if self.score == "reconstruction_error":
            x_mean, _ = nets["decoder"](mu, training=False)
            return tf.reduce_sum(tf.square(x - x_mean), axis=1)
        # the same standard-normal draws for every cell: a cell's score is a function of the
        # cell alone, not of the batch or tile it is scored in
        eps = tf.random.stateless_normal([int(self.n_samples), int(self.latent_dim)], seed=[self.seed_, 7])
        n = tf.shape(x)[0]
        z = mu[:, None, :] + tf.exp(0.5 * logvar)[:, None, :] * eps[None, :, :]
        x_mean, x_logvar = nets["decoder"](tf.reshape(z, [-1, int(self.latent_dim)]), training=False)
        x_rep = tf.repeat(x, int(self.n_samples), axis=0)
        nll = tf.reshape(self._nll(x_rep, x_mean, x_logvar), [n, int(self.n_samples)])
        return tf.reduce_mean(nll, axis=1)


class AutoEncoder(_Reconstruction):
    """Deterministic autoencoder, mean squared error; score = ‖x − x̂‖².

    Parameters
    ----------
    latent_dim
        Bottleneck width, capped at ``max(1, n_features // 2)`` when fitted (64 → the cap).
    hidden_units
        Encoder widths (256, 128); the decoder mirrors them.
    epochs, steps, batch_size, learning_rate, ema_decay, mixed_precision, jit_compile
        As :class:`VAE`.
    score, score_batch_size, contamination, random_state
        As :class:`VAE` (the only ``score`` is ``"reconstruction_error"``).

    Raises
    ------
    ConfigError
        In ``fit``: ``score`` unknown, a width, training length, ``learning_rate``,
        ``ema_decay`` or ``contamination`` out of range; :meth:`set_params` with a name the
        autoencoder does not take.
    DataError
        ``X`` unusable (see :class:`~geogan.detectors.base.Detector`).
    NotFittedError
        Scoring before ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from geogan.detectors import AutoEncoder
    >>> det = AutoEncoder(hidden_units=(64, 32), steps=2000)
    >>> det
    AutoEncoder(hidden_units=(64, 32), steps=2000)
    >>> X = np.random.default_rng(0).normal(size=(5000, 6)).astype("float32")
    >>> det.fit(X).decision_function(X[:3]).shape  # trains on TensorFlow  # doctest: +SKIP
    (3,)
    >>> det.set_params(units=(8,))
    Traceback (most recent call last):
    geogan.errors.ConfigError: AutoEncoder has no parameter(s) units
    """

    name = "autoencoder"
    network_names = ("encoder", "decoder")
    loss_names = ("mse",)
    _scores = ("reconstruction_error",)

    def __init__(self, *, latent_dim: int = 64, hidden_units: Sequence[int] = (256, 128), epochs: int | None = None, steps: int | None = DEFAULT_STEPS,
                 batch_size: int = 128, learning_rate: float = 1e-4, score: str = "reconstruction_error",
                 ema_decay: float | None = None, mixed_precision: bool = False, jit_compile: bool | None = None,
                 score_batch_size: int = 16384, contamination: float = DEFAULT_CONTAMINATION,
                 random_state: int | None = 0):
        self.latent_dim = latent_dim
        self.hidden_units = hidden_units
        self.epochs = epochs
        self.steps = steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.score = score
        self.ema_decay = ema_decay
        self.mixed_precision = mixed_precision
        self.jit_compile = jit_compile
        self.score_batch_size = score_batch_size
        self.contamination = contamination
        self.random_state = random_state

    def bottleneck(self, n_features: int) -> int:
        """The code width used for ``n_features`` inputs."""
        return max(1, min(int(self.latent_dim), n_features // 2))

    def _build_networks(self, n_features: int, *, dtype, seed: int) -> dict:
        import keras

        dense = self._dense_factory(seed, dtype)
        L = self.bottleneck(n_features)
        x = keras.Input((n_features,), name="x")
        h = x
        for i, u in enumerate(self.hidden_units):
            h = dense(u, f"dense{i + 1}", activation="relu")(h)
        enc = keras.Model(x, dense(L, "code", out_dtype="float32")(h), name="encoder")
        z = keras.Input((L,), name="code")
        h = z
        for i, u in enumerate(reversed(tuple(self.hidden_units))):
            h = dense(u, f"dense{i + 1}", activation="relu")(h)
        dec = keras.Model(z, dense(n_features, "x_out", out_dtype="float32")(h), name="decoder")
        return {"encoder": enc, "decoder": dec}

    def _check_loaded_networks(self, where) -> None:
        enc, dec = self.nets_["encoder"], self.nets_["decoder"]
        if enc.inputs[0].shape[-1] != self.n_features_ or dec.outputs[0].shape[-1] != self.n_features_:
            raise ModelError("network widths do not match n_features in the config", path=where)

    def _train_step(self, x, _x_second, step):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            rec = self.nets_["decoder"](self.nets_["encoder"](x, training=True), training=True)
            loss = tf.reduce_mean(tf.reduce_sum(tf.square(x - rec), axis=1))
            scaled = self._scaled(loss)
        self._apply_gradients("all", scaled, tape)
        return [loss]

    def _score_graph(self, x, nets: dict):
        import tensorflow as tf

        rec = nets["decoder"](nets["encoder"](x, training=False), training=False)
        return tf.reduce_sum(tf.square(x - tf.cast(rec, tf.float32)), axis=1)
