"""Resumable staging of a store: where it is built, which tiles are done, and finalisation.

A store is built in a staging folder ``<name>.partial/`` beside its final path: the Zarr
store itself in ``store.zarr/``, and finished tiles recorded one marker file each in
``work/done/`` (chunk existence is not a marker: a chunk may be half-written when a process
dies). Only when every tile is done is ``store.zarr`` moved to the final name, so a store at
the final path is always complete.

What lives here: :func:`partial_path` and :class:`Staging`. What does not: the layout of a
store, its metadata and opening it (:mod:`geogan.stores.store`), the stages that fill it tile by
tile (:mod:`geogan.grid.stage`, :mod:`geogan.scoring.stage`, :mod:`geogan.grid.rasters`), atomic replacement and
output locks (:mod:`geogan.stores.files`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from geogan.stores.files import partial_path, replace_path
from geogan.stores.ownership import small_json, write_file
from geogan.errors import OutputExistsError
from geogan.stores.layout import finalize_metadata, now_iso
from geogan.stores.remote import Remote, is_remote, join, sibling


class Staging:
    """Where the store for ``final`` is built: ``<final>.partial/{store.zarr, work/}``.

    In object storage (:func:`~geogan.stores.remote.is_remote`), which has no rename, the store
    is built in place at ``final`` and committed by :meth:`finalize` (its root ``zarr.json``
    marked complete, the last write); ``<final>.partial/work/`` holds the rest as objects.
    Workers construct their own ``Staging(final)`` from the path or URL to write tiles and markers.
    """

    def __init__(self, final: str | os.PathLike):
        self.remote = is_remote(final)
        if self.remote:
            self.final = str(final).rstrip("/")
            self.root = sibling(self.final, ".partial")
            self.store = self.final
            self.work = join(self.root, "work")
            self._objects = Remote(self.root)
        else:
            self.final = Path(final)
            self.root = partial_path(self.final)
            self.store = self.root / "store.zarr"
            self.work = self.root / "work"
        self.done_dir = self.work_file("done")
        self.params_file = self.work_file("params.json")

    def work_file(self, name: str):
        """The path (or URL) of ``name`` in the work folder."""
        return join(self.work, name) if self.remote else self.work / name

    def write_work_file(self, name: str, data: bytes) -> None:
        """Write ``data`` as ``name`` in the work folder (one object in object storage)."""
        if self.remote:
            self._objects.write_bytes(f"work/{name}", data)
        else:
            write_file(self.work / name, data)

    def exists(self) -> bool:
        if self.remote:
            return self._objects.exists()
        return self.root.exists()

    def remove(self) -> None:
        """Delete the staging folder: only one geogan made (``work/`` or ``store.zarr`` in it),
        never a folder of the user's that happens to bear its name. In object storage, the
        unfinished store built in place goes with it (only when ``work/params.json`` says one is
        being built: without it, nothing at the final URL is touched)."""
        if self.remote:
            if not isinstance(self.params(), dict):
                if self._objects.exists():
                    raise OutputExistsError(f"{self.root} is not a geogan staging folder (no work/params.json in "
                                            f"it); geogan builds {self.final} there: move it away", path=None)
                return  # nothing staged: what stands at the final URL is not a store being built
            Remote(self.store).remove()
            self._objects.remove()
            return
        started = {e.name for e in self.root.iterdir()} <= {"work"} and (not self.work.is_dir() or all(
            e.name.startswith(".params.json.") for e in self.work.iterdir()))  # killed before params.json
        ours = started or isinstance(self.params(), dict) or isinstance(
            ((small_json(self.store / "zarr.json") or {}).get("attributes") or {}).get("geogan_kind"), str)
        if self.root.is_symlink() or not ours:
            raise OutputExistsError(f"{self.root} is not a geogan staging folder (no work/params.json in it); geogan "
                                    f"builds {self.final.name} there: move it away", path=None)
        shutil.rmtree(self.root)

    def start(self, params: dict) -> None:
        """Begin a fresh build (the store must be created next). In object storage, whatever
        stands at the final URL goes first (:func:`~geogan.stores.files.check_output` has
        refused it unless it is geogan's to replace)."""
        text = json.dumps(params, sort_keys=True, default=str)
        if self.remote:
            self._objects.write_bytes("work/params.json", text.encode())  # first: marks the prefix geogan's
            Remote(self.store).remove()
            return
        self.work.mkdir(parents=True, exist_ok=True)
        write_file(self.params_file, text)  # first: marks the folder geogan's
        self.done_dir.mkdir(exist_ok=True)

    def params(self) -> dict | None:
        return self._objects.read_json("work/params.json") if self.remote else small_json(self.params_file)

    def mark_created(self) -> None:
        """Record that the staged store is complete in its metadata and coordinates (written
        after creating it: a writer killed while creating it leaves a store not to resume)."""
        if self.remote:
            self._objects.write_bytes("work/created", b"")
        else:
            (self.work / "created").touch()

    def created(self) -> bool:
        return self._objects.isfile("work/created") if self.remote else (self.work / "created").is_file()

    def mark(self, i: int, j: int) -> None:
        # written last, after the tile's chunks: a marker means the tile is complete
        if self.remote:
            self._objects.write_bytes(f"work/done/{i}_{j}", b"")
        else:
            (self.done_dir / f"{i}_{j}").touch()

    def done(self) -> set[tuple[int, int]]:
        if self.remote:
            names = [n.rpartition("/")[2] for n in self._objects.names("work/done")]
        else:
            names = [p.name for p in self.done_dir.iterdir()] if self.done_dir.exists() else []
        out = set()
        for name in names:
            i, _, j = name.partition("_")
            if i.isdigit() and j.isdigit():  # anything else is not a marker of ours: ignored
                out.add((int(i), int(j)))
        return out

    def finalize(self, *, extra_attrs: dict | None = None) -> Path | str:
        """Mark the finished store complete and move it to its final path.

        The metadata is made portable first (:func:`~geogan.stores.layout.finalize_metadata`): nested
        attributes as JSON strings, ``geogan_version``, consolidated metadata. Temporary chunk
        files of writes a killed worker left unfinished (Zarr writes ``<chunk>.<id>.partial``
        and renames it) are removed: their tiles were rewritten when the run resumed. In object
        storage (one PUT per chunk, nothing torn), writing the metadata is the commit, and the
        work objects go after it."""
        attrs = dict(extra_attrs or {})
        attrs.update(complete=True, created=now_iso())
        if self.remote:
            finalize_metadata(self.store, attrs)
            self._objects.remove()
            return self.final
        for torn in self.store.rglob("*.partial"):
            if torn.is_file():
                torn.unlink()
        finalize_metadata(self.store, attrs)
        replace_path(self.store, self.final)
        shutil.rmtree(self.root)
        return self.final


__all__ = ["Staging", "partial_path"]
