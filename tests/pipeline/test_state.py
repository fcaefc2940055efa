"""The pipeline's state (geogan.pipeline.state): stage stamps, ``run-state.json`` and the outputs
a run owns (the run itself: test_run.py; through ``geogan run``: tests/integration/test_hostile_*.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import fsspec
import pytest

from geogan.errors import ConfigError, OutputExistsError
from geogan.pipeline import load_spec
from geogan.pipeline.state import RunState, pipeline_outputs, stage_stamp
from geogan.stores.ownership import MARKER, write_marker
from geogan.stores.remote import Remote


def tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def out(tmp_path):
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_a_stamp_hashes_its_parts_not_the_order_of_their_keys():
    a = stage_stamp("grid", "s1", {"cell_size_m": 1000, "power": 2.0})
    assert a == stage_stamp("grid", "s1", {"power": 2.0, "cell_size_m": 1000})
    assert len(a) == 20 and int(a, 16) >= 0
    assert len({a, stage_stamp("grid", "s2", {"cell_size_m": 1000, "power": 2.0}),
                stage_stamp("grid", "s1", {"cell_size_m": 1000, "power": 3.0}),
                stage_stamp("train", "s1", {"cell_size_m": 1000, "power": 2.0})}) == 4
    assert stage_stamp(Path("/a/b.csv")) == stage_stamp("/a/b.csv")  # a path hashes as its text


def test_recorded_stamps_round_trip_and_freshness_needs_the_stamp_and_the_outputs(out):
    state = RunState(out)
    assert state.data == {} and not state.file.exists()
    state.record("grid", "abc")
    assert json.loads(state.file.read_text()) == {"grid": "abc"}
    again = RunState(out)
    assert again.data == {"grid": "abc"}
    assert not again.fresh("grid", "abc", out / "grid.zarr")  # the output is gone
    (out / "grid.zarr").mkdir()
    assert again.fresh("grid", "abc", out / "grid.zarr") and again.fresh("grid", "abc")
    assert not again.fresh("grid", "other", out / "grid.zarr") and not again.fresh("train.x", "abc")


@pytest.mark.parametrize("content, expected", [
    ("{not json", r"cannot read the pipeline state \(.*\); remove it to start afresh"),
    ("[1, 2]", "not a geogan pipeline state; remove it to start afresh"),
    ('{"owned": "report"}', r"'owned' must be a list of paths, got \"report\"; remove the file"),
    ('{"owned": [1]}', r"'owned' must be a list of paths, got \[1\]"),
])
def test_a_damaged_state_file_is_a_config_error_naming_it(out, content, expected):
    (out / "run-state.json").write_text(content)
    with pytest.raises(ConfigError, match=expected) as err:
        RunState(out)
    assert str(err.value).startswith(f"{out / 'run-state.json'}: ")
    assert (out / "run-state.json").read_text() == content  # never rewritten


def test_a_state_file_that_is_a_folder_is_refused(out):
    (out / "run-state.json").mkdir()
    with pytest.raises(ConfigError, match=r"run-state\.json: is not a file; remove it to start afresh"):
        RunState(out)


def test_claiming_records_new_outputs_once_and_refuses_what_the_run_did_not_write(out):
    state = RunState(out)
    state.claim([("grid", out / "grid.zarr"), ("train.p", out / "models" / "p")], overwrite=False)
    assert json.loads(state.file.read_text())["owned"] == ["grid.zarr", "models/p"]
    state.claim([("grid", out / "grid.zarr")], overwrite=False)
    assert RunState(out).data["owned"] == ["grid.zarr", "models/p"]
    (out / "report").mkdir()
    (out / "report" / "index.html").write_text("my own page")
    with pytest.raises(OutputExistsError, match=r"report exists and was not written by this pipeline \(it is not in "
                                                r"run-state\.json\); move it away, or pass --overwrite"):
        state.claim([("score.q", out / "scores" / "q"), ("report", out / "report")], overwrite=False)
    assert RunState(out).data["owned"] == ["grid.zarr", "models/p"]  # all or nothing: scores/q not claimed
    with pytest.raises(OutputExistsError, match=r"report \(the report output\) exists and geogan did not write it"):
        state.claim([("report", out / "report")], overwrite=True)  # --overwrite replaces geogan's outputs only
    assert (out / "report" / "index.html").read_text() == "my own page"


def test_overwrite_claims_an_output_carrying_geogans_marker(out):
    (out / "report").mkdir()
    (out / "report" / "index.html").write_text("<html>")
    write_marker(out / "report", "report", ["index.html"])
    RunState(out).claim([("report", out / "report")], overwrite=True)
    assert RunState(out).data["owned"] == ["report"]


def test_an_owned_output_without_geogans_marker_is_refused_and_nothing_is_deleted(out):
    """``run-state.json`` alone never makes a folder geogan's: a survey or report listed there
    but carrying no marker (as an unreleased geogan left them) is refused, rerun or not."""
    (out / "run-state.json").write_text(json.dumps({"synth": "a", "owned": ["survey", "report"]}))
    (out / "survey").mkdir()
    (out / "survey" / "survey.csv").write_text("x,y\n")
    (out / "survey" / "truth.json").write_text(json.dumps({"preset": "demo", "halos": [], "crs": "EPSG:32650"}))
    (out / "report").mkdir()
    (out / "report" / "metrics.json").write_text(json.dumps({"geogan_version": "0.1.0"}))
    before = tree(out)
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError) as err:
            RunState(out).claim([("synth", out / "survey"), ("report", out / "report")], overwrite=overwrite)
        assert str(err.value).startswith(f"{out / 'survey'}: survey (the synth output) exists and geogan did not "
                                         f"write it (it carries no geogan marker)")
    with pytest.raises(OutputExistsError, match=r"report: report \(the report output\) exists and geogan did not"):
        RunState(out).claim([("report", out / "report")], overwrite=False)
    assert tree(out) == before  # no marker written, nothing deleted, the state unchanged


def test_a_state_without_an_owned_list_owns_nothing(out):
    (out / "run-state.json").write_text(json.dumps({"grid": "a", "train.alad": "b", "score.alad": "c"}))
    (out / "grid.zarr").mkdir()
    (out / "grid.zarr" / "notes.txt").write_text("mine")
    state = RunState(out)
    assert "owned" not in state.data
    with pytest.raises(OutputExistsError, match="grid.zarr exists and was not written by this pipeline"):
        state.claim([("grid", out / "grid.zarr")], overwrite=False)
    state.claim([("train.alad", out / "models" / "alad")], overwrite=False)  # not there yet: claimed
    assert RunState(out).data["owned"] == ["models/alad"]


def test_a_score_folder_is_judged_output_by_output_and_the_users_files_beside_them_stay(out):
    scores = out / "scores" / "p"
    scores.mkdir(parents=True)
    (scores / "notes.txt").write_text("mine")  # not one of the score outputs: never replaced, never in the way
    RunState(out).claim([("score.p", scores)], overwrite=True)
    (scores / "anomaly.qml").write_text("<qgis/>")  # a score output's name, no marker listing it
    with pytest.raises(OutputExistsError, match=r"anomaly\.qml: scores/p/anomaly\.qml \(the score\.p output\) exists "
                                                r"and geogan did not write it"):
        RunState(out).claim([("score.p", scores)], overwrite=True)
    write_marker(scores, "score", ["anomaly.qml"])
    RunState(out).claim([("score.p", scores)], overwrite=False)
    assert (scores / "notes.txt").read_text() == "mine" and (scores / MARKER).is_file()


def test_an_output_reached_through_a_link_is_refused(out, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "p").mkdir(parents=True)
    (elsewhere / "p" / "config.json").write_text('{"format": "geogan-model"}')
    (out / "models").symlink_to(elsewhere)
    for path in (out / "models" / "p", out / "models"):  # under a link, or the link itself
        with pytest.raises(OutputExistsError, match=r"is \(or lies under\) a symbolic link; geogan run writes its "
                                                    r"outputs inside .*out itself: remove the link"):
            RunState(out).claim([("train.p", path)], overwrite=True)
    assert not (out / "run-state.json").exists() and (elsewhere / "p" / "config.json").is_file()
    with pytest.raises(OutputExistsError, match="symbolic link"):  # an output not written yet, under a link
        RunState(out).claim([("train.q", out / "models" / "q")], overwrite=False)
    assert not (elsewhere / "q").exists() and not (out / "run-state.json").exists()


def _spec(tmp_path, survey: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(f'[output]\ndir = "out"\n[survey]\n{survey}\n[train.a]\ndetector = "pca"\n'
                    f'[train.b]\ndetector = "iforest"\n')
    return path


def test_pipeline_outputs_lists_each_stage_and_its_path(tmp_path):
    out = tmp_path / "out"
    stages = pipeline_outputs(load_spec(_spec(tmp_path, 'synth = "demo"')))
    assert stages == [("synth", out / "survey"), ("grid", out / "grid.zarr"),
                      ("train.a", out / "models" / "a"), ("score.a", out / "scores" / "a"),
                      ("train.b", out / "models" / "b"), ("score.b", out / "scores" / "b"), ("report", out / "report")]
    plain = pipeline_outputs(load_spec(_spec(tmp_path, 'path = "survey.csv"')))
    assert [s for s, _ in plain] == ["grid", "train.a", "score.a", "train.b", "score.b"]  # no deposits: no report
    judged = pipeline_outputs(load_spec(_spec(tmp_path, 'path = "survey.csv"\ndeposits = "deposits.csv"')))
    assert judged[-1] == ("report", out / "report")


# -- an output directory in object storage (memory:// here; a real S3 API: tests/integration/
# test_object_storage_run.py) --------------------------------------------------------------------
@pytest.fixture
def bucket():
    """A fresh ``memory://`` output prefix, removed afterwards."""
    root = f"geogan-state-{uuid.uuid4().hex[:8]}"
    yield f"memory://{root}/out"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{root}"):
        fs.rm(f"/{root}", recursive=True)


def test_the_state_round_trips_as_one_object_in_object_storage(bucket):
    state = RunState(bucket)
    assert state.data == {} and state.file == bucket + "/run-state.json"
    state.record("grid", "abc")
    state.claim([("grid", bucket + "/grid.zarr"), ("train.p", bucket + "/models/p")], overwrite=False)
    assert Remote(bucket).names() == ["run-state.json"]
    saved = Remote(bucket).read_bytes("run-state.json").decode()
    assert json.loads(saved) == {"grid": "abc", "owned": ["grid.zarr", "models/p"]}
    assert "://" not in saved  # relative names only: never a URL, never a credential
    again = RunState(bucket)
    assert again.data == json.loads(saved)
    assert not again.fresh("grid", "abc", bucket + "/grid.zarr")  # the output is not there
    Remote(bucket).write_bytes("grid.zarr/zarr.json", b"{}")
    assert again.fresh("grid", "abc", bucket + "/grid.zarr") and not again.fresh("grid", "other", bucket + "/grid.zarr")
    again.forget("grid")
    assert "grid" not in RunState(bucket).data and RunState(bucket).data["owned"] == ["grid.zarr", "models/p"]


@pytest.mark.parametrize("content, expected", [
    (b"{not json", r"cannot read the pipeline state \(.*\); remove it to start afresh"),
    (b'{"owned": [1]}', r"'owned' must be a list of paths, got \[1\]"),
])
def test_a_damaged_state_object_is_a_config_error_naming_its_url(bucket, content, expected):
    Remote(bucket).write_bytes("run-state.json", content)
    with pytest.raises(ConfigError, match=expected) as err:
        RunState(bucket)
    assert str(err.value).startswith(f"{bucket}/run-state.json: ")
    assert Remote(bucket).read_bytes("run-state.json") == content  # never rewritten


def test_a_state_prefix_that_is_no_object_is_refused(bucket):
    Remote(bucket).write_bytes("run-state.json/x", b"{}")
    with pytest.raises(ConfigError, match=rf"^{bucket}/run-state\.json: is not a file; remove it to start afresh$"):
        RunState(bucket)


def test_claiming_in_object_storage_refuses_a_foreign_object_and_owns_what_it_lists(bucket):
    state = RunState(bucket)
    Remote(bucket).write_bytes("report/index.html", b"my own page")
    with pytest.raises(OutputExistsError, match=rf"^{bucket}/report exists and was not written by this pipeline"):
        state.claim([("grid", bucket + "/grid.zarr"), ("report", bucket + "/report")], overwrite=False)
    with pytest.raises(OutputExistsError, match=r"report \(the report output\) exists and geogan did not write it"):
        state.claim([("report", bucket + "/report")], overwrite=True)  # --overwrite replaces geogan's outputs only
    assert not Remote(bucket).exists("run-state.json")  # all or nothing: grid.zarr not claimed either
    assert Remote(bucket).read_bytes("report/index.html") == b"my own page"
    # an output carrying geogan's marker is replaced with --overwrite, then owned
    Remote(bucket).write_bytes("models/q/config.json", b'{"format": "geogan-model"}')
    with pytest.raises(OutputExistsError, match="models/q exists and was not written by this pipeline"):
        state.claim([("train.q", bucket + "/models/q")], overwrite=False)
    state.claim([("train.q", bucket + "/models/q")], overwrite=True)
    RunState(bucket).claim([("train.q", bucket + "/models/q")], overwrite=False)  # owned now: no --overwrite
    assert RunState(bucket).data["owned"] == ["models/q"]
    # listed as owned does not make a folder geogan's: a model with a file of the user's is refused
    Remote(bucket).write_bytes("models/q/notes.txt", b"mine")
    with pytest.raises(OutputExistsError, match=r"models/q \(the train\.q output\) holds notes\.txt, which geogan did "
                                                r"not write"):
        RunState(bucket).claim([("train.q", bucket + "/models/q")], overwrite=False)


def test_a_score_prefix_is_judged_output_by_output_in_object_storage(bucket):
    scores = bucket + "/scores/p"
    Remote(scores).write_bytes("notes.txt", b"mine")  # not a score output: never in the way
    RunState(bucket).claim([("score.p", scores)], overwrite=True)
    Remote(scores).write_bytes("anomaly.qml", b"<qgis/>")  # a score output's name, no marker listing it
    with pytest.raises(OutputExistsError, match=r"anomaly\.qml: scores/p/anomaly\.qml \(the score\.p output\) exists "
                                                r"and geogan did not write it"):
        RunState(bucket).claim([("score.p", scores)], overwrite=True)


def test_pipeline_outputs_of_an_object_storage_run_are_urls(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('[output]\ndir = "s3://bucket/run/"\n[survey]\nsynth = "demo"\n[train.a]\ndetector = "pca"\n')
    assert pipeline_outputs(load_spec(spec)) == [
        ("synth", "s3://bucket/run/survey"), ("grid", "s3://bucket/run/grid.zarr"),
        ("train.a", "s3://bucket/run/models/a"), ("score.a", "s3://bucket/run/scores/a"),
        ("report", "s3://bucket/run/report")]
