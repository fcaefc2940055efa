"""Tests for geogan.cluster: Dask clients, per-worker caches, worker counts, and the advice for a
script that starts workers without a main guard."""

import os
import subprocess
import sys

import pytest

from geogan.cluster import check_workers, scheduler_address, worker_cached
from geogan.errors import InputError


def _run(args, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kw)


def test_worker_counts_are_whole_numbers_and_none_means_one_per_core():
    assert check_workers(3) == 3 and check_workers(None) == (os.cpu_count() or 1)
    for bad in (0, -1, 2.0, True, "2", 5000):
        with pytest.raises(InputError, match=r"--workers must be a whole number from 1 to 4096"):
            check_workers(bad)


def test_the_scheduler_is_the_option_else_the_environment(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    assert scheduler_address(None) is None
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.1:8786")
    assert scheduler_address(None) == "tcp://10.0.0.1:8786"
    assert scheduler_address("tcp://127.0.0.1:9000") == "tcp://127.0.0.1:9000"


def test_worker_cache_builds_once_per_key_and_keeps_the_latest_two():
    built = []

    def build(name):
        def make():
            built.append(name)
            return object()
        return make

    a = worker_cached(("test-cluster", "a"), build("a"))
    assert worker_cached(("test-cluster", "a"), build("a")) is a and built == ["a"]
    worker_cached(("test-cluster", "b"), build("b"))
    worker_cached(("test-cluster", "c"), build("c"))  # a is the oldest of three: dropped
    assert worker_cached(("test-cluster", "a"), build("a")) is not a and built == ["a", "b", "c", "a"]


@pytest.mark.cluster
@pytest.mark.slow
def test_script_without_main_guard_gets_a_clear_error(tmp_path):
    survey = tmp_path / "s.csv"
    survey.write_text("x,y,Au_ppb\n" + "".join(f"{400000 + 700 * i},{2700000 + 900 * (i % 7)},{1 + i % 5}\n"
                                               for i in range(30)))
    script = tmp_path / "make_grid.py"
    script.write_text("from geogan.grid.stage import grid_survey\n"
                      f"grid_survey({str(survey)!r}, {str(tmp_path / 'g.zarr')!r}, crs='EPSG:32650', "
                      "input_crs='EPSG:32650', cell_size_m=1000, workers=1, progress=False)\n")
    res = _run([sys.executable, script], tmp_path)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert "InputError" in last and "make_grid.py" in last and "if __name__ == \"__main__\":" in last
    assert not (tmp_path / "g.zarr").exists()
