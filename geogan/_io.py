"""File-system utilities shared by every stage: output checks, atomic replace, digests, locks.

What lives here: rules about *where* and *how* a stage writes, used by ``grid``, ``train``,
``score``, ``import-rasters``, ``synth``, ``report`` and ``run`` alike, written once. What
does not: the formats written (see :mod:`geogan.store`, :mod:`geogan.detectors.modelfile`).

* :func:`check_output` refuses an existing output unless ``overwrite``.
* :func:`replace_path` moves a finished file or directory into place atomically, replacing
  the old one only once the new one is complete (readers never see a half-written output).
* :func:`staged_directory` is a directory to write an output into, put in place by
  :func:`replace_path` when complete and removed on failure.
* :func:`file_sha256` is the hex SHA-256 of a file's bytes (:func:`hashlib.file_digest`).

* :func:`check_disjoint` refuses an output that is, contains or lies inside one of the
  stage's inputs, so that replacing the output can never delete an input.
* :func:`output_lock` makes one process at a time the writer of an output: a lock file
  ``<output>.lock`` beside it records the owner's pid, host and start time. A lock whose
  process is gone (same host) is *stale*: it is reported and broken, so that rerunning a
  killed command resumes it. A lock from another host (a shared filesystem), or one that
  cannot be read, cannot be checked: it is broken only with ``overwrite=True``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import inspect
import json
import logging
import os
import shutil
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from geogan.errors import OutputExistsError
from geogan.urls import is_url


log = logging.getLogger(__name__)


def check_output(path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Refuse to replace an existing output unless ``overwrite``; return it as a Path.

    >>> check_output("/nonexistent/out.zarr", overwrite=False)
    PosixPath('/nonexistent/out.zarr')
    >>> check_output("/", overwrite=False)
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: / exists; pass --overwrite to replace it
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it", path=None)
    return path


def check_only_ours(path: str | os.PathLike, ours: Iterable[str], *, what: str = "output") -> None:
    """Refuse to replace the directory ``path`` when it holds an entry geogan does not write
    there (``ours``: the names it does write): ``--overwrite`` replaces geogan's outputs, never
    what a user keeps beside them (a ``thesis.txt``, a ``photos/`` folder).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "index.html").write_text("old report"); (d / "notes.txt").write_text("mine")
    10
    4
    >>> check_only_ours(d, {"index.html"}, what="report directory")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: ...: report directory holds notes.txt, which geogan did not write; ...
    """
    p = Path(path)
    if p.is_symlink() or not p.is_dir():
        return
    ours = set(ours)
    foreign = sorted(e.name for e in p.iterdir() if e.name not in ours)
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise OutputExistsError(f"{what} holds {foreign[0]}{more}, which geogan did not write; --overwrite replaces "
                                f"only geogan's own outputs: move it elsewhere first", path=p)


def replace_path(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Move a finished ``src`` (file or directory) to ``dst``, replacing ``dst`` only then.

    The old ``dst`` is first renamed aside, then ``src`` renamed into place, then the old one
    deleted: at every moment ``dst`` is either the complete old or the complete new output.
    """
    src, dst = Path(src), Path(dst)
    old = None
    if dst.exists():
        old = dst.with_name(f"{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:  # a file, or a link (to a directory too): the link goes, never its target
            old.unlink()


@contextmanager
def staged_directory(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh directory beside ``path`` to write into; when the block ends without error it
    replaces ``path`` atomically (:func:`replace_path`), otherwise it is removed, so ``path``
    is never half written.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "model"
    >>> with staged_directory(out) as tmp:
    ...     _ = (tmp / "config.json").write_text("{}")
    >>> sorted(p.name for p in out.iterdir())
    ['config.json']
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        replace_path(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.txt"; _ = f.write_bytes(b"abc")
    >>> file_sha256(f)[:16]
    'ba7816bf8f01cfea'
    """
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _resolved(p) -> Path | None:
    """The real local path of ``p`` (symlinks and ``..`` resolved; a ``file://`` URL is a local
    path too); None for ``None`` and remote URLs."""
    if p is None:
        return None
    if is_url(p):
        from urllib.parse import unquote, urlsplit
        from urllib.request import url2pathname

        parts = urlsplit(p)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            return None
        p = url2pathname(unquote(parts.path))
    return Path(p).expanduser().resolve()


def check_disjoint(outputs: Iterable, inputs: Iterable, *, what: str = "output") -> None:
    """Refuse when an output path equals, contains or lies inside an input path.

    Remote URLs and ``None`` entries are ignored (remote inputs cannot be deleted by a local
    write); ``file://`` URLs are compared as the local paths they name.

    >>> check_disjoint(["/tmp/out"], ["/tmp/survey.csv"])
    >>> check_disjoint(["/tmp"], ["/tmp/survey.csv"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: /tmp: output contains the input /tmp/survey.csv; ...
    """
    ins = [(raw, _resolved(raw)) for raw in inputs]
    for out_raw in outputs:
        out = _resolved(out_raw)
        if out is None:
            continue
        for in_raw, inp in ins:
            if inp is None:
                continue
            if out == inp:
                how = "is the input"
            elif out in inp.parents:
                how = "contains the input"
            elif inp in out.parents:
                how = "lies inside the input"
            else:
                continue
            raise OutputExistsError(f"{what} {how} {in_raw}; writing it could destroy the input: choose a "
                                    f"path for the {what} apart from the inputs", path=out_raw)


def lock_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".lock")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _read_lock(path: Path) -> dict:
    """A lock file's JSON; ``{}`` for anything else (a FIFO or a device is never opened: reading
    one would block)."""
    try:
        if not path.is_file() or path.stat().st_size > 65536:
            return {}
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


@contextmanager
def output_lock(output: str | os.PathLike, *, overwrite: bool = False, lock: Path | None = None) -> Iterator[Path]:
    """Hold the writer's lock on ``output`` for the duration of the block.

    Raises :class:`OutputExistsError` when another live process of this host holds it, or
    when another host's lock is found and ``overwrite`` is false. Local paths only; a URL
    output is not locked.
    """
    if is_url(output):
        yield None
        return
    lock = Path(lock) if lock is not None else lock_path(output)
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = _read_lock(lock)
            pid, host = held.get("pid"), held.get("host")
            owner = (f"pid {pid} on {host or 'an unknown host'}" + (f" since {held['since']}" if held.get("since") else "")
                     if held else "something that is not a geogan lock")
            local = host == me["host"] and isinstance(pid, int)
            if local and pid != me["pid"] and _pid_alive(pid):
                raise OutputExistsError(f"another geogan process ({owner}) is writing {output}; wait for it to "
                                        f"finish (if it is not a geogan process, remove {lock})", path=None) from None
            if local and pid == me["pid"]:
                raise OutputExistsError(f"this process is already writing {output} (lock {lock})") from None
            if not local and not overwrite:  # another host's (or an unreadable) lock cannot be checked from here
                raise OutputExistsError(f"{lock} is held by {owner}; if no geogan process is writing {output}, "
                                        f"pass --overwrite to break the lock", path=None) from None
            log.info(f"breaking the {'stale ' if local else ''}lock {lock} left by {owner}"
                     + (" (no longer running)" if local else ""))
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    try:
        yield lock
    finally:
        if _read_lock(lock) == me:
            lock.unlink(missing_ok=True)


def holds_output_lock(param: str):
    """Decorate a stage so that it runs holding :func:`output_lock` on its argument ``param``.

    The stage's own ``overwrite`` argument breaks a stale lock (reported on the ``geogan``
    logger).
    """

    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            a = bound.arguments
            with output_lock(a[param], overwrite=bool(a.get("overwrite"))):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
