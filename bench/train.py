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

The seed ensemble (``--members 5``, the default ALAD ensemble): the N members trained side by
side as one network (``StackedALAD``) against one member, the same steps, steady state (the
step function traced and warmed first); the ratio is the issue's target (≤ 1.6). Beside it,
the step's arithmetic (an analytic count of the matmuls' FLOPs) and the in-run peak of one
batched matmul of the step's largest shape: on a CPU a step of one member already runs near
that peak, so N members cost about N times one.

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

from _common import emit, load_average, machine, matmul_peak_gflops, peak_rss_mb, tf_cpu_threads  # noqa: E402

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


def step_gflop(det) -> float:
    """Matmul GFLOP of one ALAD step (both updates) for one member: forward passes of the pairs,
    the discriminators forward and backward (≈ 2× forward) for D, everything for G/E."""
    F, L = det.n_features_, int(det.latent_dim)

    def chain(widths):
        return sum(a * b for a, b in zip(widths, widths[1:]))

    enc, gen = chain([F, *det.encoder_units, L]), chain([L, *det.generator_units, F])
    branch, joint = det.dxz_units
    dxz = F * branch + L * branch + 2 * branch * joint + joint
    dxx, dzz = chain([2 * F, *det.dxx_units, 1]), chain([2 * L, *det.dzz_units, 1]) if det.use_dzz else 0
    pairs = 2 * enc + 2 * gen  # E(x), G on (z; E(x)), E(G(z))
    dis = 2 * (dxz + dxx + dzz)  # real and fake rows
    macs_per_row = (pairs + 3 * dis) + 3 * (pairs + dis)
    return 2 * macs_per_row * int(det.batch_size) / 1e9


def steady_step_ms(step_fn, X_t, idx, *, steps: int, sync) -> tuple[float, float]:
    """Wall and CPU milliseconds per call of a traced, warmed step function (best of 3)."""
    step_fn(X_t, idx)
    sync()
    best = None
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step_fn(X_t, idx)
        sync()
        run = ((time.perf_counter() - t0) / steps * 1e3, (time.process_time() - c0) / steps * 1e3)
        best = run if best is None or run[0] < best[0] else best
    return best


def ensemble_figures(X: np.ndarray, *, members: int, batch_size: int, steps: int) -> dict:
    """One member's step against the stack of ``members`` (same shapes, steady state)."""
    import tensorflow as tf

    from geogan.detectors import ALAD
    from geogan.detectors.stacked import StackedALAD

    rng = np.random.default_rng(0)
    X_t = tf.constant(X)
    one = ALAD(steps=1, batch_size=batch_size, random_state=0)
    one.check_params()
    one.init_state(X.shape[1], seed=0)
    one_fn = one._make_step_fn()
    one_ms = steady_step_ms(one_fn, X_t, tf.constant(rng.integers(0, len(X), (2, batch_size)), tf.int32),
                            steps=steps, sync=lambda: one.step_.numpy())
    stack = StackedALAD.fresh([ALAD(steps=1, batch_size=batch_size, random_state=1000 * k) for k in range(members)],
                              X)
    stack_fn = stack._make_step_fn()
    stack_ms = steady_step_ms(stack_fn, X_t, tf.constant(rng.integers(0, len(X), (members, 2, batch_size)), tf.int32),
                              steps=max(1, steps // members), sync=lambda: stack.step.numpy())
    gflop = step_gflop(one)
    width = 256  # the step's largest layers
    peak = matmul_peak_gflops((members, 2 * batch_size, width), (members, width, width))
    ratio = stack_ms[0] / one_ms[0]
    print(f"ensemble of {members}: {stack_ms[0]:.1f} ms/step side by side against {one_ms[0]:.1f} ms for one "
          f"member = {ratio:.2f}x one member (sequential: {members}x; target <= 1.6x); one member's step "
          f"{gflop:.2f} GFLOP -> {gflop / one_ms[0] * 1e3:.0f} GFLOP/s, the stack "
          f"{members * gflop / stack_ms[0] * 1e3:.0f} GFLOP/s, in-run matmul peak {peak:.0f} GFLOP/s", flush=True)
    return {"members": members, "one_member_ms_per_step": round(one_ms[0], 2),
            "one_member_cpu_ms_per_step": round(one_ms[1], 2), "stacked_ms_per_step": round(stack_ms[0], 2),
            "stacked_cpu_ms_per_step": round(stack_ms[1], 2), "stacked_over_one_member": round(ratio, 2),
            "sequential_over_one_member": float(members), "speedup_vs_sequential": round(members / ratio, 2),
            "step_gflop_one_member": round(gflop, 3), "one_member_gflops": round(gflop / one_ms[0] * 1e3, 1),
            "stacked_gflops": round(members * gflop / stack_ms[0] * 1e3, 1), "matmul_peak_gflops": round(peak, 1)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 k cells, 2 epochs (≤ 60 s)")
    ap.add_argument("--cells", type=int, default=None)
    ap.add_argument("--features", type=int, default=39)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--naive-steps", type=int, default=None)
    ap.add_argument("--no-sn", action="store_true")
    ap.add_argument("--members", type=int, default=5, help="seed-ensemble size for the side-by-side figures (5)")
    ap.add_argument("--ensemble-steps", type=int, default=None, help="steps timed per member (quick: 50, else 200)")
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
        "speedup_vs_pyod_peer": round(rate / 1000, 1), "fit_s": round(t_fit, 1),
        "ensemble": ensemble_figures(X, members=args.members, batch_size=args.batch_size,
                                     steps=args.ensemble_steps or (50 if args.quick else 200)),
        "peak_rss_mb": peak_rss_mb(),
    }
    emit(figures)
    return figures


if __name__ == "__main__":
    main()
