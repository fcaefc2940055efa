"""Issue 24: every number bounded, every user mistake one line (the moderate and minor probes).

Each probe as a user meets it: exit 1, one line naming the file or key, no traceback, nothing
partial left behind.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from geogan.stores.staging import partial_path

from tests.helpers.cli import assert_user_error, cli
from tests.helpers.grids import make_grid

SURVEY = "sample_id,x,y,Cu_ppm,Zn_ppm\n" + "".join(
    f"s{i},{400000 + 1000 * (i % 7)},{2700000 + 1000 * (i // 7)},{10 + i % 5},{20 + i % 3}\n" for i in range(49))
GRID_ARGS = ("--crs", "EPSG:32650", "--input-crs", "EPSG:32650", "--cell-size", "1000")
SPEC = """[output]
dir = "out"
[survey]
path = "{survey}"
input_crs = "EPSG:32650"
[grid]
crs = "EPSG:32650"
cell_size_m = 1000
tile = {tile}
[train.p]
detector = "pca"
sample = 20
"""


@pytest.fixture
def survey(tmp_path):
    p = tmp_path / "survey.csv"
    p.write_text(SURVEY)
    return p


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A grid store and a pca model on it (shared: the tests copy what they damage)."""
    root = tmp_path_factory.mktemp("trained")
    grid = make_grid(root / "grid.zarr")[0]
    model = root / "model"
    assert cli("train", grid, "--out", model, "--detector", "pca", "--sample", "500").exit_code == 0
    return grid, model


def spec_file(tmp_path, *, survey="survey.csv", tile=16, extra=""):
    p = tmp_path / "spec.toml"
    p.write_text(SPEC.format(survey=survey, tile=tile) + extra)
    return p


def damage_a_chunk(store, array):
    chunk = next(p for p in sorted((store / array / "c").rglob("*")) if p.is_file())
    chunk.write_bytes(b"not a blosc chunk")


# -- output paths ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("out", [".", "..", "/"])
def test_an_output_without_a_name_of_its_own_is_refused(tmp_path, survey, out, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS, "--overwrite"), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_name_longer_than_a_filesystem_takes_is_one_line_before_anything_runs(tmp_path, survey):
    long = tmp_path / ("g" * 300)
    assert_user_error(cli("grid", survey, "--out", long, *GRID_ARGS), "300 bytes long", "at most 255")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["survey.csv"]
    spec = spec_file(tmp_path, extra="")
    spec.write_text(spec.read_text().replace("[train.p]", "[train." + "p" * 300 + "]"))
    assert_user_error(cli("run", spec), "spec.toml", "1 to 64 letters")
    assert not (tmp_path / "out").exists()


# -- numbers that become memory or time -----------------------------------------------------------------
def test_a_seed_beyond_what_the_libraries_take_is_refused_before_the_work_folder(tmp_path, trained):
    grid, _ = trained
    out = tmp_path / "m2"
    assert_user_error(cli("train", grid, "--out", out, "--detector", "pca", "--seed", "4294967296"), "seed",
                      "2,147,483,647")
    assert not out.exists() and not partial_path(out).exists()


def test_a_huge_tile_in_a_spec_is_refused_naming_the_key(tmp_path, survey):
    spec = spec_file(tmp_path, tile=9223372036854775807)
    assert_user_error(cli("run", spec), "spec.toml", "[grid] tile", "16,384")
    assert not (tmp_path / "out").exists()


@pytest.mark.cluster
@pytest.mark.slow
def test_detector_params_that_do_not_fit_the_data_name_the_spec_and_table(tmp_path, survey):
    spec = spec_file(tmp_path, extra="params = {n_components = 500}\n")
    assert_user_error(cli("--quiet", "run", spec), "spec.toml", "[train.p]", "n_components")
    spec = spec_file(tmp_path, extra="params = {n_components = 1000000000}\n")
    assert_user_error(cli("--quiet", "run", spec), "spec.toml", "[train.p]", "10,000")


def test_workers_zero_is_refused_not_taken_for_one_per_core(tmp_path, survey):
    out = tmp_path / "g.zarr"
    assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS, "--workers", "0"), "--workers", "got 0")
    assert not out.exists() and not partial_path(out).exists()


def test_evaluate_draws_are_bounded(tmp_path):
    from geogan.errors import ConfigError
    from geogan.options import EvalOptions

    with pytest.raises(ConfigError, match="runs must be ≤ 10,000"):
        EvalOptions(runs=1_000_000_000)


# -- files that are not what they claim -----------------------------------------------------------------
def test_pipeline_state_of_the_wrong_shape_is_one_line(tmp_path, survey):
    spec = spec_file(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "run-state.json").write_text(json.dumps({"owned": 5}))
    assert_user_error(cli("run", spec), "run-state.json", "'owned' must be a list")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["run-state.json"]


def test_a_directory_given_as_spec_is_named_as_such(tmp_path):
    assert_user_error(cli("run", tmp_path), str(tmp_path), "is a directory, not a pipeline spec")


def test_an_unresolvable_host_is_one_line_and_run_leaves_nothing(tmp_path):
    url = "ftp://nonexistent.invalid/s.csv"
    assert_user_error(cli("grid", url, "--out", tmp_path / "g.zarr", *GRID_ARGS), url, "cannot reach")
    spec = spec_file(tmp_path, survey=url)
    assert_user_error(cli("run", spec), url, "cannot reach")
    assert not (tmp_path / "out").exists() and not (tmp_path / "g.zarr").exists()


def test_a_stray_file_among_the_done_markers_does_not_stop_the_resume(tmp_path):
    from geogan.stores.staging import Staging

    staging = Staging(tmp_path / "g.zarr")
    staging.start({"token": "t"})
    staging.mark(0, 1)
    (staging.done_dir / "notes.txt").write_text("stray")  # used to be int("notes.txt"): a traceback
    assert staging.done() == {(0, 1)}
    staging.remove()  # geogan's own staging folder (params.json): removable
    assert not staging.root.exists()


@pytest.mark.cluster
@pytest.mark.slow
def test_a_damaged_score_chunk_given_to_evaluate_is_one_line(tmp_path, trained):
    grid, model = trained
    so = tmp_path / "so"
    assert cli("--quiet", "score", grid, "--model", model, "--out", so).exit_code == 0
    damage_a_chunk(so / "scores.zarr", "anomaly")
    (tmp_path / "deposits.csv").write_text("x,y\n505250,2705250\n")
    report = tmp_path / "report"
    assert_user_error(cli("evaluate", so / "scores.zarr", "--deposits", tmp_path / "deposits.csv", "--out", report),
                      "scores.zarr", "a chunk is damaged")
    assert not report.exists()


@pytest.mark.cluster
@pytest.mark.slow
def test_an_all_infinite_map_names_its_file(tmp_path, trained):
    import zarr

    grid, model = trained
    so = tmp_path / "so"
    assert cli("--quiet", "score", grid, "--model", model, "--out", so).exit_code == 0
    arr = zarr.open_group(str(so / "scores.zarr"), mode="r+")["anomaly"]
    arr[:] = np.inf
    (tmp_path / "deposits.csv").write_text("x,y\n505250,2705250\n")
    assert_user_error(cli("evaluate", so / "scores.zarr", "--deposits", tmp_path / "deposits.csv", "--out",
                          tmp_path / "report"), "scores.zarr", "no valid (finite) cells")


@pytest.mark.cluster
@pytest.mark.slow
def test_a_worker_error_reaches_the_console_as_one_line(tmp_path, trained):
    # issue 24: distributed printed "Compute Failed ... Traceback" before the one-line error
    grid, model = trained
    bad = tmp_path / "grid.zarr"
    shutil.copytree(grid, bad)
    damage_a_chunk(bad, "concentration")
    out = tmp_path / "so"
    res = subprocess.run([sys.executable, "-c", "from geogan.cli import main; main()", "--quiet", "score", str(bad),
                          "--model", str(model), "--out", str(out), "--workers", "1"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert res.returncode == 1, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "cannot be read" in lines[0], res.stderr
    assert "Compute Failed" not in res.stderr and "Traceback" not in res.stderr
    # the staging folder is kept to resume from once the grid is repaired, and nothing else exists
    assert sorted(p.name for p in out.iterdir()) == ["scores.zarr.partial"]


def test_a_model_with_an_impossible_transform_names_its_config(tmp_path, trained):
    grid, model = trained
    bad = tmp_path / "model"
    shutil.copytree(model, bad)
    config = json.loads((bad / "config.json").read_text())
    config["transform"]["iqr"][0] = 1e-300
    (bad / "config.json").write_text(json.dumps(config))
    assert_user_error(cli("score", grid, "--model", bad, "--out", tmp_path / "so"), "config.json", "'iqr'",
                      "1e-300")
    assert not (tmp_path / "so").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_model_file_that_is_a_fifo_or_a_link_to_a_device_is_not_called_missing(tmp_path, trained):
    grid, model = trained
    bad = tmp_path / "model"
    shutil.copytree(model, bad)
    (bad / "arrays.npz").unlink()
    os.mkfifo(bad / "arrays.npz")
    assert_user_error(cli("score", grid, "--model", bad, "--out", tmp_path / "so"), "arrays.npz",
                      "not a regular file")
    (bad / "arrays.npz").unlink()
    (bad / "arrays.npz").symlink_to("/dev/zero")
    assert_user_error(cli("score", grid, "--model", bad, "--out", tmp_path / "so"), "arrays.npz",
                      "link out of the model directory")


def test_info_on_imported_rasters_lists_them(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    paths = []
    for el in ("Cu", "Zn"):
        p = tmp_path / f"{el}.tif"
        with rasterio.open(p, "w", driver="GTiff", width=8, height=6, count=1, dtype="float32", crs="EPSG:32650",
                           transform=from_origin(500000, 2700000, 500, 500)) as dst:
            dst.write(np.full((1, 6, 8), 2.0, np.float32))
        paths.append(p)
    out = tmp_path / "g.zarr"
    assert cli("--quiet", "import-rasters", *paths, "--out", out).exit_code == 0
    res = cli("info", out)
    assert res.exit_code == 0, res.output
    assert "2 raster(s) imported: Cu.tif, Zn.tif" in res.output and "? samples" not in res.output


@pytest.mark.cluster
@pytest.mark.slow
def test_elements_missing_together_are_warned_about_at_grid(tmp_path):
    rows = ["sample_id,x,y,Cu_ppm,Zn_ppm,Sb_ppm,Bi_ppm"]
    for i in range(100):
        together = "" if i % 10 < 6 else f"{1 + i % 4},{2 + i % 3}"  # Sb and Bi on the same 40 % of samples
        rows.append(f"s{i},{400000 + 1000 * (i % 10)},{2700000 + 1000 * (i // 10)},{10 + i % 5},{20 + i % 3},"
                    + (together or ","))
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n")
    res = cli("grid", tmp_path / "survey.csv", "--out", tmp_path / "g.zarr", *GRID_ARGS)
    assert res.exit_code == 0, res.output
    warning = next((ln for ln in res.stderr.splitlines() if "best covered element" in ln), None)
    assert warning is not None, res.stderr
    assert "Sb" in warning and "Bi" in warning and "Cu" not in warning.split("least covered:")[1]
