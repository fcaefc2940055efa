"""Inputs named by fsspec URLs (``s3://``, ``gs://``, ``az://``, ``https://`` ...).

The survey table and the deposit file are read once, by the client: a URL is fetched to a
temporary local copy with fsspec, read as a local file, and the copy removed. Errors name
the URL, not the copy. Credentials come from the backend's usual places (environment,
``~/.aws``, instance roles); the backend package (``s3fs``, ``gcsfs``, ``adlfs``) must be
installed. Grid stores can be read from a URL too (:func:`geogan.stores.store.open_store`).

Outputs may be URLs in object storage as well (``s3://bucket/grid.zarr``): without a rename
there, a store is built in place and committed by its metadata, written last
(:mod:`geogan.stores.staging`); one writer at a time holds a lock object made by a conditional
put (:mod:`geogan.stores.remotelock`); ``--overwrite`` replaces only what geogan wrote
(:mod:`geogan.stores.remoteowner`); the objects themselves are :mod:`geogan.stores.remote`'s.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    except FileNotFoundError as exc:  # a chain's outer link missing (zip://a.csv::s3://b/none.zip)
        raise InputError(f"not found ({exc})", path=url) from None
    except OSError as exc:  # a backend that connects at once (ftp://, sftp://): DNS, network, login
        raise InputError(f"cannot reach it ({exc})", path=url) from None


@contextmanager
def local_copy(path: str | os.PathLike, *, what: str = "file") -> Iterator[Path]:
    """Yield a local path for ``path``: itself, or a temporary copy of a URL's object.

    The copy is fsspec's own whole-file cache (:class:`fsspec.implementations.cached.SimpleCacheFileSystem`,
    keeping the object's name) in a temporary directory removed when the block ends. A
    :class:`~geogan.errors.GeoganError` raised inside the block that names the copy is
    re-raised naming the URL.

    Parameters
    ----------
    path
        A local path (yielded as it is) or an fsspec URL, chained ones included
        (``zip://survey.csv::s3://bucket/surveys.zip``); credentials come from the backend's
        usual places.
    what
        What the object is, for messages (``"survey file"``).

    Returns
    -------
    contextlib.AbstractContextManager[pathlib.Path]
        The local path, valid inside the ``with`` block.

    Raises
    ------
    InputError
        The URL names no file (missing, a directory), its backend is not installed, or the
        object cannot be read (permissions, network); the message names the URL.

    Examples
    --------
    >>> import fsspec
    >>> fsspec.filesystem("memory").pipe("/geogan-doc/deposits.csv", b"x,y\\n1,2\\n")
    >>> with local_copy("memory://geogan-doc/deposits.csv") as local:
    ...     print(local.name, local.read_text().splitlines())
    deposits.csv ['x,y', '1,2']
    >>> local.exists()
    False
    >>> with local_copy("memory://geogan-doc/none.csv", what="deposit file"):
    ...     pass
    Traceback (most recent call last):
    geogan.errors.InputError: memory://geogan-doc/none.csv: deposit file not found
    """
    if not is_url(path):
        yield Path(path)
        return
    url = str(path)
    fs, remote = filesystem(url)
    with tempfile.TemporaryDirectory(prefix="geogan-fetch-") as cache:
        local = _fetch(fs, remote, cache, url=url, what=what)
        try:
            yield local
        except GeoganError as exc:
            if exc.path == str(local):
                exc.path = url
                exc.args = (exc.format(),)
            raise


def _fetch(fs, remote: str, cache: str, *, url: str, what: str) -> Path:
    """Copy ``remote`` of ``fs`` into the folder ``cache`` through fsspec's simple cache; its
    local path. Only a file is copied: a directory, or a FIFO or a device behind a
    ``file://`` URL (reading it could block), is refused first."""
    from fsspec.implementations.cached import SimpleCacheFileSystem

    try:
        if not fs.isfile(remote):
            raise InputError(f"{what} not found" if not fs.exists(remote) else
                             f"is not a {what} (a directory, a FIFO or a device)", path=url)
        cached = SimpleCacheFileSystem(fs=fs, cache_storage=cache, same_names=True, skip_instance_cache=True)
        with cached.open(remote, "rb") as f:
            return Path(f.name)
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=url) from None
    except OSError as exc:  # permissions, network
        raise InputError(f"cannot read the {what} ({exc})", path=url) from None
