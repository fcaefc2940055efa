"""A seed ensemble of ALAD trained and scored as one network.

Every weight of the N members gains a leading member axis ``(N, in, out)``, every Dense
layer becomes one batched matmul, and one optimiser step updates every member, each on its
own minibatch (its seed's permutation), its own noise z (its seed's stream, exactly as a
single ALAD draws it) and its own dropout masks. The members' losses are summed: their
weights are disjoint, so each member's gradient is its own loss's. Adam, the spectral
normalisation (one power iteration per member's kernel) and the EMA shadow weights act per
member as in :class:`~geogan.detectors.alad.ALAD`.

The members stay ordinary :class:`~geogan.detectors.alad.ALAD` objects: their initial
weights, batches and noise are their seed's, the stacked state is written back into them
(:meth:`StackedALAD.sync`) for checkpoints and model files, which keep their format, and a
checkpoint of every member at one epoch resumes the stack. Only the dropout masks differ
from a member trained alone (drawn for the whole stack at once), so a member is its seed's
single model in distribution, not bit for bit; with dropout off they agree to float
rounding (``tests/detectors/test_stacked.py``).

:class:`StackedScorer` scores every member in one pass: the first layer's matmul takes the
rows once for all members. :func:`stack_reason` says why members cannot be stacked (other
detectors, differing parameters, mixed precision): those are trained one after another.

Must not hold: ALAD's networks as Keras models and its losses (:mod:`geogan.detectors.alad`,
:mod:`geogan.detectors.aladnet`), the forward pass on stacked weights
(:mod:`geogan.detectors.stackednet`),
the ensemble's percentiles and files (:mod:`geogan.detectors.ensemble`), checkpoint files
(:mod:`geogan.detectors.checkpoint`).

>>> import numpy as np
>>> from geogan.detectors.alad import ALAD
>>> X = np.random.default_rng(0).normal(size=(256, 5)).astype("float32")
>>> members = [ALAD(steps=4, batch_size=64, latent_dim=4, random_state=s) for s in (0, 1000)]
>>> StackedALAD.fresh(members, X).fit(X)[1].decision_function(X[:3]).shape
(3,)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from geogan._tf import tensorflow
from geogan.detectors.alad import ALAD, resolve_score
from geogan.detectors.aladnet import discriminator_losses, generator_encoder_losses
from geogan.detectors.modelfile import data_fingerprint
from geogan.detectors.optim import FusedAdam, gpu_available, spectral_project, training_rows
from geogan.detectors.stackednet import StackedForward, bce_members, dense_keys, layer_of
from geogan.errors import ConfigError, ModelError


def stack_reason(members: Sequence) -> str | None:
    """Why ``members`` cannot be trained as one network, or None when they can: they must
    all be :class:`ALAD` with the same parameters but the seed, in float32 (mixed precision
    members train one after another: float16 needs a loss scale per member)."""
    if not members:
        return "no members"
    if not all(type(m) is ALAD for m in members):
        return "only ALAD members are trained as one network"
    shared = [{k: v for k, v in m.get_params().items() if k != "random_state"} for m in members]
    if any(p != shared[0] for p in shared[1:]):
        return "the members' parameters differ"
    if members[0].mixed_precision:
        return "mixed-precision members are trained one after another"
    return None


class StackedALAD:
    """Trains ALAD ``members`` (see :func:`stack_reason`) as one network.

    ``members`` hold their training state already: fresh (:meth:`fresh`) or restored from
    checkpoints of one epoch (:meth:`ALAD.load_checkpoint`). :meth:`fit` continues them to
    their last epoch and leaves them fitted, as ``ALAD.fit`` would.
    """

    def __init__(self, members: Sequence[ALAD]):
        reason = stack_reason(members)
        if reason is not None:
            raise ConfigError(f"cannot train these members as one network: {reason}")
        done = {m.epochs_done_ for m in members}
        if len(done) != 1 or len({m.n_features_ for m in members}) != 1:
            raise ModelError("members resumed together must stand at the same epoch with the same features")
        tf = tensorflow()
        self.members = list(members)
        self.template = t = members[0]
        self.keys = dense_keys(t)

        def stacked(nets_of, attr: str, trainable: bool):
            return tf.Variable(np.stack([getattr(layer_of(nets_of(m), key), attr).numpy() for m in members]),
                               trainable=trainable, name=f"{key}/{attr}".replace("/", "_"))

        self.live = {}
        self.ema = {}
        for key in self.keys:
            self.live[key] = tuple(stacked(lambda m: m.nets_, a, True) for a in ("kernel", "bias"))
            self.ema[key] = self.live[key] if t.ema_decay is None else \
                tuple(stacked(lambda m: m.ema_nets_, a, False) for a in ("kernel", "bias"))
        # optimiser moments: member variable i of each group is (key, kernel|bias)
        # and member k's own index of each slot, for writing the moments back (sync)
        self.optimizers, self._opt_slots, self._member_index = {}, {}, {}
        for group, names in t._optimizer_groups().items():
            slots = [(key, a) for key in self.keys if key.split("/")[0] in names for a in (0, 1)]
            opt = FusedAdam([self.live[k][a] for k, a in slots], learning_rate=float(t.learning_rate),
                            beta_1=float(t.beta_1), beta_2=float(t.beta_2), name=f"stacked_{group}")
            index = self._member_index[group] = [self._member_slots(m, group) for m in members]
            for j, slot in enumerate(slots):
                opt.m[j].assign(np.stack([m.optimizers_[group].m[ix[slot]].numpy() for m, ix in zip(members, index)]))
                opt.v[j].assign(np.stack([m.optimizers_[group].v[ix[slot]].numpy() for m, ix in zip(members, index)]))
            opt.iterations.assign(t.optimizers_[group].iterations)
            self.optimizers[group], self._opt_slots[group] = opt, slots
        # spectral-norm vectors, per normalised kernel
        self._sn = []
        for i, (name, kernel, _) in enumerate(t._sn_pairs):
            key = next(k for k in self.keys if layer_of(t.nets_, k).kernel is kernel)
            u = tf.Variable(np.stack([m.sn_u_[i].numpy() for m in members]), trainable=False, name=f"sn_u_{i}")
            self._sn.append((name, key, u))
        self.step = tf.Variable(int(t.step_.numpy()), dtype=tf.int64, trainable=False, name="stacked_step")
        self.loss_sum = tf.Variable(tf.zeros([len(members), len(t.loss_names)], tf.float32), trainable=False)
        self._step_fn = None

    @classmethod
    def fresh(cls, members: Sequence[ALAD], X) -> StackedALAD:
        """Start ``members`` afresh on training rows ``X``: each validated and its networks
        built from its own seed (as ``ALAD.fit`` does)."""
        reason = stack_reason(members)
        if reason is not None:
            raise ConfigError(f"cannot train these members as one network: {reason}")
        X = [m.check_X(X, fitting=True) for m in members][0]  # as each member's fit would
        for m in members:
            m.check_params()
            m.init_state(X.shape[1])
        return cls(members)

    @staticmethod
    def _member_slots(m: ALAD, group: str) -> dict:
        ids = {id(v): i for i, v in enumerate(m.optimizers_[group].variables)}
        return {(key, a): ids[id(getattr(layer_of(m.nets_, key), attr))]
                for key in dense_keys(m) for a, attr in ((0, "kernel"), (1, "bias"))
                if id(getattr(layer_of(m.nets_, key), attr)) in ids}

    # -- the step --------------------------------------------------------------------------
    def _noise(self, n, step, k: int):
        """Each member's z exactly as :meth:`ALAD._noise` draws it from the member's seed."""
        import tensorflow as tf

        L = int(self.template.latent_dim)
        return tf.stack([tf.random.stateless_normal(
            [n, L], seed=tf.stack([tf.constant(m.seed_, tf.int64), tf.cast(step, tf.int64) * 2 + k]))
            for m in self.members])

    def _project(self, names) -> None:
        for name, key, u in self._sn:
            if name in names:
                spectral_project(self.live[key][0], u)

    def _ema_update(self) -> None:
        if self.template.ema_decay is None:
            return
        decay = self.template._ema_decay_at(self.step)
        for key in self.keys:
            for e, v in zip(self.ema[key], self.live[key]):
                e.assign_sub((1.0 - decay) * (e - v))

    def _train_step(self, X, idx) -> None:
        import tensorflow as tf

        s = self.step.assign_add(1)
        x_d, x_g = tf.gather(X, idx[:, 0]), tf.gather(X, idx[:, -1])
        n = tf.shape(idx)[2]
        seed = tf.stack([tf.constant(self.template.seed_, tf.int64), s * 1024])
        fwd = StackedForward(self.template, self.live, dropout_seed=seed)
        groups = self.template._optimizer_groups()
        pairs = {k: tuple(tf.stop_gradient(t) for t in v) for k, v in fwd.pairs(x_d, self._noise(n, s, 0)).items()}
        with tf.GradientTape() as tape:
            d = discriminator_losses(fwd.logits(pairs), bce=bce_members)
            loss = tf.reduce_sum(d["dis"])
        opt = self.optimizers["discriminators"]
        opt.apply(tape.gradient(loss, opt.variables))
        self._project(groups["discriminators"])
        with tf.GradientTape() as tape:
            g = generator_encoder_losses(fwd.logits(fwd.pairs(x_g, self._noise(n, s, 1))), bce=bce_members)
            loss = tf.reduce_sum(g["gen_xz"] + g["enc_xz"] + g["cost_x"] + g["cost_z"])
        opt = self.optimizers["generator_encoder"]
        opt.apply(tape.gradient(loss, opt.variables))
        self._project(("encoder",))
        dzz = d["dis_zz"] if self.template.use_dzz else tf.zeros_like(d["dis"])
        self.loss_sum.assign_add(tf.stack([d["dis"], d["dis_xz"], d["dis_xx"], dzz, g["gen"], g["enc"]], axis=1))
        self._ema_update()

    def _make_step_fn(self):
        import tensorflow as tf

        t = self.template
        jit = t.jit_compile if t.jit_compile is not None else gpu_available()
        spec = [tf.TensorSpec([None, t.n_features_], tf.float32),
                tf.TensorSpec([len(self.members), t._batches_per_step, None], tf.int32)]
        return tf.function(self._train_step, input_signature=spec, jit_compile=bool(jit), autograph=False)

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X, *, callback: Callable[[StackedALAD, int, list[dict]], None] | None = None) -> list[ALAD]:
        """Train every member on ``X`` to its last epoch and return them fitted.

        ``callback(stack, epoch, logs)`` runs after every epoch with one ``logs`` dict per
        member (its mean losses and ``seconds``); call :meth:`sync` there before reading a
        member's weights (scores, checkpoints).
        """
        import tensorflow as tf

        t = self.template
        X = [m.check_X(X, fitting=True) for m in self.members][0]  # as each member's fit would
        fp = data_fingerprint(X)
        if t.epochs_done_ and any(getattr(m, "data_fingerprint_", fp) != fp for m in self.members):
            raise ModelError("cannot resume: the training data differ from the checkpoint's (same grid, sample, "
                             "seed and transform are needed)")
        n = X.shape[0]
        total = t.total_epochs(n)
        for m in self.members:  # what ALAD.fit sets before training, a resumed member included
            m.score_ = resolve_score(m.score, X)
            m.data_fingerprint_, m.n_train_, m.n_epochs_ = fp, int(n), total
        if self._step_fn is None:
            self._step_fn = self._make_step_fn()
        X_t = training_rows(X)
        for epoch in range(t.epochs_done_, total):
            t0 = time.perf_counter()
            self.loss_sum.assign(tf.zeros_like(self.loss_sum))
            batches = np.stack([m._epoch_batches(n, epoch) for m in self.members], axis=1)
            for idx in tf.data.Dataset.from_tensor_slices(batches).prefetch(tf.data.AUTOTUNE):
                self._step_fn(X_t, idx)
            sums = self.loss_sum.numpy() / len(batches)
            seconds = time.perf_counter() - t0
            logs = []
            for m, row in zip(self.members, sums):
                log = {name: float(v) for name, v in zip(t.loss_names, row)}
                log["seconds"] = seconds
                m.epochs_done_ = epoch + 1
                m.history_.append({"epoch": epoch + 1, **log})
                logs.append(log)
            if callback is not None:
                callback(self, epoch + 1, logs)
        self.sync()
        for m in self.members:
            m._fit_threshold(X)
        return self.members

    def sync(self) -> None:
        """Write the stacked state (weights, EMA, Adam moments, spectral-norm vectors, step)
        into each member, so that it scores, checkpoints and saves as a single ALAD."""
        step = int(self.step.numpy())
        live = {key: tuple(v.numpy() for v in pair) for key, pair in self.live.items()}
        ema = {key: tuple(v.numpy() for v in pair) for key, pair in self.ema.items()}
        moments = {g: ([m.numpy() for m in opt.m], [v.numpy() for v in opt.v], float(opt.iterations.numpy()))
                   for g, opt in self.optimizers.items()}
        sn = [u.numpy() for _, _, u in self._sn]
        for k, m in enumerate(self.members):
            for key in self.keys:
                for attr, a in (("kernel", 0), ("bias", 1)):
                    getattr(layer_of(m.nets_, key), attr).assign(live[key][a][k])
                    if m.ema_decay is not None:
                        getattr(layer_of(m.ema_nets_, key), attr).assign(ema[key][a][k])
            for group, (ms, vs, it) in moments.items():
                index = self._member_index[group][k]
                opt = m.optimizers_[group]
                for j, slot in enumerate(self._opt_slots[group]):
                    opt.m[index[slot]].assign(ms[j][k])
                    opt.v[index[slot]].assign(vs[j][k])
                opt.iterations.assign(it)
            for i, u in enumerate(sn):
                m.sn_u_[i].assign(u[k])
            m.step_.assign(step)


class StackedScorer:
    """Scores rows under every fitted ALAD member in one pass (their EMA weights stacked):
    ``scorer(X)`` is ``(members, rows)``, member k's row equal to its ``decision_function``
    up to float rounding. Build with :func:`stacked_scorer`."""

    def __init__(self, members: Sequence[ALAD]):
        tf = tensorflow()
        t = members[0]
        self.template, self.n_members, self.score = t, len(members), t.score_name
        self.keys = dense_keys(t)
        weights = {key: tuple(tf.constant(np.stack([getattr(layer_of(m.ema_nets_, key), a).numpy() for m in members]))
                              for a in ("kernel", "bias")) for key in self.keys}
        spec = [tf.TensorSpec([None, t.n_features_], tf.float32)]
        self._fn = tf.function(lambda x: StackedForward(t, weights).score(x, self.score), input_signature=spec,
                               autograph=False)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        bs = int(self.template.score_batch_size)
        out = np.empty((self.n_members, X.shape[0]), dtype=np.float32)
        for start in range(0, X.shape[0], bs):
            out[:, start:start + bs] = self._fn(X[start:start + bs]).numpy()
        return out


def stacked_scorer(members: Sequence) -> StackedScorer | None:
    """A :class:`StackedScorer` for fitted ``members``, or None unless they are ALADs of one
    architecture and one score with Keras networks built (not a validation-only load)."""
    if len(members) < 2 or not all(type(m) is ALAD and getattr(m, "ema_nets_", None) for m in members):
        return None
    t = members[0]
    shapes = [[tuple(w.shape) for net in m.network_names for w in m.ema_nets_[net].weights] for m in members]
    same = all(s == shapes[0] for s in shapes) and len({m.score_name for m in members}) == 1 and \
        all(m.get_params() | {"random_state": 0} == t.get_params() | {"random_state": 0} for m in members)
    return StackedScorer(members) if same else None


__all__ = ["StackedALAD", "StackedScorer", "stack_reason", "stacked_scorer"]
