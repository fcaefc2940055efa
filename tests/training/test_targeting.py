"""Target-aware models (geogan.training.targeting): the scorer, training with --target, scoring, reports.

The grid here holds the trap the target-aware map exists for: a mafic body where Ni, Co, Cr
and (through the host rock) Au are high, beside two gold deposits where Au, As and Ag are
high on an ordinary host. A plain anomaly model ranks the mafic body with the deposits; the
target-aware one must rank the deposits first.
"""

import json

import numpy as np
import pytest
import zarr

from geogan.errors import ConfigError, ModelError
from geogan.training.model import load_model
from geogan.scoring.stage import score_grid
from geogan.survey.pathfinders import describe
from geogan.training.targeting import TargetScorer, matrix_predictors, plan_target
from geogan.training.stage import train_model
from tests.helpers.cli import assert_user_error, cli

ELEMENTS = ["Au", "As", "Ag", "Ni", "Co", "Cr"]
DEPOSITS = [(8, 10), (30, 44)]
MAFIC = (slice(12, 30), slice(14, 34))


def make_target_grid(path, *, height=40, width=56, tile=16, seed=0):
    from geogan.gridspec import GridSpec
    from geogan.stores.layout import create_grid_store, write_region

    spec = GridSpec.from_bounds((500_000, 2_700_000, 500_000 + width * 500, 2_700_000 + height * 500),
                                crs="EPSG:32650", cell_size_m=500, tile=tile)
    rng = np.random.default_rng(seed)
    logc = 0.5 * rng.normal(size=(len(ELEMENTS), height, width))
    logc[3:, MAFIC[0], MAFIC[1]] += 2.0           # mafic body: Ni, Co, Cr ...
    logc[0, MAFIC[0], MAFIC[1]] += 1.6            # ... and Au from the host rock
    for r, c in DEPOSITS:                           # gold deposits: Au, As, Ag on an ordinary host
        logc[:3, r - 1:r + 2, c - 1:c + 2] += 2.2
    conc = np.exp(logc).astype(np.float32)
    conc[:, :4, :6] = np.nan
    create_grid_store(path, spec, ELEMENTS, units={e: "ppm" for e in ELEMENTS}, attrs={"source": {"sha256": "t"}})
    write_region(path, "concentration", conc, (slice(None), slice(0, height), slice(0, width)))
    dist = np.where(np.isnan(conc[0]), np.nan, 100.0).astype(np.float32)
    write_region(path, "distance", dist, (slice(0, height), slice(0, width)))
    zarr.open_group(str(path), mode="r+").attrs.update(complete=True, created="2025-01-01T00:00:00+00:00")
    return path, spec, conc


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("target")
    path, spec, conc = make_target_grid(root / "grid.zarr")
    deposits = root / "deposits.csv"
    xs, ys = spec.x_coords(), spec.y_coords()
    deposits.write_text("x,y\n" + "".join(f"{xs[c]},{ys[r]}\n" for r, c in DEPOSITS))
    return root, path, spec, conc, deposits


@pytest.fixture(scope="module")
def models(grid):
    root, path, *_ = grid
    plain = train_model(path, root / "plain", detector="iforest", sample=2000, seed=0, progress=False)
    target = train_model(path, root / "target", detector="iforest", target="Au", sample=2000, seed=0, progress=False)
    return {"plain": load_model(plain.model_dir), "target": load_model(target.model_dir), "result": target}


def grid_scores(model, conc):
    x = conc.reshape(conc.shape[0], -1).T
    return model.score(x).reshape(conc.shape[1:])


def test_the_target_aware_map_ranks_the_deposits_above_the_mafic_trap(grid, models):
    _, _, _, conc, _ = grid
    means = {}
    for name in ("plain", "target"):
        s = grid_scores(models[name], conc)
        ranks = np.argsort(np.argsort(s[np.isfinite(s)]))  # percentile ranks of the valid cells
        pct = np.full(s.shape, np.nan)
        pct[np.isfinite(s)] = ranks / ranks.size
        means[name] = (np.nanmean([pct[r, c] for r, c in DEPOSITS]), np.nanmean(pct[MAFIC]))
    plain_dep, plain_mafic = means["plain"]
    target_dep, target_mafic = means["target"]
    assert plain_mafic > 0.75  # the trap is real: the plain map ranks the mafic body high
    assert target_dep > 0.95 and target_mafic < 0.6  # the target-aware map does not
    assert target_dep - target_mafic > plain_dep - plain_mafic + 0.3


def test_the_model_reads_its_suite_and_corrects_the_target_for_the_matrix(grid, models):
    model, res = models["target"], models["result"]
    assert model.detector_elements == ["Au", "As", "Ag"]  # Ni, Co, Cr never reach the detector
    assert model.elements == ["Au", "As", "Ag", "Ni", "Co", "Cr"]
    assert model.transform.elements == ["Au", "As", "Ag"]
    assert model.target.target == "Au" and model.target.predictors == ["Ni", "Co", "Cr"]
    # the regression learnt that the host explains Au: a positive coefficient on the mafic group
    assert model.target.coef_[:, 0].sum() > 0.2
    assert abs(model.target.coef_[:, 1:]).sum() < model.target.coef_[:, 0].sum()  # As, Ag: no host control
    assert model.score_name == "target(Au, isolation)"
    cfg = json.loads((model.model_dir / "config.json").read_text())
    assert cfg["target"]["info"]["deposit_type"] == "orogenic-au"
    assert cfg["target"]["info"]["references"]  # the suite's sources travel with the model
    assert cfg["detector_elements"] == ["Au", "As", "Ag"]
    assert "target Au (orogenic-au" in str(res) and "corrected for Ni, Co, Cr" in str(res)
    # scores are percentiles of the training cells: about 0-100
    s = grid_scores(model, grid[3])
    assert 0 <= np.nanmin(s) and np.nanpercentile(s, 99) <= 100.5


def test_the_deposit_types_own_host_rocks_are_never_corrected_for():
    grid = ["W", "Sn", "Au", "As", "Cu", "Ni", "Cr", "Co", "K2O", "Rb", "Zr", "Al2O3", "MnO"]
    # by default a type with a host rock of its own is not corrected at all (every matrix
    # element is a proxy of its granite or mafic intrusion); orogenic gold is (K and Rb are its
    # alteration elements: never predictors)
    assert plan_target(grid, target="Au", deposit_type=None).predictors == ["Ni", "Cr", "Co", "Zr", "Al2O3", "MnO"]
    for kw in (dict(target="W", deposit_type=None), dict(target=None, deposit_type="ni-cu-pge-sulphide"),
               dict(target="Cu", deposit_type="iocg"), dict(target="Cu", deposit_type=None)):  # Cu: porphyry
        assert plan_target(grid, **kw).predictors == [], kw
    # asked for, the correction still leaves out the host's own elements: the granite's for a
    # granite-related type, the mafic rocks' for a magmatic sulphide, both for IOCG
    on = dict(matrix_correction=True)
    assert plan_target(grid, target="W", deposit_type=None, **on).predictors == ["Ni", "Cr", "Co", "Al2O3", "MnO"]
    assert plan_target(grid, target=None, deposit_type="ni-cu-pge-sulphide", **on).predictors == [
        "K2O", "Rb", "Zr", "Al2O3", "MnO"]
    assert plan_target(grid, target=None, deposit_type="iocg", **on).predictors == ["Al2O3", "MnO"]
    assert plan_target(grid, target="Au", deposit_type=None, matrix_correction=False).predictors == []
    assert "host (part of the deposit model: no matrix correction by default): felsic" in describe("w-sn-granite")


def test_the_target_weight_moves_the_map_between_the_target_and_its_suite(grid):
    root, path, _, conc, _ = grid
    x = conc.reshape(conc.shape[0], -1).T
    x = x[np.isfinite(x).all(axis=1)]
    only = {}
    for w in (0.0, 1.0):
        m = load_model(train_model(path, root / f"w{w}", detector="pca", target="Au", target_weight=w,
                                   matrix_correction=False, sample=2000, seed=0, progress=False).model_dir)
        assert m.elements == ["Au", "As", "Ag"]  # no matrix correction: no predictors to read
        only[w] = m.score(x[:, :3])
    from scipy.stats import spearmanr

    assert spearmanr(only[1.0], x[:, 0]).statistic > 0.999  # all weight on Au: Au's own ranking
    assert spearmanr(only[0.0], x[:, 0]).statistic < 0.9    # none: the suite's anomaly


@pytest.mark.cluster
@pytest.mark.slow
def test_scoring_the_grid_reports_the_map_beside_the_target_alone(grid, models):
    root, path, spec, conc, deposits = grid
    res = score_grid(path, models["target"].model_dir, root / "out", deposits=deposits, runs=2, workers=1,
                     contributions=True, progress=False)
    got = zarr.open_group(str(res.scores), mode="r")["anomaly"][:]
    np.testing.assert_allclose(got, grid_scores(models["target"], conc), rtol=1e-6, atol=1e-5)
    metrics = json.loads((res.report / "metrics.json").read_text())
    assert set(metrics["detectors"]) == {"iforest", "Au alone"}
    assert metrics["detectors"]["Au alone"]["score_name"] == "Au concentration"
    assert metrics["detectors"]["iforest"]["roc_auc"] > metrics["detectors"]["Au alone"]["roc_auc"]
    assert res.target_alone["name"] == "Au alone"
    assert res.target_alone["roc_auc"] == metrics["detectors"]["Au alone"]["roc_auc"]
    page = (res.report / "index.html").read_text(encoding="utf-8")
    assert "beside Au alone" in page
    # the contributions cover every element the model reads; the deposits are driven by Au and its suite
    top = res.top_anomalies[0]
    assert {e for e, _ in top["contributions"]} == set(ELEMENTS)
    assert top["drivers"].split()[0][:-1] in {"Au", "As", "Ag"}
    import rasterio

    with rasterio.open(res.cog) as src:
        tags = src.tags()
    assert tags["target"] == "Au" and tags["deposit_type"] == "orogenic-au"


def test_contributions_of_a_matrix_predictor_say_its_direction(grid, models):
    from geogan.scoring.contributions import element_contributions

    model = models["target"]
    base = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    gold_on_felsic = base.copy()
    gold_on_felsic[0, 0] = 40.0
    gold_on_felsic[0, 3:] = 0.15  # Ni, Co, Cr low: nothing in the host explains the Au
    c = element_contributions(model, gold_on_felsic)[0]
    assert c[0] > 0  # Au+
    assert (c[3:] <= 0).all() and c[3:].min() < 0  # a low Ni-Co-Cr raises the score: shown as depletion


def test_target_options_are_checked_before_any_data_is_read(grid, tmp_path):
    _, path, *_ = grid
    with pytest.raises(ConfigError, match="unknown deposit type 'gold'"):
        train_model(path, tmp_path / "m", detector="pca", deposit_type="gold", progress=False)
    with pytest.raises(ConfigError, match="target 'Xx' is not an element symbol"):
        train_model(path, tmp_path / "m", detector="pca", target="Xx", progress=False)
    with pytest.raises(ConfigError, match="target 'W' is not an element of the grid"):
        train_model(path, tmp_path / "m", detector="pca", target="W", progress=False)
    with pytest.raises(ConfigError, match="the target Au must be among the elements"):
        train_model(path, tmp_path / "m", detector="pca", target="Au", elements=["As", "Ag"], progress=False)
    with pytest.raises(ConfigError, match="give a target"):
        train_model(path, tmp_path / "m", detector="pca", alteration=True, progress=False)
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()
    assert_user_error(cli("train", path, "--out", tmp_path / "m", "--detector", "pca", "--deposit-type", "gold"),
                      "unknown deposit type 'gold'", "geogan pathfinders")


@pytest.mark.cluster
@pytest.mark.slow
def test_the_cli_trains_and_scores_a_target_aware_model(grid, tmp_path):
    _, path, _, _, deposits = grid
    res = cli("train", path, "--out", tmp_path / "m", "--detector", "pca", "--deposit-type", "orogenic-au",
              "--no-matrix-correction", "--sample", "1500")
    assert res.exit_code == 0, res.output
    model = load_model(tmp_path / "m")
    assert model.target.target == "Au" and model.target.predictors == [] and model.elements == ["Au", "As", "Ag"]
    res = cli("score", path, "--model", tmp_path / "m", "--out", tmp_path / "s", "--deposits", deposits,
              "--runs", "2", "--workers", "1")
    assert res.exit_code == 0, res.output
    assert "; Au alone: " in res.stdout  # the map's AUC beside its target element's
    info = cli("info", tmp_path / "s" / "scores.zarr")
    assert info.exit_code == 0 and "target     target Au (orogenic-au; suite Au, As, Ag)" in info.stdout


def test_scorer_state_round_trips_and_bad_states_are_refused():
    rng = np.random.default_rng(1)
    X = np.exp(rng.normal(size=(300, 3)))
    ts = TargetScorer(target="Cu", elements=["Cu", "Zr", "V"], predictors=["Zr", "V"], weight=0.4)
    ts = ts.fit_correction(X).fit_scores(X, rng.random(300))
    again = TargetScorer.from_dict(json.loads(json.dumps(ts.to_dict())))
    s = rng.random(300)
    np.testing.assert_array_equal(again.score(X, s), ts.score(X, s))
    state = ts.to_dict()
    state["coef"] = [1.0]
    with pytest.raises(ModelError, match="invalid target section"):
        TargetScorer.from_dict(state)
    with pytest.raises(ModelError, match="invalid target section"):
        TargetScorer.from_dict({"target": "Cu"})
    with pytest.raises(ConfigError, match="target_weight must be in"):
        TargetScorer(target="Cu", elements=["Cu"], weight=2.0)
    with pytest.raises(ConfigError, match="distinct model elements"):
        TargetScorer(target="Cu", elements=["Cu", "Zr"], detector_elements=["Cu", "Zr"], predictors=["Zr"])
    assert matrix_predictors(["Cu", "Fe2O3", "MgO", "La", "Au"], exclude=["Cu", "Fe", "La"]) == ["MgO"]
