"""The cluster path: grid and score against a real `dask scheduler` + `dask worker` processes.

Starts a scheduler and N workers on 127.0.0.1 as separate processes (what `dask scheduler` /
`dask worker` do across hosts), runs `grid` and `score` with `--scheduler`, checks the outputs
are identical to a LocalCluster run, and reports the speed-up from 1 to 2 workers.

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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures))
    return 0 if figures.get("identical_to_local") else 1


def open_grid_scores(out_dir: Path) -> np.ndarray:
    from geogan.stores.scores import open_scores_store

    return open_scores_store(out_dir / "scores.zarr")["anomaly"].values


if __name__ == "__main__":
    sys.exit(main())
