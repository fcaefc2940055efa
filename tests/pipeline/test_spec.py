"""Pipeline specs (geogan.pipeline.spec): validation and path resolution (the end-to-end run:
tests/integration/test_run_pipeline.py)."""

import pytest

from geogan.errors import ConfigError
from geogan.pipeline import load_spec
from tests.helpers.data import REPO


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


def test_urls_stay_urls_and_a_file_url_is_the_local_folder_it_names(tmp_path):
    text = GOOD.replace('dir = "out"', 'dir = "s3://bucket/run/"').replace('"data/survey.csv"', '"s3://bucket/s.csv"')
    spec = load_spec(write(tmp_path, text))
    assert spec.output == "s3://bucket/run" and spec.survey["path"] == "s3://bucket/s.csv"
    assert spec.survey["deposits"] == str(tmp_path / "data" / "deposits.csv")
    assert load_spec(write(tmp_path, GOOD.replace('dir = "out"', f'dir = "file://{tmp_path}/o"'))).output == \
        tmp_path / "o"
    with pytest.raises(ConfigError, match=r"spec\.toml: \[output\] dir s3:// names no bucket or folder"):
        load_spec(write(tmp_path, GOOD.replace('dir = "out"', 'dir = "s3://"')))


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
    spec = load_spec("demo")
    assert spec.survey["synth"] == "demo"
    assert {t["detector"] for t in spec.train.values()} >= {"alad", "iforest", "mahalanobis"}
    # the paper's workflow: the five pathfinders chosen by geology; beside it, the target-aware map
    plain = {k: t for k, t in spec.train.items() if "target" not in t}
    assert all(t["elements"] == ["Ag", "Bi", "Mo", "Sn", "W"] for t in plain.values())
    assert spec.train["alad_w"] == {"detector": "alad", "target": "W", "sample": 40000, "seed": 0}


@pytest.mark.parametrize("name", ["demo", "national", "gswa-soil1", "gswa-rock2", "gtk-lapland-till"])
def test_shipped_specs_load(name):
    real = REPO / "pipelines" / f"{name}.toml"  # the real surveys' specs
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


def test_pipeline_spec_takes_contributions(tmp_path):
    from geogan.pipeline import load_spec

    base = '[output]\ndir = "o"\n[survey]\nsynth = "demo"\n[train.a]\ndetector = "pca"\n[score]\n'
    (tmp_path / "a.toml").write_text(base + "contributions = true\n")
    assert load_spec(tmp_path / "a.toml").score["contributions"] is True
    (tmp_path / "b.toml").write_text(base + 'contributions = "yes"\n')
    with pytest.raises(ConfigError, match="contributions must be true or false"):
        load_spec(tmp_path / "b.toml")


def test_the_deposit_keys_are_deposit_options_by_their_keywords(tmp_path):
    from geogan.options import DepositOptions

    text = GOOD.replace('deposits = "data/deposits.csv"\n', 'deposits = "data/deposits.csv"\ndeposits_x = "E"\n'
                        'deposits_y = "N"\ndeposits_crs = "EPSG:4326"\n')
    spec = load_spec(write(tmp_path, text + '[score]\ndeposit_type = "W-Sn"\ndeposit_type_column = "kind"\nruns = 3\n'))
    assert spec.deposit_options() == DepositOptions(x="E", y="N", input_crs="EPSG:4326", deposit_type="W-Sn",
                                                    deposit_type_column="kind")
    assert load_spec(write(tmp_path, GOOD)).deposit_options() == DepositOptions()
    # each key is checked as the option's field is, and the keys together as the class checks them
    for extra, match in [('[score]\ndeposit_type = ""\n', r"\[score\] deposit_type must be a non-empty string"),
                         ("[score]\ndeposit_type_column = 3\n", r"\[score\] deposit_type_column must be a non-empty"),
                         ('[score]\ndeposit_type_column = "kind"\n', r"\[score\] deposit_type_column names the "
                                                                       r"column that deposit_type selects by"),
                         ('[score]\ndeposits_x = "E"\n', r"unknown key\(s\) deposits_x in \[score\]")]:
        with pytest.raises(ConfigError, match=match) as err:
            load_spec(write(tmp_path, GOOD + extra))
        assert "spec.toml" in str(err.value) and "\n" not in str(err.value)
