"""Where a pipeline writes (geogan.pipeline.location): a local folder or an object-storage prefix
(``memory://`` here; a real S3 API: tests/integration/test_object_storage_run.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import fsspec
import pytest

from geogan.errors import ConfigError, OutputExistsError, StoreError
from geogan.pipeline.location import (check_output_dir, child, exists, output_location, read_json, run_lock, shown,
                                      synth_files, write_synth)
from geogan.stores.ownership import MARKER
from geogan.stores.remote import Remote


@pytest.fixture
def bucket():
    """A fresh ``memory://`` prefix, removed afterwards."""
    root = f"geogan-location-{uuid.uuid4().hex[:8]}"
    yield f"memory://{root}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{root}"):
        fs.rm(f"/{root}", recursive=True)


def test_an_output_dir_stays_a_url_in_object_storage_and_is_a_resolved_path_otherwise(tmp_path):
    assert output_location("s3://bucket/run/", tmp_path) == "s3://bucket/run"
    assert output_location("memory://b/run", tmp_path) == "memory://b/run"
    assert output_location("out", tmp_path) == tmp_path / "out"
    assert output_location("../out", tmp_path / "specs") == tmp_path / "out"
    assert output_location(f"file://{tmp_path}/out", Path("/elsewhere")) == tmp_path / "out"
    with pytest.raises(ConfigError, match=r"\[output\] dir s3:// names no bucket or folder"):
        output_location("s3://", tmp_path)
    with pytest.raises(ConfigError, match="a file:// URL names a local folder"):
        output_location("file://host/out", tmp_path)


def test_children_are_paths_below_a_folder_and_urls_below_a_prefix():
    assert child(Path("/data/run"), "scores", "a", "scores.zarr") == Path("/data/run/scores/a/scores.zarr")
    assert child("s3://bucket/run", "scores", "a", "scores.zarr") == "s3://bucket/run/scores/a/scores.zarr"
    assert shown("s3://KEY:SECRET@bucket/run") == "s3://bucket/run"
    assert shown(Path("/data/run")) == "/data/run"


def test_existence_and_json_read_alike_locally_and_in_object_storage(tmp_path, bucket):
    for out in (tmp_path, bucket):
        model = child(out, "models", "a")
        assert not exists(model) and read_json(model, "config.json") is None
        if isinstance(out, Path):
            model.mkdir(parents=True)
            (model / "config.json").write_text('{"format": "geogan-model"}')
        else:
            Remote(model).write_bytes("config.json", b'{"format": "geogan-model"}')
        assert exists(model) and read_json(model, "config.json") == {"format": "geogan-model"}


def test_an_output_dir_that_is_a_file_or_an_object_is_refused(tmp_path, bucket):
    (tmp_path / "out").write_text("mine")
    with pytest.raises(ConfigError, match=r"spec\.toml: \[output\] dir .*out is a file, not a directory"):
        check_output_dir(tmp_path / "out", tmp_path / "spec.toml")
    check_output_dir(bucket + "/run", tmp_path / "spec.toml")  # nothing there yet: fine
    Remote(bucket).write_bytes("run", b"mine")
    with pytest.raises(ConfigError, match=rf"\[output\] dir {bucket}/run is an object, not a folder"):
        check_output_dir(bucket + "/run", tmp_path / "spec.toml")


def test_the_run_lock_is_an_object_inside_the_output_held_by_one_run(bucket):
    out = bucket + "/run"
    with run_lock(out) as held:
        assert held == out + "/run.lock" and Remote(out).isfile("run.lock")
        assert json.loads(Remote(out).read_bytes("run.lock"))["pid"] > 0
        with pytest.raises(OutputExistsError, match="this process is already writing"):
            with run_lock(out):
                pass
    assert not Remote(out).exists("run.lock")


def test_a_synthetic_survey_is_uploaded_whole_with_geogans_marker(bucket):
    synth = bucket + "/run/survey"
    write_synth(synth, "demo", seed=1, samples=200, elements=["W", "Sn"], fmt=None, progress=False)
    assert Remote(synth).names() == [MARKER, "deposits.csv", "survey.csv", "truth.json"]
    assert json.loads(Remote(synth).read_bytes(MARKER))["kind"] == "synth"
    crs, survey, deposits = synth_files(synth)
    assert survey == synth + "/survey.csv" and deposits == synth + "/deposits.csv"
    assert crs == Remote(synth).read_json("truth.json")["crs"]
    first = Remote(synth).read_bytes("survey.csv")
    assert first.decode().count("\n") == 201  # header and 200 samples
    write_synth(synth, "demo", seed=1, samples=200, elements=["W", "Sn"], fmt="parquet", progress=False)
    assert Remote(synth).names() == [MARKER, "deposits.csv", "survey.parquet", "truth.json"]  # replaced whole
    assert synth_files(synth)[1] == synth + "/survey.parquet"
    Remote(synth).remove("truth.json")
    with pytest.raises(StoreError, match="the synthetic survey is incomplete"):
        synth_files(synth)
