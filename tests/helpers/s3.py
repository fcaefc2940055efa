"""Object storage for the tests: a real S3 API on 127.0.0.1 (moto's server), a fresh bucket per
test, and a Dask cluster of separate processes that reach it from empty working directories.

The clients (the test process, a ``geogan`` subprocess, the Dask workers) find the server as a
deployment finds S3: through the environment (``AWS_ENDPOINT_URL``, dummy credentials), which
botocore and s3fs read. The fixtures using these are in ``tests/conftest.py`` (``s3_server``,
``s3_bucket``) and tests/integration/test_object_storage.py (the cluster).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geogan.cluster import ProcessCluster

#: the repository root: the Dask processes import this checkout's geogan (an installed one too)
ROOT = Path(__file__).resolve().parents[2]


def missing_reason() -> str | None:
    """Why the S3 tests cannot run here (moto's server or s3fs not installed), or None."""
    absent = [name for name, module in (("moto[server]", "moto"), ("moto[server]", "flask"), ("s3fs", "s3fs"))
              if importlib.util.find_spec(module) is None]
    return f"needs {', '.join(sorted(set(absent)))} (pip install -e '.[test]')" if absent else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoS3:
    """moto's S3 server on 127.0.0.1, on a free port, in a thread of this process."""

    def __init__(self):
        import s3fs
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        s3fs.S3FileSystem.clear_instance_cache()  # filesystems made before know another endpoint

    @property
    def env(self) -> dict[str, str]:
        """The environment a client needs to use this server as its S3 (dummy credentials)."""
        return {"AWS_ACCESS_KEY_ID": "geogan-test", "AWS_SECRET_ACCESS_KEY": "geogan-test-secret",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint}

    def new_bucket(self, prefix: str = "geogan-test") -> str:
        """Create a bucket of a name never used before; returns ``s3://<name>``.
        The environment (:meth:`env`) must be set in this process."""
        import fsspec

        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        fs = fsspec.filesystem("s3")
        fs.mkdir(name)
        fs.invalidate_cache()
        return f"s3://{name}"

    def stop(self) -> None:
        self._server.stop()


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Set ``env`` in ``os.environ`` for the block, then restore what was there."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a Dask process: this one's, ``extra``, and this checkout on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, **extra, PYTHONPATH=path, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")


class IsolatedCluster(ProcessCluster):
    """:class:`geogan.cluster.ProcessCluster` with every process in its own empty working
    directory under ``root`` (``root/scheduler``, ``root/worker-0``, ...; a worker's Dask
    scratch space inside its own), and ``env`` in their environment: nothing on disk is shared
    between the client and the workers, as between hosts."""

    def __init__(self, root: str | os.PathLike, *, env: dict[str, str], n_workers: int = 2,
                 timeout_s: float = 60.0):
        if shutil.which("dask", path=os.path.dirname(sys.executable)) is None and shutil.which("dask") is None:
            raise FileNotFoundError(f"no dask command beside {sys.executable} or on PATH")
        super().__init__(n_workers, timeout_s=timeout_s, env=worker_env(env), root=root)

    def close(self) -> None:
        """Terminate every process; kill those still running 5 s later."""
        import subprocess

        for group in (self.workers, [self.scheduler]):  # the workers first: they sign off with the scheduler
            for p in group:
                if p.poll() is None:
                    p.terminate()
            deadline = time.time() + 5
            for p in group:
                try:
                    p.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def files_written(self) -> list[str]:
        """What lies in the processes' directories besides Dask's own scratch space (relative paths)."""
        found = []
        for d in [self.root / "scheduler", *self.worker_dirs]:
            found += [p.relative_to(self.root).as_posix() for p in d.rglob("*")
                      if p.is_file() and "scratch" not in p.relative_to(d).parts[:1]]
        return sorted(found)


__all__ = ["IsolatedCluster", "MotoS3", "ROOT", "environment", "free_port", "missing_reason", "worker_env"]


@contextmanager
def lock_held_elsewhere(url: str, *, pid: int = 4242, host: str = "other-host"):
    """A live writer on another machine holding ``url``'s lock: its lock object (a fresh beat)
    for the block, removed after. (A lock this process holds is refused as "already writing".)"""
    import json
    import time

    from geogan.stores.remote import Remote, sibling

    lock = Remote(sibling(url, ".lock"))
    lock.write_bytes("", json.dumps({"pid": pid, "host": host, "since": "2026-01-01T00:00:00+00:00",
                                     "beat": time.time() + 3600, "token": "elsewhere"}).encode())
    try:
        yield lock.url
    finally:
        lock.remove()
