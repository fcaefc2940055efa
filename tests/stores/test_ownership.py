"""What geogan wrote (geogan.stores.ownership): markers, the ownership of folders, stores, models
and files, and the refusal to replace anything else (through the commands:
tests/integration/test_hostile_outputs.py)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from geogan._version import __version__
from geogan.errors import OutputExistsError
from geogan.stores.ownership import (MARKER, MODEL_ENTRIES, check_replaceable, foreign_entry, ownership, read_marker,
                                     small_json, write_file, write_marker)
from tests.helpers.grids import make_grid


def tree(root):
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def geotiff(path, **tags):
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=1, dtype="float32", crs="EPSG:32650",
                       transform=from_origin(500000, 2700000, 100, 100)) as dst:
        dst.write(np.ones((1, 3, 4), np.float32))
        dst.update_tags(**tags)
    return path


def model_dir(path):
    (path / "weights").mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"format": "geogan-model"}))
    (path / "weights" / "encoder.weights.h5").write_bytes(b"w")
    (path / "history.csv").write_text("step,loss\n")
    return path


def test_a_marker_lists_what_geogan_wrote_and_grows_for_its_kind(tmp_path):
    write_marker(tmp_path, "report", ["index.html", "map.png"])
    marker = json.loads((tmp_path / MARKER).read_text())
    assert marker == {"kind": "report", "geogan_version": __version__, "entries": ["index.html", "map.png"]}
    write_marker(tmp_path, "report", ["roc.png", "index.html"])
    assert read_marker(tmp_path)["entries"] == ["index.html", "map.png", "roc.png"]
    write_marker(tmp_path, "synth", ["survey.csv"])  # another kind starts afresh
    assert read_marker(tmp_path) == {"kind": "synth", "geogan_version": __version__, "entries": ["survey.csv"]}
    assert [p.name for p in tmp_path.iterdir()] == [MARKER]  # no temporary file left


@pytest.mark.parametrize("text", ['{"entries": []}', '{"kind": 3}', '{"kind": "report", "entries": "a"}', "[]",
                                  "{garbled"])
def test_a_marker_that_is_not_geogans_shape_is_no_marker(tmp_path, text):
    (tmp_path / MARKER).write_text(text)
    assert read_marker(tmp_path) is None


def test_small_json_reads_only_a_small_plain_json_object(tmp_path):
    (tmp_path / "a.json").write_text('{"a": 1}')
    assert small_json(tmp_path / "a.json") == {"a": 1}
    assert small_json(tmp_path / "a.json", limit=3) is None  # larger than the limit: not read
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe{")
    (tmp_path / "link.json").symlink_to(tmp_path / "a.json")
    for name in ("list.json", "bad.json", "link.json", "missing.json"):
        assert small_json(tmp_path / name) is None, name
    assert small_json(tmp_path) is None  # a folder


def test_write_file_replaces_a_link_or_a_hard_link_never_writing_through_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "soft").symlink_to(victim)
    os.link(victim, tmp_path / "hard")
    for name in ("soft", "hard"):
        write_file(tmp_path / name, "geogan's")
        assert not (tmp_path / name).is_symlink() and (tmp_path / name).read_text() == "geogan's"
    assert victim.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard", "soft", "victim.txt"]


def test_ownership_of_folders_stores_and_models(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    write_marker(report, "report", ["index.html", "figures/"])
    assert ownership(report) == ("report", frozenset({"index.html", "figures/", MARKER}))
    grid = make_grid(tmp_path / "grid.zarr")[0]
    assert ownership(grid) == ("grid", None)
    assert ownership(model_dir(tmp_path / "model")) == ("model", frozenset(MODEL_ENTRIES))
    (tmp_path / "empty").mkdir()
    assert ownership(tmp_path / "empty") == ("empty", frozenset())
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.json").write_text('{"format": "my-model"}')
    assert ownership(tmp_path / "mine") is None
    assert ownership(tmp_path / "missing") is None


def test_a_file_is_geogans_when_its_folders_marker_lists_it_and_a_geotiff_by_its_tags(tmp_path):
    write_marker(tmp_path, "score", ["anomaly.qml", "anomaly.tif", "spread.tif"])
    (tmp_path / "anomaly.qml").write_text("<qgis/>")
    (tmp_path / "notes.txt").write_text("mine")
    assert ownership(tmp_path / "anomaly.qml") == ("file", None)
    assert ownership(tmp_path / "notes.txt") is None
    geotiff(tmp_path / "anomaly.tif", geogan_version=__version__)
    geotiff(tmp_path / "spread.tif")  # listed, but the user's map copied over geogan's: no tags
    assert ownership(tmp_path / "anomaly.tif") == ("file", None)
    assert ownership(tmp_path / "spread.tif") is None
    (tmp_path / "fake.tif").write_bytes(b"not a tiff")
    assert ownership(tmp_path / "fake.tif") is None


def test_foreign_entries_are_found_at_any_depth(tmp_path):
    score = tmp_path / "score"
    (score / "report").mkdir(parents=True)
    write_marker(score, "score", ["anomaly.qml", "report/"])
    write_marker(score / "report", "report", ["index.html"])
    (score / "anomaly.qml").write_text("<qgis/>")
    assert foreign_entry(score, *ownership(score)) is None
    (score / "report" / "notes.txt").write_text("mine")
    assert foreign_entry(score, *ownership(score)) == "report/notes.txt"
    (score / "report" / "notes.txt").unlink()
    (score / "photos").mkdir()
    assert foreign_entry(score, *ownership(score)) == "photos"
    model = model_dir(tmp_path / "model")
    assert foreign_entry(model, "model", frozenset(MODEL_ENTRIES)) is None
    (model / "weights" / "notes.csv").write_text("mine")  # a geogan-like suffix, not a geogan name
    assert foreign_entry(model, "model", frozenset(MODEL_ENTRIES)) == "weights/notes.csv"
    grid = make_grid(tmp_path / "grid.zarr")[0]
    assert foreign_entry(grid, "grid", None) is None
    (grid / "concentration" / "c" / "notes.txt").write_text("mine")
    assert foreign_entry(grid, "grid", None) == "concentration/c/notes.txt"
    (grid / "concentration" / "c" / "notes.txt").unlink()
    (grid / "distance" / "link").symlink_to(tmp_path / "model")
    assert foreign_entry(grid, "grid", None) == "distance/link"


def test_check_replaceable_lets_through_what_geogan_wrote_and_nothing_that_is_gone(tmp_path):
    check_replaceable(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", kind="grid")  # an empty folder: nothing to lose, whatever the kind
    check_replaceable(make_grid(tmp_path / "grid.zarr")[0], kind="grid")
    check_replaceable(model_dir(tmp_path / "model"), kind="model")


def test_check_replaceable_refuses_the_users_folders_and_files_and_keeps_them(tmp_path):
    mine = tmp_path / "mine"
    (mine / "photos").mkdir(parents=True)
    (mine / "thesis.txt").write_text("chapter 1")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "link").symlink_to(mine)
    before = tree(tmp_path)
    for path in (mine, tmp_path / "notes.txt", tmp_path / "link"):  # a link is judged by its target
        with pytest.raises(OutputExistsError) as err:
            check_replaceable(path, what="the grid")
        assert str(err.value) == (f"{path}: the grid exists and geogan did not write it (it carries no geogan "
                                  f"marker); --overwrite replaces only geogan's own outputs: move it away or choose "
                                  f"another path")
    assert tree(tmp_path) == before


def test_check_replaceable_refuses_another_kind_and_a_geogan_output_holding_the_users_files(tmp_path):
    model = model_dir(tmp_path / "model")
    with pytest.raises(OutputExistsError, match=r"model: grid store exists and is a geogan model output, not a grid "
                                                r"one; --overwrite replaces an output with one of its kind"):
        check_replaceable(model, what="grid store", kind="grid")
    (model / "members").mkdir()
    (model / "members" / "thesis.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"model: model holds members/thesis\.txt, which geogan did not write"):
        check_replaceable(model, what="model", kind="model")
    assert (model / "members" / "thesis.txt").read_text() == "mine"
