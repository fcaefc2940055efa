"""Pipeline specs: validation and path resolution (the end-to-end run is in test_score.py)."""

import pytest

from geogan.errors import ConfigError
from geogan.pipeline import load_spec


def write(tmp_path, text, name="spec.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """
[output]
dir = "out"
[survey]
path = "data/survey.csv"
deposits = "data/deposits.csv"
[grid]
crs = "EPSG:32650"
[train.alad]
detector = "alad"
epochs = 2
"""


def test_paths_resolve_relative_to_the_spec(tmp_path):
    sub = tmp_path / "specs"
    sub.mkdir()
    spec = load_spec(write(sub, GOOD))
    assert spec.output == sub / "out"
    assert spec.survey["path"] == str(sub / "data" / "survey.csv")
    assert spec.survey["deposits"] == str(sub / "data" / "deposits.csv")
    assert spec.train == {"alad": {"detector": "alad", "epochs": 2}}


@pytest.mark.parametrize("text,match", [
    (GOOD.replace("[grid]", "[grid]\ncommand = 'rm -rf /'"), "unknown key.*command.*\\[grid\\]"),
    (GOOD + "\n[hooks]\npre = 'x'\n", "unknown section.*hooks"),
    (GOOD.replace('path = "data/survey.csv"', 'synth = "demo"\npath = "x.csv"'), "exactly one of"),
    (GOOD.replace('detector = "alad"\n', ""), "needs detector"),
    (GOOD.replace("[output]\ndir = \"out\"", ""), "\\[output\\] needs dir"),
    ("[output\n", "not a valid TOML file"),
])
def test_invalid_specs_are_refused_with_one_line(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as err:
        load_spec(write(tmp_path, text))
    assert "\n" not in str(err.value) and "spec.toml" in str(err.value)


def test_missing_spec(tmp_path):
    with pytest.raises(ConfigError, match="pipeline spec not found"):
        load_spec(tmp_path / "nope.toml")


def test_demo_spec_is_valid():
    from pathlib import Path

    spec = load_spec("demo")
    assert spec.survey["synth"] == "demo"
    assert {t["detector"] for t in spec.train.values()} >= {"alad", "iforest", "mahalanobis"}
    # the paper's workflow: the five pathfinders chosen by geology; beside it, the target-aware map
    plain = {k: t for k, t in spec.train.items() if "target" not in t}
    assert all(t["elements"] == ["Ag", "Bi", "Mo", "Sn", "W"] for t in plain.values())
    assert spec.train["alad_w"] == {"detector": "alad", "target": "W", "sample": 40000, "seed": 0}


@pytest.mark.parametrize("name", ["demo", "national", "gswa-soil1", "gswa-rock2", "gtk-lapland-till"])
def test_shipped_specs_load(name):
    from pathlib import Path

    real = Path(__file__).resolve().parents[1] / "pipelines" / f"{name}.toml"  # the real surveys' specs
    spec = load_spec(real if real.exists() else name)
    assert spec.train and all("detector" in t for t in spec.train.values())


def test_a_spec_shipped_with_geogan_runs_by_name_with_paths_from_the_working_directory(tmp_path, monkeypatch):
    from geogan.pipeline import bundled_specs

    monkeypatch.chdir(tmp_path)
    assert bundled_specs() == ["demo", "national"]
    for given in ("demo", "demo.toml"):
        spec = load_spec(given)
        assert spec.path.parent.name == "pipelines" and spec.path.parent.parent.name == "geogan"
        assert spec.output == tmp_path / "demo-output"  # not beside the installed package
    (tmp_path / "demo.toml").write_text('[output]\ndir = "mine"\n[survey]\nsynth = "demo"\n'
                                        '[train.iforest]\ndetector = "iforest"\n')
    assert load_spec("demo.toml").output == tmp_path / "mine"  # a file of that name wins
    with pytest.raises(ConfigError, match="shipped with geogan: demo, national"):
        load_spec("no-such-spec")


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
    spec.write_text(text)
    log_lines.clear()
    run_pipeline(spec, progress=False)
    stage_lines = [line for line in log_lines() if line.startswith("== ") and "report" not in line]
    assert stage_lines and all("up to date" in line for line in stage_lines), stage_lines
