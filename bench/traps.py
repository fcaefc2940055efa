"""The demo's traps: how high each map ranks the anomalies that have nothing to do with W.

The synthetic demo (``geogan synth --preset demo``) holds, besides its W-polymetallic deposits,
granite bodies (W ×3, Sn ×2.5, Bi ×2), mafic bodies (Ni, Cr ×3, Co ×2.2), black shales (Mo ×6,
Ag ×3, ...), a second laboratory's map sheets (Ag ×2.2, Bi ×1.8, Sn ×1.6, Mo ×1.5, Au ×1.5) and
single-sample spikes; ``truth.json`` records them all. For every map of a ``geogan run`` of the
demo this prints the mean percentile (among the map's scored cells) over each trap, away from
every halo (cells > 5 km from any deposit, known or not), and over the known deposits; the
target element alone (W) is the baseline row. A map that resists a trap ranks it near 50
(background) or below.

    .venv/bin/python bench/traps.py                  # reads demo-output/ (make demo)
    .venv/bin/python bench/traps.py runs/my-demo     # another run of the demo spec (geogan run demo)
    .venv/bin/python bench/traps.py --quick          # runs a small demo pipeline itself (~1 min)

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import emit  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SUITE = ("W", "Sn", "Mo", "Bi", "Ag", "As", "Cu", "Pb", "Zn")
QUICK_SPEC = """
[output]
dir = "run"
[survey]
synth = "demo"
seed = 0
[grid]
cell_size_m = 500
tile = 128
[train.iforest]
detector = "iforest"
elements = ["Ag", "Bi", "Mo", "Sn", "W"]
[train.iforest_w]
detector = "iforest"
target = "W"
[cluster]
workers = 1
"""


def _percentile(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    out = np.full(a.shape, np.nan)
    ok = np.isfinite(a)
    out[ok] = 100.0 * rankdata(a[ok]) / max(ok.sum(), 1)
    return out


def trap_masks(run: Path, X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    """Cells of each trap (away from every halo) and of the known deposits."""
    import pandas as pd

    truth = json.loads((run / "survey" / "truth.json").read_text())
    halo = np.zeros(X.shape, bool)
    for h in truth["halos"]:
        halo |= np.hypot(X - h["x"], Y - h["y"]) < 5000
    masks = {}
    for kind in ("granite", "mafic", "shale"):
        m = np.zeros(X.shape, bool)
        for d in truth["domains"]:
            if d["kind"] == kind:
                m |= np.hypot(X - d["x"], Y - d["y"]) < 0.7 * d["radius_m"]
        masks[kind] = m & ~halo
    lab = truth["traps"]["laboratories"]["B"]
    xmin, ymin = truth["extent"]["xmin"], truth["extent"]["ymin"]
    sheet = lab["sheet_m"]
    in_lab = np.zeros(X.shape, bool)
    for c, r in lab["sheets"]:
        in_lab |= ((X >= xmin + c * sheet) & (X < xmin + (c + 1) * sheet) & (Y >= ymin + r * sheet)
                   & (Y < ymin + (r + 1) * sheet))
    masks["second laboratory"] = in_lab & ~halo
    survey = pd.read_csv(run / "survey" / "survey.csv", usecols=["sample_id", "x", "y"])
    spiked = {s["sample_id"] for s in truth["traps"]["spikes"] if s["element"] in SUITE}
    near_spike = np.zeros(X.shape, bool)
    for _, row in survey[survey["sample_id"].isin(spiked)].iterrows():
        near_spike |= np.hypot(X - row.x, Y - row.y) < 600
    masks["spikes of suite elements"] = near_spike & ~halo
    deposits = np.zeros(X.shape, bool)
    for h in truth["halos"]:
        if h["known"]:
            deposits |= np.hypot(X - h["x"], Y - h["y"]) < 1500
    masks["known deposits (< 1.5 km)"] = deposits
    return masks


def measure(run: Path) -> dict:
    from geogan.evaluation.scorefiles import open_scores
    from geogan.stores.store import open_grid

    grid = open_grid(run / "grid.zarr")
    X, Y = np.meshgrid(grid["x"].values, grid["y"].values)
    maps = {p.name: _percentile(np.asarray(open_scores(p / "scores.zarr").values, dtype=float))
            for p in sorted((run / "scores").iterdir()) if (p / "scores.zarr").is_dir()}
    maps["W alone"] = _percentile(np.asarray(grid["concentration"].sel(element="W").values, dtype=float))
    masks = trap_masks(run, X, Y)
    table = {area: {name: round(float(np.nanmean(m[mask])), 1) for name, m in maps.items()}
             for area, mask in masks.items()}
    print("mean percentile of each map over each trap (cells > 5 km from every halo) and over the deposits\n")
    print("| area | cells | " + " | ".join(maps) + " |\n|" + "---|" * (len(maps) + 2))
    for area, mask in masks.items():
        print(f"| {area} | {int(mask.sum()):,} | " + " | ".join(f"{table[area][n]:.0f}" for n in maps) + " |")
    return {"bench": "traps", "run": str(run), "mean_percentile": table}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", type=Path, default=HERE.parent / "demo-output",
                    help="the output dir of a run of the demo spec (default: demo-output)")
    ap.add_argument("--quick", action="store_true", help="run a small demo pipeline (IsolationForest, plain and "
                                                         "target-aware) and measure it")
    args = ap.parse_args(argv)
    tmp = None
    try:
        run = args.run
        if args.quick:
            from geogan.pipeline import run_pipeline

            tmp = Path(tempfile.mkdtemp(prefix="geogan-traps-"))
            (tmp / "spec.toml").write_text(QUICK_SPEC)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run_pipeline(tmp / "spec.toml", progress=False)
            run = tmp / "run"
        if not (run / "survey" / "truth.json").is_file():
            print(f"{run} holds no run of the demo (no survey/truth.json): run 'make demo' first, or --quick")
            out = {"bench": "traps", "run": str(run), "skipped": "no demo run"}
        else:
            out = measure(run)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    emit(out)
    return out


if __name__ == "__main__":
    main()
