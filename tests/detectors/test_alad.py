"""ALAD as specified (geogan.detectors.alad): pairs, the step, EMA + dropout-off scoring, determinism,
resume, persistence safety (the losses and their labels: test_aladnet.py)."""

import json

import numpy as np
import pytest

from geogan.detectors import ALAD
from geogan.detectors.aladnet import generator_encoder_losses
from geogan.errors import ConfigError, ModelError

pytestmark = [pytest.mark.tf, pytest.mark.slow]

TINY = dict(latent_dim=3, encoder_units=[16, 8], generator_units=[8, 16], dxz_units=[8, 16], dxx_units=[16, 8],
            dzz_units=[8, 4], batch_size=32, learning_rate=1e-3, ema_decay=0.999, score="fm")


def _data(seed=0, n=400, d=5):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 0.1 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 4-epoch fit that checkpoints after epoch 2 (reused by several tests)."""
    ckpt = tmp_path_factory.mktemp("alad") / "epoch_0002"
    X = _data()

    def callback(det, epoch, logs):
        if epoch == 2:
            det.save_checkpoint(ckpt, extra={"note": "after epoch 2"})

    det = ALAD(epochs=4, random_state=0, **TINY).fit(X, callback=callback)
    return det, X, ckpt


# pair → (discriminator label, G/E label, which of gen/enc losses the pair enters)


def test_pairs_are_the_specified_ones(run):
    import tensorflow as tf

    det, X, _ = run
    x = tf.constant(X[:16])
    z = tf.random.stateless_normal([16, det.latent_dim], seed=[1, 2])
    p = det.pairs(x, z)
    E = lambda v: det.nets_["encoder"](v, training=False)  # noqa: E731
    G = lambda v: det.nets_["generator"](v, training=False)  # noqa: E731
    close = lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)  # noqa: E731
    close(p["xz_real"][0], x), close(p["xz_real"][1], E(x))
    close(p["xz_fake"][0], G(z)), close(p["xz_fake"][1], z)
    close(p["xx_real"][0], x), close(p["xx_real"][1], x)
    close(p["xx_fake"][0], x), close(p["xx_fake"][1], G(E(x)))
    close(p["zz_real"][0], z), close(p["zz_real"][1], z)
    close(p["zz_fake"][0], z), close(p["zz_fake"][1], E(G(z)))
    # one call on stacked real+fake pairs = two separate calls (dropout off)
    logits = det.logits(p, training=False)
    for key, net in (("xx", "dis_xx"), ("zz", "dis_zz"), ("xz", "dis_xz")):
        for kind in ("real", "fake"):
            a, b = p[f"{key}_{kind}"]
            close(logits[f"{key}_{kind}"], det.nets_[net]([a, b], training=False)[0])


def test_generator_encoder_gradients(run):
    """One backward pass of gen_xz + enc_xz + cost_x + cost_z gives dL_G/dθ_G and dL_E/dθ_E."""
    import tensorflow as tf

    det, X, _ = run
    x = tf.constant(X[:32])
    z = tf.random.stateless_normal([32, det.latent_dim], seed=[3, 4])
    g_vars = det.nets_["generator"].trainable_variables
    e_vars = det.nets_["encoder"].trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        g = generator_encoder_losses(det.logits(det.pairs(x, z), training=False))
        total = g["gen_xz"] + g["enc_xz"] + g["cost_x"] + g["cost_z"]
    for ours, ref in zip(tape.gradient(total, g_vars + e_vars),
                         tape.gradient(g["gen"], g_vars) + tape.gradient(g["enc"], e_vars)):
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-4, atol=1e-7)


def test_architecture_details(run):
    det, _, _ = run
    import keras

    for net in det.nets_.values():
        for layer in net.layers:
            if isinstance(layer, keras.layers.LeakyReLU):
                assert layer.negative_slope == pytest.approx(0.2)
    for name in ("dis_xz", "dis_xx", "dis_zz"):
        logit = det.nets_[name].get_layer("logit")
        assert logit.activation.__name__ == "linear" and logit.units == 1  # logits, no sigmoid
    assert det.nets_["generator"].outputs[0].shape[-1] == 5 == det.nets_["encoder"].inputs[0].shape[-1]
    assert det.optimizers_["discriminators"].beta_1 == 0.5
    assert {v.name for v in det.optimizers_["discriminators"].variables} >= {
        v.name for v in det.nets_["dis_zz"].trainable_variables}
    # fresh z every update
    a, b, c = det._noise(4, 1, 0).numpy(), det._noise(4, 1, 1).numpy(), det._noise(4, 2, 0).numpy()
    assert not np.allclose(a, b) and not np.allclose(a, c)


def _kernel_norms(det, name) -> list[float]:
    """Largest singular value of each hidden Dense kernel of network ``name`` (live weights);
    the latent and logit layers keep a free scale (original code) and are left out."""
    return [float(np.linalg.norm(layer.kernel.numpy(), 2)) for layer in det.nets_[name].layers
            if hasattr(layer, "kernel") and layer.name not in ("latent", "logit")]


def test_spectral_norm_keeps_kernels_normalised(run):
    det, X, _ = run
    normalised = ("encoder", "dis_xz", "dis_xx", "dis_zz")
    for name in normalised:
        assert _kernel_norms(det, name) == pytest.approx([1.0] * len(_kernel_norms(det, name)), abs=0.05), name
    # the generator is left free: after the same training its kernels are not at 1
    assert max(abs(n - 1.0) for n in _kernel_norms(det, "generator")) > 0.2
    # and the same networks without spectral normalisation are not at 1 either
    free = ALAD(epochs=1, random_state=0, spectral_norm=False, **TINY).fit(X[:64])
    for name in normalised:
        assert all(abs(n - 1.0) > 0.2 for n in _kernel_norms(free, name)), name


def _manual_fm(det, X):
    """The fm score by hand in NumPy from the EMA weights, dropout off."""
    def dense(layer, h):
        k, b = (w.numpy() for w in layer.weights)
        return h @ k + b

    def lrelu(h):
        return np.where(h > 0, h, 0.2 * h)

    enc, gen, dxx = (det.ema_nets_[n] for n in ("encoder", "generator", "dis_xx"))
    h = X.astype(np.float64)
    for i in (1, 2):
        h = lrelu(dense(enc.get_layer(f"dense{i}"), h))
    z = dense(enc.get_layer("latent"), h)
    for i in (1, 2):
        z = np.maximum(dense(gen.get_layer(f"dense{i}"), z), 0)
    rx = dense(gen.get_layer("x_out"), z)

    def features(a, b):
        h = np.concatenate([a, b], axis=1)
        for i in (1, 2):
            h = lrelu(dense(dxx.get_layer(f"dense{i}"), h))
        return h

    return np.abs(features(X, X) - features(X, rx)).sum(axis=1)


def test_scoring_uses_ema_weights_with_dropout_off(run):
    det, X, _ = run
    s = det.decision_function(X)
    assert np.array_equal(s, det.decision_function(X))  # no dropout noise
    np.testing.assert_allclose(s, _manual_fm(det, X), rtol=1e-4, atol=1e-5)
    live = det.decision_function(X, weights="live")
    assert not np.allclose(s, live)
    # EMA copies are separate variables
    assert all(e is not v for e, v in zip(det.ema_nets_["encoder"].weights, det.nets_["encoder"].weights))


def test_other_scores(run):
    det, X, _ = run
    rec = det.reconstruct(X)
    try:
        det.score = "l1"
        np.testing.assert_allclose(det.decision_function(X), np.abs(X - rec).sum(1), rtol=1e-4, atol=1e-5)
        det.score = "l1_high"
        np.testing.assert_allclose(det.decision_function(X), np.clip(X - rec, 0, None).sum(1), rtol=1e-4, atol=1e-5)
        det.score = "logit"
        logit, _ = det.ema_nets_["dis_xx"]([X, rec], training=False)
        np.testing.assert_allclose(det.decision_function(X), np.logaddexp(0.0, -np.asarray(logit)[:, 0]),
                                   rtol=1e-4, atol=1e-5)  # BCE(D_xx(x, G(E(x))), 1) = softplus(-logit)
    finally:
        det.score = "fm"


def test_same_seed_identical_scores_and_resume_equals_uninterrupted(run):
    det, X, ckpt = run
    again = ALAD(epochs=4, random_state=0, **TINY).fit(X)
    assert np.array_equal(again.decision_function(X), det.decision_function(X))
    resumed, extra = ALAD.load_checkpoint(ckpt)
    assert extra == {"note": "after epoch 2"} and resumed.epochs_done_ == 2
    resumed.fit(X, resume=True)
    assert np.array_equal(resumed.decision_function(X), det.decision_function(X))
    assert [h["dis"] for h in resumed.history_] == [h["dis"] for h in det.history_]


def test_resume_refuses_other_data(run):
    _, X, ckpt = run
    assert ckpt.is_dir()
    resumed, _ = ALAD.load_checkpoint(ckpt)
    with pytest.raises(ModelError, match="training data differ"):
        resumed.fit(X[:-1], resume=True)


def test_model_config_is_validated(run, tmp_path):
    det = run[0]
    path = det.save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    assert set(config["detector"]["architecture"]) == {"encoder", "generator", "dis_xz", "dis_xx", "dis_zz"}
    # a Lambda layer smuggled into the architecture is refused before Keras sees it
    evil = json.loads(json.dumps(config))
    layers = evil["detector"]["architecture"]["encoder"]["config"]["layers"]
    layers[1]["class_name"] = "Lambda"
    layers[1]["config"]["function"] = {"class_name": "__lambda__", "config": {"code": "AAAA"}}
    (path / "config.json").write_text(json.dumps(evil))
    with pytest.raises(ModelError, match="Lambda"):
        ALAD.load(path)
    evil = json.loads(json.dumps(config))
    evil["detector"]["params"]["activation_fn"] = "os.system"
    (path / "config.json").write_text(json.dumps(evil))
    with pytest.raises(ModelError, match="unknown parameter"):
        ALAD.load(path)
    (path / "config.json").write_text(json.dumps(config))
    (path / "weights" / "dis_xx.ema.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ModelError, match="dis_xx.ema"):
        ALAD.load(path)


def test_mixed_precision_trains_on_cpu():
    X = _data(n=128)
    det = ALAD(epochs=1, mixed_precision=True, random_state=0, **TINY).fit(X)
    assert det.dtype_policy_ in ("mixed_bfloat16", "mixed_float16")
    s = det.decision_function(X)
    assert s.dtype == np.float32 and np.isfinite(s).all()


def test_defaults_auto_score_live_weights_and_steps():
    """The label-free defaults (README, "Detection quality"): training length in optimiser
    steps, no EMA (live weights), and the score chosen from the data (``auto``)."""
    det = ALAD()
    assert (det.score, det.ema_decay, det.steps, det.epochs) == ("auto", None, 5000, None)
    X = _data(n=400)
    det = ALAD(steps=120, random_state=0, **{**TINY, "ema_decay": None, "score": "latent"}).fit(X)
    # 400 rows at batch 32 = 12 steps a pass; an epoch in steps mode is ≥ 50 steps (5 passes)
    assert det.batches_per_epoch(400) == 60 and det.n_epochs_ == 2 and int(det.step_.numpy()) == 120
    assert det.ema_nets_ is det.nets_
    z = det.nets_["encoder"](X, training=False).numpy()
    np.testing.assert_allclose(det.decision_function(X), np.sqrt((z ** 2).sum(1)), rtol=1e-5)
    # an explicit epoch count replaces the step count
    assert ALAD(epochs=3, steps=None, **TINY).total_epochs(400) == 3


def test_latent_score_ranks_co_enrichment_extremes_high():
    """Deposits show as more of the background's own correlation (W, Sn, Bi up together):
    the latent score ranks such extremes above typical rows."""
    rng = np.random.default_rng(1)
    factor = rng.normal(size=(1500, 1))
    X = (factor @ np.ones((1, 5)) + 0.3 * rng.normal(size=(1500, 5))).astype(np.float32)
    det = ALAD(steps=400, random_state=0, **{**TINY, "ema_decay": None, "score": "latent"}).fit(X)
    extreme = (3.5 * np.ones((20, 5)) + 0.3 * rng.normal(size=(20, 5))).astype(np.float32)
    s_typical, s_extreme = det.decision_function(X), det.decision_function(extreme)
    assert np.median(s_extreme) > np.quantile(s_typical, 0.95)


def test_auto_score_is_latent_on_one_sided_inputs_and_l1_otherwise(tmp_path):
    """``score="auto"``: the latent distance where every feature is one-sided (the
    enrichment-only transform's output), the reconstruction error ``l1`` elsewhere, where an
    anomaly may sit at the centre of the latent space. The choice is made in ``fit`` from the
    training rows alone, kept in ``score_`` and in the saved model."""
    from geogan.detectors.alad import one_sided, resolve_score

    X = _data(n=300)
    clipped = np.maximum(X - np.median(X, axis=0), 0.0)  # what the enrichment-only transform makes
    assert not one_sided(X) and one_sided(clipped)
    assert resolve_score("auto", X) == "l1" and resolve_score("auto", clipped) == "latent"
    assert resolve_score("fm", clipped) == "fm"  # an explicit score is kept
    two = ALAD(steps=60, random_state=0, **{**TINY, "score": "auto"}).fit(X)
    one = ALAD(steps=60, random_state=0, **{**TINY, "score": "auto"}).fit(clipped)
    assert (two.score, two.score_name, one.score_name) == ("auto", "l1", "latent")
    # the resolved score is what decision_function computes
    rx = two.reconstruct(X)
    np.testing.assert_allclose(two.decision_function(X), np.abs(X - rx).sum(1), rtol=1e-5)
    one.save(tmp_path / "m")
    again = ALAD.load(tmp_path / "m")
    assert again.score == "auto" and again.score_name == "latent"
    np.testing.assert_array_equal(again.decision_function(clipped), one.decision_function(clipped))
    with pytest.raises(ConfigError, match="unknown ALAD score"):
        ALAD(**{**TINY, "score": "median"}).fit(X)
