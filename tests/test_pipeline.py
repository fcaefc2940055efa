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

    spec = load_spec(Path(__file__).resolve().parents[1] / "pipelines" / "demo.toml")
    assert spec.survey["synth"] == "demo"
    assert {t["detector"] for t in spec.train.values()} >= {"alad", "vae"}
