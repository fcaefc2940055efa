"""Memory stays flat: peak RSS of grid, score and COG export at two grid sizes.

The same survey is gridded at two cell sizes so the larger grid has 4× the cells; then both
grids are scored with the same model and exported to COG, each stage as a fresh `geogan`
process. Peak RSS is the largest sum over this process, the stage's process and its Dask
worker processes (sampled). Every stage streams tile by tile, so
the larger grid must not need materially more memory: target ratio ≤ 1.25.

    .venv/bin/python bench/memory.py --quick      # ~0.06 M and 0.25 M cells, stages in this process, PCA model
    .venv/bin/python bench/memory.py              # ~4 M and 16 M cells

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakRSS, machine  # noqa: E402

from geogan.stores.scores import COG_NAME, SCORES_STORE  # noqa: E402
from geogan.stores.geometry import grid_spec  # noqa: E402
from geogan.stores.store import open_grid
from geogan.synth import write_synthetic_survey  # noqa: E402


COG_EXPORT = """
import sys
from geogan.stores.scores import open_scores_store
from geogan.scoring.cog import export_cog
ds = open_scores_store(sys.argv[1])
export_cog(ds["anomaly"].assign_attrs(grid=ds.attrs["grid"]), sys.argv[2])
"""


def run(args: list[str], *, fresh: bool) -> None:
    """Run ``geogan ARGS`` (or, with ``args[0] == "cog"``, the COG export) in a fresh process,
    or in this one (``fresh=False``: the quick mode, which only has a minute)."""
    if not fresh:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            if args[0] == "cog":
                sys.argv = ["cog", *args[1:]]
                exec(COG_EXPORT, {})
            else:
                from geogan.cli import app

                app(args, standalone_mode=False, prog_name="geogan")
        return
    cmd = [sys.executable, "-c", COG_EXPORT, *args[1:]] if args[0] == "cog" else [
        sys.executable, "-m", "geogan.cli", *args]
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        raise SystemExit(f"geogan {' '.join(args[:2])} ... failed: {res.stderr.strip().splitlines()[-1:]}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--samples", type=int, default=None, help="survey samples (default 10k quick, 200k full)")
    args = ap.parse_args(argv)
    n_samples = args.samples or (10_000 if args.quick else 200_000)
    # the national preset's extent (3,100 km square): cell sizes giving ~0.06/0.25 M or ~4/16 M cells
    cells = (12400.0, 6200.0) if args.quick else (1550.0, 775.0)
    tmp = Path(tempfile.mkdtemp(prefix="geogan-bench-memory-"))
    figures = {"machine": machine(), "samples": n_samples}
    try:
        synth = write_synthetic_survey(tmp / "survey", "national", n_samples=n_samples, seed=0)
        fresh = not args.quick
        workers = ["--workers", "1"] if args.quick else []  # one worker starts faster
        for label, cell in zip(("small", "large"), cells):
            # every stage in a fresh process, as a user runs it: nothing carries over between
            # stages or sizes (TensorFlow, the survey) to blur the comparison (not in --quick)
            store = tmp / f"{label}.zarr"
            with PeakRSS() as rss:
                t = time.perf_counter()
                run(["grid", str(synth.survey), "--out", str(store), "--crs", synth.crs, "--input-crs", synth.crs,
                     "--cell-size", str(cell), *workers], fresh=fresh)
            figures[f"{label}_cells"] = n_cells = grid_spec(open_grid(store)).n_cells
            figures[f"{label}_grid_s"] = round(time.perf_counter() - t, 1)
            figures[f"{label}_grid_peak_rss_mb"] = rss.peak_mb
            figures[f"{label}_grid_largest_process_rss_mb"] = rss.child_peak_mb
            if label == "small":
                # --quick: PCA, which needs no TensorFlow start-up (the minute is not enough for it)
                run(["train", str(store), "--out", str(tmp / "model"), "--detector", "pca" if args.quick else "alad",
                     "--sample", "5000" if args.quick else "20000", "--epochs", "1"], fresh=fresh)
            with PeakRSS() as rss:
                t = time.perf_counter()
                run(["score", str(store), "--model", str(tmp / "model"), "--out", str(tmp / f"{label}-scores"),
                     *workers], fresh=fresh)
            figures[f"{label}_score_s"] = round(time.perf_counter() - t, 1)
            figures[f"{label}_score_peak_rss_mb"] = rss.peak_mb
            figures[f"{label}_score_largest_process_rss_mb"] = rss.child_peak_mb
            # the COG export alone (score above includes one too)
            with PeakRSS() as rss:
                t = time.perf_counter()
                run(["cog", str(tmp / f"{label}-scores" / SCORES_STORE), str(tmp / f"{label}-{COG_NAME}")],
                    fresh=fresh)
            figures[f"{label}_cog_s"] = round(time.perf_counter() - t, 1)
            figures[f"{label}_cog_peak_rss_mb"] = rss.peak_mb
            print(f"{label}: {n_cells:,} cells; peak RSS grid {figures[f'{label}_grid_peak_rss_mb']} MB, "
                  f"score {figures[f'{label}_score_peak_rss_mb']} MB, cog {figures[f'{label}_cog_peak_rss_mb']} MB",
                  flush=True)
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
