"""Where a model directory is built and how it is put in place, for a local path and for an
object-storage URL alike.

A local model is built in ``<model_dir>.partial/`` beside it and renamed into place when
complete. Object storage has no rename: a model for ``s3://bucket/models/alad`` is built in a
local work folder named by the URL (``$GEOGAN_WORK_DIR``, default
``<temp dir>/geogan-<uid>/work``, then ``<sha256 of the URL>.partial``), so ``--resume``
after a crash continues it on the same machine, and uploaded when complete, its
``config.json`` last: loaders require that file, so the model appears whole or not at all.

What lives here: :func:`model_paths`, :func:`model_exists`, :func:`check_model_replaceable`,
:func:`publish_model`. What does not: the work folder's contents, checkpoints and resume
(:mod:`geogan.training.run`), the model files (:mod:`geogan.detectors.modelfile`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from geogan.detectors.modelfile import CONFIG_NAME, user_dir
from geogan.stores.files import partial_path, replace_path
from geogan.stores.ownership import MARKER, check_replaceable, marker_text
from geogan.stores.remote import Remote, is_remote, public_url, upload_tree
from geogan.stores.remoteowner import check_remote_replaceable
from geogan.stores.urls import filesystem, is_url

#: the folder of the local work folders of models trained for object storage
WORK_ENV = "GEOGAN_WORK_DIR"


def model_paths(out_dir: str | os.PathLike) -> tuple[Path | str, Path]:
    """``(final, work)``: the model directory (a Path; an object-storage URL as a string) and
    the local work folder it is built in.

    >>> final, work = model_paths("out/model")
    >>> final.as_posix(), work.as_posix()
    ('out/model', 'out/model.partial')
    >>> final, work = model_paths("s3://bucket/models/alad/")
    >>> final, work.name.endswith(".partial"), work.parent.name
    ('s3://bucket/models/alad', True, 'work')
    """
    if is_remote(out_dir):
        url = str(out_dir).rstrip("/")
        key = hashlib.sha256(public_url(url).encode()).hexdigest()[:16]
        return url, user_dir(WORK_ENV, "work") / f"{key}.partial"
    if is_url(out_dir):  # file://: the path it names
        out_dir = filesystem(str(out_dir))[1]
    final = Path(out_dir)
    return final, partial_path(final)


def model_exists(final: Path | str) -> bool:
    """Whether anything stands at ``final`` (an object under an object-storage URL)."""
    return Remote(final).exists() if is_remote(final) else final.exists()


def shown(final: Path | str) -> Path | str:
    """``final`` as messages and results name it (a URL without credentials)."""
    return public_url(final) if is_remote(final) else final


def check_model_replaceable(final: Path | str) -> None:
    """Refuse to replace ``final`` unless it is a model geogan wrote, holding nothing else
    (:func:`~geogan.stores.ownership.check_replaceable`,
    :func:`~geogan.stores.remoteowner.check_remote_replaceable`)."""
    if is_remote(final):
        check_remote_replaceable(final, what="model directory", kind="model")
    else:
        check_replaceable(final, what="model directory", kind="model")


def publish_model(work: Path, final: Path | str) -> Path | str:
    """Put the finished model directory ``work`` in place at ``final``: renamed there, or
    uploaded (``config.json`` last) and the work folder removed. A user's files written at
    ``final`` meanwhile are refused first. Returns ``final`` as results name it."""
    check_model_replaceable(final)
    if is_remote(final):
        # the marker first (an upload cut short is still geogan's to replace), config.json last
        # (loaders require it: the model appears whole or not at all)
        entries = [p.name + ("/" if p.is_dir() else "") for p in Path(work).iterdir()]
        upload_tree(work, final, last=(CONFIG_NAME,), first={MARKER: marker_text("model", entries).encode()})
        shutil.rmtree(work)
    else:
        replace_path(work, final)
    return shown(final)


__all__ = ["WORK_ENV", "check_model_replaceable", "model_exists", "model_paths", "publish_model", "shown"]
