"""``geogan run`` with ``[output] dir = "s3://bucket/run"`` (geogan.pipeline, issue #22): the whole
chain into a real S3 API (moto's server on 127.0.0.1, ``s3_bucket`` of tests/conftest.py), its
state and lock as objects, a rerun with nothing to do, and the refusals a local run makes."""

from __future__ import annotations

import json
import os

import pytest

from geogan.errors import OutputExistsError
from geogan.pipeline import run_pipeline
from tests.helpers.s3 import lock_held_elsewhere
from geogan.stores.remote import Remote

SPEC = """
[output]
dir = "{out}"
[survey]
synth = "demo"
samples = 800
seed = 1
elements = ["W", "Sn", "Bi", "Mo"]
[grid]
cell_size_m = 2000
tile = 32
[train.a]
detector = "pca"
sample = 500
[score]
runs = 2
contributions = true
[cluster]
workers = 1
"""


def spec_file(tmp_path, out: str):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(out=out))
    return path


@pytest.mark.slow
@pytest.mark.cluster
def test_a_run_into_object_storage_then_a_rerun_with_nothing_to_do(tmp_path, s3_server, s3_bucket, log_lines):
    out = f"{s3_bucket}/run"
    spec = spec_file(tmp_path, out)
    summary = run_pipeline(spec, progress=False)
    names = Remote(out).names()
    for name in ("run-state.json", "survey/.geogan", "survey/survey.csv", "survey/truth.json", "grid.zarr/zarr.json",
                 "models/a/config.json", "scores/a/scores.zarr/zarr.json", "scores/a/contributions.zarr/zarr.json",
                 "scores/a/anomaly.tif", "report/index.html"):
        assert name in names, name
    assert not [n for n in names if n.endswith(".lock") or ".partial/" in n]  # locks and work state gone
    assert os.listdir(tmp_path) == ["spec.toml"]  # nothing written beside the spec
    state_text = Remote(out).read_bytes("run-state.json").decode()
    state = json.loads(state_text)
    assert set(state) == {"synth", "grid", "train.a", "score.a", "owned"}
    assert state["owned"] == ["survey", "grid.zarr", "models/a", "scores/a", "report"]
    shown = json.dumps(summary) + state_text + "\n".join(log_lines())
    assert s3_server.env["AWS_SECRET_ACCESS_KEY"] not in shown and "://" not in state_text
    assert summary["output"] == out and summary["detectors"]["a"]["cog"] == f"{out}/scores/a/anomaly.tif"
    assert summary["report"] == f"{out}/report/index.html"
    assert 0.0 <= summary["detectors"]["a"]["metrics"]["roc_auc"] <= 1.0
    stages = {"synth", "grid", "train.a", "score.a"}
    assert stages <= set(summary["seconds"])
    grid_commit = Remote(out).read_bytes("grid.zarr/zarr.json")
    model = Remote(out).read_bytes("models/a/config.json")

    log_lines.clear()
    again = run_pipeline(spec, progress=False)
    stage_lines = [line for line in log_lines() if line.startswith("== ") and "report" not in line]
    assert len(stage_lines) == 4 and all("up to date" in line for line in stage_lines), stage_lines
    assert not stages & set(again["seconds"])
    assert again["detectors"]["a"]["metrics"] == summary["detectors"]["a"]["metrics"]
    assert Remote(out).read_bytes("grid.zarr/zarr.json") == grid_commit
    assert Remote(out).read_bytes("models/a/config.json") == model
    assert json.loads(Remote(out).read_bytes("run-state.json")) == state


def test_a_run_refuses_a_foreign_object_at_an_output_and_writes_nothing(tmp_path, s3_bucket):
    out = f"{s3_bucket}/run"
    Remote(out).write_bytes("grid.zarr/notes.txt", b"mine")
    spec = spec_file(tmp_path, out)
    with pytest.raises(OutputExistsError, match=rf"{out}/grid\.zarr exists and was not written by this pipeline"):
        run_pipeline(spec, progress=False)
    with pytest.raises(OutputExistsError, match=r"grid\.zarr \(the grid output\) exists and geogan did not write it"):
        run_pipeline(spec, overwrite=True, progress=False)
    assert Remote(out).names() == ["grid.zarr/notes.txt"]  # no state, no survey, no lock left


def test_a_second_run_on_the_same_output_is_refused_while_one_holds_it(tmp_path, s3_bucket):
    out = f"{s3_bucket}/run"
    spec = spec_file(tmp_path, out)
    with lock_held_elsewhere(f"{out}/run"):
        with pytest.raises(OutputExistsError, match=rf"another geogan process \(pid 4242 .*\) is writing "
                                                    rf"{out}/run"):
            run_pipeline(spec, progress=False)
        assert Remote(out).names() == ["run.lock"]
