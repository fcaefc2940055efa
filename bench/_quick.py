"""Run every benchmark's ``--quick`` mode and check that its figures are computed.

What ``make bench-quick`` and ``.ci/run`` (after the tests) call, so that a benchmark that no
longer runs fails CI like a failing test. Each ``bench/<name>.py`` (not ``_*``) runs with
``--quick`` in a fresh cache folder (``--cache`` where the script takes one: nothing computed
by earlier code is reused), and must:

* exit 0, within ``--timeout`` seconds;
* end its stdout with one JSON object (``_common.emit``);
* hold at least one number, and no number that is NaN or infinite, and no ``null``: a figure
  that was not computed. A JSON object with ``"skipped"`` (no GPU, data absent) passes, and
  its reason is printed.

Speed is never asserted: the figures go to ``bench/RESULTS.md`` by hand, with their run.

    python bench/_quick.py                 # all of them
    python bench/_quick.py score grid      # some of them

The last stdout line is one JSON object: per benchmark its status and seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmarks() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))


def problems(figures) -> list[str]:
    """Where ``figures`` holds a figure that was not computed (NaN, inf, null), or no number."""
    found, numbers = [], 0

    def walk(x, path: str) -> None:
        nonlocal numbers
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")
        elif x is None:
            found.append(f"{path} is null")
        elif isinstance(x, float) and not math.isfinite(x):
            found.append(f"{path} is {x}")
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            numbers += 1

    walk(figures, "")
    if not numbers:
        found.append("no figure at all")
    return found


def run_one(script: Path, *, timeout: float, work: Path) -> dict:
    """Run ``script --quick``; returns ``{"status": "ok" | "skipped" | "failed", ...}``."""
    args = [sys.executable, str(script), "--quick"]
    if '"--cache"' in script.read_text(encoding="utf-8"):
        args += ["--cache", str(work / script.stem)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    log = work / f"{script.stem}.log"
    t0 = time.perf_counter()
    try:
        with open(log, "w") as err:
            proc = subprocess.run(args, cwd=HERE.parent, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                                  timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "why": f"ran past {timeout:.0f} s", "seconds": round(time.perf_counter() - t0)}
    seconds = round(time.perf_counter() - t0, 1)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    out = {"seconds": seconds}
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        return {**out, "status": "failed", "why": f"exit code {proc.returncode}: " + " | ".join(tail)}
    try:
        figures = json.loads(lines[-1]) if lines else None
    except ValueError:
        figures = None
    if not isinstance(figures, dict):
        return {**out, "status": "failed", "why": "its last stdout line is not a JSON object: "
                                                  + (lines[-1][:120] if lines else "(no output)")}
    if figures.get("skipped"):
        return {**out, "status": "skipped", "why": str(figures["skipped"])}
    bad = problems(figures)
    if bad:
        return {**out, "status": "failed", "why": "; ".join(bad[:5]) + (f" (and {len(bad) - 5} more)" if len(bad) > 5
                                                                         else "")}
    return {**out, "status": "ok"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per benchmark (default 900)")
    a = ap.parse_args(argv)
    scripts = benchmarks()
    if a.names:
        unknown = set(a.names) - {s.stem for s in scripts}
        if unknown:
            ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        scripts = [s for s in scripts if s.stem in a.names]
    results = {}
    with tempfile.TemporaryDirectory(prefix="geogan-bench-quick-") as tmp:
        for script in scripts:
            print(f"bench/{script.name} --quick ...", flush=True)
            r = results[script.stem] = run_one(script, timeout=a.timeout, work=Path(tmp))
            print(f"  {r['status']} in {r['seconds']} s" + (f": {r['why']}" if r.get("why") else ""), flush=True)
    failed = [n for n, r in results.items() if r["status"] == "failed"]
    total = sum(r["seconds"] for r in results.values())
    print(f"{len(results) - len(failed)} of {len(results)} benchmarks ran and computed their figures in {total:.0f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
    print(json.dumps({"bench": "quick", "seconds": round(total, 1), "results": results}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
