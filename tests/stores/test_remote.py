"""Tests for geogan.stores.remote: output locations in object storage (``memory://`` where fsspec's
code path is enough, moto's S3 server on 127.0.0.1 where S3's own behaviour matters)."""

from __future__ import annotations

import json
import uuid

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from geogan.errors import StoreError
from geogan.stores.remote import Remote, is_remote, join, public_url, sibling, upload_tree


@pytest.fixture
def mem():
    """A fresh ``memory://`` prefix, emptied afterwards."""
    url = f"memory://geogan-remote-{uuid.uuid4().hex[:8]}"
    yield url
    Remote(url).remove()


def test_which_paths_are_remote_and_urls_shown_without_credentials():
    assert all(is_remote(p) for p in ("s3://b/g.zarr", "gs://b/g.zarr", "az://c/g.zarr", "memory://x/g.zarr"))
    assert [is_remote(p) for p in ("g.zarr", "/tmp/g.zarr", "file:///tmp/g.zarr", "local:///tmp/g", "C:\\g")] == \
        [False] * 5
    assert public_url("s3://AKIA:s3cr3t@bucket/out/grid.zarr") == "s3://bucket/out/grid.zarr"
    assert public_url("https://user:p%40ss@host:9000/b/grid.zarr") == "https://host:9000/b/grid.zarr"
    assert public_url("s3://bucket/out/grid.zarr") == "s3://bucket/out/grid.zarr"
    assert join("s3://b/out/", "/grid.zarr/", "zarr.json") == "s3://b/out/grid.zarr/zarr.json"
    assert sibling("s3://b/out/grid.zarr/", ".partial") == "s3://b/out/grid.zarr.partial"
    assert sibling("s3://b/out/grid.zarr", ".lock") == "s3://b/out/grid.zarr.lock"


def test_objects_are_written_read_listed_and_removed(mem):
    loc = Remote(mem + "/out/grid.zarr/")
    assert loc.url == mem + "/out/grid.zarr" and not loc.exists()
    assert loc.read_bytes("zarr.json") is None and loc.read_json("zarr.json") is None and loc.names() == []
    loc.write_bytes("zarr.json", b'{"zarr_format": 3}')
    loc.write_bytes("a/c/0/0", b"\x00\x01")
    loc.write_bytes("a/zarr.json", b"not json")
    assert loc.exists() and loc.exists("a") and loc.isfile("zarr.json") and not loc.isfile("a")
    assert loc.read_json("zarr.json") == {"zarr_format": 3} and loc.read_json("a/zarr.json") is None
    assert loc.read_bytes("a/c/0/0") == b"\x00\x01"
    assert loc.names() == ["a/c/0/0", "a/zarr.json", "zarr.json"] and loc.names("a/c") == ["a/c/0/0"]
    Remote(mem + "/out/grid.zarr.lock").write_bytes("", b"{}")  # a sibling is not below the location
    assert loc.names() == ["a/c/0/0", "a/zarr.json", "zarr.json"]
    loc.remove("a")
    assert loc.names() == ["zarr.json"]
    loc.remove()
    assert not loc.exists() and Remote(mem + "/out/grid.zarr.lock").exists()
    loc.remove()  # nothing there: nothing to do


def test_an_object_larger_than_geogan_writes_is_refused_not_read(mem):
    loc = Remote(mem)
    loc.write_bytes("big.json", b"[" + b"0," * 600 + b"0]")
    with pytest.raises(StoreError, match=r"big\.json is 1,203 bytes, more than geogan writes there"):
        loc.read_bytes("big.json", limit=1000)
    assert json.loads(loc.read_bytes("big.json", limit=2000)) == [0] * 601


def test_create_writes_only_where_nothing_is(mem):
    loc = Remote(mem + "/grid.zarr.lock")
    assert loc.create("", b"first")
    assert not loc.create("", b"second")
    assert loc.read_bytes("") == b"first"


def test_create_is_a_conditional_put_that_s3_itself_refuses(s3_bucket):
    """S3's ``If-None-Match: *``: the server refuses the second create, not a check made beforehand."""
    fs = fsspec.filesystem("s3")
    key = f"{s3_bucket.removeprefix('s3://')}/out/grid.zarr.lock"
    fs.pipe_file(key, b"first", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe_file(key, b"second", mode="create")
    loc = Remote(f"{s3_bucket}/out/grid.zarr.lock")
    assert not loc.create("", b"third")
    assert loc.read_bytes("") == b"first"
    other = Remote(f"{s3_bucket}/out/other.zarr.lock")
    assert other.create("", b"mine") and other.read_bytes("") == b"mine"


def test_s3_objects_written_through_one_filesystem_are_seen_at_once(s3_bucket):
    loc = Remote(f"{s3_bucket}/out/grid.zarr")
    assert not loc.exists() and loc.names() == []  # a listing fsspec would cache
    fsspec.filesystem("s3", skip_instance_cache=True).pipe_file(f"{loc.key}/zarr.json", b"{}")  # another instance
    assert loc.exists() and loc.isfile("zarr.json") and loc.names() == ["zarr.json"]
    loc.remove()
    assert not loc.exists() and loc.names() == []


def test_upload_tree_copies_every_file_and_writes_the_commit_objects_last(tmp_path, mem):
    src = tmp_path / "model"
    for name in ("config.json", "arrays.npz", "weights/a.weights.h5", "weights/b.weights.h5", "history.csv",
                 "run.json"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(name.encode())
    url = mem + "/models/alad"
    Remote(url).write_bytes("old.txt", b"an earlier output")
    assert upload_tree(src, url, last=("run.json", "config.json")) == url
    loc = Remote(url)
    assert loc.names() == ["arrays.npz", "config.json", "history.csv", "run.json", "weights/a.weights.h5",
                           "weights/b.weights.h5"]  # old.txt deleted first
    assert all(loc.read_bytes(n) == n.encode() for n in loc.names())
    key = loc.key
    written = [k[len(key) + 1:] for k in MemoryFileSystem.store if k.startswith(key + "/")]  # in creation order
    assert written[-2:] == ["run.json", "config.json"]


def test_upload_tree_of_one_file_and_to_s3(tmp_path, s3_bucket):
    (tmp_path / "anomaly.tif").write_bytes(b"II*\x00tiff")
    url = f"{s3_bucket}/out/anomaly.tif"
    upload_tree(tmp_path / "anomaly.tif", url)
    assert Remote(url).isfile("") and Remote(url).read_bytes("") == b"II*\x00tiff"
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "zarr.json").write_text("{}")
    (tmp_path / "store" / "a" / "c").mkdir(parents=True)
    (tmp_path / "store" / "a" / "c" / "0").write_bytes(b"chunk")
    upload_tree(tmp_path / "store", f"{s3_bucket}/out/s.zarr", last=("zarr.json",))
    assert Remote(f"{s3_bucket}/out/s.zarr").names() == ["a/c/0", "zarr.json"]
