"""kill -9 in the middle of a stage, then the same command again: the run resumes from the
tiles it finished and ends with outputs identical to an uninterrupted run's (the grid and score
stages; ``train``'s is in test_reliability.py). Real processes, real Dask clusters."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import rasterio

from geogan.grid.stage import grid_survey
from geogan.scoring.stage import score_grid
from geogan.stores.scores import open_scores_store
from geogan.stores.staging import Staging, partial_path
from geogan.stores.store import open_grid

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture
def demo(demo_models):
    """The demo grid and its ALAD (tests/conftest.py), under the score stage tests' name."""
    return demo_models


@pytest.fixture
def scored(demo_scores):
    """The uninterrupted score run the resumed ones must equal (tests/conftest.py)."""
    return demo_scores


@pytest.mark.parametrize("kill_after_tiles", [0, 5])
def test_kill_9_then_rerun_resumes_to_identical_store(small_survey, local_grid, tmp_path, kill_after_tiles):
    """kill -9 a real `geogan grid` mid-run (as soon as its staging folder appears, or after
    some tiles); the same command resumes and matches a clean run."""
    path, _ = small_survey
    out = tmp_path / "grid.zarr"
    cmd = [sys.executable, "-m", "geogan.cli", "grid", str(path), "--out", str(out), "--crs", "EPSG:32650",
           "--elements", "W,Sn,Au", "--cell-size", "500", "--tile", "2", "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    done_dir = Staging(out).done_dir
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if kill_after_tiles == 0 and partial_path(out).exists():
            break
        if done_dir.exists() and len(os.listdir(done_dir)) >= kill_after_tiles > 0:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, 9)
    proc.wait()
    assert partial_path(out).exists() and not out.exists(), "the run finished before it could be killed"
    n_done = len(os.listdir(done_dir)) if done_dir.exists() else 0
    h, w = local_grid.spec.shape
    n_tiles = -(-h // 2) * -(-w // 2)
    assert kill_after_tiles <= n_done < n_tiles
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    if kill_after_tiles:
        assert f"{n_done} of {n_tiles} tiles already done" in res.stdout
    a = open_grid(out)
    b = open_grid(local_grid.path)
    np.testing.assert_array_equal(a["concentration"].values, b["concentration"].values)
    np.testing.assert_array_equal(a["distance"].values, b["distance"].values)
    assert not partial_path(out).exists()
    # byte-identical chunks against an uninterrupted run with the same tiling (the metadata
    # differs only by its creation time)
    ref = grid_survey(path, tmp_path / "ref.zarr", crs="EPSG:32650", elements=["W", "Sn", "Au"], cell_size_m=500,
                      tile=2, workers=1, progress=False).path
    for var in ("concentration", "distance"):
        mine = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / var / "c").rglob("*") if p.is_file()}
        theirs = {p.relative_to(ref).as_posix(): p.read_bytes() for p in (ref / var / "c").rglob("*") if p.is_file()}
        assert mine and mine == theirs


@pytest.mark.tf
def test_kill_9_during_score_then_rerun_resumes_to_identical_outputs(demo, scored, tmp_path):
    root, _ = demo
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "geogan.cli", "score", str(root / "grid.zarr"), "--model", str(root / "alad"),
           "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    done = Staging(out / "scores.zarr").done_dir
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if done.exists() and len(os.listdir(done)) >= 2:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, 9)
    proc.wait()
    assert not (out / "scores.zarr").exists() and not (out / "anomaly.tif").exists()
    n_done = len(os.listdir(done))
    assert 2 <= n_done < 16
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert f"{n_done} of 16 tiles already done" in res.stdout
    a = open_scores_store(out / "scores.zarr")["anomaly"].values
    np.testing.assert_array_equal(a, open_scores_store(scored.scores)["anomaly"].values)
    with rasterio.open(out / "anomaly.tif") as s1, rasterio.open(scored.cog) as s2:
        np.testing.assert_array_equal(s1.read(1), s2.read(1))
    # byte-identical: every chunk of the scores and the COG file itself
    assert chunk_bytes(out / "scores.zarr") == chunk_bytes(scored.scores)
    assert (out / "anomaly.tif").read_bytes() == scored.cog.read_bytes()


def chunk_bytes(store) -> dict:
    chunks = {p.relative_to(store).as_posix(): p.read_bytes() for p in (store / "anomaly" / "c").rglob("*")
              if p.is_file()}
    assert chunks
    return chunks


@pytest.mark.tf
def test_worker_killed_during_score_is_rescheduled_with_identical_output(demo, scored, tmp_path):
    from geogan.cluster import ProcessCluster

    root, _ = demo
    out = tmp_path / "out"
    with ProcessCluster(n_workers=2) as cluster:
        errors = []

        def run():
            try:
                score_grid(root / "grid.zarr", root / "alad", out, scheduler=cluster.address, progress=False)
            except Exception as exc:  # surfaced below
                errors.append(exc)

        t = threading.Thread(target=run)
        t.start()
        done = Staging(out / "scores.zarr").done_dir
        deadline = time.time() + 180
        while time.time() < deadline and not (done.exists() and len(os.listdir(done)) >= 1):
            time.sleep(0.01)
        victim = cluster.workers[0]
        os.killpg(victim.pid, 9)
        t.join(timeout=600)
        assert not t.is_alive() and not errors, errors
        assert victim.poll() is not None
    a = open_scores_store(out / "scores.zarr")["anomaly"].values
    np.testing.assert_array_equal(a, open_scores_store(scored.scores)["anomaly"].values)
