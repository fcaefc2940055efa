"""Where and how a stage writes (geogan.stores.files): output names and checks, atomic
replacement, staged directories, digests, disjoint inputs and outputs, the writer's lock (the
same rules met through the command line: tests/integration/test_hostile_outputs.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from geogan.errors import OutputExistsError
from geogan.stores.files import (NAME_MAX, check_disjoint, check_output, file_sha256, holds_output_lock, lock_path,
                                 named, output_lock, partial_path, replace_path, staged_directory)
from geogan.stores.ownership import write_marker


def test_an_output_needs_a_name_of_its_own_that_a_filesystem_takes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert named(".") == tmp_path and named("sub/..") == tmp_path
    with pytest.raises(OutputExistsError, match=r"^/ cannot be an output: name a file or folder to write$"):
        named("/")
    long = "a" * (NAME_MAX + 1)
    with pytest.raises(OutputExistsError, match=rf"the name a{{40}}… is {NAME_MAX + 1} bytes long; filesystems take "
                                                rf"at most {NAME_MAX}"):
        named(tmp_path / long / "grid.zarr")
    named(tmp_path / ("é" * (NAME_MAX // 2)))  # 254 bytes: fine
    with pytest.raises(OutputExistsError, match="bytes long"):
        named(tmp_path / ("é" * (NAME_MAX // 2 + 1)))  # 256 bytes in 128 characters


def test_the_partial_folder_lies_beside_its_output(tmp_path, monkeypatch):
    assert partial_path(tmp_path / "grid.zarr") == tmp_path / "grid.zarr.partial"
    monkeypatch.chdir(tmp_path / ".")
    assert partial_path(".") == tmp_path.with_name(tmp_path.name + ".partial")


def test_check_output_refuses_an_existing_output_without_overwrite_and_a_users_one_with_it(tmp_path):
    out = tmp_path / "model"
    assert check_output(str(out), overwrite=False) == out
    out.mkdir()
    (out / "thesis.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=rf"^{out} exists; pass --overwrite to replace it$"):
        check_output(out, overwrite=False)
    with pytest.raises(OutputExistsError, match=rf"^{out}: model directory exists and geogan did not write it"):
        check_output(out, overwrite=True, what="model directory")
    assert (out / "thesis.txt").read_text() == "mine"
    (out / "thesis.txt").unlink()
    assert check_output(out, overwrite=True) == out  # an empty folder: nothing to lose
    write_marker(out, "report", ["index.html"])
    assert check_output(out, overwrite=True, kind="report") == out
    with pytest.raises(OutputExistsError, match="is a geogan report output, not a grid one"):
        check_output(out, overwrite=True, kind="grid")
    for here in (".", "..", "./"):
        with pytest.raises(OutputExistsError, match=rf"--out {here}: name the output itself"):
            check_output(here, overwrite=True)


def test_replace_path_swaps_in_a_finished_output_and_leaves_nothing_behind(tmp_path):
    new, old = tmp_path / "new", tmp_path / "out"
    for path, text in ((new, "new"), (old, "old")):
        path.mkdir()
        (path / "data.txt").write_text(text)
    replace_path(new, old)
    assert (old / "data.txt").read_text() == "new" and sorted(os.listdir(tmp_path)) == ["out"]
    (tmp_path / "f.new").write_text("2")
    (tmp_path / "f").write_text("1")
    replace_path(tmp_path / "f.new", tmp_path / "f")
    assert (tmp_path / "f").read_text() == "2" and sorted(os.listdir(tmp_path)) == ["f", "out"]


def test_replacing_a_link_removes_the_link_never_its_target(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "new").mkdir()
    replace_path(tmp_path / "new", tmp_path / "link")
    assert not (tmp_path / "link").is_symlink() and (tmp_path / "link").is_dir()
    assert (target / "keep.txt").read_text() == "keep"


def test_a_staged_directory_appears_whole_when_its_block_ends(tmp_path):
    out = tmp_path / "model"
    with staged_directory(out) as tmp:
        assert tmp.parent == tmp_path and tmp.is_dir() and not out.exists()
        (tmp / "config.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]
    assert sorted(os.listdir(tmp_path)) == ["model"]  # no staging folder, no .old copy
    with staged_directory(out) as tmp:
        (tmp / "weights.h5").write_bytes(b"w")
    assert sorted(p.name for p in out.iterdir()) == ["weights.h5"]  # the old one replaced whole


def test_a_crash_inside_a_staged_directory_leaves_the_target_as_it_was_and_no_staging_folder(tmp_path):
    out = tmp_path / "model"
    with pytest.raises(RuntimeError, match="killed half way"):
        with staged_directory(out) as tmp:
            (tmp / "config.json").write_text("{}")
            raise RuntimeError("killed half way")
    assert os.listdir(tmp_path) == []  # nothing at the target, no staging or partial folder
    out.mkdir()
    (out / "config.json").write_text('{"old": true}')
    with pytest.raises(KeyboardInterrupt):
        with staged_directory(out) as tmp:
            (tmp / "config.json").write_text("{half")
            raise KeyboardInterrupt
    assert (out / "config.json").read_text() == '{"old": true}' and os.listdir(tmp_path) == ["model"]


def test_a_staged_directory_starts_afresh_over_one_a_crashed_block_of_this_process_left(tmp_path):
    out = tmp_path / "model"
    stale = tmp_path / f".model.tmp-{os.getpid()}"
    stale.mkdir()
    (stale / "half.bin").write_bytes(b"x")
    with staged_directory(out) as tmp:
        assert tmp == stale and os.listdir(tmp) == []
        (tmp / "config.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["config.json"] and not stale.exists()


def test_file_sha256_is_the_digest_of_the_bytes(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    assert file_sha256(tmp_path / "a") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(str(tmp_path / "empty")).startswith("e3b0c44298fc1c14")


def test_an_output_may_not_be_contain_or_lie_inside_an_input(tmp_path):
    check_disjoint([tmp_path / "a", None, "s3://bucket/out"], [tmp_path / "ab.csv", "s3://bucket/a", None])
    cases = {tmp_path / "d" / "s.csv": "is the input", tmp_path / "d": "contains the input",
             tmp_path / "d" / "s.csv" / "x": "lies inside the input"}
    for out, how in cases.items():
        with pytest.raises(OutputExistsError, match=rf"^{out}: grid {how} {tmp_path / 'd' / 's.csv'}; writing it "
                                                    rf"could destroy the input"):
            check_disjoint([out], [tmp_path / "d" / "s.csv"], what="grid")
    with pytest.raises(OutputExistsError, match="contains the input file://"):  # a file:// URL is a local path
        check_disjoint([tmp_path / "d"], [(tmp_path / "d" / "s.csv").as_uri()])
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OutputExistsError, match="is the input"):  # compared as resolved paths
        check_disjoint([tmp_path / "link" / "s.csv"], [tmp_path / "real" / "s.csv"])


def test_object_storage_urls_overlap_by_bucket_and_key_and_never_with_local_paths(tmp_path):
    check_disjoint(["s3://b/out/grid.zarr", "s3://b/out/grid.zarr.partial"],
                   ["s3://b/out/grid.zarr.csv", "s3://other/out/grid.zarr", "gs://b/out/grid.zarr",
                    "/b/out/grid.zarr", "file:///b/out/grid.zarr", "s3://b/out/grid"])
    cases = [("s3://b/out/s.csv", "s3://b/out/s.csv", "is the input"),
             ("s3://b/out", "s3://b/out/s.csv", "contains the input"),
             ("s3://b/out/s.csv/x.zarr", "s3://b/out/s.csv", "lies inside the input"),
             ("s3://b/out/", "s3://b/out//s.csv", "contains the input"),
             ("S3://b/out/s.csv", "s3://b/out/s.csv", "is the input")]
    for out, inp, how in cases:
        with pytest.raises(OutputExistsError, match=rf"^{out}: grid {how} {inp}; writing it could destroy the input"):
            check_disjoint([out], [inp], what="grid")
    with pytest.raises(OutputExistsError, match=r"^s3://b/out: grid contains the input s3://b/out/s\.csv;"):
        check_disjoint(["s3://AKIA:secret@b/out"], ["s3://key:other@b/out/s.csv"], what="grid")  # no secret shown


def test_check_output_of_a_url_returns_the_url(tmp_path):
    assert check_output("memory://geogan-files-test/out/grid.zarr/", overwrite=False) == \
        "memory://geogan-files-test/out/grid.zarr"


def test_two_names_of_one_output_share_one_lock(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert lock_path(tmp_path / "link" / "g.zarr") == lock_path(tmp_path / "real" / ".." / "real" / "g.zarr") \
        == tmp_path / "real" / "g.zarr.lock"


def test_lock_is_released_on_error_and_reentry_refused(tmp_path):
    target = tmp_path / "thing"
    with pytest.raises(ValueError):
        with output_lock(target) as lock:
            assert lock == tmp_path / "thing.lock"
            held = json.loads(lock.read_text())
            assert held["pid"] == os.getpid() and set(held) == {"pid", "host", "since"}
            raise ValueError
    assert not (tmp_path / "thing.lock").exists()
    with output_lock(target):
        with pytest.raises(OutputExistsError, match="already writing"):
            with output_lock(tmp_path / "." / "thing"):  # the same output by another name
                pass
    with output_lock("memory://bucket/out.zarr") as lock:  # a URL output: a lock object beside it
        assert lock == "memory://bucket/out.zarr.lock" and json.loads(fsspec_cat(lock))["pid"] == os.getpid()
        with pytest.raises(OutputExistsError, match=r"this process is already writing memory://bucket/out\.zarr"):
            with output_lock("memory://bucket/out.zarr/"):
                pass
    assert fsspec_cat("memory://bucket/out.zarr.lock") is None


def fsspec_cat(url: str) -> bytes | None:
    import fsspec

    try:
        with fsspec.open(url, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def test_a_file_of_the_users_at_the_lock_path_is_kept(tmp_path):
    (tmp_path / "thing.lock").write_text("precious")
    with pytest.raises(OutputExistsError, match=r"thing\.lock exists and is not a geogan lock"):
        with output_lock(tmp_path / "thing"):
            pytest.fail("the block must not run")
    assert (tmp_path / "thing.lock").read_text() == "precious"


def test_a_stage_holding_its_outputs_lock_runs_inside_it(tmp_path):
    seen = []

    @holds_output_lock("out")
    def stage(grid, out: Path, *, again: bool = False):
        seen.append(json.loads(lock_path(out).read_text())["pid"])
        if again:
            stage(grid, out)

    stage("g.zarr", tmp_path / "m")
    assert seen == [os.getpid()] and not lock_path(tmp_path / "m").exists()
    with pytest.raises(OutputExistsError, match="this process is already writing"):
        stage("g.zarr", out=tmp_path / "m", again=True)
    assert stage.__name__ == "stage" and not lock_path(tmp_path / "m").exists()
