"""The cluster path: grid and score against a real `dask scheduler` + `dask worker` processes.

Starts a scheduler and N workers on 127.0.0.1 as separate processes (what `dask scheduler` /
`dask worker` do across hosts), runs `grid` and `score` with `--scheduler`, checks the outputs
are identical to a LocalCluster run, and reports the speed-up from 1 to 2 workers.

Then the object-storage run (issue #22): an S3 API server on 127.0.0.1 (moto's server mode) and
2 workers; grid + score to local disk (the baseline) and to the bucket, same cluster, same run;
the throughput ratio (local seconds / S3 seconds; target ≥ 0.7) and whether the maps are
identical. Credentials and the endpoint reach the workers as environment variables only.

    .venv/bin/python bench/cluster.py --quick     # demo survey at 250 m, PCA model, under a minute
    .venv/bin/python bench/cluster.py             # demo survey at 50 m (4 M cells)

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import os
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from geogan.cluster import ProcessCluster  # noqa: E402
from geogan.grid.stage import grid_survey  # noqa: E402
from geogan.scoring.stage import score_grid  # noqa: E402
from geogan.stores.store import open_grid  # noqa: E402
from geogan.synth import write_synthetic_survey  # noqa: E402
from geogan.training.stage import train_model  # noqa: E402



def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    cell = 250.0 if args.quick else 50.0
    # one core per worker, TensorFlow included (`dask worker --nthreads 1` + GEOGAN_TF_THREADS=1),
    # so that 1 → 2 workers measures scaling and not TensorFlow's own threads
    os.environ["GEOGAN_TF_THREADS"] = "1"
    tmp = Path(tempfile.mkdtemp(prefix="geogan-bench-cluster-"))
    figures = {"machine": machine(), "cell_size_m": cell}
    try:
        demo = write_synthetic_survey(tmp / "survey", "demo", seed=0)
        opts = dict(crs=demo.crs, input_crs=demo.crs, cell_size_m=cell, tile=128, progress=False)
        t = time.perf_counter()
        local = grid_survey(demo.survey, tmp / "local.zarr", workers=2, **opts)
        figures["grid_local_2w_s"] = round(time.perf_counter() - t, 1)
        figures["cells"] = local.spec.n_cells
        # --quick: PCA, which needs no TensorFlow start-up in each worker (the minute is not enough)
        train_model(tmp / "local.zarr", tmp / "model", detector="pca" if args.quick else "alad", sample=5000,
                    epochs=1, seed=0, progress=False)
        t = time.perf_counter()
        score_grid(tmp / "local.zarr", tmp / "model", tmp / "score-local", workers=2, progress=False)
        figures["score_local_2w_s"] = round(time.perf_counter() - t, 1)
        ref_grid = open_grid(tmp / "local.zarr")["concentration"].values
        ref_scores = open_grid_scores(tmp / "score-local")
        identical = True
        for n in (1, 2):
            with ProcessCluster(n_workers=n) as cluster:
                t = time.perf_counter()
                grid_survey(demo.survey, tmp / f"remote{n}.zarr", scheduler=cluster.address, **opts)
                tg = time.perf_counter() - t
                t = time.perf_counter()
                score_grid(tmp / f"remote{n}.zarr", tmp / "model", tmp / f"score{n}", scheduler=cluster.address,
                           progress=False)
                ts = time.perf_counter() - t
            figures[f"grid_{n}w_s"], figures[f"score_{n}w_s"] = round(tg, 1), round(ts, 1)
            identical &= np.array_equal(open_grid(tmp / f"remote{n}.zarr")["concentration"].values, ref_grid,
                                        equal_nan=True)
            identical &= np.array_equal(open_grid_scores(tmp / f"score{n}"), ref_scores, equal_nan=True)
            print(f"{n} worker(s): grid {tg:.1f} s, score {ts:.1f} s")
        figures["identical_to_local"] = bool(identical)
        figures["grid_speedup_1_to_2"] = round(figures["grid_1w_s"] / figures["grid_2w_s"], 2)
        figures["score_speedup_1_to_2"] = round(figures["score_1w_s"] / figures["score_2w_s"], 2)
        print(f"speed-up 1 → 2 workers: grid {figures['grid_speedup_1_to_2']}x, "
              f"score {figures['score_speedup_1_to_2']}x; identical to local: {identical}")
        figures["object_storage"] = object_storage(demo, tmp, opts, ref_scores)
        identical &= figures["object_storage"]["identical_to_local"]
        figures["identical_to_local"] = bool(identical)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures))
    return 0 if figures.get("identical_to_local") else 1


def open_grid_scores(out_dir) -> np.ndarray:
    from geogan.stores.remote import join
    from geogan.stores.scores import open_scores_store

    return open_scores_store(join(str(out_dir), "scores.zarr"))["anomaly"].values


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc; its children not counted)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def object_storage(demo, tmp: Path, opts: dict, ref_scores: np.ndarray, n_workers: int = 2) -> dict:
    """Grid + score to local disk and to an S3 API server on 127.0.0.1, on one cluster of
    ``n_workers`` separate worker processes: seconds of each and their ratio."""
    import socket
    import subprocess

    import fsspec

    # moto's server mode in a process of its own, as an object store runs apart from the client
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host, port = s.getsockname()
    moto = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
    server = subprocess.Popen([moto, "-H", host, "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    saved = dict(os.environ)
    # what a deployment sets on the client and on every worker; never passed as arguments
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=f"http://{host}:{port}")
    out: dict = {"n_workers": n_workers}
    try:
        for _ in range(100):  # until the server answers
            try:
                fsspec.filesystem("s3", skip_instance_cache=True).mkdir("geogan-bench")
                break
            except OSError:
                time.sleep(0.2)
        with ProcessCluster(n_workers=n_workers) as cluster:
            cpu: dict[str, float] = {}
            for where, root in (("local", str(tmp / "os")), ("s3", "s3://geogan-bench/run")):
                grid_url, score_url = f"{root}/grid.zarr", f"{root}/score"
                t = time.perf_counter()
                grid_survey(demo.survey, grid_url, scheduler=cluster.address, **opts)
                out[f"grid_{where}_s"] = round(time.perf_counter() - t, 1)
                t = time.perf_counter()
                score_grid(grid_url, tmp / "model", score_url, scheduler=cluster.address, progress=False)
                out[f"score_{where}_s"] = round(time.perf_counter() - t, 1)
                # the S3 server's own CPU during the S3 run, on the cores the workers and client share
                cpu[where] = _cpu_seconds(server.pid)
                out[f"{where}_identical"] = bool(np.array_equal(open_grid_scores(score_url), ref_scores, equal_nan=True))
            out["s3_server_cpu_s"] = round(cpu["s3"] - cpu["local"], 1)
        local, remote = out["grid_local_s"] + out["score_local_s"], out["grid_s3_s"] + out["score_s3_s"]
        out["throughput_ratio_s3_to_local"] = round(local / remote, 2)
        out["identical_to_local"] = out.pop("local_identical") and out.pop("s3_identical")
        print(f"object storage ({n_workers} workers): grid {out['grid_local_s']} s local / {out['grid_s3_s']} s S3, "
              f"score {out['score_local_s']} s / {out['score_s3_s']} s; throughput ratio "
              f"{out['throughput_ratio_s3_to_local']} (target >= 0.7); identical: {out['identical_to_local']}; "
              f"the S3 server used {out['s3_server_cpu_s']} CPU s of the {os.cpu_count()} cores meanwhile")
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.terminate()
        server.wait(timeout=30)
    return out


if __name__ == "__main__":
    sys.exit(main())
