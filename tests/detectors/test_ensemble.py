"""Tests of geogan.detectors.ensemble: seed ensembles of the scikit-learn baselines, their
calibrated percentiles, member seeds, parameter checks and model files. (ALAD members trained
side by side: test_stacked.py; the ensemble's threshold: test_base.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from geogan.detectors import Ensemble, IsolationForest, PCAReconstruction, get_detector, load_detector
from geogan.detectors.ensemble import calibrate, member_dir, to_percentile
from geogan.errors import ConfigError, ModelError

LEVELS = np.linspace(0.0, 1.0, 1025)


def _data(n=500, d=4, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) @ rng.normal(size=(d, d))).astype(np.float32)


@pytest.fixture(scope="module")
def forest():
    """Three IsolationForest members fitted on :func:`_data` (seed 7): ``(ensemble, X)``."""
    X = _data()
    return Ensemble(detector="iforest", n_members=3, params={"n_estimators": 30}, random_state=7).fit(X), X


# -- percentiles ---------------------------------------------------------------------------------
def test_calibrate_keeps_1025_quantiles_of_the_training_scores():
    scores = np.random.default_rng(0).gamma(2.0, size=2_000)
    q = calibrate(scores)
    assert q.shape == (1025,) and q.dtype == np.float64
    np.testing.assert_allclose(q, np.quantile(scores, LEVELS))
    assert q[0] == scores.min() and q[-1] == scores.max() and np.all(np.diff(q) >= 0)


def test_to_percentile_is_the_reference_cdf_extended_linearly_beyond_it():
    # a uniform reference on [0, 1]: the percentile is the score itself, inside and beyond
    q = calibrate(np.linspace(0.0, 1.0, 10_001))
    s = np.array([-0.5, -0.01, 0.0, 0.25, 0.5, 0.999, 1.0, 1.2, 3.0])
    np.testing.assert_allclose(to_percentile(s, q), s, atol=1e-6)
    # on a skewed reference: the share of reference scores below, monotone in the score
    ref = np.random.default_rng(1).lognormal(size=5_000)
    q = calibrate(ref)
    s = np.sort(np.random.default_rng(2).lognormal(size=300))
    u = to_percentile(s, q)
    np.testing.assert_allclose(u, (ref[None, :] < s[:, None]).mean(axis=1), atol=2e-3)
    assert np.all(np.diff(u) >= 0)
    # the strongest anomalies keep their order instead of tying at 100 %
    top = to_percentile(np.array([ref.max() * 2, ref.max() * 4]), q)
    assert 1.0 < top[0] < top[1]


def test_to_percentile_of_a_flat_reference_is_finite_and_monotone():
    q = calibrate(np.zeros(100))
    u = to_percentile(np.array([-1.0, 0.0, 1e-9, 1.0]), q)
    assert np.all(np.isfinite(u)) and np.all(np.diff(u) > 0)


# -- fitting and scoring -------------------------------------------------------------------------
def test_members_get_seeds_a_thousand_apart_and_differ(forest):
    ens, X = forest
    assert [m.random_state for m in ens.members_] == [7, 1007, 2007]
    assert [ens.member_seed(k) for k in range(3)] == [7, 1007, 2007]
    assert all(type(m) is IsolationForest and m.n_estimators == 30 for m in ens.members_)
    member = ens.make_member(1)
    assert not member.is_fitted and member.get_params() == ens.members_[1].get_params()
    # member 0 is the single model of the ensemble's seed
    np.testing.assert_array_equal(ens.members_[0].decision_function(X),
                                  IsolationForest(n_estimators=30, random_state=7).fit(X).decision_function(X))
    raw = np.stack([m.decision_function(X) for m in ens.members_])
    assert not np.allclose(raw[0], raw[1]) and not np.allclose(raw[1], raw[2])
    assert Ensemble(detector="iforest", random_state=None).member_seed(2) == 2000


def test_the_score_is_the_mean_calibrated_percentile_of_the_members(forest):
    ens, X = forest
    rows = np.vstack([X[:100], 10 * X[:3]]).astype(np.float32)
    percentiles = np.stack([to_percentile(m.decision_function(rows), calibrate(m.decision_function(X)))
                            for m in ens.members_])
    np.testing.assert_allclose(ens.quantiles_, np.stack([calibrate(m.decision_function(X)) for m in ens.members_]))
    np.testing.assert_allclose(ens.member_percentiles(rows), percentiles, rtol=1e-6)
    np.testing.assert_allclose(ens.decision_function(rows), 100 * percentiles.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(ens.score_spread(rows), 100 * percentiles.std(axis=0), rtol=1e-5, atol=1e-4)
    mean, spread = ens.score_with_spread(rows)
    np.testing.assert_array_equal(mean, ens.decision_function(rows))
    np.testing.assert_array_equal(spread, ens.score_spread(rows))
    assert mean.dtype == spread.dtype == np.float32
    assert ens.score_name == "ensemble_percentile(isolation)"
    # the training rows spread over 0-100; the scaled-up rows lie beyond
    train = ens.decision_function(X)
    assert 0 <= train.min() and train.max() <= 100 and 40 < float(np.median(train)) < 60
    assert np.all(mean[-3:] > np.quantile(train, 0.99))


def test_seed_free_members_agree_and_have_no_spread():
    X = _data()
    ens = Ensemble(detector="pca", n_members=3, params={"n_components": 2}).fit(X)
    assert ens.score_name == "ensemble_percentile(reconstruction_error)"
    np.testing.assert_allclose(ens.score_spread(X), 0.0, atol=1e-9)
    alone = PCAReconstruction(n_components=2).fit(X)
    np.testing.assert_allclose(ens.decision_function(X),
                               100 * to_percentile(alone.decision_function(X), calibrate(alone.decision_function(X))),
                               rtol=1e-5)


def test_fit_calls_back_once_per_member():
    X = _data(n=200)
    seen = []
    ens = Ensemble(detector="pca", n_members=2, params={"n_components": 1}).fit(
        X, callback=lambda k, member: seen.append((k, member.random_state, member.is_fitted)))
    assert seen == [(0, 0, True), (1, 1000, True)]
    assert [m.random_state for m in ens.members_] == [0, 1000]


# -- parameters ----------------------------------------------------------------------------------
@pytest.mark.parametrize("params, message", [
    ({"n_members": 0}, "n_members must be an integer between 1 and 100, got 0"),
    ({"n_members": 101}, "n_members must be an integer between 1 and 100, got 101"),
    ({"n_members": 2.0}, "n_members must be an integer between 1 and 100, got 2.0"),
    ({"n_members": True}, "n_members must be an integer between 1 and 100, got True"),
    ({"detector": "ensemble"}, "an ensemble's members cannot be ensembles"),
    ({"detector": "lof"}, "unknown detector 'lof'; choose one of alad"),
    ({"params": {"n_components": 2, "depth": 3}}, "detector 'pca' has no parameter(s) depth"),
    ({"random_state": "7"}, "random_state must be an integer or None, got '7'"),
    ({"contamination": 0.7}, "contamination must be a number in (0, 0.5], got 0.7"),
    ({"params": {"n_components": 0}}, "n_components must be an integer from 1"),
])
def test_parameters_are_checked_in_fit(params, message):
    ens = Ensemble(**({"detector": "pca", "n_members": 2} | params))
    with pytest.raises(ConfigError) as exc:
        ens.fit(_data(n=50))
    assert message in str(exc.value)
    assert not ens.is_fitted


def test_adopting_members_checks_their_number(forest):
    ens, X = forest
    other = Ensemble(detector="iforest", n_members=2)
    with pytest.raises(ConfigError, match="expected 2 members, got 3"):
        other.set_members(ens.members_, X)
    other.set_members(ens.members_[:2], X)
    np.testing.assert_allclose(other.quantiles_, ens.quantiles_[:2])


# -- model files ---------------------------------------------------------------------------------
def test_each_member_is_saved_in_its_folder_and_checked_on_load(forest, tmp_path):
    ens, X = forest
    path = ens.save(tmp_path / "ens")
    assert [member_dir(k) for k in range(3)] == ["members/00", "members/01", "members/02"]
    assert all((path / member_dir(k) / "arrays.npz").is_file() for k in range(3))
    config = json.loads((path / "config.json").read_text())
    state = config["detector"]["state"]
    assert [m["dir"] for m in state["members"]] == ["members/00", "members/01", "members/02"]
    assert [m["detector"]["params"]["random_state"] for m in state["members"]] == [7, 1007, 2007]
    loaded = load_detector(path)
    assert isinstance(loaded, Ensemble) and loaded.get_params() == json.loads(json.dumps(ens.get_params()))
    np.testing.assert_array_equal(loaded.quantiles_, ens.quantiles_)
    np.testing.assert_array_equal(loaded.score_spread(X[:50]), ens.score_spread(X[:50]))

    def broken(change):
        bad = json.loads(json.dumps(config))
        change(bad["detector"])
        (path / "config.json").write_text(json.dumps(bad))
        with pytest.raises(ModelError) as exc:
            load_detector(path)
        return str(exc.value)

    assert "must list 3 members" in broken(lambda d: d["state"]["members"].pop())
    assert "member 1 entry is invalid" in broken(lambda d: d["state"]["members"][1].update(dir="members/07"))
    assert "non-decreasing" in broken(lambda d: d["state"]["quantiles"][0].reverse())
    assert "member 0 is a 'pca', not a 'iforest'" in broken(
        lambda d: d["state"]["members"][0]["detector"].update(name="pca"))
    (path / "config.json").write_text(json.dumps(config))
    assert get_detector("ensemble").load(path).n_members == 3
