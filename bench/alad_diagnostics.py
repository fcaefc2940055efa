"""Why ALAD's map depends on the step count, the score and the EMA: one model per (survey, seed),
every ALAD score read off it at several step counts, with EMA and with live weights.

For each survey of ``bench/quality.py`` (gridded once, cached) and seed, one ALAD is trained
on up to 28,000 valid cells for the largest step count; at each checkpoint every score
(``latent`` ‖E(x)‖₂, ``fm``, ``l1``, ``l1_high``) is computed on every valid cell with the EMA
and with the live weights, and its all-cells ROC AUC against the deposits is recorded. Labels
are only used to compute the figures; nothing is selected by them here.

    python bench/alad_diagnostics.py                                # demo, soil1, rock2, gtk; 3 seeds
    python bench/alad_diagnostics.py --surveys soil1 --two-sided --transform clr
    python bench/alad_diagnostics.py --quick                        # demo, 1 seed, 2 checkpoints

Writes ``--out`` (JSON of every figure, and ``alad_diagnostics.png``: AUC against steps per
score, EMA dashed); the last stdout line is one JSON object of the mean AUC per
(survey, steps, weights, score).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import emit, machine, tf_cpu_threads  # noqa: E402

tf_cpu_threads()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import quality  # noqa: E402

SCORES = ("latent", "fm", "l1", "l1_high")


def scores_of(nets: dict, X: np.ndarray) -> dict[str, np.ndarray]:
    z = nets["encoder"](X, training=False).numpy()
    rx = nets["generator"](z, training=False).numpy()
    _, f_fake = nets["dis_xx"]([X, rx], training=False)
    _, f_real = nets["dis_xx"]([X, X], training=False)
    return {"latent": np.sqrt((z ** 2).sum(1)), "fm": np.abs(f_real.numpy() - f_fake.numpy()).sum(1),
            "l1": np.abs(X - rx).sum(1), "l1_high": np.maximum(X - rx, 0).sum(1)}


def run(case, seed: int, *, transform: str, enrichment_only: bool, checks: list[int]) -> dict:
    from geogan.detectors import ALAD
    from geogan.evaluation.single import evaluate_scores
    from geogan.training.transform import Transform

    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(case.values))[:28000]
    tr = Transform(transform, elements=case.elements, enrichment_only=enrichment_only).fit(case.values[idx])
    X_train, X_all = tr.transform(case.values[idx]), tr.transform(case.values)
    det = ALAD(random_state=seed, steps=max(checks), ema_decay=0.999)
    per_epoch = det.batches_per_epoch(len(X_train))
    at = {max(1, round(c / per_epoch)): c for c in checks}
    out: dict = {}

    def auc(s: np.ndarray) -> float:
        grid = np.full(case.template.shape, np.nan, np.float32)
        grid[case.rows, case.cols] = s
        return evaluate_scores(case.template.copy(data=grid), case.deposits, runs=1, name="x").metrics["roc_auc"]

    def callback(d, epoch, logs):
        if epoch not in at:
            return
        step = epoch * per_epoch
        for weights, nets in (("ema", d.ema_nets_), ("live", d.nets_)):
            for name, s in scores_of(nets, X_all).items():
                out[f"{step}/{weights}/{name}"] = auc(s.astype(np.float32))
        print(f"{case.survey.name} seed {seed} step {step}: " + " ".join(
            f"{k.split('/', 1)[1]} {v:.3f}" for k, v in out.items() if k.startswith(f"{step}/")), flush=True)

    det.fit(X_train, callback=callback)
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    surveys = sorted({k[0] for k in results})
    fig, axes = plt.subplots(1, len(surveys), figsize=(4.2 * len(surveys), 3.6), squeeze=False)
    for ax, s in zip(axes[0], surveys):
        runs = [v for k, v in results.items() if k[0] == s]
        steps = sorted({int(k.split("/")[0]) for r in runs for k in r})
        for i, score in enumerate(SCORES):
            for weights, style in (("live", "-"), ("ema", "--")):
                mean = [np.mean([r[f"{t}/{weights}/{score}"] for r in runs if f"{t}/{weights}/{score}" in r])
                        for t in steps]
                ax.plot(steps, mean, style, color=f"C{i}", marker="o", ms=3,
                        label=f"{score} ({weights})" if s == surveys[0] else None)
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.set(xscale="log", xlabel="optimiser steps", ylabel="all-cells ROC AUC", title=s, ylim=(0.2, 1.0))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks([500, 1000, 2500, 5000], ["500", "1k", "2.5k", "5k"])
    fig.legend(loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--surveys", default="demo,soil1,rock2,gtk")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", default="500,1000,2500,5000,8000", help="checkpoints (comma-separated)")
    ap.add_argument("--transform", default="log")
    ap.add_argument("--two-sided", action="store_true", help="no enrichment-only clipping")
    ap.add_argument("--cache", type=Path, default=quality.DEFAULT_CACHE)
    ap.add_argument("--out", type=Path, default=quality.DEFAULT_CACHE / "diagnostics")
    ap.add_argument("--replot", type=Path, default=None, help="only redraw the figure from a saved JSON")
    args = ap.parse_args(argv)
    if args.replot:
        saved = json.loads(args.replot.read_text())
        plot({(k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1])): v for k, v in saved.items()},
             args.out / "alad_diagnostics.png")
        return saved
    names = ["demo"] if args.quick else args.surveys.split(",")
    seeds = range(1 if args.quick else args.seeds)
    checks = [200, 400] if args.quick else [int(v) for v in args.steps.split(",")]
    surveys = quality._surveys()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in names:
        s = surveys[name]
        if not str(s.grid["path"]).startswith("synth:") and not Path(s.grid["path"]).exists():
            print(f"skip {name}: {s.grid['path']} absent")
            continue
        case = quality.prepare(s, args.cache)
        for seed in seeds:
            results[(name, seed)] = run(case, seed, transform=args.transform, enrichment_only=not args.two_sided,
                                        checks=checks)
    (args.out / "alad_diagnostics.json").write_text(json.dumps({f"{k[0]}/{k[1]}": v for k, v in results.items()}))
    plot(results, args.out / "alad_diagnostics.png")
    summary = {}
    for name in names:
        runs = [v for k, v in results.items() if k[0] == name]
        for key in sorted({k for r in runs for k in r}, key=lambda k: (int(k.split("/")[0]), k)):
            summary[f"{name}/{key}"] = round(float(np.mean([r[key] for r in runs if key in r])), 3)
    print(f"wrote {args.out / 'alad_diagnostics.png'}")
    emit({"bench": "alad_diagnostics", "machine": machine(), "transform": args.transform,
          "enrichment_only": not args.two_sided, "seeds": len(seeds), "auc": summary})
    return summary


if __name__ == "__main__":
    main()
