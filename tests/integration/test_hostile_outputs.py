"""Issue 24: ``--overwrite`` replaces only what geogan wrote, and one writer per output.

Every probe of the hostile review on ownership and locks, as a user meets it: exit 1, one line
naming the path, no traceback, the user's files unchanged, nothing partial left behind.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from geogan.stores.files import output_lock
from geogan.stores.ownership import MARKER, check_replaceable, ownership
from geogan.errors import OutputExistsError
from geogan.stores.staging import partial_path

from tests.helpers.cli import assert_user_error, cli
from tests.helpers.grids import make_grid

SURVEY = "sample_id,x,y,Cu_ppm,Zn_ppm\n" + "".join(
    f"s{i},{400000 + 1000 * (i % 7)},{2700000 + 1000 * (i // 7)},{10 + i % 5},{20 + i % 3}\n" for i in range(49))
GRID_ARGS = ("--crs", "EPSG:32650", "--input-crs", "EPSG:32650", "--cell-size", "1000")


def tree(root):
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def survey(tmp_path):
    p = tmp_path / "survey.csv"
    p.write_text(SURVEY)
    return p


@pytest.fixture
def scored(tmp_path):
    """A grid, a pca model on it and its score directory."""
    grid = make_grid(tmp_path / "grid.zarr")[0]
    model = tmp_path / "model"
    assert cli("train", grid, "--out", model, "--detector", "pca", "--sample", "500").exit_code == 0
    out = tmp_path / "scores"
    res = cli("--quiet", "score", grid, "--model", model, "--out", out)
    assert res.exit_code == 0, res.output
    return grid, model, out


# -- ownership: --overwrite replaces geogan's outputs only ----------------------------------------------
def user_dir(path):
    path.mkdir(parents=True)
    (path / "thesis.txt").write_text("chapter 1")
    (path / "photos").mkdir()
    (path / "photos" / "outcrop.jpg").write_bytes(b"\xff\xd8jpeg")
    return path


def test_grid_overwrite_refuses_a_directory_geogan_did_not_write(tmp_path, survey):
    mine = user_dir(tmp_path / "mine")
    before = tree(tmp_path)
    assert_user_error(cli("grid", survey, "--out", mine, *GRID_ARGS, "--overwrite"), str(mine),
                      "geogan did not write it", "no geogan marker")
    assert tree(tmp_path) == before and not partial_path(mine).exists()
    # a plain Zarr store of the user's is not geogan's either
    import zarr

    theirs = tmp_path / "theirs.zarr"
    zarr.open_group(str(theirs), mode="w").attrs["owner"] = "someone"
    assert_user_error(cli("grid", survey, "--out", theirs, *GRID_ARGS, "--overwrite"), "theirs.zarr",
                      "geogan did not write it")
    assert zarr.open_group(str(theirs), mode="r").attrs["owner"] == "someone"
    # a file of the user's
    notes = tmp_path / "notes.zarr"
    notes.write_text("not a store")
    assert_user_error(cli("grid", survey, "--out", notes, *GRID_ARGS, "--overwrite"), "notes.zarr")
    assert notes.read_text() == "not a store"


@pytest.mark.cluster
@pytest.mark.slow
def test_grid_overwrite_replaces_its_own_store_but_not_a_file_kept_inside(tmp_path, survey):
    out = tmp_path / "g.zarr"
    assert cli("grid", survey, "--out", out, *GRID_ARGS).exit_code == 0
    assert ownership(out)[0] == "grid"
    assert cli("grid", survey, "--out", out, *GRID_ARGS, "--overwrite").exit_code == 0
    (out / "README.txt").write_text("what this grid is for")
    assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS, "--overwrite"), "holds README.txt",
                      "did not write")
    assert (out / "README.txt").read_text() == "what this grid is for"


def test_import_rasters_overwrite_refuses_a_user_directory(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    tif = tmp_path / "Cu.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=8, height=6, count=1, dtype="float32", crs="EPSG:32650",
                       transform=from_origin(500000, 2700000, 500, 500)) as dst:
        dst.write(np.ones((1, 6, 8), np.float32))
    mine = user_dir(tmp_path / "mine")
    before = tree(mine)
    assert_user_error(cli("import-rasters", tif, "--out", mine, "--overwrite"), "geogan did not write it")
    assert tree(mine) == before


def test_train_overwrite_refuses_a_user_directory_and_a_model_holding_user_files(tmp_path):
    grid = make_grid(tmp_path / "grid.zarr")[0]
    mine = user_dir(tmp_path / "Documents")
    before = tree(mine)
    args = ("train", grid, "--detector", "pca", "--sample", "500", "--overwrite")
    assert_user_error(cli(*args, "--out", mine), "Documents", "model directory exists and geogan did not write it")
    assert tree(mine) == before and not partial_path(mine).exists()
    model = tmp_path / "model"
    assert cli(*args, "--out", model).exit_code == 0
    assert ownership(model)[0] == "model"
    assert cli(*args, "--out", model).exit_code == 0  # geogan's own model is replaced
    (model / "notes.txt").write_text("trained for the 2026 field season")
    assert_user_error(cli(*args, "--out", model), "holds notes.txt")
    assert (model / "notes.txt").is_file() and (model / "config.json").is_file()


def test_detector_save_never_replaces_a_user_directory(tmp_path):
    from geogan.detectors.covariance import PCAReconstruction

    det = PCAReconstruction(n_components=2).fit(np.random.default_rng(0).normal(size=(200, 3)))
    mine = user_dir(tmp_path / "mine")
    with pytest.raises(OutputExistsError, match="geogan did not write it"):
        det.save(mine, overwrite=True)
    assert (mine / "thesis.txt").is_file()
    det.save(tmp_path / "m")
    det.save(tmp_path / "m", overwrite=True)


@pytest.mark.cluster
@pytest.mark.slow
def test_score_overwrite_replaces_its_outputs_keeps_the_users_and_refuses_a_foreign_map(tmp_path, scored):
    grid, model, out = scored
    assert ownership(out / "anomaly.tif") == ("file", None) and json.loads((out / MARKER).read_text())["kind"] == "score"
    (out / "notes.txt").write_text("mine")  # beside the outputs, never inside one: kept
    res = cli("--quiet", "score", grid, "--model", model, "--out", out, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (out / "notes.txt").read_text() == "mine"
    # a directory of the user's holding a map of the same name: refused, even with --overwrite
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "anomaly.tif").write_bytes(b"their own map")
    assert_user_error(cli("--quiet", "score", grid, "--model", model, "--out", theirs, "--overwrite"),
                      "anomaly.tif", "geogan did not write it")
    assert (theirs / "anomaly.tif").read_bytes() == b"their own map"
    assert sorted(p.name for p in theirs.iterdir()) == ["anomaly.tif"]


@pytest.mark.cluster
@pytest.mark.slow
def test_a_geotiff_carrying_geogan_tags_is_geogans_without_a_marker(tmp_path, scored):
    _, _, out = scored
    (out / MARKER).unlink()  # a folder without a marker: the GeoTIFF carries its own
    assert ownership(out / "anomaly.tif") == ("file", None)
    assert ownership(out / "anomaly.qml") is None
    with pytest.raises(OutputExistsError, match="anomaly.qml exists and geogan did not write it"):
        check_replaceable(out / "anomaly.qml", what="anomaly.qml")


def test_an_empty_directory_is_replaceable_and_a_link_is_judged_by_its_target(tmp_path, survey):
    empty = tmp_path / "empty"
    empty.mkdir()
    check_replaceable(empty)
    mine = user_dir(tmp_path / "mine")
    link = tmp_path / "link.zarr"
    link.symlink_to(mine)
    assert_user_error(cli("grid", survey, "--out", link, *GRID_ARGS, "--overwrite"), "geogan did not write it")
    assert (mine / "thesis.txt").is_file()


def _run_small_pipeline(tmp_path, *, samples: int):
    """Run a small synth → grid → PCA → score spec into ``tmp_path/out``; returns the spec."""
    spec = tmp_path / "spec.toml"
    spec.write_text(f'[output]\ndir = "out"\n[survey]\nsynth = "demo"\nsamples = {samples}\n[grid]\n'
                    'cell_size_m = 2000\n[train.p]\ndetector = "pca"\nsample = 300\n')
    assert cli("--quiet", "run", spec).exit_code == 0
    return spec


@pytest.mark.cluster
@pytest.mark.slow
def test_pipeline_refuses_its_own_outputs_once_their_markers_are_gone(tmp_path):
    """``run-state.json`` alone never makes a folder geogan's: outputs without their marker (as
    an unreleased geogan left them) are refused, with --overwrite too, and kept as they are."""
    spec = _run_small_pipeline(tmp_path, samples=400)
    out = tmp_path / "out"
    for d in (out / "survey", out / "report", out / "scores" / "p"):
        (d / MARKER).unlink()
    before = tree(out)
    for extra in ([], ["--force"], ["--overwrite"]):
        assert_user_error(cli("--quiet", "run", spec, *extra), "out/survey", "survey (the synth output) exists and "
                          "geogan did not write it", "no geogan marker")
    (out / "survey").rename(tmp_path / "kept-survey")  # moved away: the next refusal names the scores
    assert_user_error(cli("--quiet", "run", spec), "out/scores/p/", "geogan did not write it")
    assert tree(tmp_path / "kept-survey") == {k.removeprefix("survey/"): v for k, v in before.items()
                                              if k.startswith("survey/")}
    assert {k: v for k, v in tree(out).items() if not k.startswith("survey")} == \
        {k: v for k, v in before.items() if not k.startswith("survey")}


def test_a_user_folder_bearing_a_staging_name_is_never_deleted(tmp_path, survey):
    out = tmp_path / "g.zarr"
    mine = user_dir(partial_path(out))  # the user's folder happens to be called g.zarr.partial
    before = tree(mine)
    assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS), "g.zarr.partial", "not a geogan staging folder")
    assert tree(mine) == before and not out.exists()
    grid = make_grid(tmp_path / "grid.zarr")[0]
    model = tmp_path / "model"
    mine = user_dir(partial_path(model))
    before = tree(mine)
    assert_user_error(cli("train", grid, "--out", model, "--detector", "pca", "--sample", "500", "--overwrite"),
                      "model.partial", "not a geogan training folder")
    assert tree(mine) == before and not model.exists()


# -- locks: the kernel's, keyed by the resolved path ---------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys, time
    from geogan.stores.files import output_lock
    with output_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(120)
""")


@pytest.fixture
def holder():
    """Start a process holding the lock on a path; killed (-9) at the end."""
    procs = []

    def start(path):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.slow
def test_a_live_writer_is_never_broken_into(tmp_path, survey, holder):
    out = tmp_path / "g.zarr"
    proc = holder(out)
    for extra in ([], ["--overwrite"]):
        assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS, *extra), "another geogan process",
                          f"pid {proc.pid}", "g.zarr")
    assert not out.exists() and not partial_path(out).exists()


@pytest.mark.cluster
@pytest.mark.slow
def test_a_killed_writers_lock_is_taken_by_the_rerun(tmp_path, survey, holder):
    out = tmp_path / "g.zarr"
    proc = holder(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lock = tmp_path / "g.zarr.lock"
    assert lock.exists()  # left behind by kill -9, and released by the kernel
    res = cli("grid", survey, "--out", out, *GRID_ARGS)
    assert res.exit_code == 0, res.output
    assert out.is_dir() and not lock.exists()


@pytest.mark.slow
def test_a_symlinked_output_shares_the_lock_of_its_target(tmp_path, survey, holder):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    holder(real / "g.zarr")
    assert_user_error(cli("grid", survey, "--out", link / "g.zarr", *GRID_ARGS), "another geogan process")
    assert sorted(p.name for p in real.iterdir()) == ["g.zarr.lock"]


RACER = textwrap.dedent("""
    import os, sys, time
    from geogan.stores.files import output_lock
    from geogan.errors import OutputExistsError
    target, inside, tries = sys.argv[1], sys.argv[2], int(sys.argv[3])
    held = clashes = 0
    for _ in range(tries):
        try:
            with output_lock(target):
                try:
                    fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    clashes += 1
                    continue
                held += 1
                time.sleep(0.002)
                os.close(fd)
                os.unlink(inside)
        except OutputExistsError:
            pass
    print(held, clashes)
""")


@pytest.mark.slow
def test_four_processes_racing_for_one_lock_never_hold_it_together(tmp_path):
    # issue 24: breaking a stale lock raced (more than one holder in 4 of 30 trials)
    args = [str(tmp_path / "out"), str(tmp_path / "inside"), "150"]
    procs = [subprocess.Popen([sys.executable, "-c", RACER, *args], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [tuple(map(int, p.communicate(timeout=120)[0].split())) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(c for _, c in results) == 0, results  # never two holders at once
    assert sum(h for h, _ in results) > 0
    assert not (tmp_path / "out.lock").exists()


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_or_a_link_in_place_of_the_lock_file_is_refused_not_followed(tmp_path, survey):
    out = tmp_path / "g.zarr"
    lock = tmp_path / "g.zarr.lock"
    os.mkfifo(lock)
    for extra in ([], ["--overwrite"]):
        assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS, *extra), "g.zarr.lock",
                          "not a regular file", "remove it")
    lock.unlink()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    lock.symlink_to(victim)
    assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS), "g.zarr.lock", "cannot open the lock file")
    assert victim.read_text() == "keep me" and not out.exists()
    lock.unlink()
    assert cli("grid", survey, "--out", out, *GRID_ARGS).exit_code == 0 and out.is_dir()


@pytest.mark.cluster
@pytest.mark.slow
def test_a_garbage_lock_file_nobody_holds_is_simply_taken(tmp_path, survey):
    out = tmp_path / "g.zarr"
    for garbage in ('{"pid": 1237940039285380274899124224, "host": 5}', "", '{"pid": 0}', '{"pid": true}'):
        (tmp_path / "g.zarr.lock").write_text(garbage)
        res = cli("grid", survey, "--out", out, *GRID_ARGS, "--overwrite")
        assert res.exit_code == 0, res.output
        assert not (tmp_path / "g.zarr.lock").exists()
    # anything else there is a file of somebody's: refused, never emptied
    (tmp_path / "g.zarr.lock").write_text("\x00\x01not json")
    assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS, "--overwrite"), "not a geogan lock")
    assert (tmp_path / "g.zarr.lock").read_text() == "\x00\x01not json"


@pytest.mark.slow
def test_the_holder_is_named_even_when_its_details_are_garbage(tmp_path, holder):
    target = tmp_path / "thing"
    holder(target)
    (tmp_path / "thing.lock").write_text('{"pid": true, "host": ""}')  # the holder's file, scribbled over
    t0 = time.time()
    with pytest.raises(OutputExistsError, match=r"another geogan process \(a process that left no details\)"):
        with output_lock(target):
            pass
    assert time.time() - t0 < 5


# -- the second hostile pass (2026-12-07) --------------------------------------------------------------
def test_a_file_of_the_users_at_the_lock_path_is_never_emptied_or_deleted(tmp_path, survey):
    out = tmp_path / "g.zarr"
    lock = tmp_path / "g.zarr.lock"
    lock.write_text("precious")
    assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS), "g.zarr.lock", "not a geogan lock")
    assert lock.read_text() == "precious" and not out.exists()
    lock.unlink()
    victim = tmp_path / "victim.txt"
    victim.write_text('{"pid": 1}')  # even lock-like content: a hard link is somebody else's file
    os.link(victim, lock)
    assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS), "not a geogan lock")
    assert victim.read_text() == '{"pid": 1}'


def test_a_link_at_the_run_lock_is_refused_not_followed(tmp_path):
    victim = tmp_path / "important.txt"
    victim.write_text("keep")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "run.lock").symlink_to(victim)
    spec = tmp_path / "spec.toml"
    spec.write_text('[output]\ndir = "out"\n[survey]\nsynth = "demo"\nsamples = 300\n[train.p]\ndetector = "pca"\n')
    assert_user_error(cli("run", spec), "run.lock", "cannot open the lock file")
    assert victim.read_text() == "keep"


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_markers_are_never_written_through_a_link_or_into_a_fifo(tmp_path):
    grid = make_grid(tmp_path / "grid.zarr")[0]
    model = tmp_path / "model"
    assert cli("train", grid, "--out", model, "--detector", "pca", "--sample", "500").exit_code == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    for kind in ("link", "hardlink", "fifo"):
        out = tmp_path / f"so-{kind}"
        out.mkdir()
        {"link": lambda: (out / MARKER).symlink_to(victim), "hardlink": lambda: os.link(victim, out / MARKER),
         "fifo": lambda: os.mkfifo(out / MARKER)}[kind]()
        res = subprocess.run([sys.executable, "-c", "from geogan.cli import main; main()", "--quiet", "score",
                              str(grid), "--model", str(model), "--out", str(out), "--workers", "1"],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        assert victim.read_text() == "keep"
        assert json.loads((out / MARKER).read_text())["kind"] == "score"


@pytest.mark.cluster
@pytest.mark.slow
def test_overwrite_looks_inside_geogans_outputs_at_every_depth(tmp_path, survey, scored):
    grid, model, out = scored
    (out / "report").mkdir(exist_ok=True)
    nested = [out / "scores.zarr" / "anomaly" / "mynotes.txt"]
    g = tmp_path / "g.zarr"
    assert cli("grid", survey, "--out", g, *GRID_ARGS).exit_code == 0
    nested.append(g / "concentration" / "mynotes.txt")
    for path in nested:
        path.write_text("mine")
    assert_user_error(cli("--quiet", "score", grid, "--model", model, "--out", out, "--overwrite"),
                      "scores.zarr", "holds anomaly/mynotes.txt", "did not write")
    assert_user_error(cli("grid", survey, "--out", g, *GRID_ARGS, "--overwrite"), "concentration/mynotes.txt")
    (model / "weights").mkdir()
    (model / "weights" / "mynotes.txt").write_text("mine")
    assert_user_error(cli("train", grid, "--out", model, "--detector", "pca", "--sample", "300", "--overwrite"),
                      "weights/mynotes.txt")
    assert all(p.read_text() == "mine" for p in [*nested, model / "weights" / "mynotes.txt"])


@pytest.mark.cluster
@pytest.mark.slow
def test_overwrite_never_replaces_an_output_of_another_kind(tmp_path, survey, scored):
    grid, model, _ = scored
    assert_user_error(cli("grid", survey, "--out", model, *GRID_ARGS, "--overwrite"), "geogan model output",
                      "not a grid one")
    assert_user_error(cli("train", grid, "--out", grid, "--detector", "pca", "--overwrite"), "grid.zarr")
    assert (model / "config.json").is_file()


@pytest.mark.cluster
@pytest.mark.slow
def test_the_score_marker_lists_only_what_was_written_and_a_users_map_is_never_geogans(tmp_path, scored):
    grid, model, out = scored
    listed = json.loads((out / MARKER).read_text())["entries"]
    assert "elements_used.tif" not in listed and "report/" not in listed and "scores.zarr/" in listed
    import rasterio

    with rasterio.open(out / "anomaly.tif") as src:
        profile, data = src.profile, src.read()
    profile = {k: profile[k] for k in ("width", "height", "count", "dtype", "crs", "transform")}
    for name in ("elements_used.tif", "anomaly.tif"):
        target = out / name
        target.unlink(missing_ok=True)
        with rasterio.open(target, "w", driver="GTiff", **profile) as dst:  # the user's own map: no geogan tags
            dst.write(data)
        before = target.read_bytes()
        assert_user_error(cli("--quiet", "score", grid, "--model", model, "--out", out, "--overwrite"), name,
                          "geogan did not write it")
        assert target.read_bytes() == before
        target.unlink()
    (out / "contributions.zarr").write_text("a file of the user's")
    assert_user_error(cli("--quiet", "score", grid, "--model", model, "--out", out, "--overwrite"),
                      "contributions.zarr", "geogan did not write it")


@pytest.mark.cluster
@pytest.mark.slow
def test_evaluate_never_writes_its_report_over_its_inputs(tmp_path, scored):
    grid, model, out = scored
    (tmp_path / "deposits.csv").write_text("x,y\n505250,2705250\n")
    assert_user_error(cli("evaluate", out / "anomaly.tif", "--deposits", tmp_path / "deposits.csv", "--out", out,
                          "--overwrite"), "contains the input")
    assert (out / "anomaly.tif").is_file()
    assert_user_error(cli("evaluate", out / "anomaly.tif", "--deposits", tmp_path / "deposits.csv", "--out",
                          tmp_path, "--overwrite"), "contains the input")


def test_a_crafted_state_never_makes_a_users_folder_geogans(tmp_path):
    out = tmp_path / "o2"
    (out / "report").mkdir(parents=True)
    (out / "report" / "index.html").write_text("my own page")
    (out / "run-state.json").write_text(json.dumps({"score.p": "x", "owned": ["report"]}))  # claims the user's folder
    spec = tmp_path / "spec.toml"
    spec.write_text('[output]\ndir = "o2"\n[survey]\nsynth = "demo"\nsamples = 300\n[train.p]\ndetector = "pca"\n')
    assert_user_error(cli("--quiet", "run", spec), "o2/report", "geogan did not write it")
    assert (out / "report" / "index.html").read_text() == "my own page"
    assert sorted(p.name for p in (out / "report").iterdir()) == ["index.html"]  # no marker written into it


def test_a_user_folder_with_a_staging_name_and_geogan_like_names_is_kept(tmp_path, survey):
    out = tmp_path / "g2.zarr"
    (partial_path(out) / "work").mkdir(parents=True)
    (partial_path(out) / "work" / "thesis.tex").write_text("t")
    assert_user_error(cli("grid", survey, "--out", out, *GRID_ARGS), "not a geogan staging folder")
    assert (partial_path(out) / "work" / "thesis.tex").read_text() == "t"
    grid = make_grid(tmp_path / "grid.zarr")[0]
    m2 = tmp_path / "m2"
    partial_path(m2).mkdir()
    (partial_path(m2) / "config.json").write_text("{}")
    (partial_path(m2) / "results.csv").write_text("d")
    assert_user_error(cli("train", grid, "--out", m2, "--detector", "pca", "--sample", "300"),
                      "not a geogan training folder")
    assert (partial_path(m2) / "results.csv").read_text() == "d"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_in_place_of_a_chunk_is_refused_not_read(tmp_path):
    grid = make_grid(tmp_path / "grid.zarr")[0]
    chunk = next(p for p in sorted((grid / "concentration" / "c").rglob("*")) if p.is_file())
    chunk.unlink()
    os.mkfifo(chunk)
    t0 = time.time()
    assert_user_error(cli("train", grid, "--out", tmp_path / "m", "--detector", "pca"), "not a regular file")
    assert time.time() - t0 < 60


def test_synth_bounds_and_a_killed_runs_partial_folder(tmp_path):
    assert_user_error(cli("synth", tmp_path / "s", "--samples", "99999999999999999999"), "n_samples",
                      "100,000,000")
    stale = tmp_path / ".s.partial-999999"
    stale.mkdir()
    # as a killed synth leaves it: its marker, written first, lists what it was writing
    (stale / MARKER).write_text(json.dumps({"kind": "synth", "entries": ["deposits.csv", "survey.csv", "truth.json"]}))
    (stale / "survey.csv").write_text("half")
    assert cli("--quiet", "synth", tmp_path / "s", "--samples", "200").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_more_numbers_bounded(tmp_path, survey):
    assert_user_error(cli("grid", survey, "--out", tmp_path / "g.zarr", "--crs", "EPSG:32650", "--input-crs",
                          "EPSG:32650", "--cell-size", "1e300"), "cell_size_m must be ≤ 1,000,000")
    import rasterio
    from rasterio.transform import from_origin

    tif = tmp_path / "Cu.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=8, height=6, count=1, dtype="float32", crs="EPSG:32650",
                       transform=from_origin(500000, 2700000, 500, 500)) as dst:
        dst.write(np.ones((1, 6, 8), np.float32))
    assert_user_error(cli("import-rasters", tif, "--out", tmp_path / "r.zarr", "--tile", "1000000000000"),
                      "tile must be ≤ 16,384")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Cu.tif", "survey.csv"]


def test_a_state_file_that_is_a_directory_is_one_line(tmp_path):
    (tmp_path / "out" / "run-state.json").mkdir(parents=True)
    spec = tmp_path / "spec.toml"
    spec.write_text('[output]\ndir = "out"\n[survey]\nsynth = "demo"\nsamples = 300\n[train.p]\ndetector = "pca"\n')
    assert_user_error(cli("run", spec), "run-state.json", "is not a file")


# -- the third hostile pass (2026-12-07) ---------------------------------------------------------------
@pytest.mark.cluster
@pytest.mark.slow
def test_chunk_folders_and_model_subfolders_hold_only_geogans_files(tmp_path, survey, scored):
    grid, model, _ = scored
    g = tmp_path / "g.zarr"
    assert cli("grid", survey, "--out", g, *GRID_ARGS).exit_code == 0
    for user in (g / "concentration" / "c" / "notes.txt", g / "c" / "thesis.txt"):
        user.parent.mkdir(exist_ok=True)
        user.write_text("mine")
        assert_user_error(cli("grid", survey, "--out", g, *GRID_ARGS, "--overwrite"), "did not write")
        assert user.read_text() == "mine"
        user.unlink()
    (model / "weights").mkdir()
    (model / "weights" / "notes.csv").write_text("mine")  # a geogan-like suffix, not a geogan name
    assert_user_error(cli("train", grid, "--out", model, "--detector", "pca", "--sample", "300", "--overwrite"),
                      "weights/notes.csv")


@pytest.mark.cluster
@pytest.mark.slow
def test_score_overwrite_never_puts_a_scores_store_in_place_of_a_grid(tmp_path, scored):
    import shutil

    grid, model, _ = scored
    s1 = tmp_path / "S1"
    s1.mkdir()
    shutil.copytree(grid, s1 / "scores.zarr")
    assert_user_error(cli("--quiet", "score", grid, "--model", model, "--out", s1, "--overwrite"), "scores.zarr",
                      "geogan grid output, not a scores one")
    assert json.loads((s1 / "scores.zarr" / "zarr.json").read_text())["attributes"]["geogan_kind"] == "grid"


@pytest.mark.cluster
@pytest.mark.slow
def test_a_score_killed_while_creating_its_store_is_rebuilt_not_finalized(tmp_path, scored):
    from geogan.stores.staging import Staging

    grid, model, _ = scored
    out = tmp_path / "sk"
    staging = Staging(out / "scores.zarr")
    import geogan.scoring.stage as score_mod

    # the state a kill -9 leaves between starting the staging folder and finishing the store
    staging.start({"whatever": 1})
    (staging.store).mkdir()
    (staging.store / "zarr.json").write_text("{}")
    res = cli("--quiet", "score", grid, "--model", model, "--out", out)
    assert res.exit_code == 0, res.output
    assert score_mod.open_scores_store(out / "scores.zarr")["anomaly"].notnull().any()


def test_leftover_partial_folders_are_removed_only_when_wholly_geogans(tmp_path):
    # a folder holding a file geogan did not write, and a backup named like a partial folder
    # (not geogan's pid naming), each beside the synth output: both kept
    kept = {tmp_path / ".sdx.partial-old" / "thesis.txt": "mine",
            tmp_path / ".sdx.partial-backup" / "survey.csv": "edited"}
    for path, text in kept.items():
        path.parent.mkdir()
        (path.parent / MARKER).write_text(json.dumps({"kind": "synth", "entries": ["survey.csv"]}))
        path.write_text(text)
    assert cli("--quiet", "synth", tmp_path / "sdx", "--samples", "200").exit_code == 0
    assert all(path.read_text() == text for path, text in kept.items())
    grid = make_grid(tmp_path / "grid.zarr")[0]
    model = tmp_path / "mP"
    assert cli("train", grid, "--out", model, "--detector", "pca", "--sample", "300").exit_code == 0
    import shutil

    shutil.copytree(model, partial_path(model))
    (partial_path(model) / "notes.txt").write_text("mine")
    assert_user_error(cli("train", grid, "--out", model, "--detector", "pca", "--sample", "300", "--overwrite"),
                      "not a geogan training folder")
    assert (partial_path(model) / "notes.txt").read_text() == "mine"


# -- the fourth hostile pass (2026-12-07) --------------------------------------------------------------
def test_the_qgis_style_is_never_written_through_a_link(tmp_path):
    from geogan.evaluation.gis import write_qml

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    style = tmp_path / "anomaly.qml"
    style.symlink_to(victim)
    write_qml(style, {"P50": 0.1, "P75": 0.2, "P90": 0.3, "P95": 0.4, "P99": 0.5}, vmin=0.0, vmax=1.0)
    assert victim.read_text() == "keep" and not style.is_symlink() and "<qgis" in style.read_text()


@pytest.mark.cluster
@pytest.mark.slow
def test_run_refuses_an_output_reached_through_a_link(tmp_path):
    spec = _run_small_pipeline(tmp_path, samples=300)
    mine = tmp_path / "mine"
    (tmp_path / "out" / "scores" / "p").rename(mine)
    (tmp_path / "out" / "scores" / "p").symlink_to(mine)
    before = tree(mine)
    assert_user_error(cli("--quiet", "run", spec, "--force"), "scores/p", "symbolic link")
    assert tree(mine) == before


@pytest.mark.cluster
@pytest.mark.slow
def test_a_linked_stale_contributions_store_is_unlinked_not_followed(tmp_path):
    grid = make_grid(tmp_path / "grid.zarr")[0]
    model = tmp_path / "model"
    assert cli("train", grid, "--out", model, "--detector", "pca", "--sample", "500").exit_code == 0
    out = tmp_path / "so"
    assert cli("--quiet", "score", grid, "--model", model, "--out", out, "--contributions").exit_code == 0
    kept = tmp_path / "mycontrib"
    (out / "contributions.zarr").rename(kept)
    (out / "contributions.zarr").symlink_to(kept)
    res = cli("--quiet", "score", grid, "--model", model, "--out", out, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (kept / "zarr.json").is_file() and not os.path.lexists(out / "contributions.zarr")


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_given_as_deposits_is_refused_not_read(tmp_path, scored):
    _, _, out = scored
    os.mkfifo(tmp_path / "deposits.csv")
    assert_user_error(cli("evaluate", out / "anomaly.tif", "--deposits", tmp_path / "deposits.csv", "--out",
                          tmp_path / "rep"), "deposits.csv", "not a regular file")
