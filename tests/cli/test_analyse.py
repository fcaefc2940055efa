"""The commands that make and judge maps (geogan.cli.analyse): ``train``, ``pathfinders``, ``score``,
``evaluate`` and ``run`` take their options to the stages, print their summaries, and turn user
mistakes into one line. (The whole chain through ``run``: tests/integration/test_run_pipeline.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from geogan.survey.pathfinders import describe
from tests.helpers.cli import assert_user_error, cli
from tests.helpers.grids import make_grid
from tests.helpers.scores import cell_xy, make_scores, typed_deposits


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """:func:`tests.helpers.grids.make_grid`'s store: ``(path, spec, conc, deposit cells)``."""
    return make_grid(tmp_path_factory.mktemp("grid") / "grid.zarr")


@pytest.fixture(scope="module")
def pca_model(grid, tmp_path_factory):
    """A PCA model trained on :func:`grid` through the command line."""
    out = tmp_path_factory.mktemp("model") / "pca"
    res = cli("train", grid[0], "--out", out, "--detector", "pca", "--sample", "500")
    assert res.exit_code == 0, res.output
    return out


# -- pathfinders ---------------------------------------------------------------------------------
def test_pathfinders_prints_the_catalogue_or_one_type(tmp_path):
    res = cli("pathfinders")
    assert res.exit_code == 0 and res.stdout == describe() + "\n"
    res = cli("pathfinders", "porphyry-cu-mo-au")
    assert res.exit_code == 0 and res.stdout == describe("porphyry-cu-mo-au") + "\n"
    # --catalogue extends the built-in catalogue with the user's types
    mine = tmp_path / "mine.toml"
    mine.write_text('[types.placer-au]\nname = "Placer gold"\ncommodities = ["Au"]\n'
                    'pathfinders = { Au = "+", Ag = "+" }\nreferences = ["Me, 2024."]\n')
    res = cli("pathfinders", "placer-au", "--catalogue", mine)
    assert res.exit_code == 0 and res.stdout.splitlines()[:3] == [
        "placer-au: Placer gold", "  commodities: Au", "  pathfinders: Au+ Ag+"]
    assert_user_error(cli("pathfinders", "nope"), "unknown deposit type 'nope'")
    assert_user_error(cli("pathfinders", "--catalogue", tmp_path / "gone.toml"), "gone.toml",
                      "catalogue file not found")


# -- train ---------------------------------------------------------------------------------------
def test_train_passes_its_options_to_the_stage(grid, tmp_path):
    out = tmp_path / "m"
    res = cli("--quiet", "train", grid[0], "--out", out, "--detector", "iforest", "--elements", "W,Sn,Bi",
              "--sample", "400", "--test-fraction", "0.25", "--seed", "3", "--transform", "clr", "--two-sided")
    assert res.exit_code == 0, res.output
    assert res.stdout == ""  # --quiet: not even the summary
    config = json.loads((out / "config.json").read_text())
    assert config["detector"]["name"] == "iforest" and sorted(config["elements"]) == ["Bi", "Sn", "W"]
    assert (config["training"]["n_train"], config["training"]["n_test"], config["training"]["seed"]) == (300, 100, 3)
    assert config["transform"]["kind"] == "clr" and config["transform"]["enrichment_only"] is False


def test_train_prints_its_summary_and_trains_ensembles(grid, tmp_path):
    res = cli("train", grid[0], "--out", tmp_path / "m", "--detector", "pca", "--sample", "500", "--ensemble", "2")
    assert res.exit_code == 0, res.output
    summary = res.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"model written to {tmp_path / 'm'}: ")
    assert "350 training / 150 test cells of 2,080 valid" in summary
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["detector"]["name"] == "ensemble" and config["detector"]["params"]["n_members"] == 2
    assert config["detector"]["params"]["detector"] == "pca"


@pytest.mark.parametrize("args, expected", [
    (["--elements", "W,Xx"], ["grid.zarr", "unknown: Xx"]),
    (["--test-fraction", "1.5"], ["test_fraction must be ≤ 1, got 1.5"]),
    (["--score", "l1"], ["detector 'pca' has no parameter(s) score"]),
    (["--deposit-type", "gold"], ["unknown deposit type 'gold'"]),
])
def test_train_refuses_bad_options_in_one_line_and_writes_nothing(grid, tmp_path, args, expected):
    out = tmp_path / "m"
    assert_user_error(cli("train", grid[0], "--out", out, "--detector", "pca", *args), *expected)
    assert not out.exists()


def test_train_refuses_a_missing_grid_and_an_existing_output(grid, tmp_path):
    assert_user_error(cli("train", tmp_path / "none.zarr", "--out", tmp_path / "m"), "none.zarr")
    (tmp_path / "taken").mkdir()
    assert_user_error(cli("train", grid[0], "--out", tmp_path / "taken", "--detector", "pca"), "taken",
                      "pass --overwrite to replace it")


# -- score ---------------------------------------------------------------------------------------
def _deposits_csv(path, spec, cells, x="east", y="north"):
    """The deposit cells' centres as a CSV with columns ``x``, ``y`` (and an id)."""
    xs = [spec.bounds[0] + (c + 0.5) * spec.cell_size_m for _, c in cells]
    ys = [spec.bounds[3] - (r + 0.5) * spec.cell_size_m for r, _ in cells]
    path.write_text(f"id,{x},{y}\n" + "".join(f"d{i},{a},{b}\n" for i, (a, b) in enumerate(zip(xs, ys))))
    return path


@pytest.mark.cluster
@pytest.mark.slow
def test_score_writes_the_map_and_the_report_and_prints_where(grid, pca_model, tmp_path):
    path, spec, _, cells = grid
    deposits = _deposits_csv(tmp_path / "deposits.csv", spec, cells)
    out = tmp_path / "s"
    res = cli("score", path, "--model", pca_model, "--out", out, "--deposits", deposits, "--deposits-x", "east",
              "--deposits-y", "north", "--runs", "3", "--min-dist-km", "2", "--workers", "1")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert any(line.startswith("scored   2,080 cells in ") for line in lines)
    assert f"scores   {out / 'scores.zarr'}" in lines
    assert f"map      {out / 'anomaly.tif'} (QGIS style anomaly.qml)" in lines
    assert f"report   {out / 'report' / 'index.html'}" in lines
    auc = [line for line in lines if line.startswith("AUC (all cells) ")]
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    (m,) = metrics["detectors"].values()
    assert auc == [f"AUC (all cells) {m['roc_auc']:.3f}"]
    assert (m["negsamp_runs"], m["negsamp_min_dist_km"], m["n_deposits"]) == (3, 2.0, 2)


def test_score_refuses_a_missing_model_or_deposit_file_before_scoring(grid, pca_model, tmp_path):
    path, spec, _, cells = grid
    out = tmp_path / "s"
    assert_user_error(cli("score", path, "--model", tmp_path / "nomodel", "--out", out), "nomodel",
                      "model directory not found")
    assert_user_error(cli("score", path, "--model", pca_model, "--out", out, "--deposits", tmp_path / "none.csv"),
                      "none.csv")
    # deposit columns that are not there
    deposits = _deposits_csv(tmp_path / "deposits.csv", spec, cells)
    assert_user_error(cli("score", path, "--model", pca_model, "--out", out, "--deposits", deposits,
                          "--deposits-x", "lon", "--deposits-y", "north"), "lon")
    assert not out.exists()


# -- evaluate ------------------------------------------------------------------------------------
@pytest.fixture
def maps(tmp_path):
    """Two score GeoTIFFs (``a/anomaly.tif``: high at the deposits, ``b/anomaly.tif``: low there)
    and the deposits: ``(tif_a, tif_b, deposits.csv)``."""
    rng = np.random.default_rng(0)
    values = rng.random((40, 50)).astype("float32")
    cells = [(5, 5), (20, 30), (33, 12)]
    for r, c in cells:
        values[r, c] = 5.0
    tifs = []
    for name, v in (("a", values), ("b", -values)):
        (tmp_path / name).mkdir()
        make_scores(v).rename(None).rio.to_raster(tmp_path / name / "anomaly.tif")
        tifs.append(tmp_path / name / "anomaly.tif")
    x, y = cell_xy(np.array([r for r, _ in cells]), np.array([c for _, c in cells]))
    deposits = tmp_path / "deposits.csv"
    deposits.write_text("x,y\n" + "".join(f"{a},{b}\n" for a, b in zip(x, y)))
    return *tifs, deposits


def test_evaluate_names_the_maps_and_prints_their_auc(maps, tmp_path):
    tif_a, tif_b, deposits = maps
    out = tmp_path / "report"
    # a bare path is named by its folder (these GeoTIFFs name nothing), NAME=PATH by NAME; a
    # repeated name gets the map's position
    res = cli("evaluate", tif_a, f"low={tif_b}", f"a={tif_b}", "--deposits", deposits, "--out", out,
              "--runs", "2", "--min-dist-km", "0.5", "--seed", "4")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == ["a: AUC (all cells) 1.000", "low: AUC (all cells) 0.000",
                                       "a-3: AUC (all cells) 0.000", f"report   {out / 'index.html'}"]
    metrics = json.loads((out / "metrics.json").read_text())["detectors"]
    assert list(metrics) == ["a", "low", "a-3"]
    assert metrics["a-3"]["scores_source"] == str(tif_b)
    assert (metrics["a"]["negsamp_runs"], metrics["a"]["negsamp_min_dist_km"], metrics["a"]["negsamp_seed"]) == (
        2, 0.5, 4)


def test_evaluate_refuses_missing_deposits_and_an_existing_report(maps, tmp_path):
    tif_a, _, deposits = maps
    assert_user_error(cli("evaluate", tif_a, "--deposits", tmp_path / "none.csv", "--out", tmp_path / "r"),
                      "none.csv")
    (tmp_path / "taken").mkdir()
    assert_user_error(cli("evaluate", tif_a, "--deposits", deposits, "--out", tmp_path / "taken"), "taken",
                      "report directory exists", "--overwrite")
    assert not (tmp_path / "r").exists()


def test_the_evaluate_command_takes_the_deposit_flags(tmp_path):
    tif, csv = typed_deposits(tmp_path)
    out = tmp_path / "report"
    res = cli("evaluate", f"map={tif}", "--deposits", csv, "--out", out, "--deposits-x", "E", "--deposits-y", "N",
              "--deposits-crs", "EPSG:4326", "--deposit-type", "w-sn", "--deposit-type-column", "kind",
              "--runs", "2", "--min-dist-km", "0.3")
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())["detectors"]["map"]
    assert m["deposits_selection"] == "kind contains 'w-sn' (2 of 3 rows)" and m["n_deposits"] == 2
    assert m["roc_auc"] == 1.0
    res = cli("evaluate", tif, "--deposits", csv, "--out", tmp_path / "r2", "--deposit-type-column", "kind")
    assert_user_error(res, "deposit_type_column names the column that deposit_type selects by; give deposit_type too")
    assert not (tmp_path / "r2").exists()


# -- run -----------------------------------------------------------------------------------------
def test_run_refuses_a_missing_or_malformed_spec(tmp_path):
    assert_user_error(cli("run", tmp_path / "nope.toml"), "nope.toml", "pipeline spec not found",
                      "shipped with geogan: demo, national")
    bad = tmp_path / "bad.toml"
    bad.write_text("[output\ndir = 'out'\n")
    assert_user_error(cli("run", bad), "bad.toml")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[output]\ndir = "out"\n[survey]\npath = "s.csv"\n[grid]\ncell_size_m = 1000\n'
                       '[train.a]\ndetector = "pca"\n[score]\n[colours]\n')
    assert_user_error(cli("run", unknown), "unknown.toml", "colours")
    assert not (tmp_path / "out").exists()
