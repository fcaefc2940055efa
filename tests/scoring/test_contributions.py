"""Per-element contributions (geogan.scoring.contributions) and the score stage's --contributions."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from geogan.cli import app
from geogan.scoring.contributions import element_contributions
from geogan.errors import ConfigError, OutputExistsError
from geogan.scoring.stage import score_grid
from geogan.stores.scores import CONTRIBUTIONS_STORE, open_contributions_store, open_scores_store
from geogan.stores.staging import Staging
from geogan.stores.store import open_grid
from geogan.training.model import load_model
from geogan.training.stage import train_model
from tests.helpers.grids import ELEMENTS, make_grid


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("contrib")
    path, spec, conc, deposits = make_grid(root / "grid.zarr")
    return root, path, conc, deposits


@pytest.fixture(scope="module")
def models(grid):
    root, path, _, _ = grid
    out = {}
    for detector, transform in (("pca", "clr"), ("mahalanobis", "log"), ("iforest", "clr")):
        out[detector] = load_model(train_model(path, root / f"{detector}-{transform}", detector=detector,
                                               transform=transform, sample=1500, seed=0, progress=False).model_dir)
    return out


def background(conc):
    """Median concentration of every element over the valid cells: a background cell."""
    x = conc.reshape(conc.shape[0], -1).T
    return np.median(x[np.isfinite(x).all(axis=1)], axis=0)


@pytest.mark.parametrize("detector", ["pca", "mahalanobis", "iforest"])
def test_the_enriched_element_drives_the_score(grid, models, detector):
    _, _, conc, _ = grid
    model = models[detector]
    w = ELEMENTS.index("W")
    base = background(conc)
    enriched, depleted = base.copy(), base.copy()
    enriched[w] *= 300.0
    depleted[w] /= 300.0
    c = element_contributions(model, np.stack([base, enriched, depleted]))
    assert c.shape == (3, len(ELEMENTS)) and c.dtype == np.float32
    assert int(np.argmax(c[1])) == w and c[1, w] > 0
    assert int(np.argmax(np.abs(c[1]))) == w
    # the enrichment accounts for much more of the score than anything in the background cell
    assert c[1, w] > 10 * np.nanmax(np.abs(c[0]))
    if getattr(model.transform, "enrichment_only", False):  # a depletion cannot raise the score
        assert c[2, w] == 0


def _hand_built(detector: str, kind: str, conc):
    """A model without train_model's defaults: depletions count (no enrichment_only)."""
    from pathlib import Path

    from geogan.detectors.covariance import PCAReconstruction, RobustMahalanobis
    from geogan.training.model import TrainedModel
    from geogan.training.transform import Transform

    x = conc.reshape(conc.shape[0], -1).T
    x = x[np.isfinite(x).all(axis=1)]
    t = Transform(kind, elements=ELEMENTS).fit(x)
    det = (PCAReconstruction(n_components=2) if detector == "pca" else RobustMahalanobis()).fit(t.transform(x))
    return TrainedModel(Path("."), {"elements": list(ELEMENTS)}, det, t)


@pytest.mark.parametrize("detector,kind", [("mahalanobis", "log"), ("pca", "clr"), ("pca", "log"), ("pca", "none")])
def test_a_depleted_element_counts_negative(grid, detector, kind):
    _, _, conc, _ = grid
    model = _hand_built(detector, kind, conc)
    w = ELEMENTS.index("W")
    base = background(conc)
    enriched, depleted = base.copy(), base.copy()
    enriched[w] *= 300.0
    depleted[w] = depleted[w] / 300.0 if kind != "none" else 0.0
    c = element_contributions(model, np.stack([enriched, depleted]))
    assert int(np.argmax(np.abs(c[0]))) == w and c[0, w] > 0
    assert int(np.argmax(np.abs(c[1]))) == w and c[1, w] < 0  # the depletion drives it, signed negative


def test_definition_occlusion_at_the_median_signed_by_the_deviation(grid, models):
    _, _, conc, _ = grid
    model = models["mahalanobis"]
    x = conc.reshape(conc.shape[0], -1).T
    x = x[np.isfinite(x).all(axis=1)][:50]
    c = element_contributions(model, x)
    z = model.transform.transform(x)
    s = model.detector.decision_function(z).astype(np.float64)
    for i in range(len(ELEMENTS)):
        zi = z.copy()
        zi[:, i] = 0.0
        expect = np.maximum(s - model.detector.decision_function(zi), 0) * np.sign(z[:, i])
        np.testing.assert_allclose(c[:, i], expect, rtol=1e-5, atol=1e-5)


def test_nan_rows_give_nan_and_other_rows_are_unaffected(grid, models):
    _, _, conc, _ = grid
    model = models["pca"]
    base = background(conc)
    x = np.stack([base, base, base * 2])
    x[1, 2] = np.nan
    c = element_contributions(model, x)
    assert np.isnan(c[1]).all()
    assert np.isfinite(c[[0, 2]]).all()
    np.testing.assert_array_equal(c[[0, 2]], element_contributions(model, x[[0, 2]]))
    assert np.isnan(element_contributions(model, np.full((2, len(ELEMENTS)), np.nan))).all()


def test_ilr_models_are_refused_with_a_clear_message(grid):
    root, path, _, _ = grid
    import inspect

    # ilr balances admit no enrichment-only clipping (where train_model has that option)
    kw = {"enrichment_only": False} if "enrichment_only" in inspect.signature(train_model).parameters else {}
    res = train_model(path, root / "ilr", detector="iforest", transform="ilr", sample=800, seed=0, progress=False,
                      **kw)
    model = load_model(res.model_dir)
    with pytest.raises(ConfigError, match="'ilr' transform.*retrain with transform"):
        element_contributions(model, np.ones((2, len(ELEMENTS))))
    # the score stage refuses before creating any output; the CLI says so in one line
    with pytest.raises(ConfigError, match="ilr"):
        score_grid(path, res.model_dir, root / "ilr-out", contributions=True, progress=False)
    assert not (root / "ilr-out").exists()
    out = CliRunner().invoke(app, ["score", str(path), "--model", str(res.model_dir), "--out",
                                   str(root / "ilr-out"), "--contributions"])
    assert out.exit_code == 1 and out.stderr.startswith("error: ") and "ilr" in out.stderr
    assert not (root / "ilr-out").exists()


def test_a_model_with_its_own_transformed_scorer_is_used():
    """Ensembles score transformed features with ``score_transformed``: contributions use it."""
    from geogan.training.transform import Transform

    x = np.exp(np.random.default_rng(0).normal(size=(100, 3)))
    t = Transform("log", elements=["a", "b", "c"]).fit(x)

    def broken(_z):
        raise AssertionError("detector.decision_function must not be called")

    model = SimpleNamespace(elements=["a", "b", "c"], transform=t, detector=SimpleNamespace(decision_function=broken),
                            score_transformed=lambda z: np.abs(z).sum(axis=1))
    c = element_contributions(model, x[:5])
    np.testing.assert_allclose(c, np.abs(t.transform(x[:5])) * np.sign(t.transform(x[:5])), rtol=1e-6, atol=1e-6)


# -- the score stage ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deposits_csv(grid):
    root, path, _, deposits = grid
    ds = open_grid(path)
    x, y = ds["x"].values, ds["y"].values
    csv = root / "deposits.csv"
    csv.write_text("x,y\n" + "".join(f"{x[c]},{y[r]}\n" for r, c in deposits))
    return csv


@pytest.fixture(scope="module")
def scored(grid, models, deposits_csv):
    root, path, _, _ = grid
    return score_grid(path, models["pca"].model_dir, root / "out", deposits=deposits_csv,
                      runs=2, workers=1, contributions=True, progress=False)


@pytest.mark.cluster
@pytest.mark.slow
def test_score_grid_writes_contributions_equal_to_direct_computation(grid, models, scored):
    root, path, conc, _ = grid
    model = models["pca"]
    assert scored.contributions == root / "out" / CONTRIBUTIONS_STORE
    plain = xr.open_zarr(scored.contributions, consolidated=False)  # a plain Zarr v3 store
    assert plain["contribution"].dims == ("element", "y", "x")
    assert plain["contribution"].shape == (len(ELEMENTS),) + conc.shape[1:]
    assert plain["contribution"].dtype == np.float32
    assert plain["element"].values.tolist() == model.elements
    ds = open_contributions_store(scored.contributions)
    assert ds.attrs["complete"] and ds.attrs["geogan_kind"] == "contributions"
    assert ds["contribution"].encoding["chunks"] == (len(ELEMENTS), 16, 16)
    scores = open_scores_store(scored.scores)
    np.testing.assert_array_equal(ds["x"].values, scores["x"].values)
    np.testing.assert_array_equal(ds["y"].values, scores["y"].values)
    assert ds.rio.crs == scores.rio.crs and ds.rio.transform() == scores.rio.transform()

    values = ds["contribution"].values
    anomaly = scores["anomaly"].values
    np.testing.assert_array_equal(np.isnan(values), np.broadcast_to(np.isnan(anomaly), values.shape))
    x = conc.reshape(conc.shape[0], -1).T
    valid = np.isfinite(x).all(axis=1)
    direct = element_contributions(model, x[valid])
    np.testing.assert_allclose(values.reshape(len(ELEMENTS), -1).T[valid], direct, rtol=1e-5, atol=1e-5)
    assert not Staging(scored.scores).exists()


@pytest.mark.cluster
@pytest.mark.slow
def test_report_lists_the_top_anomalies_with_their_drivers(scored):
    assert len(scored.top_anomalies) == 10
    top = scored.top_anomalies[0]
    assert top["percentile"] == 100.0
    assert top["drivers"].split()[0][:-1] in {"W", "Sn", "Bi"}  # the synthetic W-Sn-Bi deposits
    page = (scored.report / "index.html").read_text(encoding="utf-8")
    assert "<h2>Top anomalies</h2>" in page and 'class="top-anomalies"' in page
    table = page.split('class="top-anomalies"')[1].split("</table>")[0]
    assert table.count("<tr>") == 11 and top["drivers"] in table
    metrics = json.loads((scored.report / "metrics.json").read_text())
    assert metrics["top_anomalies"]["pca"][0]["drivers"] == top["drivers"]


@pytest.mark.cluster
@pytest.mark.slow
def test_crash_between_the_two_moves_resumes_and_overwrite_without_flag_drops_them(grid, models, scored, tmp_path, log_lines,
                                                                                     monkeypatch):
    root, path, _, _ = grid
    model_dir = models["pca"].model_dir
    out = tmp_path / "o"
    real = Staging.finalize

    def crash(self, **kw):
        raise RuntimeError("killed")

    monkeypatch.setattr(Staging, "finalize", crash)
    with pytest.raises(RuntimeError, match="killed"):
        score_grid(path, model_dir, out, contributions=True, workers=1, progress=False)
    assert (out / CONTRIBUTIONS_STORE).exists() and not (out / "scores.zarr").exists()
    monkeypatch.setattr(Staging, "finalize", real)
    log_lines.clear()
    res = score_grid(path, model_dir, out, contributions=True, progress=False)
    assert any("resuming" in line for line in log_lines())
    np.testing.assert_array_equal(open_contributions_store(res.contributions)["contribution"].values,
                                  open_contributions_store(scored.contributions)["contribution"].values)
    # finished stores are reused when only a later output is missing ...
    (out / "anomaly.tif").unlink()
    log_lines.clear()
    score_grid(path, model_dir, out, contributions=True, progress=False)
    lines = log_lines()
    assert any("reusing" in line for line in lines)
    # ... but the flag is part of the run key: scores made with contributions are not a plain run's
    (out / "anomaly.tif").unlink()
    with pytest.raises(OutputExistsError, match="scores.zarr exists"):
        score_grid(path, model_dir, out, progress=False)
    score_grid(path, model_dir, out, overwrite=True, workers=1, progress=False)
    assert not (out / CONTRIBUTIONS_STORE).exists()
    np.testing.assert_array_equal(open_scores_store(out / "scores.zarr")["anomaly"].values,
                                  open_scores_store(scored.scores)["anomaly"].values)
