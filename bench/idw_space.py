"""Which IDW averaging (--space linear|log) reproduces real survey values better?

Leave-one-out cross-validation on the real surveys in ../shared/data: each sample is
predicted from its k nearest *other* samples (same k and power as the grid defaults), once
as a weighted arithmetic mean (linear) and once as a weighted geometric mean (log). Scores
per element: median |log10(pred/obs)| (the error a geochemist reads on a log map),
Spearman rank correlation (does the map keep the ranking that anomaly detection uses) and
the share of the top-5 % samples predicted in the top 5 % of predictions (are peaks kept).

    .venv/bin/python bench/idw_space.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from scipy.stats import spearmanr

from geogan.survey.read import read_survey

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SURVEYS = {
    "gtk-lapland-till": dict(path=DATA / "gtk-lapland-till" / "till_samples.csv", input_crs="EPSG:3067",
                             x="x_etrstm35fin", y="y_etrstm35fin"),
    "gswa-soil1": dict(path=DATA / "gswa-soil1" / "area6_soil_au.csv", negative_is_bdl=True,
                       level_by="WAMEX_A_NO", elements=["Au", "Ag", "Cu", "Pb", "Zn", "Ni", "Co", "Pd"]),
}
PROJECTED = {"gswa-soil1": "EPSG:28350"}  # MGA zone 50 for the lon/lat survey


def loo(x, y, v, k=12, power=2.0):
    ok = np.isfinite(v) & (v > 0)
    x, y, v = x[ok], y[ok], v[ok]
    tree = cKDTree(np.column_stack([x, y]))
    d, idx = tree.query(np.column_stack([x, y]), k=min(k + 1, len(x)))
    d, idx = d[:, 1:], idx[:, 1:]  # drop the sample itself
    w = 1.0 / np.maximum(d, 1e-9) ** power
    w /= w.sum(axis=1, keepdims=True)
    lin = (w * v[idx]).sum(axis=1)
    log = np.exp((w * np.log(v[idx])).sum(axis=1))
    return v, lin, log


def scores(obs, pred):
    top = obs >= np.quantile(obs, 0.95)
    ptop = pred >= np.quantile(pred, 0.95)
    return {"median_abs_log10_err": float(np.median(np.abs(np.log10(pred / obs)))),
            "spearman": float(spearmanr(obs, pred).statistic),
            "top5_kept": float((top & ptop).sum() / max(top.sum(), 1))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="GTK till only")
    args = ap.parse_args(argv)
    summary = {}
    for name, opts in SURVEYS.items():
        if args.quick and name != "gtk-lapland-till":
            continue
        if not opts["path"].exists():
            print(f"skip {name}: {opts['path']} absent")
            continue
        kw = {k: v for k, v in opts.items() if k != "path"}
        try:
            s = read_survey(opts["path"], **kw)
        except Exception as exc:  # an element list that does not fit this file
            print(f"skip {name}: {exc}")
            continue
        if name in PROJECTED:
            s = s.to_crs(PROJECTED[name])
        wins = {"median_abs_log10_err": 0, "spearman": 0, "top5_kept": 0}
        rows = []
        for j, el in enumerate(s.elements):
            obs, lin, log = loo(s.x, s.y, s.values[:, j])
            if len(obs) < 30:
                continue
            a, b = scores(obs, lin), scores(obs, log)
            rows.append((el, len(obs), a, b))
            wins["median_abs_log10_err"] += b["median_abs_log10_err"] < a["median_abs_log10_err"]
            wins["spearman"] += b["spearman"] > a["spearman"]
            wins["top5_kept"] += b["top5_kept"] > a["top5_kept"]
        print(f"\n{name}: leave-one-out, k=12, power=2 ({len(rows)} elements)")
        print(f"{'element':8s} {'n':>6s}  {'med|log10 err| lin/log':>24s}  {'spearman lin/log':>18s}  {'top5% kept lin/log':>20s}")
        for el, n, a, b in rows:
            print(f"{el:8s} {n:6d}  {a['median_abs_log10_err']:11.3f} / {b['median_abs_log10_err']:.3f}  "
                  f"{a['spearman']:9.3f} / {b['spearman']:.3f}  {a['top5_kept']:11.3f} / {b['top5_kept']:.3f}")
        med = lambda key, i: float(np.median([r[i][key] for r in rows]))  # noqa: E731
        summary[name] = {
            "elements": len(rows),
            "log_wins": wins,
            "median_over_elements": {sp: {k: med(k, 2 if sp == "linear" else 3) for k in wins}
                                     for sp in ("linear", "log")},
        }
        print(f"log space better in: {wins} of {len(rows)} elements")
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
