"""Tests for geogan.detectors.aladnet: ALAD's losses as pure functions of the discriminators'
logits (each pair's label in each loss)."""

import numpy as np
import pytest

from geogan.detectors.aladnet import bce, discriminator_losses, generator_encoder_losses

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _softplus(v):
    return float(np.log1p(np.exp(v)))


LOGITS = {"xz_real": 0.3, "xz_fake": -0.2, "xx_real": 0.7, "xx_fake": 0.1, "zz_real": -0.4, "zz_fake": 0.5}


LABELS = {"xz_real": (1, 0, {"enc"}), "xz_fake": (0, 1, {"gen"}), "xx_real": (1, 0, {"gen", "enc"}),
          "xx_fake": (0, 1, {"gen", "enc"}), "zz_real": (1, 0, {"gen", "enc"}), "zz_fake": (0, 1, {"gen", "enc"})}


def _losses(logits):
    import tensorflow as tf

    t = {k: tf.constant([[v]], tf.float32) for k, v in logits.items()}
    d = {k: float(v) for k, v in discriminator_losses(t).items()}
    g = {k: float(v) for k, v in generator_encoder_losses(t).items()}
    return d, g


def test_bce_is_from_logits():
    import tensorflow as tf

    assert float(bce(tf.constant([[0.3]]), 1.0)) == pytest.approx(_softplus(-0.3), rel=1e-6)
    assert float(bce(tf.constant([[0.3]]), 0.0)) == pytest.approx(_softplus(0.3), rel=1e-6)


def test_loss_values():
    d, g = _losses(LOGITS)
    L = LOGITS
    assert d["dis_xz"] == pytest.approx(_softplus(-L["xz_real"]) + _softplus(L["xz_fake"]), rel=1e-5)
    assert d["dis_xx"] == pytest.approx(_softplus(-L["xx_real"]) + _softplus(L["xx_fake"]), rel=1e-5)
    assert d["dis_zz"] == pytest.approx(_softplus(-L["zz_real"]) + _softplus(L["zz_fake"]), rel=1e-5)
    cost_x = _softplus(L["xx_real"]) + _softplus(-L["xx_fake"])
    cost_z = _softplus(L["zz_real"]) + _softplus(-L["zz_fake"])
    assert g["gen"] == pytest.approx(_softplus(-L["xz_fake"]) + cost_x + cost_z, rel=1e-5)
    assert g["enc"] == pytest.approx(_softplus(L["xz_real"]) + cost_x + cost_z, rel=1e-5)


@pytest.mark.parametrize("pair", list(LABELS))
def test_pair_labels(pair):
    """dBCE(l, y)/dl at l = 0 is 0.5 − y: the sign of each loss's response to one pair's
    logit reveals the label that pair carries in that loss."""
    d_label, g_label, enters = LABELS[pair]
    zero = {k: 0.0 for k in LOGITS}
    eps = 1e-2
    d0, g0 = _losses(zero)
    d1, g1 = _losses({**zero, pair: eps})
    assert (d1["dis"] - d0["dis"]) / eps == pytest.approx(0.5 - d_label, abs=1e-2)
    for loss in ("gen", "enc"):
        slope = (g1[loss] - g0[loss]) / eps
        expected = (0.5 - g_label) if loss in enters else 0.0
        assert slope == pytest.approx(expected, abs=1e-2), loss
