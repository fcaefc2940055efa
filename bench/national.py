"""The national pipeline end to end: wall time and peak RSS of every stage.

Runs ``geogan run national`` (synthetic ``national`` preset: 1.5 M samples,
39 elements, 6,200 × 6,200 cells of 500 m) in a subprocess, samples the resident memory of
that process and all its children (the Dask workers) every 0.5 s, and splits time and peak
RSS by stage from the pipeline's ``== stage`` lines. COG export time comes from the score
stage's "wrote … anomaly.tif in N s" line.

Targets (issue 5): grid ≤ 10 min, score ≤ 15 min, COG export ≤ 5 min, peak RSS ≤ 8 GB in
every stage.

    .venv/bin/python bench/national.py --quick     # 20 k samples, 6.2 km cells (≤ 60 s)
    .venv/bin/python bench/national.py             # the full spec (about 27 min on 2 cores)

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, load_average, machine, process_rss  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "geogan" / "pipelines" / "national.toml"
STAGE_START = re.compile(r"^== (synth|grid|train \S+|score \S+)(?: \(\S+\))? →")
STAGE_DONE = re.compile(r"^== (\S+) done in ([\d.]+) s")
COG_LINE = re.compile(r"^wrote .*anomaly\.tif in ([\d.]+) s")

QUICK_SPEC = """
[output]
dir = "{out}"
[survey]
synth = "national"
samples = 20000
seed = 0
[grid]
cell_size_m = 6200
tile = 128
[train.alad]
detector = "alad"
sample = 5000
epochs = 1
seed = 0
[score]
runs = 5
"""


def run_spec(spec: Path, *, force: bool) -> dict:
    """Run ``geogan run SPEC`` in a subprocess; wall time and peak RSS of each stage."""
    figures = {"machine": machine(), "spec": str(spec), "load_before": load_average()}
    cmd = [sys.executable, "-m", "geogan.cli", "run", str(spec)] + (["--force"] if force else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    ps = psutil.Process(proc.pid)
    stage = {"name": "start"}
    peaks: dict[str, list[int]] = {}  # stage → [sum, client process, largest worker]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            rss = process_rss(ps)
            old = peaks.get(stage["name"], [0, 0, 0])
            peaks[stage["name"]] = [max(old[0], sum(rss)), max(old[1], rss[0]), max([old[2], *rss[1:]])]
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    seconds: dict[str, float] = {}
    for line in proc.stdout:
        print(line, end="", flush=True)
        if m := STAGE_START.match(line):
            stage["name"] = m.group(1).replace(" ", ".")
        elif m := STAGE_DONE.match(line):
            seconds[m.group(1)] = float(m.group(2))
        elif m := COG_LINE.match(line):
            figures["cog_export_s"] = float(m.group(1))
    rc = proc.wait()
    stop.set()
    sampler.join()
    figures["total_s"] = round(time.perf_counter() - t0, 1)
    figures["load_after"] = load_average()
    if rc != 0:
        raise SystemExit(f"geogan run failed with exit code {rc}")
    for name, secs in seconds.items():
        figures[f"{name}_s"] = secs
    for name, (total, client, worker) in peaks.items():
        if name != "start":
            figures[f"{name}_peak_rss_mb"] = int(round(total / 2**20))
            figures[f"{name}_client_peak_rss_mb"] = int(round(client / 2**20))
            figures[f"{name}_worker_peak_rss_mb"] = int(round(worker / 2**20))
    return figures


def output_figures(out: Path, figures: dict) -> None:
    """Cells, cells/s, COG size and AUC from the pipeline's output directory."""
    from geogan.stores.geometry import grid_spec
    from geogan.stores.store import open_grid

    spec_grid = grid_spec(open_grid(out / "grid.zarr"))
    figures["cells"] = spec_grid.n_cells
    if "grid_s" in figures:
        figures["grid_cells_per_s"] = int(spec_grid.n_cells / figures["grid_s"])
    for cog in sorted((out / "scores").glob("*/anomaly.tif")):
        name = cog.parent.name
        figures[f"{name}_cog_mb"] = round(cog.stat().st_size / 2**20, 1)
        if f"score.{name}_s" in figures:
            figures[f"score.{name}_cells_per_s"] = int(spec_grid.n_cells / figures[f"score.{name}_s"])
    report = out / "report" / "metrics.json"
    if report.is_file():
        for name, m in json.loads(report.read_text())["detectors"].items():
            figures[f"{name}_roc_auc"] = m.get("roc_auc")


def main(argv=None):
    from geogan.pipeline import load_spec

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 20 k-sample national survey on 6.2 km cells")
    ap.add_argument("--spec", default=str(SPEC), help="pipeline spec to run (default geogan/pipelines/national.toml)")
    ap.add_argument("--force", action="store_true", help="rerun every stage even when up to date")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="geogan-bench-national-")) if args.quick else None
    try:
        spec = Path(args.spec)
        if tmp:
            spec = tmp / "quick.toml"
            spec.write_text(QUICK_SPEC.format(out=(tmp / "out").as_posix()))
        figures = run_spec(spec, force=args.force)
        output_figures(load_spec(spec).output, figures)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    emit(figures)


if __name__ == "__main__":
    main()
