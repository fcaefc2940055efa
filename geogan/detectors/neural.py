"""The shared machinery of the TensorFlow detectors (ALAD, the VAE, the autoencoder).

:class:`NeuralDetector` holds what they share: seeded networks, a fused Adam, exponential-
moving-average (EMA) shadow weights, spectral normalisation, a ``tf.data`` pipeline of index
batches with prefetch, ``tf.function`` train steps, the training length in steps or epochs,
large-batch scoring through a ``tf.function``, saving networks as weight files, and
checkpoints that resume to the same result. TensorFlow is imported lazily.

Must not hold: the detector interface (:mod:`geogan.detectors.base`), the optimiser pieces
(loss scaling, EMA, spectral normalisation: :mod:`geogan.detectors.optim`), model-file checks
(:mod:`geogan.detectors.modelfile`), the networks' architecture and weight files
(:mod:`geogan.detectors.netfiles`), checkpoint files (:mod:`geogan.detectors.checkpoint`), or
any one detector's networks and losses (:mod:`geogan.detectors.alad`,
:mod:`geogan.detectors.vae`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from geogan._tf import tensorflow
from geogan.detectors.base import Detector
from geogan.detectors.modelfile import data_fingerprint
from geogan.detectors.netfiles import read_networks, write_networks
from geogan.detectors.optim import (FusedAdam, LossScale, apply_gradients, ema_decay_at, ema_update, gpu_available,
                                    spectral_pairs, spectral_project, training_rows)
from geogan.errors import ConfigError, InputError, ModelError

# default training length of the neural detectors, in optimiser steps (see bench/quality.py
# and the README's "Detection quality" for the figures that chose it)
DEFAULT_STEPS = 5000


class NeuralDetector(Detector):
    """Shared training/scoring machinery of the TensorFlow detectors.

    Subclasses define ``network_names`` (their networks, as saved), ``loss_names`` (the losses
    an epoch's ``logs`` report), ``_build_networks(n_features, dtype=, seed=)``,
    ``_spectral_networks`` (names whose Dense kernels are spectrally normalised),
    ``_optimizer_groups`` and the graph functions ``_train_step`` and ``_score_graph``.
    Parameters every subclass has: ``epochs``, ``steps``, ``batch_size``, ``learning_rate``,
    ``random_state``, ``ema_decay``, ``mixed_precision``, ``jit_compile``, ``score_batch_size``.

    The base class takes no parameters; the detectors built on it (:class:`~geogan.detectors.ALAD`,
    :class:`~geogan.detectors.VAE`, :class:`~geogan.detectors.AutoEncoder`) list theirs.

    Raises
    ------
    ConfigError
        In ``fit``: ``epochs``, ``steps``, ``batch_size`` or ``score_batch_size`` not a
        positive integer, neither ``steps`` nor ``epochs`` given, ``learning_rate`` not
        positive, ``ema_decay`` outside [0, 1), ``random_state`` not an integer or None,
        ``jit_compile`` not True, False or None; ``resume`` without a restored training
        state; ``weights`` other than ``"ema"`` or ``"live"`` when scoring.
    InputError
        ``resume`` with ``X`` of another width than the checkpoint's.
    ModelError
        ``resume`` with other training data than the checkpoint's.
    DataError
        ``X`` unusable (see :class:`~geogan.detectors.base.Detector`).
    NotFittedError
        Scoring before ``fit``.

    Examples
    --------
    >>> from geogan.detectors import DETECTORS, NeuralDetector
    >>> [name for name in DETECTORS if issubclass(DETECTORS[name], NeuralDetector)]
    ['alad', 'vae', 'autoencoder']
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 4)).astype("float32")
    >>> det = DETECTORS["vae"](latent_dim=2, steps=500)
    >>> isinstance(det, NeuralDetector), det.steps
    (True, 500)
    >>> det.decision_function(X)
    Traceback (most recent call last):
    geogan.detectors.base.NotFittedError: this VAE is not fitted yet; call fit(X) first
    >>> DETECTORS["alad"](steps=None, epochs=None).fit(X)  # imports TensorFlow  # doctest: +SKIP
    Traceback (most recent call last):
    geogan.errors.ConfigError: give the training length as steps (optimiser updates) or epochs
    """

    network_names: ClassVar[tuple[str, ...]] = ()
    _spectral_networks: ClassVar[tuple[str, ...]] = ()
    # output layers left free, as the original ALAD code (its SN layers are the hidden ones)
    _spectral_skip_layers: ClassVar[tuple[str, ...]] = ()
    loss_names: ClassVar[tuple[str, ...]] = ()
    # ALAD updates the discriminators and then G/E on two different batches per step
    _batches_per_step: ClassVar[int] = 2
    spectral_norm: bool = False
    ema_warmup: bool = True
    steps: int | None = None

    # -- subclass hooks --------------------------------------------------------------------
    def _build_networks(self, n_features: int, *, dtype, seed: int) -> dict:  # pragma: no cover
        raise NotImplementedError

    def _optimizer_groups(self) -> dict[str, tuple[str, ...]]:  # pragma: no cover
        raise NotImplementedError

    def _train_step(self, x_d, x_g, step):  # pragma: no cover
        raise NotImplementedError

    def _score_graph(self, x, nets: dict):  # pragma: no cover
        raise NotImplementedError

    def check_params(self) -> None:
        super().check_params()
        for name in ("epochs", "steps", "batch_size", "score_batch_size"):
            v = getattr(self, name, None)
            if v is None and name in ("epochs", "steps"):
                continue
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if self.epochs is None and getattr(self, "steps", None) is None:
            raise ConfigError("give the training length as steps (optimiser updates) or epochs")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.ema_decay is not None and not (0.0 <= float(self.ema_decay) < 1.0):
            raise ConfigError(f"ema_decay must be in [0, 1) or None, got {self.ema_decay!r}")
        if self.random_state is not None and not isinstance(self.random_state, (int, np.integer)):
            raise ConfigError(f"random_state must be an integer or None, got {self.random_state!r}")
        if self.jit_compile not in (None, True, False):
            raise ConfigError(f"jit_compile must be True, False or None (auto), got {self.jit_compile!r}")

    # -- building ----------------------------------------------------------------------------
    def _compute_dtype(self) -> str:
        if not self.mixed_precision:
            return "float32"
        # float16 needs loss scaling and is fast on GPUs; CPUs have no fast float16 but
        # recent ones do bfloat16, which needs no scaling
        return "mixed_float16" if gpu_available() else "mixed_bfloat16"

    def init_state(self, n_features: int, *, seed: int | None = None) -> None:
        """Fresh training state for ``n_features`` inputs (networks, EMA copies, optimisers,
        counters): what ``fit`` starts from, and a checkpoint restores into. Call
        :meth:`check_params` first. ``seed`` (``seed_``) is by default ``random_state``, or a
        fresh draw when that is None."""
        tf = tensorflow()

        if seed is None:
            seed = self.random_state if self.random_state is not None else \
                np.random.SeedSequence().generate_state(1)[0] >> 1
        self.n_features_ = self.n_features_in_ = int(n_features)
        self.seed_ = int(seed)
        self.dtype_policy_ = self._compute_dtype()
        self.nets_ = self._build_networks(n_features, dtype=self.dtype_policy_, seed=self.seed_)
        if self.ema_decay is not None:
            # separate float32 copies: scoring never sees the live (training) weights
            self.ema_nets_ = self._build_networks(n_features, dtype="float32", seed=self.seed_)
            for name, net in self.nets_.items():
                self.ema_nets_[name].set_weights(net.get_weights())
        else:
            self.ema_nets_ = self.nets_
        self._sn_pairs = []
        self.sn_u_ = []
        if self.spectral_norm:
            self._sn_pairs = spectral_pairs(self.nets_, self._spectral_networks, skip=self._spectral_skip_layers,
                                            seed=self.seed_)
            self.sn_u_ = [u for _, _, u in self._sn_pairs]
        self.optimizers_ = {}
        for group, names in self._optimizer_groups().items():
            variables = [v for n in names for v in self.nets_[n].trainable_variables]
            self.optimizers_[group] = FusedAdam(variables, learning_rate=float(self.learning_rate),
                                                beta_1=float(getattr(self, "beta_1", 0.9)),
                                                beta_2=float(getattr(self, "beta_2", 0.999)), name=group)
        self.loss_scale_ = LossScale() if self.dtype_policy_ == "mixed_float16" else None
        self.step_ = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._loss_sum = tf.Variable(tf.zeros([len(self.loss_names)], tf.float32), trainable=False)
        self.epochs_done_ = 0
        self.history_ = []
        self._step_fn = None
        self._score_fns = {}

    def _project(self, names) -> None:
        for name, kernel, u in self._sn_pairs:
            if name in names:
                spectral_project(kernel, u)

    def _apply_gradients(self, group: str, loss, tape) -> None:
        """Gradients of ``loss`` for optimiser ``group`` (loss-scaled under float16)."""
        apply_gradients(self.optimizers_[group], loss, tape, self.loss_scale_)

    def _scaled(self, loss):
        return loss if self.loss_scale_ is None else loss * self.loss_scale_.scale

    def _ema_decay_at(self, step):
        """The EMA decay after optimiser step ``step`` (a tensor): ``ema_decay``, ramped up with
        ``ema_warmup``."""
        return ema_decay_at(step, float(self.ema_decay), warmup=self.ema_warmup)

    def _ema_update(self) -> None:
        if self.ema_decay is None:
            return
        ema_update(self.ema_nets_, self.nets_, self._ema_decay_at(self.step_))

    def _make_step_fn(self):
        import tensorflow as tf

        jit = self.jit_compile if self.jit_compile is not None else gpu_available()

        def step(X, idx):
            s = self.step_.assign_add(1)
            x_d = tf.gather(X, idx[0])
            x_g = tf.gather(X, idx[-1]) if self._batches_per_step > 1 else x_d
            losses = self._train_step(x_d, x_g, s)
            self._loss_sum.assign_add(tf.cast(tf.stack(losses), tf.float32))
            self._ema_update()

        spec = [tf.TensorSpec([None, self.n_features_], tf.float32), tf.TensorSpec([self._batches_per_step, None], tf.int32)]
        # autograph off: the step has no tensor-dependent Python control flow, and tracing
        # (thousands of ops) is the slow part of a short fit
        return tf.function(step, input_signature=spec, jit_compile=bool(jit), autograph=False)

    # -- data --------------------------------------------------------------------------------
    def _epoch_batches(self, n: int, epoch: int) -> np.ndarray:
        """Index batches ``(n_batches, k, batch)`` for ``epoch``, one permutation of the rows
        per update in a step (ALAD: the discriminators' batch, then G/E's, as the original
        code), drawn from ``(seed, epoch)`` so a resumed run sees the same batches. Only
        indices are shuffled; rows are gathered inside the step. In steps mode an "epoch" on
        a small table is several passes (see :meth:`batches_per_epoch`)."""
        rng = np.random.default_rng([self.seed_, epoch])
        bs = min(int(self.batch_size), n)
        per_pass = self._batches_per_pass(n)
        passes = self._passes_per_epoch(n)
        perms = [np.concatenate([rng.permutation(n)[: per_pass * bs] for _ in range(passes)]).reshape(-1, bs)
                 for _ in range(self._batches_per_step)]
        return np.stack(perms, axis=1).astype(np.int32)

    # -- training length ------------------------------------------------------------------------
    # in steps mode an epoch is at least this many steps: a 200-row table would otherwise run
    # thousands of one-step epochs, each with its own Python round trip
    _min_steps_per_epoch: ClassVar[int] = 50

    def _batches_per_pass(self, n_rows: int) -> int:
        # the remainder is dropped: fixed shapes, one graph
        return max(1, int(n_rows) // min(int(self.batch_size), int(n_rows)))

    def _passes_per_epoch(self, n_rows: int) -> int:
        if self.epochs is not None:
            return 1
        return max(1, math.ceil(self._min_steps_per_epoch / self._batches_per_pass(n_rows)))

    def batches_per_epoch(self, n_rows: int) -> int:
        """Optimiser steps in one epoch on ``n_rows`` training rows: one pass (the remainder
        dropped), or in steps mode enough whole passes for at least 50 steps."""
        return self._batches_per_pass(n_rows) * self._passes_per_epoch(n_rows)

    def total_epochs(self, n_rows: int) -> int:
        """Epochs a fit on ``n_rows`` rows runs: ``epochs`` when given, else ``steps`` rounded up
        to whole epochs. Training length is counted in optimiser steps by default because a
        pass over the data is 1 step on a 200-row table and 1,100 on a 140 k-cell grid."""
        if self.epochs is not None:
            return int(self.epochs)
        return max(1, math.ceil(int(self.steps) / self.batches_per_epoch(n_rows)))

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X, y=None, *, callback: Callable[[NeuralDetector, int, dict], None] | None = None,
            resume: bool = False) -> NeuralDetector:
        """Train on ``X`` (rows = samples) for :meth:`total_epochs` epochs (``steps`` optimiser
        updates, rounded up to whole epochs, unless ``epochs`` is given), then score ``X`` for
        ``threshold_`` (see :class:`Detector`).

        Parameters
        ----------
        X
            ``(n_samples, n_features)``, finite.
        y
            Ignored (scikit-learn's signature).
        callback
            Called after every epoch as ``callback(detector, epoch, logs)`` (``epoch`` counts
            from 1; ``logs`` holds the mean losses and ``seconds``). The train stage writes
            history and checkpoints from it.
        resume
            Continue a detector restored with :meth:`load_checkpoint` (same ``X``) from its
            last finished epoch instead of starting afresh.
        """
        import tensorflow as tf

        self.check_params()
        X = self.check_X(X, fitting=True)
        if resume:
            if not hasattr(self, "step_"):
                raise ConfigError("nothing to resume: this detector has no training state (restore one with "
                                  "load_checkpoint; a saved model keeps only its weights)")
            if X.shape[1] != self.n_features_:
                raise InputError(f"cannot resume: X has {X.shape[1]} features, the checkpoint {self.n_features_}")
            fp = data_fingerprint(X)
            if getattr(self, "data_fingerprint_", fp) != fp:
                raise ModelError("cannot resume: the training data differ from the checkpoint's (same grid, "
                                 "sample, seed and transform are needed)")
        else:
            self.init_state(X.shape[1])
        self.data_fingerprint_ = data_fingerprint(X)
        self.n_train_ = int(X.shape[0])
        if self._step_fn is None:
            self._step_fn = self._make_step_fn()
        X_t = training_rows(X)
        self.n_epochs_ = self.total_epochs(X.shape[0])
        for epoch in range(self.epochs_done_, self.n_epochs_):
            t0 = time.perf_counter()
            self._loss_sum.assign(tf.zeros_like(self._loss_sum))
            batches = self._epoch_batches(X.shape[0], epoch)
            dataset = tf.data.Dataset.from_tensor_slices(batches).prefetch(tf.data.AUTOTUNE)
            for idx in dataset:
                self._step_fn(X_t, idx)
            sums = self._loss_sum.numpy()
            logs = {name: float(v) / len(batches) for name, v in zip(self.loss_names, sums)}
            logs["seconds"] = time.perf_counter() - t0
            self.epochs_done_ = epoch + 1
            self.history_.append({"epoch": epoch + 1, **logs})
            if callback is not None:
                callback(self, epoch + 1, logs)
        return self._fit_threshold(X)

    # -- scoring -----------------------------------------------------------------------------
    def _score_fn(self, which: str):
        import tensorflow as tf

        key = (which, self.score_name)
        if key not in self._score_fns:
            nets = self.ema_nets_ if which == "ema" else self.nets_
            spec = [tf.TensorSpec([None, self.n_features_], tf.float32)]
            self._score_fns[key] = tf.function(lambda x: self._score_graph(x, nets), input_signature=spec,
                                               autograph=False)
        return self._score_fns[key]

    def decision_function(self, X, *, weights: str = "ema") -> np.ndarray:
        """Anomaly score per row (higher = more anomalous), float32.

        Runs the ``score`` function through one ``tf.function`` on batches of
        ``score_batch_size`` rows with dropout off. ``weights="ema"`` (default) uses the EMA
        shadow weights; ``"live"`` the last training weights (for diagnostics).
        """
        X = self.check_X(X)
        if weights not in ("ema", "live"):
            raise ConfigError(f"weights must be 'ema' or 'live', got {weights!r}")
        self._validate_score()
        fn = self._score_fn(weights)
        bs = int(self.score_batch_size)
        out = np.empty(X.shape[0], dtype=np.float32)
        for start in range(0, X.shape[0], bs):
            out[start:start + bs] = fn(X[start:start + bs]).numpy()
        return out

    def _validate_score(self) -> None:
        pass

    # -- persistence -------------------------------------------------------------------------
    def _architecture(self) -> dict:
        import keras

        return {name: keras.saving.serialize_keras_object(net) for name, net in self.ema_nets_.items()}

    def _state_to_disk(self, path: Path) -> dict:
        return {"weights": write_networks(self, path), "epochs_done": int(self.epochs_done_), "seed": int(self.seed_),
                "dtype_policy": self.dtype_policy_,
                "history": [{k: float(v) for k, v in row.items()} for row in self.history_]}

    def restore_state(self, path: Path, state: dict, section: dict) -> None:
        read_networks(self, path, state, section)
        self.epochs_done_ = int(state.get("epochs_done", 0))
        self.seed_ = int(state.get("seed", 0))
        self.dtype_policy_ = str(state.get("dtype_policy", "float32"))
        self.history_ = list(state.get("history", []))
        self._score_fns = {}

    def _check_loaded_networks(self, where) -> None:
        """Subclasses check input/output widths of the rebuilt networks."""

    # -- checkpoints (files: geogan.detectors.checkpoint) -----------------------------------------
    def save_checkpoint(self, path, *, extra: dict | None = None) -> Path:
        """Write everything needed to resume training (weights, EMA, optimiser moments,
        dropout RNG states, step counter, epoch) to directory ``path``, atomically."""
        from geogan.detectors.checkpoint import write_checkpoint

        return write_checkpoint(self, path, extra=extra)

    @classmethod
    def load_checkpoint(cls, path) -> tuple[NeuralDetector, dict]:
        """Restore a detector saved with :meth:`save_checkpoint`; returns it and ``extra``.

        Continue training with ``det.fit(X, resume=True)`` on the same ``X``. The metadata is
        validated as a model's ``config.json`` is (known detector and parameters, widths within
        :data:`~geogan.detectors.modelfile.MAX_UNITS`) before anything is built: a bad
        checkpoint is a :class:`ModelError`.
        """
        from geogan.detectors.checkpoint import read_checkpoint

        return read_checkpoint(path, cls, base=NeuralDetector)
