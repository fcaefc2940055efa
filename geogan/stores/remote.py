"""Outputs in object storage (``s3://``, ``gs://``, ``az://``, ``memory://``): the guarantees of
local outputs, on storage that has no rename.

A local output is staged beside its final path and renamed into place. Object stores cannot
rename a prefix, so there a store is written **in place**, under its final prefix, and
*committed* by its last write: the root ``zarr.json`` carrying ``complete: true``, one atomic
PUT. Readers refuse a store without it (:func:`geogan.stores.store.open_store`), so an output
appears complete or not at all. What a run needs to resume (its parameters, one marker per
finished tile, the samples the workers read) lives under ``<url>.partial/``, deleted after the
commit (:class:`geogan.stores.staging.Staging`).

One writer per output: :func:`geogan.stores.remotelock.remote_lock` creates the object ``<url>.lock`` with a
conditional put (``If-None-Match: *``; a second writer's put fails) and refreshes it while it
holds it. A lock is stale, and taken over, when its holder is known dead (same host, no such
process) or has not refreshed it for a while (a killed client on another machine). What geogan
wrote there, and so may replace: :mod:`geogan.stores.remoteowner`.

Credentials come from the backend's usual places (environment variables such as
``AWS_ACCESS_KEY_ID`` and ``AWS_ENDPOINT_URL``, ``~/.aws``, instance roles), on the client and
on every worker alike; geogan never takes them as arguments, so they never reach a log, a
report, provenance or ``run-state.json``. :func:`public_url` strips any ``user:secret@`` a URL
carries before it is recorded.

What does not live here: local outputs (:mod:`geogan.stores.files`), ownership markers of local
outputs (:mod:`geogan.stores.ownership`), reading inputs from URLs
(:mod:`geogan.stores.urls`).
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit, urlunsplit

from geogan.errors import StoreError
from geogan.stores.urls import filesystem, is_url

#: the protocols of the local filesystem: their URLs are local paths, staged and renamed
LOCAL_PROTOCOLS = ("file", "local")


def is_remote(path) -> bool:
    """True for an fsspec URL outside the local filesystem (``s3://``, ``memory://``, ...);
    False for local paths and ``file://`` URLs.

    >>> is_remote("s3://bucket/grid.zarr"), is_remote("file:///tmp/grid.zarr"), is_remote("grid.zarr")
    (True, False, False)
    """
    return is_url(path) and urlsplit(str(path)).scheme.lower() not in LOCAL_PROTOCOLS


def public_url(url: str) -> str:
    """``url`` without a ``user:password@`` part, as it may be recorded and shown.

    >>> public_url("s3://key:secret@bucket/grid.zarr")
    's3://bucket/grid.zarr'
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def join(url: str, *names: str) -> str:
    """``url`` with ``names`` appended as path segments.

    >>> join("s3://bucket/out/", "grid.zarr", "zarr.json")
    's3://bucket/out/grid.zarr/zarr.json'
    """
    return "/".join([str(url).rstrip("/"), *(n.strip("/") for n in names)])


def sibling(url: str, suffix: str) -> str:
    """The URL of ``<url><suffix>`` (``.partial``, ``.lock``): beside the output, not inside it."""
    return str(url).rstrip("/") + suffix


class Remote:
    """An output location in object storage: its filesystem and key, with the few operations
    geogan's stages need. Listings are never served from fsspec's cache (Zarr writes through
    another filesystem instance, whose writes the cache would not see)."""

    def __init__(self, url: str):
        self.url = str(url).rstrip("/")
        self.fs, self.key = filesystem(self.url)
        self.key = self.key.rstrip("/")

    def _path(self, rel: str = "") -> str:
        return f"{self.key}/{rel.strip('/')}" if rel else self.key

    def exists(self, rel: str = "") -> bool:
        """Whether an object, or objects under a prefix, exist at ``rel``."""
        self.fs.invalidate_cache()
        try:
            return bool(self.fs.exists(self._path(rel)))
        except OSError as exc:
            raise StoreError(f"cannot reach it ({exc})", path=self.url) from None

    def isfile(self, rel: str) -> bool:
        self.fs.invalidate_cache()
        return bool(self.fs.isfile(self._path(rel)))

    def read_bytes(self, rel: str, limit: int = 1 << 20) -> bytes | None:
        """The object at ``rel`` (None when absent; :class:`StoreError` beyond ``limit`` bytes)."""
        try:
            size = self.fs.size(self._path(rel))
            if size is not None and size > limit:
                raise StoreError(f"{rel} is {size:,} bytes, more than geogan writes there", path=self.url)
            return self.fs.cat_file(self._path(rel))
        except FileNotFoundError:
            return None

    def read_json(self, rel: str):
        """The JSON object at ``rel``; None when absent or not JSON."""
        raw = self.read_bytes(rel)
        try:
            return None if raw is None else json.loads(raw.decode())
        except ValueError:
            return None

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write one object (a single PUT: readers see the old or the new one, never a part)."""
        self.fs.pipe_file(self._path(rel), data)

    def create(self, rel: str, data: bytes) -> bool:
        """Write ``data`` at ``rel`` only if nothing is there; False when something is.

        A conditional put where the backend has one (S3's ``If-None-Match``); elsewhere
        (``memory://``, tests in one process) a check then a put."""
        path = self._path(rel)
        try:
            self.fs.pipe_file(path, data, mode="create")
            return True
        except FileExistsError:
            return False
        except TypeError:  # a backend without exclusive writes
            self.fs.invalidate_cache()
            if self.fs.exists(path):
                return False
            self.fs.pipe_file(path, data)
            return True

    def names(self, rel: str = "") -> list[str]:
        """Every object below ``rel``, as keys relative to this location (sorted)."""
        self.fs.invalidate_cache()
        root = self._path(rel)
        try:
            found = self.fs.find(root)
        except FileNotFoundError:
            return []
        return sorted(p[len(self.key) + 1:] for p in found if p.startswith(self.key + "/"))

    def remove(self, rel: str = "") -> None:
        """Delete the object or every object under ``rel`` (nothing there: nothing to do)."""
        path = self._path(rel)
        self.fs.invalidate_cache()
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
        self.fs.invalidate_cache()


def upload_tree(local: str | os.PathLike, url: str, *, last: tuple[str, ...] = (),
                first: dict[str, bytes] | None = None) -> str:
    """Copy the finished local file or folder ``local`` to ``url``: the ``first`` objects
    (name → bytes: the ownership marker, so that an upload cut short is still geogan's to
    replace on a rerun), every file, then the ``last`` ones (relative names) in their order: the
    object readers require (a model's ``config.json``, a folder's marker) is written last, so
    the output is whole once it is there. Whatever stood at ``url`` is deleted first (checked
    by the caller). Returns ``url``."""
    from pathlib import Path

    local = Path(local)
    loc = Remote(url)
    loc.remove()
    for name, data in (first or {}).items():
        loc.write_bytes(name, data)
    if local.is_file():
        loc.fs.put_file(str(local), loc.key)
        return url
    files = sorted(p for p in local.rglob("*") if p.is_file())
    late = [local / name for name in last]
    for p in [f for f in files if f not in late] + [p for p in late if p.is_file()]:
        loc.fs.put_file(str(p), f"{loc.key}/{p.relative_to(local).as_posix()}")
    loc.fs.invalidate_cache()
    return url


__all__ = ["LOCAL_PROTOCOLS", "Remote", "is_remote", "join", "public_url", "sibling", "upload_tree"]
