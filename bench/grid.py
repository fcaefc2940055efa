"""Gridding throughput: geogan (tiles on Dask, shared k-NN query) vs a naive baseline.

The baseline is what one writes first: for each element, a scipy cKDTree over the samples
with a value, one k-NN query for every cell of the grid held in memory, IDW weights, the
weighted (geometric) mean. Both run on the same survey and the same grid window in the same
run; geogan's time is end to end (survey parsing, Zarr writes, cluster start included).

    .venv/bin/python bench/grid.py --quick            # demo survey, 100 m cells (~1 M cells), < 60 s
    .venv/bin/python bench/grid.py                    # national preset: full 38 M-cell grid + 1 M-cell window vs naive

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

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakRSS, machine  # noqa: E402

from geogan.grid.stage import grid_survey  # noqa: E402
from geogan.gridspec import GridSpec  # noqa: E402
from geogan.survey.read import read_survey  # noqa: E402
from geogan.synth import write_synthetic_survey  # noqa: E402


def naive_idw(x, y, values, spec: GridSpec, k=12, power=2.0, max_d=np.inf):
    """Per-element cKDTree IDW over the whole grid in memory (log space, like geogan's default)."""
    qx, qy = np.meshgrid(spec.x_coords(), spec.y_coords())
    q = np.column_stack([qx.ravel(), qy.ravel()])
    out = np.empty((values.shape[1], q.shape[0]), dtype=np.float32)
    for e in range(values.shape[1]):
        ok = np.isfinite(values[:, e])
        tree = cKDTree(np.column_stack([x[ok], y[ok]]))
        d, idx = tree.query(q, k=k)
        w = 1.0 / np.maximum(d, 1e-12) ** power
        est = np.exp((w * np.log(values[ok, e][idx])).sum(axis=1) / w.sum(axis=1))
        est[d[:, 0] > max_d] = np.nan
        out[e] = est
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="demo survey, ~1 M cells, under a minute")
    ap.add_argument("--survey", help="existing survey file (default: synthesise the preset)")
    ap.add_argument("--crs", default=None, help="survey/grid CRS (default: the preset's)")
    ap.add_argument("--window", type=int, default=1024, help="window edge (cells) for the naive comparison")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--keep", help="keep the full grid store here")
    args = ap.parse_args(argv)
    preset = "demo" if args.quick else "national"
    cell = 100.0 if args.quick else 500.0
    tmp = Path(tempfile.mkdtemp(prefix="geogan-bench-grid-"))
    figures = {"machine": machine(), "preset": preset, "cell_size_m": cell}
    try:
        survey_path = args.survey
        if survey_path is None:
            t = time.perf_counter()
            synth = write_synthetic_survey(tmp / "survey", preset, seed=0)
            survey_path, crs = synth.survey, synth.crs
            figures["synth_s"] = round(time.perf_counter() - t, 1)
        else:
            crs = args.crs or ("EPSG:32650" if args.quick else "ESRI:102025")
        crs = args.crs or crs
        t = time.perf_counter()
        survey = read_survey(survey_path, input_crs=crs)
        figures["read_survey_s"] = round(time.perf_counter() - t, 1)
        figures["n_samples"], figures["n_elements"] = int(len(survey.x)), len(survey.elements)
        full = GridSpec.from_points(survey.x, survey.y, crs=crs, cell_size_m=cell)
        # the comparison window: the centre of the grid (the whole grid in quick mode)
        if args.quick:
            window = full
        else:
            w = args.window
            r0, c0 = (full.height - w) // 2, (full.width - w) // 2
            xmin = full.xmin + c0 * cell
            ymax = full.ymax - r0 * cell
            window = GridSpec.from_bounds((xmin, ymax - w * cell, xmin + w * cell, ymax), crs=crs, cell_size_m=cell)
        opts = dict(crs=crs, input_crs=crs, cell_size_m=cell, workers=args.workers, progress=False)
        with PeakRSS() as rss_g:
            t = time.perf_counter()
            res = grid_survey(survey_path, tmp / "window.zarr", bounds=window.bounds, **opts)
            tg = time.perf_counter() - t
        with PeakRSS() as rss_n:
            t = time.perf_counter()
            naive_idw(survey.x, survey.y, survey.values, window, max_d=res.idw.max_distance_m)
            tn = time.perf_counter() - t
        # both read the same survey file: geogan's time includes it, so the baseline's does too
        tn_total = tn + figures["read_survey_s"]
        figures.update(window_cells=window.n_cells, geogan_window_s=round(tg, 2), naive_window_s=round(tn_total, 2),
                       naive_window_compute_s=round(tn, 2),
                       geogan_cells_per_s=round(window.n_cells / tg), naive_cells_per_s=round(window.n_cells / tn_total),
                       ratio_vs_naive=round(tn_total / tg, 2), ratio_vs_naive_compute_only=round(tn / tg, 2),
                       geogan_window_peak_rss_mb=rss_g.peak_mb, naive_window_peak_rss_mb=rss_n.peak_mb)
        print(f"window {window.height}x{window.width} = {window.n_cells:,} cells x {len(survey.elements)} elements: "
              f"geogan {tg:.1f} s end to end, naive {tn_total:.1f} s ({tn:.1f} s IDW + {figures['read_survey_s']} s "
              f"reading the survey), ratio {tn_total / tg:.2f}x")
        if not args.quick:
            out = Path(args.keep) if args.keep else tmp / "full.zarr"
            with PeakRSS() as rss_f:
                t = time.perf_counter()
                grid_survey(survey_path, out, overwrite=True, **opts)
                tf = time.perf_counter() - t
            figures.update(full_cells=full.n_cells, full_s=round(tf, 1), full_cells_per_s=round(full.n_cells / tf),
                           full_peak_rss_mb=rss_f.peak_mb,
                           full_store_mb=round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6))
            print(f"full grid {full.height}x{full.width} = {full.n_cells:,} cells: {tf:.1f} s, "
                  f"peak RSS {rss_f.peak_mb} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
