"""Shared helpers for the bench scripts: peak RSS of a process tree, machine description."""

from __future__ import annotations

import os
import platform
import threading
import time

import psutil


def process_rss(proc: psutil.Process) -> list[int]:
    """Resident bytes of ``proc``, then of each of its descendants (processes that exit are skipped)."""
    out = []
    for p in [proc, *proc.children(recursive=True)]:
        try:
            out.append(p.memory_info().rss)
        except psutil.Error:
            out.append(0)
    return out


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and all its descendants."""
    return sum(process_rss(proc))


class PeakRSS:
    """Sample the resident memory of this process and all its children (e.g. Dask workers).

    ``peak_mb`` is the largest sum seen, sampled every ``interval`` seconds;
    ``main_peak_mb`` this process's own peak and ``child_peak_mb`` the largest single child's
    (a Dask worker's), to tell which side a peak comes from.
    """

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak = self.main_peak = self.child_peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        rss = process_rss(psutil.Process())
        self.peak = max(self.peak, sum(rss))
        self.main_peak = max(self.main_peak, rss[0])
        self.child_peak = max([self.child_peak, *rss[1:]])

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __enter__(self):
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mb(self) -> int:
        return int(round(self.peak / 2**20))

    @property
    def main_peak_mb(self) -> int:
        return int(round(self.main_peak / 2**20))

    @property
    def child_peak_mb(self) -> int:
        return int(round(self.child_peak / 2**20))


def machine() -> str:
    """One line: CPU model, cores, memory."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB"


def peak_rss_mb() -> int:
    """Peak resident memory of this process so far (``resource``; Linux reports KiB)."""
    import resource

    return int(round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def load_average() -> float:
    """1-minute load average: benchmark figures on a shared machine need this beside them."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def emit(figures: dict) -> None:
    """Print the figures as the last stdout line: one JSON object."""
    import json

    print(json.dumps(figures, default=float), flush=True)


def tf_cpu_threads(*, intra: int = 1, inter: int | None = None) -> None:
    """Set TensorFlow's CPU thread pools before TensorFlow starts (env vars it reads).

    Small-batch training (128-row matmuls) is faster running independent ops side by side
    (inter-op) than splitting each matmul across cores (intra-op).
    """
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(intra))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(inter or os.cpu_count() or 1))


def matmul_peak_gflops(a_shape: tuple, b_shape: tuple, *, seconds: float = 2.0) -> float:
    """In-run matmul peak: GFLOP/s of ``tf.matmul`` on random float32 operands of these shapes
    (batched when 3-D), repeated for ``seconds`` after one warm-up call."""
    import tensorflow as tf

    a, b = tf.random.normal(a_shape), tf.random.normal(b_shape)
    fn = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    fn(a, b).numpy()
    batch = a_shape[0] if len(a_shape) == 3 else 1
    flop = 2 * batch * a_shape[-2] * a_shape[-1] * b_shape[-1]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(a, b).numpy()
        n += 1
    return flop * n / (time.perf_counter() - t0) / 1e9
