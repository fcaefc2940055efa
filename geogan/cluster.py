"""Dask clients: a LocalCluster sized to the machine by default, or an existing scheduler.

``--scheduler ADDR`` (or ``DASK_SCHEDULER_ADDRESS``) connects to a running cluster; the
stores the workers read and write must then be where every worker reaches them: a path every
worker sees, or a URL in object storage (``s3://...``, credentials from each worker's
environment; see :mod:`geogan.stores.remote`). Per-worker state (a survey's
KD-trees, a trained model) lives in module-level caches here, keyed by a token that
changes with the content, so it is built once per worker and never shipped in the graph.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from geogan.errors import InputError
from geogan.progress import Progress

log = logging.getLogger(__name__)

_CACHE: "OrderedDict[tuple, Any]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 2


def worker_cached(key: tuple, build: Callable[[], Any]) -> Any:
    """Return the object cached under ``key`` in this process, building it on first use.

    Keep ``key`` content-addressed (e.g. a path plus a hash or mtime) so a changed input is
    never served from a stale cache.
    """
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = build()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to connect to: the option, else ``DASK_SCHEDULER_ADDRESS``, else None."""
    return scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None


def check_workers(workers) -> int:
    """The number of LocalCluster workers: ``workers``, or one per core when None
    (:class:`InputError` for anything but a whole number >= 1: 0 never means "all cores")."""
    n = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 4096:
        raise InputError(f"--workers must be a whole number from 1 to 4096, got {workers!r}")
    return n


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, *, workers: int | None = None,
                memory_limit: str | float | None = "auto") -> Iterator:
    """A distributed Client for one stage.

    Parameters
    ----------
    scheduler
        Address of an existing scheduler (``tcp://host:8786``). Defaults to
        ``DASK_SCHEDULER_ADDRESS``; when neither is set, a LocalCluster is started with one
        single-threaded worker process per core (the kernels release the GIL only in
        parts, so processes scale better than threads).
    workers
        Number of LocalCluster worker processes (ignored with a scheduler).

    The dashboard link is logged (``geogan`` logger) when a dashboard is served (a
    LocalCluster serves one when ``bokeh`` is installed: the ``dashboard`` extra, on a free
    port).
    """
    import dask
    from distributed import Client, LocalCluster

    address = scheduler_address(scheduler)
    if address:
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot connect to the Dask scheduler at {address} ({exc}); "
                             "check the address or start one with 'dask scheduler'") from None
        _show_dashboard(client)
        try:
            yield client
        finally:
            client.close()
        return
    n = check_workers(workers)
    with dask.config.set({"distributed.worker.daemon": False, "distributed.admin.tick.limit": "10s"}):
        # ":0": a free port, so a second cluster on the machine never collides on 8787
        try:
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", memory_limit=memory_limit)
        except RuntimeError as exc:  # distributed: "Nanny failed to start."
            hint = _script_hint()
            if not hint:
                raise
            raise InputError(f"the local Dask workers failed to start ({exc}); {hint}") from None
        client = Client(cluster)
        client.run(quiet_user_errors)  # the console shows a user error once, as one line
        _show_dashboard(client)
        try:
            yield client
        finally:
            client.close()
            # "Worker process still alive after 4 seconds, killing": the nanny ending a worker that
            # is slow to exit (TensorFlow's threads) is how a local cluster closes, not news
            nanny = logging.getLogger("distributed.nanny")
            level = nanny.level
            nanny.setLevel(logging.ERROR)
            try:
                cluster.close()
            finally:
                nanny.setLevel(level)


class _UserErrorFilter(logging.Filter):
    """Drop distributed's "Compute Failed … Traceback" record for a geogan user error: the
    stage re-raises it in the client, where the CLI prints it as one line. Other errors keep
    their worker traceback. Also dropped: the warning about each task still running when the
    stage stops at that error ("… ended with CancelledError")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            return True
        if "ended with CancelledError" in record.getMessage():
            return False
        if not record.msg.startswith("Compute Failed"):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        text = str(args[3]) if len(args) > 3 else ""
        return text.partition("(")[0] not in _user_error_names()


@functools.cache
def _user_error_names() -> frozenset[str]:
    from geogan.errors import GeoganError

    names, todo = set(), [GeoganError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return frozenset(names)


def quiet_user_errors() -> None:
    """Install :class:`_UserErrorFilter` in this process (run on each local worker)."""
    for name in ("distributed.worker", "distributed.worker.state_machine"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _UserErrorFilter) for f in logger.filters):
            logger.addFilter(_UserErrorFilter())


def _script_hint() -> str:
    """Advice when the local workers fail to start from a script without a main guard."""
    import sys

    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if script is None or getattr(main, "__spec__", None) is not None:  # interactive, or python -m
        return ""
    return (f"{script} runs geogan when imported, and every worker process imports it again: put its geogan "
            f"calls under 'if __name__ == \"__main__\":'")


def _show_dashboard(client) -> None:
    import importlib.util

    if importlib.util.find_spec("bokeh") is not None and client.dashboard_link:
        log.info(f"Dask dashboard: {client.dashboard_link}")


def run_tasks(client, futures, *, description: str, progress: bool = True, total: int | None = None,
              on_result: Callable[[Any], None] | None = None) -> list:
    """Wait for futures with a progress bar; re-raise the first error with its own type."""
    from distributed import as_completed

    results = []
    total = total if total is not None else len(futures)
    with Progress(total, description, unit="tiles", enabled=progress) as bar:
        for fut in as_completed(futures):
            res = fut.result()
            results.append(res)
            if on_result is not None:
                on_result(res)
            bar.advance()
    return results


class ProcessCluster:
    """A ``dask scheduler`` and ``dask worker`` processes started as separate OS processes.

    What a deployment does with ``dask scheduler`` / ``dask worker`` on many hosts, on
    127.0.0.1: for tests, benchmarks and trying the ``--scheduler`` path on one machine.

    ``env`` adds to the processes' environment (this one's). With ``root``, every process runs
    in its own new empty folder under it (``root/scheduler``, ``root/worker-0``, ...; a worker's
    Dask scratch space inside its own, listed in :attr:`worker_dirs`): nothing on disk is shared
    with the client, as between hosts.

    >>> with ProcessCluster(n_workers=2) as cluster:          # doctest: +SKIP
    ...     grid_survey(..., scheduler=cluster.address)
    """

    def __init__(self, n_workers: int = 2, *, threads_per_worker: int = 1, timeout_s: float = 60.0,
                 env: dict[str, str] | None = None, root: str | os.PathLike | None = None):
        import subprocess
        import sys
        import time
        from pathlib import Path

        from distributed import Client

        self._dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or "dask"
        self._env = {**os.environ, **(env or {}), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
        self._threads = threads_per_worker
        self.root = None if root is None else Path(root)
        self.worker_dirs: list = []
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.scheduler = subprocess.Popen(
            [self._dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            cwd=self._new_dir("scheduler"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self._env,
            start_new_session=True)
        self.workers: list = []
        try:
            for _ in range(n_workers):
                self.add_worker()
            deadline = time.time() + timeout_s
            while True:
                try:
                    with Client(self.address, timeout="5s") as client:
                        client.wait_for_workers(n_workers, timeout=timeout_s)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.5)
        except BaseException:
            self.close()
            raise

    def _new_dir(self, name: str):
        """A new empty folder ``root/name`` for a process (None without ``root``: this one's)."""
        if self.root is None:
            return None
        path = self.root / name
        path.mkdir(parents=True)
        return path

    def add_worker(self):
        """Start one more ``dask worker`` process (in a new empty folder with ``root``); returns
        its ``Popen``."""
        import subprocess

        here = self._new_dir(f"worker-{len(self.workers)}")
        scratch = [] if here is None else ["--local-directory", str(here / "scratch")]
        proc = subprocess.Popen(
            [self._dask, "worker", self.address, "--nthreads", str(self._threads), "--nworkers", "1",
             "--no-dashboard", "--no-nanny", "--host", "127.0.0.1", *scratch],
            cwd=here, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self._env, start_new_session=True)
        self.workers.append(proc)
        if here is not None:
            self.worker_dirs.append(here)
        return proc

    def close(self) -> None:
        procs = self.workers + [self.scheduler]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except Exception:
                p.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
