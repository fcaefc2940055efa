"""ALAD training throughput on CPU: samples/s and s/epoch for 140 k cells × 39 features.

The paper's layer sizes (E 256-128-64, G 128-256-39, D_xz 128/128-256, D_xx 256-128,
D_zz 64-32), batch 128, spectral normalisation and EMA on: what ``geogan train`` runs.
A "sample" is one training row per epoch (each epoch updates the discriminators on every
row and then G/E on every row, as the original code).

The same model is also stepped the way PyOD's ALAD feeds it: a full-array shuffle (and
copy) of the training data per step and eager (non-compiled) steps; the ratio of the two is
printed. Peer figure for PyOD's ALAD on this kind of 2-core machine: ~1,000 samples/s.

    python bench/train.py            # 140 k cells, 3 epochs (the first includes tracing)
    python bench/train.py --quick    # 20 k cells, 2 epochs (≤ 60 s)

Figures also come per CPU-second (``*_per_cpu_s``): on a shared machine the wall-clock
rate depends on what else runs, the CPU-time rate much less. The last stdout line is one
JSON object.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import emit, load_average, machine, peak_rss_mb, tf_cpu_threads  # noqa: E402

tf_cpu_threads()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def synthetic_cells(n: int, d: int, *, seed: int = 0) -> np.ndarray:
    """Standardised clr-like rows: a few latent factors plus noise (content is immaterial here)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)) @ rng.normal(size=(6, d)) + 0.3 * rng.normal(size=(n, d))
    return ((X - X.mean(0)) / X.std(0)).astype(np.float32)


def naive_rate(det, X: np.ndarray, *, steps: int, seed: int = 0) -> tuple[float, float]:
    """Samples/s (wall, per CPU-second) with a full-array shuffle + copy per step and eager steps."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    bs = int(det.batch_size)
    det._train_step(tf.constant(X[:bs]), tf.constant(X[bs:2 * bs]), det.step_.assign_add(1))  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        shuffled = X[rng.permutation(X.shape[0])]  # what PyOD does per step
        step = det.step_.assign_add(1)
        det._train_step(tf.constant(shuffled[:bs]), tf.constant(shuffled[bs:2 * bs]), step)
        det._ema_update()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return steps * bs / wall, steps * bs / cpu


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 k cells, 2 epochs (≤ 60 s)")
    ap.add_argument("--cells", type=int, default=None)
    ap.add_argument("--features", type=int, default=39)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--naive-steps", type=int, default=None)
    ap.add_argument("--no-sn", action="store_true")
    args = ap.parse_args(argv)
    n = args.cells or (20_000 if args.quick else 140_000)
    epochs = args.epochs or (2 if args.quick else 3)
    naive_steps = args.naive_steps or (15 if args.quick else 40)

    import tensorflow as tf

    from geogan.detectors import ALAD

    X = synthetic_cells(n, args.features)
    det = ALAD(epochs=epochs, batch_size=args.batch_size, spectral_norm=not args.no_sn, random_state=0)
    cpu_marks = []

    def mark(d, epoch, logs):
        cpu_marks.append(time.process_time())

    c_start = time.process_time()
    t_start = time.perf_counter()
    det.fit(X, callback=mark)
    t_fit = time.perf_counter() - t_start
    seconds = [h["seconds"] for h in det.history_]
    cpu = np.diff([c_start, *cpu_marks])
    steady = seconds[1:] or seconds  # epoch 1 includes tracing the step
    steady_cpu = cpu[1:] if len(cpu) > 1 else cpu
    rows = (n // args.batch_size) * args.batch_size
    s_per_epoch = float(np.mean(steady))
    rate = rows / s_per_epoch
    rate_cpu = rows / float(np.mean(steady_cpu))
    print(f"geogan ALAD: {rate:,.0f} samples/s ({rate_cpu:,.0f} per CPU-second), {s_per_epoch:.1f} s/epoch "
          f"for {n:,} cells x {args.features}; first epoch (with tracing) {seconds[0]:.1f} s", flush=True)
    naive, naive_cpu = naive_rate(det, X, steps=naive_steps)
    print(f"naive (full shuffle per step, eager): {naive:,.0f} samples/s ({naive_cpu:,.0f} per CPU-second)",
          flush=True)
    figures = {
        "bench": "train", "quick": args.quick, "machine": machine(), "load_avg_1min": load_average(),
        "tf_threads": {"intra": os.environ.get("TF_NUM_INTRAOP_THREADS"),
                       "inter": os.environ.get("TF_NUM_INTEROP_THREADS")},
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        "cells": n, "features": args.features, "batch_size": args.batch_size, "spectral_norm": not args.no_sn,
        "samples_per_s": round(rate), "samples_per_cpu_s": round(rate_cpu), "s_per_epoch": round(s_per_epoch, 2),
        "first_epoch_s": round(seconds[0], 1),
        "projected_100_epochs_140k_min": round(100 * 140_000 / rate / 60, 1),
        "naive_samples_per_s": round(naive), "naive_samples_per_cpu_s": round(naive_cpu),
        "speedup_vs_naive": round(rate / naive, 1), "pyod_peer_samples_per_s": 1000,
        "speedup_vs_pyod_peer": round(rate / 1000, 1), "fit_s": round(t_fit, 1), "peak_rss_mb": peak_rss_mb(),
    }
    emit(figures)
    return figures


if __name__ == "__main__":
    main()
