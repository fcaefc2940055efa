"""Ownership of outputs: what geogan wrote, so that ``--overwrite`` replaces only that.

Every output carries geogan's marker: a grid or score store its ``geogan_kind`` attribute, a
model directory its ``config.json`` (``"format": "geogan-model"``), a GeoTIFF its
``geogan_version`` tag, and a folder of several files (a synthetic survey, a report, a score
directory) a :data:`MARKER` file listing what geogan wrote there. :func:`ownership` reads
them; :func:`check_replaceable` refuses an output without one, of another kind, or holding
(at any depth) an entry geogan did not write. :func:`write_marker` and :func:`write_file`
write small files through a fresh temporary file renamed into place, never through a link
or a FIFO standing at the path.

What does not live here: where and how a stage writes (:mod:`geogan.stores.files`: output checks,
atomic replacement, locks).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from geogan._version import __version__
from geogan.errors import OutputExistsError
from geogan.stores.remote import Remote, is_remote

#: the marker file geogan writes into each output directory it makes of several files (a
#: synthetic survey, a report, a score directory): JSON with the kind and the entries geogan
#: wrote there. Stores carry their own marker (the ``geogan_kind`` attribute), and so does a
#: model directory (``config.json``'s ``format``).
MARKER = ".geogan"

#: what a model directory holds (:mod:`geogan.training.stage`): anything else in one is the user's
MODEL_ENTRIES = ("config.json", "history.csv", "arrays.npz", "weights", "members", "checkpoints")
# a model directory's files and folders, relative to it: an ensemble's members are models too
_ONE_MODEL = r"(config\.json|history\.csv|arrays\.npz|weights/[^/]+\.weights\.h5)"
_CHECKPOINT = r"checkpoints/(member_\d+/)?epoch_\d+/(state\.npz|checkpoint\.json)"
_MODEL_FILE = re.compile(rf"{_ONE_MODEL}|members/\d+/{_ONE_MODEL}|members/\d+\.history\.json|{_CHECKPOINT}|run\.json")
_MODEL_DIR = re.compile(r"weights|members|members/\d+|members/\d+/weights|checkpoints|checkpoints/member_\d+|"
                        r"checkpoints/(member_\d+/)?epoch_\d+")


def is_model_entry(rel: str, *, directory: bool = False) -> bool:
    """Whether ``rel`` (relative to a model directory, ``/``-separated) is a file (or, with
    ``directory``, a folder) that geogan writes in a model directory."""
    return bool((_MODEL_DIR if directory else _MODEL_FILE).fullmatch(rel))


def marker_text(kind: str, entries: Iterable[str]) -> str:
    """The :data:`MARKER` of a ``kind`` output whose entries geogan wrote are ``entries``."""
    data = {"kind": kind, "geogan_version": __version__, "entries": sorted(set(entries))}
    return json.dumps(data, indent=1) + "\n"


def write_marker(directory: str | os.PathLike, kind: str, entries: Iterable[str]) -> None:
    """Mark ``directory`` as geogan's ``kind`` output whose entries ``entries`` geogan wrote
    (added to those an earlier marker lists). In object storage (a URL), the marker object
    ``<url>/.geogan``, written in one PUT."""
    before = read_marker(directory) or {}
    listed = set(before.get("entries") or []) if before.get("kind") == kind else set()
    text = marker_text(kind, listed | set(entries))
    if is_remote(directory):
        Remote(str(directory)).write_bytes(MARKER, text.encode())
    else:
        write_file(Path(directory) / MARKER, text)


def write_file(path: str | os.PathLike, text: str | bytes) -> None:
    """Write ``text`` (or bytes) to ``path`` through a new temporary file renamed over it: never
    through a link, a hard link or a FIFO that stands at ``path`` (the rename replaces the entry)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        with (os.fdopen(fd, "wb") if isinstance(text, bytes) else os.fdopen(fd, "w", encoding="utf-8")) as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def small_json(path: Path, limit: int = 64 << 20) -> dict | None:
    """``path``'s JSON object, or None for anything else (never opening a FIFO or a device)."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > limit:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_marker(directory: str | os.PathLike) -> dict | None:
    """The marker of a directory geogan wrote (see :data:`MARKER`); None when it has none.
    ``directory`` may be an object-storage URL (the marker object under that prefix)."""
    data = Remote(str(directory)).read_json(MARKER) if is_remote(directory) else small_json(Path(directory) / MARKER)
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str) or \
            not isinstance(data.get("entries", []), list):
        return None
    return data


def geotiff_is_ours(p: Path) -> bool:
    try:
        import rasterio

        with rasterio.open(p) as src:
            return "geogan_version" in src.tags()
    except Exception:  # not a GeoTIFF rasterio can read: not geogan's
        return False


def ownership(path: str | os.PathLike) -> tuple[str, frozenset[str] | None] | None:
    """What geogan output ``path`` is, and the entries geogan writes in it; None if it is not
    one of geogan's outputs.

    Returns ``(kind, entries)``. A directory is geogan's by its own marker only: a
    :data:`MARKER` file (``entries``: the names it lists, a folder's with a trailing ``/``), a
    store's ``geogan_kind`` attribute (``entries`` None), a model's ``config.json``. A file is
    geogan's (``("file", None)``) when the marker of its folder lists its name; a GeoTIFF
    carries its own marker instead, its ``geogan_version`` tag, as a store does (a map written
    on its own is geogan's wherever it lies; a user's map copied over geogan's is not). An
    empty directory is ``("empty", frozenset())``: nothing to lose.
    """
    p = Path(path)
    if p.is_dir():
        marker = read_marker(p)
        if marker is not None:
            return marker["kind"], frozenset([*marker.get("entries", []), MARKER])
        kind = ((small_json(p / "zarr.json") or {}).get("attributes") or {}).get("geogan_kind")
        if isinstance(kind, str):
            return kind, None
        if (small_json(p / "config.json") or {}).get("format") == "geogan-model":
            return "model", frozenset(MODEL_ENTRIES)
        if not any(p.iterdir()):
            return "empty", frozenset()
        return None
    if not p.is_file():
        return None
    if p.suffix.lower() in (".tif", ".tiff"):
        return ("file", None) if geotiff_is_ours(p) else None
    listed = p.name in ((read_marker(p.parent) or {}).get("entries") or [])
    return ("file", None) if listed else None


def foreign_entry(p: Path, kind: str, entries: frozenset[str] | None) -> str | None:
    """The first entry inside the geogan output ``p`` (at any depth) that geogan did not
    write there, as a path relative to ``p``; None when there is none."""
    if kind == "model":  # the files train writes (geogan.training.stage's layout), by name
        for f in sorted(p.rglob("*")):
            rel = f.relative_to(p).as_posix()
            if f.is_symlink() or not is_model_entry(rel, directory=f.is_dir()):
                return rel
        return None
    if entries is None:  # a store: zarr.json at every level; chunks c/<digits>/... in each array
        for f in sorted(p.rglob("*")):
            parts = f.relative_to(p).parts
            if f.is_symlink():
                return "/".join(parts)
            if f.is_dir() or parts[-1] == "zarr.json":
                continue
            i = parts.index("c") if "c" in parts else -1
            if i < 0 or not (p.joinpath(*parts[:i]) / "zarr.json").is_file() or \
                    not all(part.isdigit() for part in parts[i + 1:]):
                return "/".join(parts)
        return None
    for e in p.iterdir():
        if e.name in entries and not e.is_dir():
            if e.suffix.lower() in (".tif", ".tiff") and not geotiff_is_ours(e):
                return e.name
            continue
        if f"{e.name}/" in entries and e.is_dir() and not e.is_symlink():
            inner = ownership(e)
            if inner is None:
                return e.name
            deeper = foreign_entry(e, *inner) if inner[0] != "empty" else None
            if deeper is not None:
                return f"{e.name}/{deeper}"
            continue
        return e.name
    return None


def check_replaceable(path: str | os.PathLike, *, what: str = "output", kind: str | None = None) -> None:
    """Refuse (:class:`OutputExistsError`) to replace ``path`` unless geogan wrote it.

    ``--overwrite`` replaces geogan's own outputs only (see :func:`ownership`): anything
    without geogan's marker is refused, and so is a geogan output holding, at any depth, an
    entry geogan did not write there (a ``thesis.txt``, a ``photos/`` folder, notes inside a
    store's array). With ``kind``, an output of another kind is refused too (``grid --out``
    never replaces a model). A path that does not exist, and an empty folder, are fine.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "thesis.txt").write_text("mine")
    >>> check_replaceable(d, what="model directory")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: ...: model directory exists and geogan did not write it ...
    """
    p = Path(path)
    if not os.path.lexists(p):
        return
    owned = ownership(p)
    if owned is None:
        raise OutputExistsError(f"{what} exists and geogan did not write it (it carries no geogan marker); "
                                f"--overwrite replaces only geogan's own outputs: move it away or choose another "
                                f"path", path=p)
    found, entries = owned
    if found == "empty":
        return
    if kind is not None and found != kind:
        raise OutputExistsError(f"{what} exists and is a geogan {found} output, not a {kind} one; --overwrite "
                                f"replaces an output with one of its kind: choose another path", path=p)
    if p.is_dir() and not p.is_symlink():
        foreign = foreign_entry(p, found, entries)
        if foreign is not None:
            raise OutputExistsError(f"{what} holds {foreign}, which geogan did not write; --overwrite replaces only "
                                    f"geogan's own outputs: move it elsewhere first", path=p)


__all__ = ["MARKER", "MODEL_ENTRIES", "check_replaceable", "foreign_entry", "geotiff_is_ours", "is_model_entry", "marker_text",
           "ownership", "read_marker",
           "small_json", "write_file", "write_marker"]
