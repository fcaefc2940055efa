"""A seed ensemble of ALAD trained and scored as one network (geogan.detectors.stacked)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from geogan.detectors.alad import ALAD, SCORES
from geogan.detectors.ensemble import Ensemble
from geogan.detectors.stacked import StackedALAD, stack_reason, stacked_scorer
from geogan.detectors.vae import VAE
from geogan.errors import ConfigError
from tests.helpers.grids import TINY_ALAD

pytestmark = [pytest.mark.tf, pytest.mark.slow]

NO_DROPOUT = dict(dxz_dropout=0.0, dxx_dropout=0.0, dzz_dropout=0.0)


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(1500, 4)) @ rng.normal(size=(4, 6))).astype(np.float32)


def _members(seeds, **params):
    base = dict(steps=60, batch_size=64, latent_dim=4, score="l1", **TINY_ALAD)
    return [ALAD(random_state=s, **(base | params)) for s in seeds]


def test_without_dropout_each_member_is_its_seeds_single_model(X):
    """Same initial weights, batches, noise, Adam, spectral norm and EMA: only float rounding
    differs (dropout masks are drawn for the whole stack, so they are off here)."""
    members = _members([0, 1000], **NO_DROPOUT)
    StackedALAD.fresh(members, X).fit(X)
    singles = [ALAD(**m.get_params()).fit(X) for m in members]
    rows = X[:400]
    for m, single in zip(members, singles):
        np.testing.assert_allclose(m.decision_function(rows), single.decision_function(rows), rtol=1e-3, atol=1e-4)
        assert m.epochs_done_ == single.epochs_done_ and int(m.step_.numpy()) == int(single.step_.numpy())
        assert [set(r) for r in m.history_] == [set(r) for r in single.history_]
        np.testing.assert_allclose(m.history_[-1]["dis"], single.history_[-1]["dis"], rtol=1e-3)
        assert m.threshold_ == pytest.approx(single.threshold_, rel=1e-3)
    assert not np.allclose(members[0].decision_function(rows), members[1].decision_function(rows))


def test_stacked_training_is_reproducible_and_the_members_differ(X):
    a, b = _members([3, 1003, 2003]), _members([3, 1003, 2003])
    StackedALAD.fresh(a, X).fit(X)
    StackedALAD.fresh(b, X).fit(X)
    for ma, mb in zip(a, b):
        np.testing.assert_array_equal(ma.decision_function(X), mb.decision_function(X))
    assert len({float(m.decision_function(X[:1])[0]) for m in a}) == 3


@pytest.mark.parametrize("score", [s for s in SCORES if s != "auto"])
def test_one_pass_scores_every_member_as_it_scores_alone(X, score):
    members = _members([0, 1000, 2000], steps=50, score=score)
    StackedALAD.fresh(members, X).fit(X)
    scorer = stacked_scorer(members)
    assert scorer is not None
    got = scorer(X)
    want = np.stack([m.decision_function(X) for m in members])
    assert got.shape == (3, X.shape[0])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


def test_what_cannot_be_stacked_is_trained_one_by_one(X):
    assert stack_reason(_members([0, 1])) is None
    assert "only ALAD" in stack_reason([VAE(steps=5), VAE(steps=5, random_state=1)])
    assert "differ" in stack_reason(_members([0]) + _members([1], batch_size=32))
    assert "mixed-precision" in stack_reason(_members([0, 1], mixed_precision=True))
    with pytest.raises(ConfigError, match="one network"):
        StackedALAD.fresh(_members([0]) + _members([1], latent_dim=3), X)
    # an ensemble of VAEs still fits (one member after another), and scores without a stack
    ens = Ensemble(detector="vae", n_members=2, params={"steps": 20, "latent_dim": 2}).fit(X)
    assert stacked_scorer(ens.members_) is None and ens.decision_function(X[:5]).shape == (5,)


def test_an_alad_ensemble_fits_side_by_side_and_scores_in_one_pass(X):
    ens = Ensemble(detector="alad", n_members=3, random_state=5,
                   params=dict(steps=50, batch_size=64, latent_dim=4, **TINY_ALAD)).fit(X)
    assert [m.random_state for m in ens.members_] == [5, 1005, 2005]
    assert all(m.epochs_done_ == ens.members_[0].epochs_done_ > 0 for m in ens.members_)
    percent = ens.member_percentiles(X[:200])
    one_by_one = np.stack([m.decision_function(X[:200]) for m in ens.members_])
    assert ens._scorer  # the stacked scorer served the ensemble
    # the same ranking per member as scoring each alone (the percentile is monotone in the score)
    assert all(spearmanr(p, s).statistic > 0.999 for p, s in zip(percent, one_by_one))
    assert "_scorer" not in ens.__getstate__()
