"""``geogan grid --out s3://...`` end to end: a real S3 API on 127.0.0.1 (moto's server), a
``dask scheduler`` and two ``dask worker`` processes each in its own empty directory (nothing on
disk shared with the client, as between hosts), and ``geogan`` run as a user runs it. The store
read back from the bucket equals the local grid; kill -9 of the client, then the same command,
resumes to an identical store; kill -9 of a worker while ``score`` writes to the bucket, and the
run still ends with the outputs of an uninterrupted one; a second writer is refused;
``--overwrite`` never deletes a user's objects. (The modules alone: tests/stores/test_remote*.py.)"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from geogan.errors import StoreError
from geogan.stores.remote import Remote
from geogan.stores.staging import Staging
from geogan.stores.store import open_grid
from tests.helpers.cli import assert_user_error, cli
from tests.helpers.s3 import IsolatedCluster, lock_held_elsewhere, worker_env

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

#: 100 x 75 cells of 200 m in 35 tiles of 16 over :func:`small_survey`'s 20 x 15 km
GRID_OPTIONS = ["--crs", "EPSG:32650", "--elements", "W,Sn,Au", "--cell-size", "200", "--tile", "16"]
N_TILES = 35


@pytest.fixture(scope="module")
def cluster(s3_server, tmp_path_factory):
    """A scheduler and two workers as separate processes, each in an empty directory of its own,
    reaching moto's S3 through their environment."""
    with IsolatedCluster(tmp_path_factory.mktemp("cluster"), env=s3_server.env) as procs:
        yield procs


def grid_command(survey, url: str, scheduler: str) -> list[str]:
    """``geogan grid`` as a process of its own runs it."""
    return [sys.executable, "-m", "geogan.cli", "grid", str(survey), "--out", url, *GRID_OPTIONS,
            "--scheduler", scheduler]


def run_geogan(cmd: list[str], cwd):
    """``geogan`` in a process of its own, in ``cwd``, seeing moto's S3 as this process does."""
    return subprocess.run(cmd, cwd=cwd, env=worker_env({}), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def gridded(small_survey, cluster, s3_server):
    """:func:`small_survey` gridded by ``geogan grid --out s3://<bucket>/out/grid.zarr --scheduler``
    (in this process): ``(url, click's result)``."""
    url = f"{s3_server.new_bucket()}/out/grid.zarr"
    res = cli("grid", small_survey[0], "--out", url, *GRID_OPTIONS, "--scheduler", cluster.address)
    assert res.exit_code == 0, res.output
    return url, res


def same_store(a: str, b: str) -> None:
    """The two stores in the bucket hold the same objects, byte for byte, but their metadata
    documents (whose attributes carry the creation time)."""
    names = Remote(a).names()
    assert names == Remote(b).names()
    chunks = [n for n in names if not n.endswith("zarr.json")]
    assert len([n for n in chunks if n.startswith(("concentration/c/", "distance/c/"))]) == 2 * N_TILES
    assert all(Remote(a).read_bytes(n) == Remote(b).read_bytes(n) for n in chunks)


def test_grid_on_s3_from_separate_processes_equals_the_local_grid(gridded, small_survey, cluster, tmp_path):
    from geogan.grid.stage import grid_survey

    url, res = gridded
    assert f"store      {url}" in res.stdout and "75 rows x 100 cols" in res.stdout
    ds = open_grid(url)
    local = grid_survey(small_survey[0], tmp_path / "grid.zarr", crs="EPSG:32650", elements=["W", "Sn", "Au"],
                        cell_size_m=200, tile=16, scheduler=cluster.address, progress=False)
    ref = open_grid(local.path)
    assert ds["concentration"].shape == (3, 75, 100) and local.spec.n_tiles == N_TILES
    np.testing.assert_array_equal(ds["concentration"].values, ref["concentration"].values)
    np.testing.assert_array_equal(ds["distance"].values, ref["distance"].values)
    assert np.isfinite(ds["concentration"].values).mean() > 0.5
    differ = {k for k in ds.attrs.keys() | ref.attrs.keys() if ds.attrs.get(k) != ref.attrs.get(k)}
    assert differ <= {"created"}, differ
    # the bucket holds the store alone: no lock, no work objects left
    bucket = url.split("/out/")[0]
    assert {n.partition("/grid.zarr/")[0] for n in Remote(bucket).names()} == {"out"}
    # the workers read and wrote through S3 only: nothing in their directories but Dask's scratch space
    assert cluster.files_written() == []
    assert not [p for p in cluster.root.rglob("*") if ".zarr" in p.name or p.name.startswith("samples")]
    info = cli("info", url)
    assert info.exit_code == 0, info.output
    assert f"store      {url}" in info.stdout and "kind       grid" in info.stdout and "75 rows x 100 cols" in \
        info.stdout


def test_kill_9_of_the_client_then_the_same_command_resumes_to_an_identical_store(
        gridded, small_survey, cluster, s3_server, tmp_path):
    url = f"{s3_server.new_bucket()}/out/grid.zarr"
    cmd = grid_command(small_survey[0], url, cluster.address)
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=worker_env({}), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state = Remote(url + ".partial")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not state.names("work/done"):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    n_done = len(state.names("work/done"))  # tasks the scheduler had started may still end after the kill
    assert 1 <= n_done <= N_TILES
    held = Remote(url + ".lock").read_json("")
    assert held["pid"] == proc.pid and held["host"] == socket.gethostname()  # kill -9 left its lock behind
    with pytest.raises(StoreError, match="incomplete|not a Zarr v3 store"):
        open_grid(url)  # not committed

    res = run_geogan(cmd, tmp_path)  # the dead client's lock is taken over: same host, pid gone
    assert res.returncode == 0, res.stderr
    resumed = re.search(rf"resuming {re.escape(url)}\.partial: (\d+) of {N_TILES} tiles already done", res.stdout)
    assert resumed and n_done <= int(resumed[1]) <= N_TILES, res.stdout
    assert not Remote(url + ".lock").exists() and not state.exists()
    a, b = open_grid(url), open_grid(gridded[0])
    np.testing.assert_array_equal(a["concentration"].values, b["concentration"].values)
    np.testing.assert_array_equal(a["distance"].values, b["distance"].values)
    same_store(url, gridded[0])  # byte-identical to the uninterrupted run's


@pytest.fixture(scope="module")
def pca_model(gridded, tmp_path_factory):
    """A PCA (one component: a residual worth comparing) trained on the grid in the bucket,
    its model directory on the client's disk."""
    from geogan.training.stage import train_model

    out = tmp_path_factory.mktemp("models") / "pca"
    return train_model(gridded[0], out, detector="pca", sample=500, seed=0, detector_params={"n_components": 1},
                       progress=False).model_dir


def test_a_worker_killed_while_scoring_to_s3_is_replaced_and_the_outputs_equal_an_uninterrupted_runs(
        gridded, pca_model, cluster, s3_bucket):
    """kill -9 of one of the two workers once some tiles are in the bucket: its tiles go to the
    other, the run ends, and scores.zarr and anomaly.tif are those of a run nobody interrupted.
    A new worker replaces the dead one afterwards (the module's cluster, whole again)."""
    from distributed import Client

    from geogan.scoring.stage import score_grid
    from geogan.stores.scores import open_scores_store

    grid, model = gridded[0], pca_model
    clean = score_grid(grid, model, f"{s3_bucket}/out/clean", scheduler=cluster.address, progress=False)
    out, errors, results = f"{s3_bucket}/out/score", [], []

    def run():
        try:
            results.append(score_grid(grid, model, out, scheduler=cluster.address, progress=False))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    done = Remote(Staging(f"{out}/scores.zarr").done_dir)
    victim = cluster.workers[0]
    t = threading.Thread(target=run)
    t.start()
    try:
        deadline = time.time() + 120
        while time.time() < deadline and t.is_alive() and len(done.names()) < 2:
            time.sleep(0.05)
        os.killpg(victim.pid, signal.SIGKILL)
        n_done = len(done.names())
        t.join(timeout=180)
    finally:
        cluster.add_worker()
        with Client(cluster.address, timeout="10s") as client:
            client.wait_for_workers(2, timeout=60)
    assert not t.is_alive() and not errors, errors
    assert victim.wait(timeout=10) == -signal.SIGKILL
    assert 2 <= n_done < N_TILES, "the run ended before a worker could be killed"
    got = results[0]
    assert got.cog == f"{out}/anomaly.tif" and got.n_cells_scored == clean.n_cells_scored > 0
    assert got.class_breaks == clean.class_breaks
    a, b = open_scores_store(got.scores)["anomaly"].values, open_scores_store(clean.scores)["anomaly"].values
    assert np.isfinite(a).sum() == clean.n_cells_scored and np.nanstd(a) > 0
    np.testing.assert_array_equal(a, b)
    # byte for byte: every object of the scores store but its metadata (creation times), and the COG
    names = Remote(got.scores).names()
    assert names == Remote(clean.scores).names()
    chunks = [n for n in names if not n.endswith("zarr.json")]
    assert len([n for n in chunks if n.startswith("anomaly/c/")]) == N_TILES
    assert all(Remote(got.scores).read_bytes(n) == Remote(clean.scores).read_bytes(n) for n in chunks)
    assert Remote(got.cog).read_bytes("", limit=1 << 30) == Remote(clean.cog).read_bytes("", limit=1 << 30)
    assert Remote(out).names() == Remote(clean.out_dir).names()  # no work objects, no lock, nothing torn
    assert not Remote(f"{out}.lock").exists() and not done.exists()


def test_a_second_writer_is_refused_while_the_lock_is_held(small_survey, cluster, s3_bucket):
    """The holder: a live writer's lock object from another host (a separate live holder
    process: tests/stores/test_remotelock.py)."""
    url = f"{s3_bucket}/out/grid.zarr"
    with lock_held_elsewhere(url):
        res = cli("grid", small_survey[0], "--out", url, *GRID_OPTIONS, "--scheduler", cluster.address)
        assert Remote(s3_bucket).names() == ["out/grid.zarr.lock"]  # nothing written
    line = assert_user_error(res)
    assert re.fullmatch(rf"error: another geogan process \(pid 4242 on other-host since \S+\) is writing "
                        rf"{re.escape(url)}; wait for it to finish", line), line
    assert Remote(s3_bucket).names() == []  # the holder's lock removed when it ended


def test_overwrite_never_deletes_a_users_object_at_the_url(small_survey, s3_bucket):
    url = f"{s3_bucket}/out/grid.zarr"
    Remote(url).write_bytes("notes.txt", b"my notes, no zarr.json")
    res = cli("grid", small_survey[0], "--out", url, *GRID_OPTIONS, "--overwrite")
    assert_user_error(res, url, "geogan did not write it", "--overwrite replaces only geogan's own outputs")
    assert Remote(url).read_bytes("notes.txt") == b"my notes, no zarr.json"
    assert Remote(s3_bucket).names() == ["out/grid.zarr/notes.txt"]  # no lock, no work objects left
