"""Memory stays flat: peak RSS of grid, score and COG export at two grid sizes.

The same survey is gridded at two cell sizes so the larger grid has 4× the cells; then both
grids are scored with the same model and exported to COG. Peak RSS is the largest sum over
this process and its Dask worker processes (sampled). Every stage streams tile by tile, so
the larger grid must not need materially more memory: target ratio ≤ 1.25.

    .venv/bin/python bench/memory.py --quick      # ~0.25 M and 1 M cells
    .venv/bin/python bench/memory.py              # ~4 M and 16 M cells

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakRSS, machine  # noqa: E402

from geogan.grid import grid_survey  # noqa: E402
from geogan.score import COG_NAME, SCORES_STORE, open_scores_store, score_grid  # noqa: E402
from geogan.store import export_cog  # noqa: E402
from geogan.synth import write_synthetic_survey  # noqa: E402
from geogan.train import train_model  # noqa: E402


def quiet(*_a, **_k):
    pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--samples", type=int, default=None, help="survey samples (default 20k quick, 200k full)")
    args = ap.parse_args(argv)
    n_samples = args.samples or (20_000 if args.quick else 200_000)
    # the national preset's extent (3,100 km square): cell sizes giving ~0.25/1 M or ~4/16 M cells
    cells = (6200.0, 3100.0) if args.quick else (1550.0, 775.0)
    tmp = Path(tempfile.mkdtemp(prefix="geogan-bench-memory-"))
    figures = {"machine": machine(), "samples": n_samples}
    try:
        synth = write_synthetic_survey(tmp / "survey", "national", n_samples=n_samples, seed=0)
        for label, cell in zip(("small", "large"), cells):
            store = tmp / f"{label}.zarr"
            with PeakRSS() as rss:
                t = time.perf_counter()
                res = grid_survey(synth.survey, store, crs=synth.crs, input_crs=synth.crs, cell_size_m=cell,
                                  progress=False, echo=quiet)
            figures[f"{label}_cells"] = res.spec.n_cells
            figures[f"{label}_grid_s"] = round(time.perf_counter() - t, 1)
            figures[f"{label}_grid_peak_rss_mb"] = rss.peak_mb
            figures[f"{label}_grid_worker_peak_rss_mb"] = rss.child_peak_mb
            if label == "small":
                train_model(store, tmp / "model", detector="alad", sample=20_000, epochs=1, seed=0, progress=False)
            with PeakRSS() as rss:
                t = time.perf_counter()
                score_grid(store, tmp / "model", tmp / f"{label}-scores", progress=False, echo=quiet)
            figures[f"{label}_score_s"] = round(time.perf_counter() - t, 1)
            figures[f"{label}_score_peak_rss_mb"] = rss.peak_mb
            figures[f"{label}_score_client_peak_rss_mb"] = rss.main_peak_mb
            figures[f"{label}_score_worker_peak_rss_mb"] = rss.child_peak_mb
            # the COG export alone, in this process (score_grid above includes one too)
            ds = open_scores_store(tmp / f"{label}-scores" / SCORES_STORE)
            with PeakRSS() as rss:
                t = time.perf_counter()
                export_cog(ds["anomaly"].assign_attrs(grid=ds.attrs["grid"]), tmp / f"{label}-{COG_NAME}")
            figures[f"{label}_cog_s"] = round(time.perf_counter() - t, 1)
            figures[f"{label}_cog_peak_rss_mb"] = rss.peak_mb
            print(f"{label}: {res.spec.n_cells:,} cells; peak RSS grid {figures[f'{label}_grid_peak_rss_mb']} MB, "
                  f"score {figures[f'{label}_score_peak_rss_mb']} MB, cog {figures[f'{label}_cog_peak_rss_mb']} MB")
            shutil.rmtree(store)
        for stage in ("grid", "score", "cog"):
            figures[f"{stage}_rss_ratio"] = round(figures[f"large_{stage}_peak_rss_mb"]
                                                  / figures[f"small_{stage}_peak_rss_mb"], 2)
        print("large/small peak RSS: " + ", ".join(f"{s} {figures[f'{s}_rss_ratio']}" for s in ("grid", "score", "cog")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
