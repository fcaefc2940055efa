"""ALAD training throughput on a GPU: samples/s and s/epoch for 140 k cells × 39 features.

Self-contained: run from the repository root on a machine with TensorFlow and a GPU, e.g.

    PYTHONUNBUFFERED=1 python bench/gpu_train.py            # ~2-4 min on an H100
    python bench/gpu_train.py --quick                       # 20 k cells (≤ 60 s)

It times the paper-size ALAD (batch 128, spectral normalisation, EMA) in four variants:
XLA-compiled step or plain graph, float32 or mixed precision (float16 with loss scaling),
one warm-up epoch (tracing/compilation) then timed epochs, plus scoring throughput
(cells/s through the EMA score function in 65,536-row batches). Then the default seed
ensemble: 5 members trained side by side as one network (``StackedALAD``, XLA, float32)
against one member, the same epochs: ``ensemble_over_one_member`` is the issue's target
(≤ 1.6). Without TensorFlow or
without a GPU it says so in its JSON line and exits 0. The last stdout line is one JSON
object of figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import platform  # noqa: E402

import numpy as np  # noqa: E402


def emit(figures: dict) -> None:
    print(json.dumps(figures, default=float), flush=True)


def ensemble_vs_one(X, *, epochs: int, batch_size: int, members: int = 5) -> dict:
    """Seconds per steady epoch: one ALAD against ``members`` trained side by side (XLA, float32)."""
    from geogan.detectors import ALAD
    from geogan.detectors.stacked import StackedALAD

    one = ALAD(epochs=epochs, batch_size=batch_size, jit_compile=True, random_state=0).fit(X)
    stack = [ALAD(epochs=epochs, batch_size=batch_size, jit_compile=True, random_state=1000 * k)
             for k in range(members)]
    StackedALAD.fresh(stack, X).fit(X)
    one_s = float(np.mean([h["seconds"] for h in one.history_[1:]]))
    stack_s = float(np.mean([h["seconds"] for h in stack[0].history_[1:]]))
    return {"members": members, "one_member_s_per_epoch": round(one_s, 2), "stacked_s_per_epoch": round(stack_s, 2),
            "ensemble_over_one_member": round(stack_s / one_s, 2)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 k cells, 1 timed epoch per variant")
    ap.add_argument("--cells", type=int, default=None)
    ap.add_argument("--features", type=int, default=39)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=None, help="timed epochs per variant (after one warm-up)")
    args = ap.parse_args(argv)
    n = args.cells or (20_000 if args.quick else 140_000)
    timed = args.epochs or (1 if args.quick else 2)
    figures = {"bench": "gpu_train", "quick": args.quick, "python": platform.python_version(), "cells": n,
               "features": args.features, "batch_size": args.batch_size}
    try:
        import tensorflow as tf
    except ImportError as exc:
        print(f"TensorFlow is not installed here ({exc}); nothing to measure")
        emit({**figures, "skipped": "tensorflow not installed"})
        return figures
    gpus = tf.config.list_physical_devices("GPU")
    figures["tensorflow"] = tf.__version__
    if not gpus:
        print("TensorFlow sees no GPU; nothing to measure (use bench/train.py for CPU figures)")
        emit({**figures, "skipped": "no GPU visible to TensorFlow"})
        return figures
    for g in gpus:
        tf.config.experimental.set_memory_growth(g, True)
    details = tf.config.experimental.get_device_details(gpus[0])
    figures["gpu"] = details.get("device_name", str(gpus[0]))

    from geogan.detectors import ALAD

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6)) @ rng.normal(size=(6, args.features)) + 0.3 * rng.normal(size=(n, args.features))
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    rows = (n // args.batch_size) * args.batch_size
    variants = {"xla_fp32": dict(jit_compile=True, mixed_precision=False),
                "graph_fp32": dict(jit_compile=False, mixed_precision=False),
                "xla_mixed": dict(jit_compile=True, mixed_precision=True),
                "graph_mixed": dict(jit_compile=False, mixed_precision=True)}
    results = {}
    for name, opts in variants.items():
        try:
            det = ALAD(epochs=1 + timed, batch_size=args.batch_size, random_state=0, **opts)
            t0 = time.perf_counter()
            det.fit(X)
            seconds = [h["seconds"] for h in det.history_]
            s_epoch = float(np.mean(seconds[1:]))
            t = time.perf_counter()
            s = det.decision_function(X)
            det.decision_function(X)
            score_s = (time.perf_counter() - t) / 2
            results[name] = {"samples_per_s": round(rows / s_epoch), "s_per_epoch": round(s_epoch, 2),
                             "warmup_epoch_s": round(seconds[0], 1), "fit_s": round(time.perf_counter() - t0, 1),
                             "score_cells_per_s": round(n / score_s), "scores_finite": bool(np.isfinite(s).all())}
        except Exception as exc:  # report every variant, even if one fails
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        print(name, results[name], flush=True)
    try:
        figures["ensemble"] = ensemble_vs_one(X, epochs=1 + timed, batch_size=args.batch_size)
    except Exception as exc:
        figures["ensemble"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print("ensemble", figures["ensemble"], flush=True)
    ok = {k: v for k, v in results.items() if "samples_per_s" in v}
    figures["variants"] = results
    if ok:
        best = max(ok, key=lambda k: ok[k]["samples_per_s"])
        figures.update(best=best, samples_per_s=ok[best]["samples_per_s"], s_per_epoch=ok[best]["s_per_epoch"],
                       projected_100_epochs_140k_min=round(100 * 140_000 / ok[best]["samples_per_s"] / 60, 1))
    emit(figures)
    return figures


if __name__ == "__main__":
    main()
