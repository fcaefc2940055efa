"""``geogan run``: the whole chain from one spec (survey, grid, train, score, evaluate, report), then
rerun with nothing to do (geogan.pipeline.run)."""

import json

import pytest

from tests.helpers.cli import cli

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def write(tmp_path, text, name="spec.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.tf
def test_run_demo_like_spec_end_to_end_then_everything_is_up_to_date(tmp_path, log_lines):
    import json

    from geogan.pipeline import run_pipeline

    spec = write(tmp_path, """
[output]
dir = "run"
[survey]
synth = "demo"
samples = 2000
seed = 1
[grid]
cell_size_m = 1000
tile = 64
[train.gan]
detector = "alad"
sample = 2000
epochs = 1
ensemble = 2
[train.forest_a]
detector = "iforest"
sample = 2000
[train.forest_b]
detector = "iforest"
sample = 2000
seed = 1
target = "W"
[score]
runs = 3
[cluster]
workers = 1
""")
    summary = run_pipeline(spec, progress=False)
    report = tmp_path / "run" / "report"
    metrics = json.loads((report / "metrics.json").read_text())
    # table names, not detector names, label the results: two tables may share a detector
    names = {"gan", "forest_a", "forest_b"}
    # a target-aware table (forest_b: target W) brings its target element's own map beside it
    assert set(summary["detectors"]) == names | {"W alone"} and set(metrics["detectors"]) == names | {"W alone"}
    assert summary["detectors"]["forest_b"]["target"]["element"] == "W"
    assert summary["detectors"]["forest_b"]["target"]["deposit_type"] == "w-sn-granite"
    assert metrics["detectors"]["W alone"]["score_name"] == "W concentration"
    assert metrics["detectors"]["forest_a"]["roc_auc"] != metrics["detectors"]["forest_b"]["roc_auc"]
    html = (report / "index.html").read_text()
    assert all(name in html for name in names)
    for name in names:
        assert (tmp_path / "run" / "scores" / name / "anomaly.tif").is_file()
    assert (tmp_path / "run" / "scores" / "gan" / "spread.tif").is_file()
    log_lines.clear()
    run_pipeline(spec, progress=False)
    stage_lines = [line for line in log_lines() if line.startswith("== ") and "report" not in line]
    assert stage_lines and all("up to date" in line for line in stage_lines), stage_lines
    # the up-to-date rerun evaluates the same scores with the same [score] seed: the same metrics
    again = json.loads((report / "metrics.json").read_text())
    for name in names:
        first, second = metrics["detectors"][name], again["detectors"][name]
        assert second["negsamp_seed"] == 0 and second["negsamp_runs"] == 3
        assert second["negsamp_aucs"] == first["negsamp_aucs"] and second["roc_auc"] == first["roc_auc"]
    # stamps hash the resolved options: the same spec with some defaults written out is up to date
    text = spec.read_text()
    for table, defaults in {"[grid]": "neighbors = 12\npower = 2.0", "[train.gan]": "latent_dim = 64\ntest_fraction = 0.3",
                            "[train.forest_a]": "params = {n_estimators = 100}\nseed = 0",
                            "[score]": "min_dist_km = 5.0\nbatch_size = 16384"}.items():
        text = text.replace(f"{table}\n", f"{table}\n{defaults}\n")
    spec.write_text(text.replace("seed = 1\n", 'seed = 1\ndeposits_crs = "EPSG:32650"\n', 1))  # the demo's, as resolved
    log_lines.clear()
    run_pipeline(spec, progress=False)
    stage_lines = [line for line in log_lines() if line.startswith("== ") and "report" not in line]
    assert stage_lines and all("up to date" in line for line in stage_lines), stage_lines


def test_geogan_run_carries_the_target_into_its_summary_and_report(tmp_path):
    survey = tmp_path / "survey.csv"
    survey.write_text("x,y,Au_ppb,Cu_ppm,Ni_ppm\n" + "".join(
        f"{400000 + 700 * i},{2700000 + 900 * (i % 7)},{1 + i % 5},{10 + i % 3},{20 + i % 4}\n" for i in range(40)))
    (tmp_path / "deposits.csv").write_text("x,y\n405000,2702000\n")
    spec = tmp_path / "spec.toml"
    spec.write_text('[output]\ndir = "out"\n[survey]\npath = "survey.csv"\ninput_crs = "EPSG:32650"\n'
                    'deposits = "deposits.csv"\n[grid]\ncell_size_m = 1000\ntile = 16\n'
                    '[train.plain]\ndetector = "pca"\nsample = 20\n'
                    '[train.gold]\ndetector = "pca"\nsample = 20\ntarget = "Au"\n[score]\nruns = 2\n')
    res = cli("run", spec)
    assert res.exit_code == 0, res.output
    assert "Au alone     the grid's Au (beside the target-aware maps)  AUC" in res.stdout
    metrics = json.loads((tmp_path / "out" / "report" / "metrics.json").read_text())
    assert set(metrics["detectors"]) == {"plain", "gold", "Au alone"}
    config = json.loads((tmp_path / "out" / "models" / "gold" / "config.json").read_text())
    assert config["detector_elements"] == ["Au", "Cu"] and config["target"]["predictors"] == ["Ni"]
