"""Tests for geogan.grid.idw: the IDW kernel against an independent brute force, the sample index."""

import numpy as np
import pytest

from geogan.errors import GridError
from geogan.grid.idw import IDWParams, SampleIndex, idw, median_spacing
from tests.helpers.idw import brute_force_idw


@pytest.mark.parametrize("space", ["linear", "log"])
@pytest.mark.parametrize("k,power", [(1, 2.0), (5, 2.0), (12, 1.0), (8, 3.0)])
def test_idw_matches_brute_force(space, k, power):
    rng = np.random.default_rng(42)
    n = 120
    sx, sy = rng.uniform(0, 10_000, n), rng.uniform(0, 10_000, n)
    vals = rng.lognormal(1.0, 1.0, size=(n, 3))
    vals[rng.random(n) < 0.2, 1] = np.nan  # element 1 has its own sample set
    vals[rng.random(n) < 0.3, 2] = np.nan
    qx, qy = rng.uniform(-3000, 13_000, 300), rng.uniform(-3000, 13_000, 300)
    qx[:3], qy[:3] = sx[:3], sy[:3]  # cells exactly on samples
    params = IDWParams(neighbors=k, power=power, max_distance_m=2500.0, space=space)
    got = idw(SampleIndex(sx, sy, vals, space=space), qx, qy, params)
    want = brute_force_idw(sx, sy, vals, qx, qy, k, power, 2500.0, space)
    assert got.shape == (3, 300) and got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert ok.sum() > 300  # the mask did not blank everything
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-6)


def test_exact_hit_gives_sample_value_and_mask_uses_nearest_sample():
    sx, sy = np.array([0.0, 100.0, 5000.0]), np.array([0.0, 0.0, 0.0])
    vals = np.array([[2.0], [8.0], [100.0]])
    index = SampleIndex(sx, sy, vals, space="linear")
    out = idw(index, np.array([0.0, 50.0, 2600.0, 9000.0]), np.zeros(4),
              IDWParams(neighbors=2, power=2, max_distance_m=3000, space="linear"))
    assert out[0, 0] == pytest.approx(2.0)
    assert out[0, 1] == pytest.approx(5.0)  # equidistant: plain mean
    assert np.isfinite(out[0, 2])  # nearest (5000) is 2400 m away: inside
    assert np.isnan(out[0, 3])  # nearest is 4000 m away: masked


def test_elements_are_split_into_full_shared_and_own_tree_groups():
    rng = np.random.default_rng(0)
    vals = rng.lognormal(size=(50, 5))
    vals[:5, 3] = np.nan  # 10 % missing: shares the all-samples query
    vals[:30, 4] = np.nan  # 60 % missing: its own tree
    index = SampleIndex(rng.random(50), rng.random(50), vals, space="log")
    assert index.full.tolist() == [0, 1, 2]
    assert index.shared.tolist() == [3]
    assert [g.element_index.tolist() for g in index.groups] == [[4]]


@pytest.mark.parametrize("extra", [0, 1])
def test_shared_query_falls_back_exactly_when_candidates_lack_values(extra):
    rng = np.random.default_rng(3)
    n = 200
    sx, sy = rng.uniform(0, 5000, n), rng.uniform(0, 5000, n)
    vals = rng.lognormal(size=(n, 2))
    vals[rng.random(n) < 0.15, 1] = np.nan
    index = SampleIndex(sx, sy, vals, space="log")
    index.extra = extra  # few spare candidates: many cells need the fallback query
    qx, qy = rng.uniform(0, 5000, 400), rng.uniform(0, 5000, 400)
    params = IDWParams(neighbors=8, power=2, max_distance_m=1e9, space="log")
    got = idw(index, qx, qy, params)
    want = brute_force_idw(sx, sy, vals, qx, qy, 8, 2.0, 1e9, "log")
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_log_space_refuses_non_positive_and_empty_elements():
    with pytest.raises(GridError, match="element Cu has 1 values <= 0"):
        SampleIndex(np.arange(3.0), np.zeros(3), np.array([[1.0], [0.0], [2.0]]), space="log", elements=["Cu"])
    with pytest.raises(GridError, match="element Au has no values"):
        SampleIndex(np.arange(3.0), np.zeros(3), np.full((3, 1), np.nan), space="linear", elements=["Au"])


def test_params_validation_and_spacing():
    with pytest.raises(GridError, match="space"):
        IDWParams(space="cubic")
    with pytest.raises(GridError, match="neighbors"):
        IDWParams(neighbors=0)
    assert median_spacing(np.array([0.0, 10.0, 30.0]), np.zeros(3)) == 10.0
