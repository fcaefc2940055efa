"""Inputs named by fsspec URLs (``s3://``, ``gs://``, ``az://``, ``https://`` ...).

The survey table and the deposit file are read once, by the client: a URL is fetched to a
temporary local copy with fsspec, read as a local file, and the copy removed. Errors name
the URL, not the copy. Credentials come from the backend's usual places (environment,
``~/.aws``, instance roles); the backend package (``s3fs``, ``gcsfs``, ``adlfs``) must be
installed. Grid stores can be read from a URL too (:func:`geogan.stores.store.open_store`); outputs
need a filesystem path every worker sees (see README, "Running on a cluster").
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from geogan.errors import GeoganError, InputError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path) -> bool:
    """True for ``scheme://...`` strings (not for local paths, Windows drives included)."""
    return isinstance(path, str) and bool(_URL.match(path))


def filesystem(url: str):
    """``(fs, path)`` for ``url``; a missing backend or bad URL is an :class:`InputError`."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(f"cannot open this URL ({exc}); install the fsspec backend for its protocol "
                         f"(s3fs for s3://, gcsfs for gs://, adlfs for az://)", path=url) from None
    except OSError as exc:  # a backend that connects at once (ftp://, sftp://): DNS, network, login
        raise InputError(f"cannot reach it ({exc})", path=url) from None


@contextmanager
def local_copy(path: str | os.PathLike, *, what: str = "file") -> Iterator[Path]:
    """Yield a local path for ``path``: itself, or a temporary copy of a URL's object.

    A :class:`~geogan.errors.GeoganError` raised inside the block that names the copy is
    re-raised naming the URL.
    """
    if not is_url(path):
        yield Path(path)
        return
    url = str(path)
    fs, remote = filesystem(url)
    try:
        if not fs.isfile(remote):
            raise InputError(f"{what} not found", path=url)
    except (PermissionError, OSError) as exc:
        raise InputError(f"cannot read the {what} ({exc})", path=url) from None
    with tempfile.TemporaryDirectory(prefix="geogan-fetch-") as tmp:
        local = Path(tmp) / (PurePosixPath(remote).name or "download")
        try:
            fs.get_file(remote, str(local))
        except (PermissionError, OSError) as exc:
            raise InputError(f"cannot read the {what} ({exc})", path=url) from None
        try:
            yield local
        except GeoganError as exc:
            if exc.path == str(local):
                exc.path = url
                exc.args = (exc.format(),)
            raise
