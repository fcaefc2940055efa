"""File-system utilities shared by every stage: output checks, atomic replace, digests, locks.

What lives here: rules about *where* and *how* a stage writes, used by ``grid``, ``train``,
``score``, ``import-rasters``, ``synth``, ``report`` and ``run`` alike, written once. What
does not: the formats written (see :mod:`geogan.stores.store`, :mod:`geogan.detectors.modelfile`).

* :func:`check_output` refuses an existing output unless ``overwrite``, and, even then, one
  that geogan did not write (:func:`geogan.stores.ownership.check_replaceable`).
* :func:`replace_path` moves a finished file or directory into place atomically, replacing
  the old one only once the new one is complete (readers never see a half-written output).
* :func:`staged_directory` is a directory to write an output into, put in place by
  :func:`replace_path` when complete and removed on failure.
* :func:`file_sha256` is the hex SHA-256 of a file's bytes (:func:`hashlib.file_digest`).

* :func:`check_disjoint` refuses an output that is, contains or lies inside one of the
  stage's inputs, so that replacing the output can never delete an input.
* :func:`output_lock` makes one process at a time the writer of an output: the kernel's
  ``flock`` on ``<output>.lock`` beside the output's resolved path, released by the kernel
  when the holder ends (a killed command's rerun simply takes it).
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
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from geogan.errors import OutputExistsError
from geogan.stores.ownership import check_replaceable
from geogan.stores.remote import is_remote, public_url
from geogan.stores.remotelock import remote_lock
from geogan.stores.remoteowner import check_remote_output
from geogan.stores.urls import is_url


log = logging.getLogger(__name__)


#: the longest file or folder name most filesystems take (bytes)
NAME_MAX = 255


def named(path: str | os.PathLike) -> Path:
    """``path`` as an output path: ``.`` and ``..`` made absolute so that it has a name of its
    own, refused (:class:`OutputExistsError`) when it has none (the filesystem root) or when a
    name in it is longer than a filesystem takes.

    >>> named("/")
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: / cannot be an output: name a file or folder to write
    """
    p = Path(path)
    if p.name in ("", ".", ".."):
        p = Path(os.path.abspath(p))
        if not p.name:
            raise OutputExistsError(f"{path} cannot be an output: name a file or folder to write", path=None)
    long = next((part for part in p.parts if len(os.fsencode(part)) > NAME_MAX), None)
    if long is not None:
        raise OutputExistsError(f"{str(path)[:80]}…: the name {long[:40]}… is {len(os.fsencode(long))} bytes long; "
                                f"filesystems take at most {NAME_MAX}", path=None)
    return p


def partial_path(path: str | os.PathLike) -> Path:
    """The staging folder of the output ``path``: ``<path>.partial`` beside it.

    >>> partial_path("out/grid.zarr").as_posix()
    'out/grid.zarr.partial'
    """
    path = named(path)
    return path.with_name(path.name + ".partial")


def check_output(path: str | os.PathLike, *, overwrite: bool, what: str = "output",
                 kind: str | None = None) -> Path | str:
    """Refuse to replace an existing output unless ``overwrite``, and even then unless geogan
    wrote it (:func:`check_replaceable`); return it as a Path (an object-storage URL: as the
    URL string, checked by :func:`geogan.stores.remote.check_remote_output`).

    >>> check_output("/nonexistent/out.zarr", overwrite=False)
    PosixPath('/nonexistent/out.zarr')
    >>> check_output("/tmp", overwrite=False)
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: /tmp exists; pass --overwrite to replace it
    """
    if is_remote(path):
        return check_remote_output(str(path), overwrite=overwrite, what=what, kind=kind)
    if Path(path).name in (".", "..") or str(path).rstrip("/") in (".", ".."):
        raise OutputExistsError(f"--out {path}: name the output itself (e.g. out/grid.zarr), not a folder you "
                                f"are in", path=None)
    path = named(path)
    if os.path.lexists(path):
        if not overwrite:
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it", path=None)
        check_replaceable(path, what=what, kind=kind)
    return path


def replace_path(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Move a finished ``src`` (file or directory) to ``dst``, replacing ``dst`` only then.

    The old ``dst`` is first renamed aside, then ``src`` renamed into place, then the old one
    deleted: at every moment ``dst`` is either the complete old or the complete new output.
    """
    src, dst = Path(src), Path(dst)
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
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
    return Path(p).resolve()  # no ~ expansion: the shell does it, and a folder may be named "~"


def _compared(p) -> tuple[str, PurePosixPath] | None:
    """``p`` as ``(space, path)`` for :func:`check_disjoint`: a local path resolved (a
    ``file://`` URL too), an object-storage URL as its protocol and bucket and its key (a
    ``user:secret@`` part left out)."""
    if p is None:
        return None
    if is_remote(p):
        from urllib.parse import urlsplit

        parts = urlsplit(str(p))
        return f"{parts.scheme.lower()}://{parts.netloc.rpartition('@')[2]}", PurePosixPath("/" + parts.path.strip("/"))
    return "local", PurePosixPath(_resolved(p))


def check_disjoint(outputs: Iterable, inputs: Iterable, *, what: str = "output") -> None:
    """Refuse when an output path equals, contains or lies inside an input path.

    ``None`` entries are ignored; ``file://`` URLs are compared as the local paths they name,
    object-storage URLs by bucket and key (``s3://b/out`` contains ``s3://b/out/grid.zarr``);
    a local path and a URL never overlap.

    >>> check_disjoint(["/tmp/out"], ["/tmp/survey.csv"])
    >>> check_disjoint(["/tmp"], ["/tmp/survey.csv"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: /tmp: output contains the input /tmp/survey.csv; ...
    """
    ins = [(raw, _compared(raw)) for raw in inputs]
    for out_raw in outputs:
        compared = _compared(out_raw)
        if compared is None:
            continue
        space, out = compared
        for in_raw, found in ins:
            if found is None or found[0] != space:
                continue
            inp = found[1]
            if out == inp:
                how = "is the input"
            elif out in inp.parents:
                how = "contains the input"
            elif inp in out.parents:
                how = "lies inside the input"
            else:
                continue
            shown = [public_url(str(p)) if is_remote(p) else p for p in (out_raw, in_raw)]
            raise OutputExistsError(f"{what} {how} {shown[1]}; writing it could destroy the input: choose a "
                                    f"path for the {what} apart from the inputs", path=shown[0])


def lock_path(output: str | os.PathLike) -> Path:
    """The lock file of ``output``: ``<output>.lock`` beside the output's real path (symlinks
    and ``..`` resolved), so that two names of one output share one lock."""
    output = named(_resolved(output) or output)
    return output.with_name(output.name + ".lock")


#: the locks this process holds (resolved lock paths): a second lock on one of them is a bug
#: of the caller, reported as such rather than as "another process"
_HELD: set[Path] = set()


def _describe_owner(fd: int) -> str:
    """Who wrote the lock file open on ``fd`` (the JSON a holder writes into it), for messages."""
    try:
        raw = os.pread(fd, 4096, 0)
        held = json.loads(raw.decode())
    except (OSError, ValueError):
        held = None
    if not isinstance(held, dict):
        return "a process that left no details"
    pid, host, since = held.get("pid"), held.get("host"), held.get("since")
    who = [f"pid {pid}" if isinstance(pid, int) and not isinstance(pid, bool) else "",
           f"on {host}" if isinstance(host, str) and host else "",
           f"since {since}" if isinstance(since, str) and since else ""]
    return " ".join(w[:80] for w in who if w) or "a process that left no details"


def _open_lock(lock: Path) -> int:
    """Open (creating) the lock file without following a link or blocking on a FIFO."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC
    try:
        fd = os.open(lock, flags, 0o644)
    except OSError as exc:  # ELOOP: a symbolic link; EACCES, ENAMETOOLONG, ...
        raise OutputExistsError(f"cannot open the lock file {lock} ({exc.strerror}); it must be a plain file geogan "
                                f"can create: remove it if it is not a geogan lock", path=None) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OutputExistsError(f"{lock} is not a regular file, so not a geogan lock: remove it", path=None)
    if st.st_nlink > 1 or (st.st_size and not _is_lock_text(fd)):  # a file of the user's: never emptied
        os.close(fd)
        raise OutputExistsError(f"{lock} exists and is not a geogan lock; geogan locks its output there: move it "
                                f"away", path=None)
    return fd


def _is_lock_text(fd: int) -> bool:
    """Whether the file open on ``fd`` holds what a geogan lock holder writes (or nothing)."""
    try:
        raw = os.pread(fd, 4097, 0)
        data = json.loads(raw.decode()) if len(raw) <= 4096 else None
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and set(data) <= {"pid", "host", "since"} and "pid" in data


@contextmanager
def output_lock(output: str | os.PathLike, *, lock: str | os.PathLike | None = None) -> Iterator[Path | None]:
    """Hold the writer's lock on ``output`` for the duration of the block.

    The lock is the kernel's: an exclusive :func:`fcntl.flock` on ``<output>.lock``
    (:func:`lock_path`, keyed by the resolved path). The kernel grants it atomically to one
    process and releases it when that process ends, killed or not, so there is no stale lock
    to break and no race in breaking one. The holder writes its pid, host and start time into
    the file for the message another writer gets, and removes the file when done.

    Raises :class:`OutputExistsError` when another process holds it, or when this process
    already does. An object-storage output is locked by a lock object instead
    (:func:`geogan.stores.remote.remote_lock`).

    Why not the ``filelock`` package: its Unix lock is this same ``flock``, but it opens the
    path following links and FIFOs (a FIFO in place of the lock file would hang); these lines
    add ``O_NOFOLLOW``, the regular-file check, the inode re-check and the holder's details.
    """
    if is_remote(output):
        with remote_lock(str(output)) as held:
            yield held
        return
    import fcntl

    if lock is not None:  # its folder resolved, never the lock file itself (a link there is refused)
        lock = Path(lock)
        lock = _resolved(lock.parent) / lock.name
    else:
        lock = lock_path(output)
    if lock in _HELD:
        raise OutputExistsError(f"this process is already writing {output} (lock {lock})", path=None)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = _open_lock(lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _describe_owner(fd)
            os.close(fd)
            raise OutputExistsError(f"another geogan process ({owner}) is writing {output}; wait for it to finish",
                                    path=None) from None
        except OSError as exc:
            os.close(fd)
            raise OutputExistsError(f"cannot lock {lock} ({exc.strerror}): this filesystem does not support file "
                                    f"locks; write the output to a local disk", path=None) from None
        # the previous holder removes the file when done: if it did so between our open and our
        # flock, we hold a lock on a file nobody else will open; start again on the path's file
        try:
            current = os.stat(lock, follow_symlinks=False).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode(), 0)
    _HELD.add(lock)
    try:
        yield lock
    finally:
        _HELD.discard(lock)
        try:
            lock.unlink()  # while still holding it (see above)
        except FileNotFoundError:
            pass
        os.close(fd)


def holds_output_lock(param: str):
    """Decorate a stage so that it runs holding :func:`output_lock` on its argument ``param``.

    """

    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            a = bound.arguments
            with output_lock(a[param]):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
