"""Where a pipeline writes: a local folder (a :class:`~pathlib.Path`) or a prefix in object
storage (an fsspec URL such as ``s3://bucket/run``, kept as its string).

Every output of a run is named with :func:`child` (``out / name`` for a folder, a URL join for
object storage), checked with :func:`exists` and shown with :func:`shown` (a URL without any
``user:secret@`` part), so the stages never branch on the kind of output themselves.

In object storage, the run's lock is the object ``<output>/run.lock``, created with a
conditional put (:func:`geogan.stores.remotelock.remote_lock`), as ``<output>/run.lock`` is
the lock file of a local run; a synthetic survey is written to a local temporary folder and
uploaded (:func:`write_synth`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from geogan.errors import ConfigError, StoreError
from geogan.stores.files import output_lock
from geogan.stores.remote import Remote, is_remote, join, public_url, upload_tree
from geogan.stores.remotelock import remote_lock
from geogan.stores.urls import is_url

#: a pipeline's output folder: a local path, or an object-storage URL (a string)
Output = Path | str


def output_location(text: str, base: Path) -> Output:
    """The ``[output] dir`` of a spec: an object-storage URL as it is (no trailing ``/``), a
    ``file://`` URL as the local path it names, a path resolved from ``base``.

    >>> output_location("s3://bucket/run/", Path("/specs"))
    's3://bucket/run'
    >>> output_location("file:///data/run", Path("/specs")), output_location("run", Path("/specs"))
    (PosixPath('/data/run'), PosixPath('/specs/run'))
    """
    if is_remote(text):
        parts = urlsplit(text)
        if not parts.netloc and not parts.path.strip("/"):
            raise ConfigError(f"[output] dir {public_url(text)} names no bucket or folder")
        return text.rstrip("/")
    if is_url(text):  # file://
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"[output] dir {text}: a file:// URL names a local folder (file:///path)")
        text = url2pathname(unquote(parts.path))
    return (base / text).resolve()


def child(out: Output, *names: str) -> Output:
    """``out`` with ``names`` appended: a path below a local folder, a URL below a prefix.

    >>> child(Path("/data/run"), "models", "a"), child("s3://bucket/run", "models", "a")
    (PosixPath('/data/run/models/a'), 's3://bucket/run/models/a')
    """
    return out.joinpath(*names) if isinstance(out, Path) else join(out, *names)


def shown(path) -> str:
    """``path`` as logged and reported: a URL without any ``user:secret@`` part."""
    return public_url(path) if is_url(path) else str(path)


def exists(path: Output) -> bool:
    """Whether a local path, or an object or objects under a URL's prefix, exist."""
    return path.exists() if isinstance(path, Path) else Remote(path).exists()


def read_json(folder: Output, name: str):
    """The JSON in ``folder``'s file ``name``; None when absent or unreadable."""
    if not isinstance(folder, Path):
        return Remote(folder).read_json(name)
    try:
        return json.loads((folder / name).read_text())
    except (OSError, ValueError):
        return None


def check_output_dir(out: Output, spec_path: Path) -> None:
    """Refuse an ``[output] dir`` that is a file (an object, in object storage)."""
    if isinstance(out, Path):
        if out.exists() and not out.is_dir():
            raise ConfigError(f"[output] dir {out} is a file, not a directory", path=spec_path)
        return
    loc = Remote(out)
    try:
        is_object = loc.fs.isfile(loc.key)
    except OSError as exc:  # DNS, network, permissions
        raise ConfigError(f"cannot reach the [output] dir {shown(out)} ({exc})", path=spec_path) from None
    if is_object:
        raise ConfigError(f"[output] dir {shown(out)} is an object, not a folder (a prefix)", path=spec_path)


@contextmanager
def run_lock(out: Output) -> Iterator[object]:
    """Hold the run's lock on ``out`` for the block: the lock file ``<out>/run.lock``, or in
    object storage the lock object ``<out>/run.lock``; neither lies in an output a stage
    replaces. A local ``out`` is created first."""
    if isinstance(out, Path):
        out.mkdir(parents=True, exist_ok=True)
        with output_lock(out, lock=out / "run.lock") as held:
            yield held
        return
    with remote_lock(join(out, "run")) as held:  # the object <out>/run.lock
        yield held


def write_synth(synth_dir: Output, preset: str, *, seed, samples, elements, fmt, progress: bool) -> None:
    """Write a synthetic survey to ``synth_dir``, replacing what is there (checked by the
    caller). In object storage it is written to a local temporary folder and uploaded: its
    marker first (an interrupted upload is geogan's, replaced by the rerun), ``truth.json``
    last (what :func:`synth_files` reads)."""
    from geogan.synth import write_synthetic_survey

    def write(where):
        write_synthetic_survey(where, preset, n_samples=samples, elements=elements, seed=seed, fmt=fmt,
                               overwrite=True, progress=progress)

    if isinstance(synth_dir, Path):
        write(synth_dir)
        return
    with tempfile.TemporaryDirectory(prefix="geogan-synth-") as tmp:
        local = Path(tmp) / "survey"
        write(local)
        upload_tree(local, synth_dir, last=("truth.json",))


def synth_files(synth_dir: Output) -> tuple[str, Output, str]:
    """A synthetic survey's CRS, survey table and deposits file (written by :func:`write_synth`)."""
    if isinstance(synth_dir, Path):
        crs = json.loads((synth_dir / "truth.json").read_text())["crs"]
        return crs, next(p for p in synth_dir.iterdir() if p.stem == "survey"), str(synth_dir / "deposits.csv")
    truth = Remote(synth_dir).read_json("truth.json")
    table = [n for n in Remote(synth_dir).names() if os.path.splitext(n)[0] == "survey"]
    if not isinstance(truth, dict) or "crs" not in truth or not table:
        raise StoreError("the synthetic survey is incomplete (no truth.json or survey table); rerun with --force",
                         path=shown(synth_dir))
    return truth["crs"], join(synth_dir, table[0]), join(synth_dir, "deposits.csv")


__all__ = ["Output", "check_output_dir", "child", "exists", "output_location", "read_json", "run_lock", "shown",
           "synth_files", "write_synth"]
