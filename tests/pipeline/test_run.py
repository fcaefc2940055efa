"""One run of a pipeline spec, step by step (geogan.pipeline.run): the survey's stamp, the
stamps of resolved settings, and the runner's steps that need no Dask cluster and no
TensorFlow (the whole chain: tests/integration/test_run_pipeline.py; its refusals:
tests/integration/test_hostile_run.py)."""

from __future__ import annotations

import json
import uuid

import fsspec
import pytest

from geogan.errors import ConfigError
from geogan.grid.idw import IDWParams
from geogan.options import EvalOptions, GridOptions, SurveyOptions
from geogan.pipeline import load_spec
from geogan.pipeline.run import _resolved, _Runner, _survey_input, _target_of, _train_settings
from geogan.pipeline.state import RunState, stage_stamp
from geogan.stores.files import file_sha256
from geogan.stores.remote import Remote
from tests.helpers.grids import make_grid

GRID = (SurveyOptions, GridOptions, IDWParams)


def spec_file(tmp_path, survey: str, *, extra: str = "", name: str = "spec.toml"):
    path = tmp_path / name
    path.write_text(f'[output]\ndir = "out"\n[survey]\n{survey}\n[train.p]\ndetector = "pca"\nsample = 300\n{extra}')
    return load_spec(path)


def runner(spec, *, force=False) -> _Runner:
    spec.output.mkdir(parents=True, exist_ok=True)
    return _Runner(spec, RunState(spec.output), force=force, progress=False)


# -- the survey's stamp ---------------------------------------------------------------------------------
def test_a_survey_files_stamp_is_its_content_and_a_missing_one_stops_the_run(tmp_path):
    survey = tmp_path / "survey.csv"
    survey.write_text("x,y,Cu_ppm\n1,2,3\n")
    spec = spec_file(tmp_path, 'path = "survey.csv"')
    assert _survey_input(spec) == (survey, file_sha256(survey))
    assert _survey_input(spec_file(tmp_path, 'synth = "demo"')) is None  # written by the run itself
    survey.unlink()
    with pytest.raises(ConfigError, match=rf"^{survey}: survey file not found$"):
        _survey_input(spec)
    survey.mkdir()
    with pytest.raises(ConfigError, match="the survey is not a file"):
        _survey_input(spec)


def test_a_url_surveys_stamp_follows_the_object_and_a_missing_object_stops_the_run(tmp_path):
    fs = fsspec.filesystem("memory")
    fs.pipe("/geogan-run-test/survey.csv", b"x,y,Cu_ppm\n1,2,3\n")
    try:
        spec = spec_file(tmp_path, 'path = "memory://geogan-run-test/survey.csv"')
        path, stamp = _survey_input(spec)
        assert path == "memory://geogan-run-test/survey.csv" and len(stamp) == 20
        fs.pipe("/geogan-run-test/survey.csv", b"x,y,Cu_ppm\n1,2,3\n4,5,6\n")
        assert _survey_input(spec)[1] != stamp
        with pytest.raises(ConfigError, match=r"^memory://geogan-run-test/none\.csv: survey file not found$"):
            _survey_input(spec_file(tmp_path, 'path = "memory://geogan-run-test/none.csv"'))
    finally:
        fs.rm("/geogan-run-test", recursive=True)


# -- stamps hash resolved settings ----------------------------------------------------------------------
def test_writing_a_default_out_keeps_the_stamp_and_changing_a_setting_changes_it():
    base = stage_stamp("grid", "s", _resolved({"cell_size_m": 1000}, *GRID))
    defaults = {"cell_size_m": 1000, **{k: v for k, v in IDWParams().to_dict().items() if k in ("power", "neighbors")}}
    assert stage_stamp("grid", "s", _resolved(defaults, *GRID)) == base
    assert stage_stamp("grid", "s", _resolved({"cell_size_m": 1000, "power": 3.0}, *GRID)) != base
    assert stage_stamp("grid", "s", _resolved({"cell_size_m": 500}, *GRID)) != base
    resolved = _resolved({"cell_size_m": 1000, "crs": "EPSG:32650", "unknown_key": 1}, *GRID)
    assert resolved["GridOptions"]["cell_size_m"] == 1000 and resolved["other"]["unknown_key"] == 1
    evaluation = _resolved({"runs": 5}, EvalOptions)
    assert evaluation["EvalOptions"] == EvalOptions(runs=5).to_dict()


def test_a_train_tables_stamp_hashes_the_detector_as_it_resolves_its_parameters():
    plain = _train_settings({"detector": "pca", "sample": 300})
    assert _train_settings({"detector": "pca", "sample": 300, "seed": 0}) == plain  # the default, written out
    assert _train_settings({"detector": "pca", "sample": 300, "seed": 1}) != plain
    assert plain["params"] == _train_settings({"detector": "pca", "sample": 300, "params": {}})["params"]
    assert _train_settings({"detector": "pca", "sample": 300, "params": {"n_components": 2}})["params"] != \
        plain["params"]


def test_target_of_reads_a_models_target_section(tmp_path):
    assert _target_of(tmp_path) is None  # no config.json
    (tmp_path / "config.json").write_text(json.dumps({"target": {"target": "W", "predictors": ["Sn"], "weight": 2.0,
                                                                 "info": {"deposit_type": "w-sn-granite"}}}))
    assert _target_of(tmp_path) == {"element": "W", "deposit_type": "w-sn-granite", "suite": None,
                                    "predictors": ["Sn"], "weight": 2.0}
    (tmp_path / "config.json").write_text(json.dumps({"target": None}))
    assert _target_of(tmp_path) is None


# -- the runner's steps ---------------------------------------------------------------------------------
def test_a_stage_runs_once_then_is_up_to_date_until_its_stamp_changes_or_force(tmp_path, log_lines):
    run = runner(spec_file(tmp_path, 'synth = "demo"'))
    out = run.out / "thing"
    calls = []

    def action():
        calls.append(1)
        out.write_text("made")
        return "result"

    assert run.stage("thing", "s1", out, describe=" → thing", action=action) == "result"
    assert RunState(run.out).data["thing"] == "s1" and "thing" in run.summary["seconds"]
    assert run.stage("thing", "s1", out, describe="", action=action) is None and len(calls) == 1
    assert f"== thing: up to date ({out})" in log_lines()
    run.stage("thing", "s2", out, describe="", action=action)
    out.unlink()
    run.stage("thing", "s2", out, describe="", action=action)  # its output gone: rerun
    forced = runner(run.spec, force=True)
    forced.stage("thing", "s2", out, describe="", action=action)
    assert len(calls) == 4


def test_a_stage_that_fails_records_no_stamp(tmp_path):
    run = runner(spec_file(tmp_path, 'synth = "demo"'))

    def action():
        raise ConfigError("bad setting")

    with pytest.raises(ConfigError, match="bad setting"):
        run.stage("thing", "s1", run.out, describe="", action=action)
    assert "thing" not in RunState(run.out).data and "thing" not in run.summary["seconds"]


def test_the_synthetic_survey_step_writes_the_preset_once(tmp_path):
    spec = spec_file(tmp_path, 'synth = "demo"\nsamples = 300\nseed = 2')
    run = runner(spec)
    run.survey(None)
    synth = spec.output / "survey"
    assert run.survey_path == synth / "survey.csv" and run.deposits_path == str(synth / "deposits.csv")
    assert run.survey_crs == json.loads((synth / "truth.json").read_text())["crs"]
    assert sum(1 for _ in run.survey_path.open()) == 301  # header and 300 samples
    before = run.survey_path.stat().st_mtime_ns
    again = runner(spec)
    again.survey(None)
    assert again.survey_stamp == run.survey_stamp and "synth" not in again.summary["seconds"]
    assert run.survey_path.stat().st_mtime_ns == before
    other = runner(spec_file(tmp_path, 'synth = "demo"\nsamples = 300\nseed = 3', name="other.toml"))
    other.survey(None)
    assert other.survey_stamp != run.survey_stamp and "synth" in other.summary["seconds"]  # another seed: rewritten
    assert run.survey_path.stat().st_mtime_ns != before


def test_a_survey_files_step_takes_its_path_stamp_crs_and_deposits_from_the_spec(tmp_path):
    (tmp_path / "survey.csv").write_text("x,y,Cu_ppm\n1,2,3\n")
    spec = spec_file(tmp_path, 'path = "survey.csv"\ninput_crs = "EPSG:32650"\ndeposits = "deps.csv"')
    run = runner(spec)
    run.survey(_survey_input(spec))
    assert run.survey_path == tmp_path / "survey.csv" and run.survey_stamp == file_sha256(tmp_path / "survey.csv")
    assert run.survey_crs == "EPSG:32650" and run.deposits_path == str(tmp_path / "deps.csv")
    assert not (spec.output / "survey").exists() and RunState(spec.output).data == {}


def test_the_deposits_are_read_on_the_grids_crs(tmp_path):
    (tmp_path / "survey.csv").write_text("x,y,Cu_ppm\n1,2,3\n")
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True).transform(510_000, 2_710_000)
    (tmp_path / "deps.csv").write_text(f"name,lon,lat\nA,{lon!r},{lat!r}\n")  # a point in the grid, in degrees
    spec = spec_file(tmp_path, 'path = "survey.csv"\ndeposits = "deps.csv"\ndeposits_crs = "EPSG:4326"\n'
                               'deposits_x = "lon"\ndeposits_y = "lat"')
    run = runner(spec)
    run.survey(_survey_input(spec))
    run.grid_path = make_grid(tmp_path / "grid.zarr")[0]  # EPSG:32650, as gridding would leave it
    deposits = run.deposits()
    assert len(deposits.x) == 1
    assert deposits.x[0] == pytest.approx(510_000, abs=1e-3) and deposits.y[0] == pytest.approx(2_710_000, abs=1e-3)
    run.deposits_path = None
    assert run.deposits() is None


def test_a_train_step_maps_a_setting_the_data_cannot_take_to_its_table(tmp_path):
    spec = spec_file(tmp_path, 'synth = "demo"', extra="[train.q]\ndetector = \"pca\"\nparams = {n_components = 9}\n")
    run = runner(spec)
    run.grid_path, run.grid_stamp = make_grid(tmp_path / "grid.zarr")[0], "g"
    model_dir, stamp = run.train("p", spec.train["p"])
    assert model_dir == spec.output / "models" / "p" and (model_dir / "config.json").is_file()
    assert RunState(spec.output).data["train.p"] == stamp
    config = (model_dir / "config.json").read_bytes()
    again = runner(spec)
    again.grid_path, again.grid_stamp = run.grid_path, "g"
    assert again.train("p", spec.train["p"]) == (model_dir, stamp)  # up to date: not trained again
    assert "train.p" not in again.summary["seconds"] and (model_dir / "config.json").read_bytes() == config
    again.grid_stamp = "another grid"
    assert again.train("p", spec.train["p"])[1] != stamp and "train.p" in again.summary["seconds"]
    with pytest.raises(ConfigError, match=r"spec\.toml: \[train\.q\]: .*n_components") as err:
        run.train("q", spec.train["q"])
    assert err.value.path == str(spec.path) and not (spec.output / "models" / "q").exists()


def test_a_target_element_is_judged_alone_beside_the_target_aware_maps(tmp_path):
    grid, spec_, _, cells = make_grid(tmp_path / "grid.zarr")
    x = [spec_.transform.c + 500 * (c + 0.5) for _, c in cells]
    y = [spec_.transform.f - 500 * (r + 0.5) for r, _ in cells]
    (tmp_path / "deps.csv").write_text("x,y\n" + "".join(f"{a},{b}\n" for a, b in zip(x, y)))
    (tmp_path / "survey.csv").write_text("x,y,Cu_ppm\n1,2,3\n")
    spec = spec_file(tmp_path, 'path = "survey.csv"\ndeposits = "deps.csv"', extra="[score]\nruns = 2\n")
    run = runner(spec)
    run.survey(_survey_input(spec))
    run.grid_path = grid
    run.summary["detectors"] = {"p": {"target": {"element": "W"}}, "q": {}}
    run.targets_alone(run.deposits())
    assert [r.name for r in run.results] == ["W alone"] and set(run.scores) == {"W alone"}
    entry = run.summary["detectors"]["W alone"]
    assert entry["element"] == "W" and entry["metrics"]["n_deposits"] == 2
    assert entry["metrics"]["roc_auc"] > 0.9  # the grid's W is enriched around both deposits


# -- an output directory in object storage (memory:// here; the whole chain on a real S3 API:
# tests/integration/test_object_storage_run.py) ----------------------------------------------------
@pytest.fixture
def bucket():
    """A fresh ``memory://`` prefix, removed afterwards."""
    root = f"geogan-run-{uuid.uuid4().hex[:8]}"
    yield f"memory://{root}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{root}"):
        fs.rm(f"/{root}", recursive=True)


def remote_runner(tmp_path, bucket, survey: str, *, force=False, name="spec.toml") -> _Runner:
    spec = spec_file(tmp_path, survey, name=name)
    spec.output = bucket + "/out"
    return _Runner(spec, RunState(spec.output), force=force, progress=False)


def test_target_of_reads_the_config_of_a_model_in_object_storage(bucket):
    model = f"{bucket}/out/models/p"
    assert _target_of(model) is None  # nothing there yet
    Remote(model).write_bytes("config.json", json.dumps({"target": {"target": "Sn", "predictors": ["W", "Cu"],
                                                                    "info": {"suite": "granite"}}}).encode())
    assert _target_of(model) == {"element": "Sn", "deposit_type": None, "suite": "granite",
                                 "predictors": ["W", "Cu"], "weight": None}


def test_a_stage_in_object_storage_drops_its_stamp_while_it_rewrites_its_output(tmp_path, bucket, log_lines):
    run = remote_runner(tmp_path, bucket, 'synth = "demo"')
    thing = run.out + "/thing"
    seen = []

    def action():
        seen.append(RunState(run.out).data.get("thing"))  # what a run killed now would find
        Remote(thing).write_bytes("data", b"made")

    run.stage("thing", "s1", thing, describe="", action=action)
    assert RunState(run.out).data["thing"] == "s1" and seen == [None]
    assert run.stage("thing", "s1", thing, describe="", action=action) is None and len(seen) == 1
    assert f"== thing: up to date ({thing})" in log_lines()

    def killed():
        seen.append(RunState(run.out).data.get("thing"))
        Remote(thing).write_bytes("data", b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # a forced rerun killed while it rewrites the output in place
        remote_runner(tmp_path, bucket, 'synth = "demo"', force=True).stage("thing", "s1", thing, describe="",
                                                                           action=killed)
    assert seen[-1] is None and "thing" not in RunState(run.out).data  # so the next run redoes it
    again = remote_runner(tmp_path, bucket, 'synth = "demo"')
    again.stage("thing", "s1", thing, describe="", action=action)
    assert len(seen) == 3 and Remote(thing).read_bytes("data") == b"made"


def test_the_synthetic_survey_step_uploads_the_preset_once(tmp_path, bucket):
    run = remote_runner(tmp_path, bucket, 'synth = "demo"\nsamples = 300\nseed = 2')
    run.survey(None)
    synth = run.out + "/survey"
    assert run.survey_path == synth + "/survey.csv" and run.deposits_path == synth + "/deposits.csv"
    assert run.survey_crs == Remote(synth).read_json("truth.json")["crs"] and "synth" in run.summary["seconds"]
    first = Remote(synth).read_bytes("survey.csv")
    assert first.decode().count("\n") == 301  # header and 300 samples
    RunState(run.out).claim([("synth", synth)], overwrite=True)  # geogan's synth output: replaceable
    again = remote_runner(tmp_path, bucket, 'synth = "demo"\nsamples = 300\nseed = 2')
    again.survey(None)
    assert again.survey_stamp == run.survey_stamp and "synth" not in again.summary["seconds"]
    assert (again.survey_path, again.survey_crs) == (run.survey_path, run.survey_crs)
    other = remote_runner(tmp_path, bucket, 'synth = "demo"\nsamples = 300\nseed = 3', name="other.toml")
    other.survey(None)
    assert other.survey_stamp != run.survey_stamp and "synth" in other.summary["seconds"]  # another seed: rewritten
    assert Remote(synth).read_bytes("survey.csv") != first


def test_a_models_target_is_read_from_object_storage(bucket):
    assert _target_of(bucket + "/models/p") is None
    Remote(bucket).write_bytes("models/p/config.json", json.dumps({"target": {"target": "W"}}).encode())
    assert _target_of(bucket + "/models/p")["element"] == "W"
