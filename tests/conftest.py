import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path into ../shared/data; skips the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real survey data not available at {path} (../shared/data is absent)")
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskProcesses:
    """A `dask scheduler` and `dask worker` processes started as separate OS processes."""

    def __init__(self, n_workers: int = 2):
        import shutil
        import subprocess
        import sys
        import time

        from distributed import Client

        bindir = Path(sys.executable).parent
        dask_cli = shutil.which("dask", path=str(bindir)) or "dask"
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
        self.scheduler = subprocess.Popen(
            [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        self.workers = []
        for _ in range(n_workers):
            self.add_worker(dask_cli=dask_cli, env=env)
        deadline = time.time() + 60
        while True:
            try:
                with Client(self.address, timeout="5s") as c:
                    c.wait_for_workers(n_workers, timeout=60)
                break
            except OSError:
                if time.time() > deadline:
                    self.close()
                    raise
                time.sleep(0.5)

    def add_worker(self, *, dask_cli=None, env=None):
        import shutil
        import subprocess
        import sys

        dask_cli = dask_cli or shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
        env = env or dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
        proc = subprocess.Popen(
            [dask_cli, "worker", self.address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
             "--no-nanny", "--host", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        self.workers.append(proc)
        return proc

    def close(self):
        for p in self.workers + [self.scheduler]:
            if p.poll() is None:
                p.terminate()
        for p in self.workers + [self.scheduler]:
            try:
                p.wait(timeout=10)
            except Exception:
                p.kill()


@pytest.fixture(scope="session")
def dask_processes():
    procs = DaskProcesses(n_workers=2)
    yield procs
    procs.close()
