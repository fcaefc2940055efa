"""Tests for geogan.training.outputs: where a model directory is built and put in place, a local
path and an object-storage URL (moto's S3 server on 127.0.0.1, tests/helpers/s3.py) alike;
the models are PCA (no TensorFlow)."""

import json

import numpy as np
import pytest

from geogan.errors import ConfigError, OutputExistsError
from geogan.stores.remote import Remote
from geogan.training.model import load_model
from geogan.training.outputs import model_paths
from geogan.training.run import RUN_FILE, check_work_folder
from geogan.training.stage import train_model
from tests.helpers.cli import assert_user_error, cli
from tests.helpers.grids import make_grid


@pytest.fixture
def work_dirs(tmp_path, monkeypatch):
    """The work folders and model copies of this test under its own folder."""
    monkeypatch.setenv("GEOGAN_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("GEOGAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "work"


@pytest.fixture
def small(tmp_path):
    """A small grid store and some complete cells of it."""
    grid, _, conc, _ = make_grid(tmp_path / "grid.zarr")
    cells = conc.reshape(conc.shape[0], -1).T
    return grid, cells[np.isfinite(cells).all(axis=1)][:300]


def test_a_local_model_is_built_beside_it_and_a_url_model_in_a_work_folder_named_by_the_url(work_dirs, tmp_path):
    final, work = model_paths(tmp_path / "models" / "pca")
    assert final == tmp_path / "models" / "pca" and work == tmp_path / "models" / "pca.partial"
    assert model_paths(f"file://{tmp_path}/m")[0] == tmp_path / "m"
    final, work = model_paths("s3://bucket/models/alad/")
    assert final == "s3://bucket/models/alad" and work.parent == work_dirs and work.name.endswith(".partial")
    assert model_paths("s3://key:secret@bucket/models/alad")[1] == work  # credentials are not the model's name
    assert model_paths("s3://bucket/models/vae")[1] != work


def test_train_to_s3_uploads_the_model_that_a_local_training_writes(small, work_dirs, tmp_path, s3_bucket):
    grid, cells = small
    url = f"{s3_bucket}/models/pca"
    res = train_model(grid, url, detector="pca", sample=500, seed=0, progress=False)
    assert res.model_dir == url and str(res).startswith(f"model written to {url}:")
    assert Remote(url).names() == [".geogan", "arrays.npz", "config.json", "history.csv"]
    assert not Remote(f"{url}.lock").exists() and list(work_dirs.iterdir()) == []  # lock and work folder gone
    local = train_model(grid, tmp_path / "pca", detector="pca", sample=500, seed=0, progress=False).model_dir
    np.testing.assert_array_equal(load_model(url).score(cells), load_model(local).score(cells))
    remote_config = json.loads(Remote(url).read_bytes("config.json"))
    local_config = json.loads((local / "config.json").read_text())
    for config in (remote_config, local_config):
        config.pop("created"), config["training"].pop("seconds")
    assert remote_config == local_config


def test_a_model_in_s3_is_replaced_only_with_overwrite_and_only_if_geogan_wrote_all_of_it(small, work_dirs,
                                                                                           s3_bucket):
    grid, cells = small
    url = f"{s3_bucket}/models/pca"
    first = load_model(train_model(grid, url, detector="pca", sample=500, seed=0, progress=False).model_dir)
    with pytest.raises(OutputExistsError, match=rf"^{url} exists; pass --overwrite to replace it$"):
        train_model(grid, url, detector="pca", sample=500, seed=1, progress=False)
    np.testing.assert_array_equal(load_model(url).score(cells), first.score(cells))  # untouched
    train_model(grid, url, detector="pca", sample=500, seed=1, overwrite=True, progress=False)
    second = load_model(url).score(cells)
    assert load_model(url).config["training"]["seed"] == 1 and not np.array_equal(second, first.score(cells))
    Remote(url).write_bytes("notes.txt", b"my notes")
    with pytest.raises(OutputExistsError, match=r"holds notes.txt, which geogan did not write"):
        train_model(grid, url, detector="pca", sample=500, seed=2, overwrite=True, progress=False)
    assert Remote(url).read_bytes("notes.txt") == b"my notes"
    np.testing.assert_array_equal(load_model(url).score(cells), second)
    other = f"{s3_bucket}/mine"
    Remote(other).write_bytes("data.csv", b"x,y\n")
    with pytest.raises(OutputExistsError, match="geogan did not write it"):
        train_model(grid, other, detector="pca", sample=500, overwrite=True, progress=False)
    assert Remote(other).names() == ["data.csv"]


def test_one_writer_per_model_url_and_outputs_apart_from_the_inputs(small, work_dirs, s3_bucket):
    from tests.helpers.s3 import lock_held_elsewhere

    grid, _ = small
    url = f"{s3_bucket}/models/pca"
    with lock_held_elsewhere(url):
        with pytest.raises(OutputExistsError, match="another geogan process .* is writing"):
            train_model(grid, url, detector="pca", sample=500, progress=False)
    assert not Remote(url).exists()
    Remote(f"{s3_bucket}/grid.zarr").write_bytes("zarr.json", b"{}")
    with pytest.raises(OutputExistsError, match="model directory lies inside the input"):
        train_model(f"{s3_bucket}/grid.zarr", f"{s3_bucket}/grid.zarr/model", detector="pca", progress=False)


def test_an_unfinished_run_for_a_url_is_kept_for_resume_in_its_work_folder(work_dirs, s3_bucket):
    url = f"{s3_bucket}/models/alad"
    final, work = model_paths(url)
    (work / "checkpoints" / "epoch_0002").mkdir(parents=True)
    (work / "checkpoints" / "epoch_0002" / "checkpoint.json").write_text("{}")
    (work / RUN_FILE).write_text(json.dumps({"seed": 0}))
    with pytest.raises(OutputExistsError, match=r"holds an unfinished run \(last checkpoint checkpoints/epoch_0002\); "
                                                r"pass --resume"):
        check_work_folder(work, final, {"seed": 0}, resume=False, overwrite=False, neural=True)
    assert check_work_folder(work, final, {"seed": 0}, resume=True, overwrite=False, neural=True)
    with pytest.raises(ConfigError, match="other settings"):
        check_work_folder(work, final, {"seed": 1}, resume=True, overwrite=False, neural=True)
    Remote(url).write_bytes("config.json", json.dumps({"format": "geogan-model"}).encode())
    # a finished model at the URL: resuming the run in the work folder may replace it, starting afresh may not
    assert check_work_folder(work, final, {"seed": 0}, resume=True, overwrite=False, neural=True)
    with pytest.raises(OutputExistsError, match=rf"^{url} exists; pass --overwrite"):
        check_work_folder(work, final, {"seed": 0}, resume=False, overwrite=False, neural=False)


@pytest.mark.cluster
@pytest.mark.slow
def test_geogan_train_and_score_take_urls(small, work_dirs, tmp_path, s3_bucket):
    """A model trained into S3 and scored from there on Dask workers (their own processes, which
    find the bucket through the environment and copy the model once each)."""
    import xarray as xr

    from geogan.stores.scores import run_key_of

    grid, _ = small
    url = f"{s3_bucket}/models/pca"
    res = cli("train", grid, "--out", url, "--detector", "pca", "--sample", "500")
    assert res.exit_code == 0, res.output
    assert f"model written to {url}:" in res.stdout and Remote(url).isfile("config.json")
    assert_user_error(cli("train", grid, "--out", url, "--detector", "pca"), f"{url} exists; pass --overwrite")
    res = cli("score", grid, "--model", url, "--out", tmp_path / "scores", "--workers", "1")
    assert res.exit_code == 0, res.output
    scores = xr.open_zarr(tmp_path / "scores" / "scores.zarr", consolidated=False)
    run_key = run_key_of(tmp_path / "scores" / "scores.zarr")  # the model's identity: its URL
    assert run_key["model"] == url and run_key["model_token"].startswith("sha256-")
    conc = xr.open_zarr(grid, consolidated=False)["concentration"].values
    cells = conc.reshape(conc.shape[0], -1).T
    complete = np.isfinite(cells).all(axis=1)
    np.testing.assert_allclose(scores["anomaly"].values.ravel()[complete], load_model(url).score(cells[complete]),
                               rtol=1e-5, atol=1e-6)


def test_a_model_upload_cut_short_is_still_geogans_to_replace(s3_bucket, tmp_path):
    """The marker goes up first and config.json last: objects of an interrupted upload carry no
    config.json, yet --overwrite may replace them (they are geogan's), and a loader refuses them."""
    from geogan.stores.ownership import MARKER, marker_text
    from geogan.stores.remoteowner import check_remote_output

    url = f"{s3_bucket}/models/cut"
    loc = Remote(url)
    loc.write_bytes(MARKER, marker_text("model", ["arrays.npz", "config.json", "history.csv"]).encode())
    loc.write_bytes("arrays.npz", b"half")  # killed before config.json
    with pytest.raises(OutputExistsError, match="exists; pass --overwrite"):
        check_remote_output(url, overwrite=False, what="model directory", kind="model")
    check_remote_output(url, overwrite=True, what="model directory", kind="model")  # geogan's: replaceable
    loc.write_bytes("thesis.txt", b"mine")
    with pytest.raises(OutputExistsError, match="holds thesis.txt"):
        check_remote_output(url, overwrite=True, what="model directory", kind="model")
