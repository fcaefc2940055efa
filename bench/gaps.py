"""Scoring with element gaps: imputed scores vs full-data scores, on the surveys we have.

A compilation's campaigns analysed different element lists. To measure what
``geogan score --min-elements K`` gives there, each survey is gridded (cached, as in
``bench/quality.py``), a detector is trained on the cells with every element, and every
valid cell is scored twice:

* **full**: with all its elements (the truth this benchmark compares against);
* **gapped**: the western half of the cells (a "campaign") loses some elements, set to
  NaN, and the model scores it with ``min_elements`` = the elements left, imputing the
  hidden ones from the present ones (:class:`geogan.training.impute.GaussianImputer`).

Two scenarios: ``third`` hides a random third of the elements (seeded), ``target`` hides the
survey's commodity element (the hardest case: the deposit's own element is gone). The
baseline of the issue's complaint is ``intersection``: without imputation the western half
gets no score at all.

Figures in the gapped half: Spearman ρ between gapped and full scores; the share of the
full map's top-5 % cells still in the gapped map's top 5 %; and the all-cells ROC AUC of the
whole map against the deposits, full vs gapped (labels used for the figures only).

    python bench/gaps.py                              # demo, soil1, rock2, gtk × mahalanobis, pca, alad
    python bench/gaps.py --quick                      # demo only, mahalanobis + pca (~30 s; figures/gaps.json untouched)
    python bench/gaps.py --surveys soil1 --detectors alad --seeds 3

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import emit, machine  # noqa: E402
from quality import DEFAULT_CACHE, _surveys, figures, prepare  # noqa: E402

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

DETECTORS = {"mahalanobis": {"detector": "mahalanobis"}, "pca": {"detector": "pca"},
             "alad": {"detector": "alad", "ensemble": 1, "steps": 2000}}


def hidden_elements(case, scenario: str, seed: int) -> list[str]:
    els = case.elements
    if scenario == "target":
        return [case.survey.target] if case.survey.target in els else []
    k = max(1, math.ceil(len(els) / 3))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(els, size=min(k, len(els) - 1), replace=False).tolist())


def run(case, detector: str, seed: int, workdir: Path, sample: int) -> list[dict]:
    from geogan.training.model import load_model
    from geogan.training.stage import train_model

    out = workdir / f"{case.survey.name}-{detector}-{seed}"
    train_model(case.grid_path, out, elements=case.elements, sample=sample, seed=seed, overwrite=True,
                progress=False, checkpoint_every=0, **DETECTORS[detector])
    model = load_model(out)
    full = model.score(case.values)
    west = case.cols < np.median(case.cols)
    fig_full = figures(case, case.flat(full))
    rows = []
    for scenario in ("third", "target"):
        hide = hidden_elements(case, scenario, seed)
        if not hide:
            continue
        X = case.values.copy()
        X[np.ix_(west, [case.elements.index(e) for e in hide])] = np.nan
        gapped = model.score(X, min_elements=len(case.elements) - len(hide))
        a, b = full[west], gapped[west]
        top_full = full >= np.quantile(full, 0.95)
        top_gap = gapped >= np.nanquantile(gapped, 0.95)
        keep = float((top_full & top_gap)[west].sum() / max(top_full[west].sum(), 1))
        fig_gap = figures(case, case.flat(gapped))
        rows.append({"survey": case.survey.name, "detector": detector, "seed": seed, "scenario": scenario,
                     "hidden": hide, "n_elements": len(case.elements), "n_west": int(west.sum()),
                     "scored_west": float(np.isfinite(b).mean()), "spearman": float(spearmanr(a, b).statistic),
                     "top5_kept": keep, "auc_full": fig_full["auc"], "auc_gapped": fig_gap["auc"]})
    shutil.rmtree(out, ignore_errors=True)
    return rows


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--surveys", default="demo,soil1,rock2,gtk")
    p.add_argument("--detectors", default="mahalanobis,pca,alad")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--sample", type=int, default=40000)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    a = p.parse_args(argv)
    if a.quick:
        a.surveys, a.detectors, a.seeds = "demo", "mahalanobis,pca", 1
    surveys = _surveys()
    workdir = a.cache / "gaps-models"
    rows, t0 = [], time.perf_counter()
    for name in a.surveys.split(","):
        case = prepare(surveys[name], a.cache)
        for det in a.detectors.split(","):
            for seed in range(a.seeds):
                rows.extend(run(case, det, seed, workdir, a.sample))
    print(f"{'survey':8s} {'detector':12s} {'scenario':8s} {'hidden':22s} {'Spearman':>14s} {'top5 kept':>14s} "
          f"{'AUC full':>14s} {'AUC gapped':>14s}")
    groups = {}
    for r in rows:
        groups.setdefault((r["survey"], r["detector"], r["scenario"]), []).append(r)
    for (s, d, sc), rs in groups.items():
        def ms(key):
            v = np.array([r[key] for r in rs], dtype=float)
            return f"{v.mean():.3f} ± {v.std():.3f}"
        hidden = ",".join(rs[0]["hidden"]) if sc == "target" else f"{len(rs[0]['hidden'])} of {rs[0]['n_elements']}"
        print(f"{s:8s} {d:12s} {sc:8s} {hidden:22s} {ms('spearman'):>14s} {ms('top5_kept'):>14s} "
              f"{ms('auc_full'):>14s} {ms('auc_gapped'):>14s}")
    result = {"benchmark": "gaps", "machine": machine(), "seconds": round(time.perf_counter() - t0, 1), "rows": rows}
    if not a.quick:  # the committed figure holds the full run's rows; a quick check leaves it alone
        (HERE / "figures" / "gaps.json").write_text(json.dumps(result, indent=1))
    emit(result)
    return result


if __name__ == "__main__":
    main()
