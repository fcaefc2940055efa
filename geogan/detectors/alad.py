"""ALAD: adversarially learned anomaly detection (Zenati et al., ICDM 2018), as in the
original tabular code, for TensorFlow 2 / Keras 3.

Five networks (widths are parameters; defaults are the paper's, the generator output and
every x input take the width of *our* data):

- encoder E(x): 256 → 128 → latent, LeakyReLU(0.2), linear output;
- generator G(z): 128 → 256 → n_features, ReLU hidden (the original code), linear output;
- D_xz(x, z): x-branch 128 LReLU; z-branch 128 LReLU + dropout 0.5; concat → 256 LReLU +
  dropout 0.5 → 1 logit;
- D_xx(x, x'): concat → 256 → 128 (the features f_xx) → 1 logit, LReLU, dropout 0.2;
- D_zz(z, z'): concat → 64 → 32 → 1 logit, LReLU, dropout 0.2.

Losses are binary cross-entropies on logits (no sigmoid layer, no label smoothing):

- discriminators: D_xz[(x, E(x)) → 1, (G(z), z) → 0] + D_xx[(x, x) → 1, (x, G(E(x))) → 0]
  + D_zz[(z, z) → 1, (z, E(G(z))) → 0];
- generator / encoder, flipped labels on both terms of each pair:
  L_G = BCE(D_xz(G(z), z), 1) + cost_x + cost_z, L_E = BCE(D_xz(x, E(x)), 0) + cost_x + cost_z,
  cost_x = BCE(D_xx(x, x), 0) + BCE(D_xx(x, G(E(x))), 1), cost_z likewise with D_zz.

Each step draws a fresh z ~ N(0, I), updates the discriminators on one batch, then G and E
on a second batch (two independent permutations per epoch, as the original), with Adam
(β₁ = 0.5). Spectral normalisation (encoder + discriminators) and EMA shadow weights (decay
0.999, separate copies) are on by default; scores always use the EMA weights with dropout
off. The anomaly score ``fm`` is ‖f_xx(x, x) − f_xx(x, G(E(x)))‖₁; ``l1`` is
‖x − G(E(x))‖₁; ``logit`` is BCE(D_xx(x, G(E(x))), 1); ``l1_high`` sums only the positive
residuals x − G(E(x)) (enrichment: mineralisation raises concentrations, and a score that
also rewards depletions can rank barren ground high).

Must not hold: the shared training machinery (:mod:`geogan.detectors.neural`) or
model-file checks (:mod:`geogan.detectors.modelfile`); only ALAD's estimator: its parameters,
the score ``auto`` stands for, its pairs, logits and train step. The networks, the losses and
the scores as graphs are in :mod:`geogan.detectors.aladnet`.

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(256, 5)).astype("float32")
>>> det = ALAD(steps=4, batch_size=64, latent_dim=4, random_state=0).fit(X)
>>> det.decision_function(X[:3]).shape
(3,)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from geogan.choices import ALAD_SCORES
from geogan.detectors.aladnet import build_networks, discriminator_losses, generator_encoder_losses, score_graph
from geogan.detectors.base import DEFAULT_CONTAMINATION
from geogan.detectors.modelfile import check_width, check_widths
from geogan.detectors.neural import DEFAULT_STEPS, NeuralDetector
from geogan.errors import ConfigError, ModelError

SCORES = ALAD_SCORES


#: share of a column's rows at its minimum that makes it one-sided (a floor; the enrichment-only
#: transform puts half of the training rows there, continuous two-sided data almost none)
ONE_SIDED_SHARE = 0.4


def one_sided(X) -> bool:
    """Whether every column of ``X`` is one-sided: at least :data:`ONE_SIDED_SHARE` of its rows
    sit at its minimum, a floor (what :class:`geogan.training.transform.Transform` makes with
    ``enrichment_only``: standardised values clipped at the training median, 0, for half the
    training rows).

    >>> import numpy as np
    >>> one_sided(np.maximum(np.random.default_rng(0).normal(size=(100, 3)), 0))  # clipped at the median
    True
    >>> one_sided(np.random.default_rng(0).normal(size=(100, 3)))
    False
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        return False
    at_floor = (X <= X.min(axis=0)).mean(axis=0)
    return bool(np.all(at_floor >= ONE_SIDED_SHARE))


def resolve_score(score: str, X) -> str:
    """The score ``"auto"`` stands for on training rows ``X``; any other name is itself.

    ``auto`` is ``latent`` (‖E(x)‖₂) when every feature is one-sided (:func:`one_sided`: the
    enrichment-only transform, where every anomaly is a large positive excursion from a
    floor the background shares, so the encoder puts anomalies far from the prior's centre),
    and ``l1`` (‖x − G(E(x))‖₁, the ALAD paper's reconstruction score) otherwise: on
    two-sided data an anomaly may sit anywhere, the centre of the latent space included
    (KDD Cup 99: ``latent`` AUROC 0.22, ``l1`` 0.99; README "A default score valid everywhere").
    """
    if score != "auto":
        return score
    return "latent" if one_sided(X) else "l1"


_SPECTRAL = ("encoder", "dis_xz", "dis_xx", "dis_zz")


class ALAD(NeuralDetector):
    """Adversarially learned anomaly detection.

    Parameters
    ----------
    latent_dim
        Width of z (64).
    steps
        Training length in optimiser steps (5000, rounded up to whole epochs), unless
        ``epochs`` is given.
    epochs, batch_size, learning_rate
        Training length, minibatch rows, Adam step (seed paper: 100, 128, 1e-4; the original
        arrhythmia code: batch 32, 1e-5).
    beta_1, beta_2
        Adam moments (0.5, 0.999 as the original).
    encoder_units, generator_units, dxz_units, dxx_units, dzz_units
        Hidden widths (each at most 65536, as ``latent_dim``). ``dxz_units = (branch, joint)``:
        the x and z branches, then the joint layer whose output is D_xz's feature layer.
    dxz_dropout, dxx_dropout, dzz_dropout
        Dropout rates in the discriminators (0.5, 0.2, 0.2); off at scoring.
    generator_activation
        ``"relu"`` (the original code) or ``"leaky_relu"`` (the paper's text).
    use_dzz
        Train with the D_zz discriminator and its cycle term (True).
    spectral_norm
        Spectrally normalise the encoder and discriminator kernels (True): one power
        iteration, then the kernel divided by its spectral norm in place, as
        ``keras.layers.SpectralNormalization`` does on each training call; here once after
        each optimiser update (the only time kernels change), which keeps conditionals out of
        the train step.
    ema_decay
        Decay of the exponential moving average of the weights used for scoring (0.999).
    ema_warmup
        Ramp the decay as ``min(decay, (1 + t) / (10 + t))`` over steps t (True), as
        ``tf.train.ExponentialMovingAverage(num_updates=t)``; without it a short run scores
        with weights close to their random initialisation.
    score
        ``"auto"`` (default: ``"latent"`` on one-sided inputs such as the enrichment-only
        transform's, ``"l1"`` otherwise; see :func:`resolve_score`), ``"latent"``, ``"fm"``,
        ``"l1"``, ``"logit"`` or ``"l1_high"`` (see the module docs).
    mixed_precision
        float16 compute on a GPU (bfloat16 on CPU), float32 variables and EMA copies.
    jit_compile
        Compile the train step with XLA; None = on a GPU only (on CPU plain graphs are
        faster for these small layers).
    score_batch_size
        Rows per scoring call (16384).
    contamination
        Share of outliers in the training data, for ``threshold_`` and ``predict`` (0.1, as
        PyOD; scores do not depend on it).
    random_state
        Seed of everything random (initial weights, z, dropout, batch order); the same seed
        on CPU gives identical scores. None draws one.

    Attributes
    ----------
    nets_, ema_nets_ : dict of keras.Model
        Live and EMA networks: ``encoder``, ``generator``, ``dis_xz``, ``dis_xx``, ``dis_zz``.
    history_ : list of dict
        Mean losses per epoch (``dis``, ``dis_xz``, ``dis_xx``, ``dis_zz``, ``gen``, ``enc``).

    Raises
    ------
    ConfigError
        In ``fit``: a width, dropout rate, ``generator_activation``, Adam moment, ``score``,
        training length, ``learning_rate``, ``ema_decay``, ``random_state``, ``jit_compile``
        or ``contamination`` out of range; :meth:`set_params` with a name ALAD does not take.
    DataError
        ``X`` unusable (see :class:`~geogan.detectors.base.Detector`).
    NotFittedError
        Scoring before ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from geogan.detectors import ALAD
    >>> det = ALAD(steps=2000, latent_dim=8, random_state=0)
    >>> det
    ALAD(latent_dim=8, steps=2000)
    >>> X = np.random.default_rng(0).normal(size=(5000, 5)).astype("float32")
    >>> det = det.fit(X)  # trains on TensorFlow  # doctest: +SKIP
    >>> det.score_name, det.decision_function(X[:3]).shape  # doctest: +SKIP
    ('l1', (3,))
    >>> det.decision_function(X[:3])
    Traceback (most recent call last):
    geogan.detectors.base.NotFittedError: this ALAD is not fitted yet; call fit(X) first
    >>> det.set_params(scroe="fm")
    Traceback (most recent call last):
    geogan.errors.ConfigError: ALAD has no parameter(s) scroe
    """

    name = "alad"
    loss_names = ("dis", "dis_xz", "dis_xx", "dis_zz", "gen", "enc")
    # the original code normalises the hidden layers only: the encoder's latent layer and
    # the discriminators' logit layers keep a free scale
    _spectral_skip_layers = ("latent", "logit")

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        epochs: int | None = None,
        steps: int | None = DEFAULT_STEPS,
        batch_size: int = 128,
        learning_rate: float = 1e-4,
        beta_1: float = 0.5,
        beta_2: float = 0.999,
        encoder_units: Sequence[int] = (256, 128),
        generator_units: Sequence[int] = (128, 256),
        dxz_units: Sequence[int] = (128, 256),
        dxx_units: Sequence[int] = (256, 128),
        dzz_units: Sequence[int] = (64, 32),
        dxz_dropout: float = 0.5,
        dxx_dropout: float = 0.2,
        dzz_dropout: float = 0.2,
        generator_activation: str = "relu",
        use_dzz: bool = True,
        spectral_norm: bool = True,
        ema_decay: float | None = None,
        ema_warmup: bool = True,
        score: str = "auto",
        mixed_precision: bool = False,
        jit_compile: bool | None = None,
        score_batch_size: int = 16384,
        contamination: float = DEFAULT_CONTAMINATION,
        random_state: int | None = 0,
    ):
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.steps = steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.encoder_units = encoder_units
        self.generator_units = generator_units
        self.dxz_units = dxz_units
        self.dxx_units = dxx_units
        self.dzz_units = dzz_units
        self.dxz_dropout = dxz_dropout
        self.dxx_dropout = dxx_dropout
        self.dzz_dropout = dzz_dropout
        self.generator_activation = generator_activation
        self.use_dzz = use_dzz
        self.spectral_norm = spectral_norm
        self.ema_decay = ema_decay
        self.ema_warmup = ema_warmup
        self.score = score
        self.mixed_precision = mixed_precision
        self.jit_compile = jit_compile
        self.score_batch_size = score_batch_size
        self.contamination = contamination
        self.random_state = random_state

    # -- parameters ------------------------------------------------------------------------------
    @property
    def network_names(self) -> tuple[str, ...]:
        """The networks: encoder, generator, dis_xz, dis_xx and, with ``use_dzz``, dis_zz."""
        return ("encoder", "generator", "dis_xz", "dis_xx") + (("dis_zz",) if self.use_dzz else ())

    @property
    def _spectral_networks(self) -> tuple[str, ...]:
        return tuple(n for n in _SPECTRAL if n in self.network_names)

    def _optimizer_groups(self) -> dict[str, tuple[str, ...]]:
        names = self.network_names
        return {"discriminators": tuple(n for n in names if n.startswith("dis_")),
                "generator_encoder": ("generator", "encoder")}

    def check_params(self) -> None:
        super().check_params()
        check_width("latent_dim", self.latent_dim)
        expected = {"encoder_units": None, "generator_units": None, "dxz_units": 2, "dxx_units": None,
                    "dzz_units": None}
        for name, n in expected.items():
            check_widths(name, getattr(self, name), length=n)
        for name in ("dxz_dropout", "dxx_dropout", "dzz_dropout"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.generator_activation not in ("relu", "leaky_relu"):
            raise ConfigError(f"generator_activation must be 'relu' or 'leaky_relu', got {self.generator_activation!r}")
        if not 0.0 < float(self.beta_1) < 1.0 or not 0.0 < float(self.beta_2) < 1.0:
            raise ConfigError("beta_1 and beta_2 must be in (0, 1)")
        self._validate_score()

    def _validate_score(self) -> None:
        if self.score not in SCORES:
            raise ConfigError(f"unknown ALAD score {self.score!r}; choose one of {', '.join(SCORES)}")

    @property
    def score_name(self) -> str:
        """The score ``decision_function`` computes: ``score``, or what ``"auto"`` resolved
        to in ``fit`` (``score_``)."""
        if self.score == "auto":
            return getattr(self, "score_", None) or "auto"
        return self.score

    def fit(self, X, y=None, **kwargs) -> ALAD:
        """Train (see :meth:`NeuralDetector.fit`); ``score="auto"`` is resolved on ``X`` first
        (``score_``, :func:`resolve_score`)."""
        self.score_ = resolve_score(self.score, self.check_X(X, fitting=True))
        return super().fit(X, y, **kwargs)

    def restore_state(self, path, state: dict, section: dict) -> None:
        super().restore_state(path, state, section)
        # what "auto" resolved to when the model was trained (the section's score);
        # models saved before "auto" existed carry their score in params
        resolved = section.get("score")
        self.score_ = resolved if resolved in SCORES and resolved != "auto" else resolve_score(self.score, [[-1.0]])
    # -- networks ----------------------------------------------------------------------------------
    def _build_networks(self, n_features: int, *, dtype, seed: int) -> dict:
        return build_networks(self, n_features, dtype=dtype, seed=seed)

    def _check_loaded_networks(self, where) -> None:
        enc, gen = self.nets_["encoder"], self.nets_["generator"]
        ok = (enc.inputs[0].shape[-1] == self.n_features_ and gen.outputs[0].shape[-1] == self.n_features_
              and enc.outputs[0].shape[-1] == self.latent_dim and gen.inputs[0].shape[-1] == self.latent_dim)
        if not ok:
            raise ModelError("network widths do not match n_features / latent_dim in the config", path=where)

    # -- the pairs and the step --------------------------------------------------------------------
    def pairs(self, x, z, nets: dict | None = None) -> dict:
        """The six (first, second) input pairs of the discriminators for data x and noise z.

        ``xz_real`` = (x, E(x)), ``xz_fake`` = (G(z), z), ``xx_real`` = (x, x), ``xx_fake`` =
        (x, G(E(x))), ``zz_real`` = (z, z), ``zz_fake`` = (z, E(G(z))). G runs once on the
        stacked (z; E(x)); E and G have no dropout, so the training flag is immaterial.
        """
        import tensorflow as tf

        nets = self.nets_ if nets is None else nets
        enc, gen = nets["encoder"], nets["generator"]
        ex = tf.cast(enc(x, training=True), tf.float32)
        n = tf.shape(z)[0]
        both = tf.cast(gen(tf.concat([z, ex], axis=0), training=True), tf.float32)
        gz, rx = both[:n], both[n:]
        out = {"xz_real": (x, ex), "xz_fake": (gz, z), "xx_real": (x, x), "xx_fake": (x, rx)}
        if self.use_dzz:
            rz = tf.cast(enc(gz, training=True), tf.float32)
            out.update(zz_real=(z, z), zz_fake=(z, rz))
        return out

    def logits(self, pairs: dict, nets: dict | None = None, *, training: bool = True) -> dict:
        """Discriminator logits for each pair; real and fake pairs go through one call."""
        import tensorflow as tf

        nets = self.nets_ if nets is None else nets
        out = {}
        for key, net in (("xz", "dis_xz"), ("xx", "dis_xx"), ("zz", "dis_zz")):
            if f"{key}_real" not in pairs:
                continue
            (a1, b1), (a2, b2) = pairs[f"{key}_real"], pairs[f"{key}_fake"]
            n = tf.shape(a1)[0]
            logit, _ = nets[net]([tf.concat([a1, a2], 0), tf.concat([b1, b2], 0)], training=training)
            out[f"{key}_real"], out[f"{key}_fake"] = logit[:n], logit[n:]
        return out

    def _noise(self, n, step, k: int):
        import tensorflow as tf

        seed = tf.stack([tf.constant(self.seed_, tf.int64), tf.cast(step, tf.int64) * 2 + k])
        return tf.random.stateless_normal([n, int(self.latent_dim)], seed=seed)

    def _train_step(self, x_d, x_g, step):
        import tensorflow as tf

        dis_names = self._optimizer_groups()["discriminators"]
        # discriminators: E and G outputs are inputs here, outside the tape
        z_d = self._noise(tf.shape(x_d)[0], step, 0)
        pairs = {k: tuple(tf.stop_gradient(t) for t in v) for k, v in self.pairs(x_d, z_d).items()}
        with tf.GradientTape() as tape:
            d = discriminator_losses(self.logits(pairs, training=True))
            loss = self._scaled(d["dis"])
        self._apply_gradients("discriminators", loss, tape)
        self._project(dis_names)
        # generator + encoder on a second batch and fresh z. One backward pass of
        # gen_xz + enc_xz + cost_x + cost_z gives exactly dL_G/dθ_G and dL_E/dθ_E: gen_xz
        # does not depend on E, enc_xz not on G.
        z_g = self._noise(tf.shape(x_g)[0], step, 1)
        with tf.GradientTape() as tape:
            g = generator_encoder_losses(self.logits(self.pairs(x_g, z_g), training=True))
            loss = self._scaled(g["gen_xz"] + g["enc_xz"] + g["cost_x"] + g["cost_z"])
        self._apply_gradients("generator_encoder", loss, tape)
        self._project(("encoder",))
        return [d["dis"], d["dis_xz"], d["dis_xx"], tf.convert_to_tensor(d["dis_zz"], tf.float32), g["gen"], g["enc"]]

    # -- scoring -------------------------------------------------------------------------------------
    def _score_graph(self, x, nets: dict):
        return score_graph(self.score_name, x, nets)

    def reconstruct(self, X, *, weights: str = "ema") -> np.ndarray:
        """G(E(x)) with EMA (default) or live weights, dropout off."""
        X = self.check_X(X)
        nets = self.ema_nets_ if weights == "ema" else self.nets_
        return np.asarray(nets["generator"](nets["encoder"](X, training=False), training=False), dtype=np.float32)
