"""bench/_quick.py: the check CI runs on every benchmark's quick mode (issue 21)."""

import importlib.util

import pytest

from tests.helpers.data import REPO

BENCH = REPO / "bench"


@pytest.fixture(scope="module")
def quick():
    spec = importlib.util.spec_from_file_location("bench_quick", BENCH / "_quick.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figures_not_computed_are_found(quick):
    assert quick.problems({"bench": "x", "auc": {"a": 0.7, "b": [0.5, 0.6]}, "seconds": 3}) == []
    assert quick.problems({"auc": {"a": float("nan"), "b": None}, "n": 3}) == ["auc.a is nan", "auc.b is null"]
    assert quick.problems({"rows": [{"x": float("inf")}]})[0] == "rows[0].x is inf"
    assert quick.problems({"bench": "x", "ok": True}) == ["no figure at all"]


def test_every_benchmark_is_found_and_helpers_are_not(quick):
    names = {p.stem for p in quick.benchmarks()}
    assert {"score", "grid", "quality", "train", "national"} <= names
    assert not any(n.startswith("_") for n in names)


@pytest.mark.parametrize("body, status, why", [
    ('print("working"); print(json.dumps({"auc": 0.7}))', "ok", None),
    ('print(json.dumps({"skipped": "no GPU visible"}))', "skipped", "no GPU visible"),
    ('print(json.dumps({"auc": float("nan")}))', "failed", "auc is nan"),
    ('print("figures follow")', "failed", "not a JSON object"),
    ('import sys; print("boom", file=sys.stderr); sys.exit(3)', "failed", "exit code 3: boom"),
])
def test_a_script_is_judged_by_its_exit_and_its_last_line(quick, tmp_path, body, status, why):
    script = tmp_path / "fake.py"
    script.write_text(f"import json\n{body}\n")
    r = quick.run_one(script, timeout=60, work=tmp_path)
    assert r["status"] == status, r
    if why:
        assert why in r["why"]
