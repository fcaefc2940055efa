"""What geogan wrote in object storage, and so may replace: the remote twin of
:mod:`geogan.stores.ownership`.

An output carries geogan's marker there as it does on disk: a store its ``geogan_kind``
attribute, a model its ``config.json``, a folder of several outputs a
:data:`~geogan.stores.ownership.MARKER` object listing them, a GeoTIFF its tags.
:func:`check_remote_output` is :func:`geogan.stores.files.check_output` for a URL.
"""

from __future__ import annotations

from geogan.errors import OutputExistsError
from geogan.stores.remote import Remote, join, public_url, sibling


# -- what geogan wrote ------------------------------------------------------------------------------
def remote_ownership(url: str) -> tuple[str, frozenset[str] | None] | None:
    """What geogan output the object-storage prefix ``url`` is, as
    :func:`geogan.stores.ownership.ownership` says of a local one: ``(kind, entries)`` from its
    :data:`~geogan.stores.ownership.MARKER` object (a folder of several outputs), a store's
    ``geogan_kind`` attribute (``entries`` None) or a model's ``config.json``; ``("file",
    None)`` for a GeoTIFF object carrying geogan's tags, and for another object its folder's
    marker lists (``anomaly.qml`` in a score folder); None for anything else."""
    from geogan.stores.ownership import MARKER, MODEL_ENTRIES

    loc = Remote(url)
    marker = loc.read_json(MARKER)
    if isinstance(marker, dict) and isinstance(marker.get("kind"), str) and isinstance(marker.get("entries", []), list):
        return marker["kind"], frozenset([*marker.get("entries", []), MARKER])
    kind = ((loc.read_json("zarr.json") or {}).get("attributes") or {}).get("geogan_kind")
    if isinstance(kind, str):
        return kind, None
    if (loc.read_json("config.json") or {}).get("format") == "geogan-model":
        return "model", frozenset(MODEL_ENTRIES)
    if not loc.isfile(""):
        return None
    if url.lower().endswith((".tif", ".tiff")):  # a GeoTIFF carries its own marker, its tags
        return ("file", None) if _geotiff_is_ours(loc) else None
    parent, _, name = url.rstrip("/").rpartition("/")  # another object: listed in its folder's marker
    folder = Remote(parent).read_json(MARKER)
    listed = folder.get("entries") if isinstance(folder, dict) else None
    return ("file", None) if isinstance(listed, list) and name in listed else None


def _geotiff_is_ours(loc: Remote) -> bool:
    try:
        import rasterio

        with loc.fs.open(loc.key, "rb") as f, rasterio.open(f) as src:  # the header only (range reads)
            return "geogan_version" in src.tags()
    except Exception:  # not a GeoTIFF rasterio can read: not geogan's
        return False


def foreign_object(loc: Remote, names: list[str]) -> str | None:
    """The first of a store's object ``names`` that is not Zarr's (``zarr.json`` at each
    level, chunks ``<array>/c/<digits>/...``): a file of the user's inside geogan's store."""
    arrays = {n.rpartition("/")[0] for n in names if n.endswith("zarr.json")}
    for name in names:
        parts = name.split("/")
        if parts[-1] == "zarr.json":
            continue
        i = parts.index("c") if "c" in parts else -1
        if i < 1 or "/".join(parts[:i]) not in arrays or not all(p.isdigit() for p in parts[i + 1:]):
            return name
    return None


def _foreign(url: str, kind: str, entries: frozenset[str] | None, names: list[str]) -> str | None:
    """The first object under ``url`` geogan did not write there (see :func:`remote_ownership`)."""
    from geogan.stores.ownership import MARKER, is_model_entry

    if kind == "file":
        return None
    if kind == "model":  # (an upload in progress marks the prefix with the MARKER first)
        return next((n for n in names if n != MARKER and not is_model_entry(n)), None)
    if entries is None:
        return foreign_object(Remote(url), names)
    for name in names:
        head, _, rest = name.partition("/")
        if head in entries and not rest:
            continue
        if f"{head}/" in entries and rest:
            continue  # a folder geogan wrote: judged as a whole below
        return name
    for folder in sorted({n.partition("/")[0] for n in names if n.partition("/")[2]}):
        inner = remote_ownership(join(url, folder))
        if inner is None:
            return f"{folder}/"
        deeper = _foreign(join(url, folder), *inner, [n.partition("/")[2] for n in names if n.startswith(folder + "/")])
        if deeper is not None:
            return f"{folder}/{deeper}"
    return None


def check_remote_replaceable(url: str, *, what: str = "output", kind: str | None = None) -> None:
    """Refuse (:class:`~geogan.errors.OutputExistsError`) to replace the object-storage output
    ``url`` unless geogan wrote it: one carrying geogan's marker (see :func:`remote_ownership`),
    of ``kind`` when given, holding nothing geogan did not write (the local twin:
    :func:`geogan.stores.ownership.check_replaceable`). Nothing at ``url``: fine."""
    loc = Remote(url)
    if not loc.exists():
        return
    owned = remote_ownership(url)
    if owned is None:
        raise OutputExistsError(f"{what} exists and geogan did not write it (it carries no geogan marker); "
                                f"--overwrite replaces only geogan's own outputs: move it away or choose another "
                                f"path", path=public_url(url))
    found, entries = owned
    if kind is not None and found != kind:
        raise OutputExistsError(f"{what} exists and is a geogan {found} output, not a {kind} one; --overwrite "
                                f"replaces an output with one of its kind: choose another path", path=public_url(url))
    foreign = _foreign(url, found, entries, loc.names())
    if foreign is not None:
        raise OutputExistsError(f"{what} holds {foreign}, which geogan did not write; --overwrite replaces only "
                                f"geogan's own outputs: move it elsewhere first", path=public_url(url))


def check_remote_output(url: str, *, overwrite: bool, what: str = "output", kind: str | None = None) -> str:
    """:func:`geogan.stores.files.check_output` for an object-storage output: refuse an existing
    one unless ``overwrite``, and even then unless geogan wrote it. An unfinished store geogan
    is building in place (its ``<url>.partial/work/params.json`` exists, its metadata not yet
    complete) is not an existing output: the stage resumes or restarts it."""
    url = str(url).rstrip("/")
    loc = Remote(url)
    if not loc.exists():
        return url
    attrs = (loc.read_json("zarr.json") or {}).get("attributes") or {}
    if not attrs.get("complete") and Remote(sibling(url, ".partial")).isfile("work/params.json"):
        return url
    if not overwrite:
        raise OutputExistsError(f"{public_url(url)} exists; pass --overwrite to replace it", path=None)
    check_remote_replaceable(url, what=what, kind=kind)
    return url


__all__ = ["check_remote_output", "check_remote_replaceable", "foreign_object", "remote_ownership"]
