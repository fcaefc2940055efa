import json

import numpy as np
import pytest

from geogan.errors import InputError, ModelError
from geogan.training.transform import Transform, ilr_basis


def _compositions(n=400, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal(size=(n, d)) + np.arange(d))


def test_clr_rows_sum_to_zero_before_scaling():
    X = _compositions()
    Z = Transform("clr", scale=False).fit_transform(X)
    np.testing.assert_allclose(Z.sum(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z, np.log(X) - np.log(X).mean(axis=1, keepdims=True), rtol=1e-5, atol=1e-5)


def test_ilr_is_an_isometry_of_clr():
    X = _compositions()
    clr = Transform("clr", scale=False).fit_transform(X).astype(np.float64)
    ilr = Transform("ilr", scale=False).fit_transform(X).astype(np.float64)
    assert ilr.shape == (X.shape[0], X.shape[1] - 1)
    # Aitchison distances are preserved
    d_clr = np.linalg.norm(clr[:50, None] - clr[None, :50], axis=-1)
    d_ilr = np.linalg.norm(ilr[:50, None] - ilr[None, :50], axis=-1)
    np.testing.assert_allclose(d_clr, d_ilr, rtol=1e-4, atol=1e-4)
    V = ilr_basis(5)
    np.testing.assert_allclose(V.T @ V, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(V.sum(axis=0), 0.0, atol=1e-12)


def test_robust_scaling_uses_training_cells_only():
    X = _compositions()
    t = Transform("log").fit(X[:200])
    Z_train = t.transform(X[:200])
    np.testing.assert_allclose(np.median(Z_train, axis=0), 0.0, atol=1e-6)
    q25, q75 = np.percentile(Z_train, [25, 75], axis=0)
    np.testing.assert_allclose(q75 - q25, 1.0, rtol=1e-5)
    # other cells use the training median/IQR, not their own
    Z_other = t.transform(X[200:] * 10.0)
    assert np.median(Z_other, axis=0).min() > 0.5


def test_none_and_constant_feature():
    X = np.column_stack([np.arange(10.0), np.full(10, 3.0)])
    Z = Transform("none").fit_transform(X)
    assert np.all(np.isfinite(Z))
    np.testing.assert_allclose(Z[:, 1], 0.0)


def test_json_roundtrip_is_exact():
    X = _compositions()
    for kind in ("clr", "ilr", "log", "none"):
        t = Transform(kind, elements=["Ag", "Bi", "Mo", "W"]).fit(X)
        state = json.loads(json.dumps(t.to_dict()))
        t2 = Transform.from_dict(state)
        assert np.array_equal(t.transform(X), t2.transform(X))
        assert t2.features_ == t.features_


def test_non_positive_values_name_the_element():
    X = _compositions()
    X[3, 2] = 0.0
    with pytest.raises(InputError, match=r"column 'Mo'.*non-positive.*half the detection limit"):
        Transform("clr", elements=["Ag", "Bi", "Mo", "W"]).fit(X)
    Transform("none").fit(X)  # fine without logarithms
    t = Transform("log").fit(_compositions())
    with pytest.raises(InputError, match="non-positive"):
        t.transform(-_compositions(n=3))


def test_nan_rows_ignored_in_fit_and_kept_nan():
    X = _compositions()
    X[0, 1] = np.nan
    t = Transform("clr").fit(X)
    Z = t.transform(X)
    assert np.isnan(Z[0]).all() and np.isfinite(Z[1:]).all()


def test_errors():
    with pytest.raises(InputError, match="unknown transform"):
        Transform("sqrt").fit(_compositions())
    with pytest.raises(InputError, match="at least 2"):
        Transform("ilr").fit(_compositions(d=1))
    with pytest.raises(ModelError, match="not fitted"):
        Transform().transform(_compositions())
    with pytest.raises(InputError, match="expected 4 columns"):
        Transform("clr").fit(_compositions()).transform(_compositions(d=3))
    state = Transform("clr").fit(_compositions()).to_dict()
    with pytest.raises(ModelError, match="unknown keys"):
        Transform.from_dict({**state, "lambda": "x"})
    with pytest.raises(ModelError, match="disagree"):
        Transform.from_dict({**state, "iqr": state["iqr"][:-1]})
    with pytest.raises(ModelError, match="not a geogan transform"):
        Transform.from_dict({"kind": "clr"})


def test_enrichment_only_clips_below_the_median_and_round_trips():
    rng = np.random.default_rng(0)
    X = np.exp(rng.normal(size=(200, 3)))
    two = Transform("log", elements=["Au", "As", "Cu"]).fit(X)
    one = Transform("log", elements=["Au", "As", "Cu"], enrichment_only=True).fit(X)
    Z2, Z1 = two.transform(X), one.transform(X)
    np.testing.assert_array_equal(Z1, np.maximum(Z2, 0))  # depletions become the background median
    assert (Z1 == 0).mean() > 0.4 and Z1.max() == Z2.max()
    back = Transform.from_dict(one.to_dict())
    assert back.enrichment_only and np.array_equal(back.transform(X), Z1)
    with_nan = X.copy()
    with_nan[0, 1] = np.nan
    assert np.isnan(one.transform(with_nan)[0, 1])
    with pytest.raises(InputError, match="enrichment_only"):
        Transform("ilr", elements=["Au", "As", "Cu"], enrichment_only=True).fit(X)
