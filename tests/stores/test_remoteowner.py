"""Tests for geogan.stores.remoteowner: what geogan wrote in object storage, and so may replace
(real stores, models, marked folders and GeoTIFFs on moto's S3 server on 127.0.0.1)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geogan.errors import OutputExistsError
from geogan.gridspec import GridSpec
from geogan.stores.layout import create_grid_store, write_region
from geogan.stores.remote import Remote
from geogan.stores.remoteowner import (check_remote_output, check_remote_replaceable, foreign_object,
                                       remote_ownership)
from geogan.stores.staging import Staging

SPEC = GridSpec.from_bounds((0, 0, 2000, 2000), crs="EPSG:32650", cell_size_m=500, tile=2)


def grid_store(url: str, *, finish: bool = True) -> str:
    """A grid store built in place at ``url`` as the grid stage builds it; committed when ``finish``."""
    staging = Staging(url)
    staging.start({"token": "t"})
    create_grid_store(staging.store, SPEC, ["Au"], units={"Au": "ppb"}, attrs={})
    staging.mark_created()
    write_region(staging.store, "concentration", np.ones((1, 4, 4)), (slice(None), slice(0, 4), slice(0, 4)))
    write_region(staging.store, "distance", np.zeros((4, 4)), (slice(0, 4), slice(0, 4)))
    staging.mark(0, 0)
    if finish:
        staging.finalize()
    return url


def geotiff(path, *, ours: bool) -> None:
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", crs="EPSG:32650",
                       transform=from_origin(0, 2000, 500, 500)) as dst:
        dst.write(np.ones((1, 4, 4), "float32"))
        if ours:
            dst.update_tags(geogan_version="0.1.0")


def test_nothing_there_is_a_free_output(s3_bucket):
    url = f"{s3_bucket}/out/grid.zarr"
    assert check_remote_output(url + "/", overwrite=False) == url
    assert remote_ownership(url) is None
    check_remote_replaceable(url)


def test_a_complete_store_is_refused_without_overwrite_and_replaceable_with_it_when_of_the_kind(s3_bucket):
    url = grid_store(f"{s3_bucket}/out/grid.zarr")
    assert remote_ownership(url) == ("grid", None)
    with pytest.raises(OutputExistsError, match=rf"^{url} exists; pass --overwrite to replace it$"):
        check_remote_output(url, overwrite=False, what="grid store", kind="grid")
    assert check_remote_output(url, overwrite=True, what="grid store", kind="grid") == url
    with pytest.raises(OutputExistsError, match=rf"^{url}: scores store exists and is a geogan grid output, not a "
                                                rf"scores one; --overwrite replaces an output with one of its kind"):
        check_remote_output(url, overwrite=True, what="scores store", kind="scores")
    assert Remote(url).isfile("zarr.json")  # refusing touches nothing


def test_an_unfinished_store_built_in_place_is_not_an_existing_output(s3_bucket):
    url = grid_store(f"{s3_bucket}/out/grid.zarr", finish=False)
    assert Remote(url).isfile("zarr.json") and Remote(url + ".partial").isfile("work/params.json")
    assert check_remote_output(url, overwrite=False, kind="grid") == url  # the stage resumes or restarts it
    Remote(url + ".partial").remove()  # its staging state gone: an incomplete store of unknown origin
    with pytest.raises(OutputExistsError, match="exists; pass --overwrite"):
        check_remote_output(url, overwrite=False, kind="grid")


def test_a_file_of_the_users_inside_a_store_is_refused_even_with_overwrite(s3_bucket):
    url = grid_store(f"{s3_bucket}/out/grid.zarr")
    Remote(url).write_bytes("concentration/notes.txt", b"mine")
    with pytest.raises(OutputExistsError, match=rf"^{url}: grid store holds concentration/notes\.txt, which geogan "
                                                rf"did not write; --overwrite replaces only geogan's own outputs"):
        check_remote_output(url, overwrite=True, what="grid store", kind="grid")
    assert Remote(url).read_bytes("concentration/notes.txt") == b"mine"


def test_an_object_of_the_users_at_the_url_is_refused_with_or_without_overwrite(s3_bucket):
    for url in (f"{s3_bucket}/out/grid.zarr", f"{s3_bucket}/notes.zarr"):
        Remote(url).write_bytes("notes.txt" if url.endswith("grid.zarr") else "", b"mine")
        with pytest.raises(OutputExistsError, match=rf"^{url} exists; pass --overwrite to replace it$"):
            check_remote_output(url, overwrite=False)
        with pytest.raises(OutputExistsError, match=rf"^{url}: grid store exists and geogan did not write it \(it "
                                                    rf"carries no geogan marker\)"):
            check_remote_output(url, overwrite=True, what="grid store", kind="grid")
    assert Remote(f"{s3_bucket}/out/grid.zarr").read_bytes("notes.txt") == b"mine"
    assert Remote(f"{s3_bucket}/notes.zarr").read_bytes("") == b"mine"


def test_models_marked_folders_and_geotiffs(s3_bucket, tmp_path):
    model = Remote(f"{s3_bucket}/alad")
    model.write_bytes("config.json", json.dumps({"format": "geogan-model"}).encode())
    model.write_bytes("weights/a.weights.h5", b"w")
    assert remote_ownership(model.url)[0] == "model"
    check_remote_replaceable(model.url, kind="model")
    model.write_bytes("weights/thesis.docx", b"mine")
    with pytest.raises(OutputExistsError, match=r"holds weights/thesis\.docx, which geogan did not write"):
        check_remote_replaceable(model.url, kind="model")

    out = Remote(f"{s3_bucket}/scored")
    out.write_bytes(".geogan", json.dumps({"kind": "score", "entries": ["scores.zarr/", "anomaly.tif"]}).encode())
    grid_store(f"{out.url}/scores.zarr")
    geotiff(tmp_path / "ours.tif", ours=True)
    out.fs.put_file(str(tmp_path / "ours.tif"), f"{out.key}/anomaly.tif")
    assert remote_ownership(out.url) == ("score", frozenset({"scores.zarr/", "anomaly.tif", ".geogan"}))
    assert remote_ownership(f"{out.url}/anomaly.tif") == ("file", None)
    check_remote_replaceable(out.url, kind="score")
    out.write_bytes("scores.zarr/extra.csv", b"mine")  # inside a folder the marker lists
    with pytest.raises(OutputExistsError, match=r"holds scores\.zarr/extra\.csv, which geogan did not write"):
        check_remote_replaceable(out.url, kind="score")
    out.remove("scores.zarr/extra.csv")
    out.write_bytes("todo.txt", b"mine")  # beside the listed entries
    with pytest.raises(OutputExistsError, match=r"holds todo\.txt, which geogan did not write"):
        check_remote_replaceable(out.url, kind="score")

    geotiff(tmp_path / "theirs.tif", ours=False)
    theirs = f"{s3_bucket}/maps/theirs.tif"
    Remote(theirs).fs.put_file(str(tmp_path / "theirs.tif"), Remote(theirs).key)
    assert remote_ownership(theirs) is None
    with pytest.raises(OutputExistsError, match="geogan did not write it"):
        check_remote_replaceable(theirs)


def test_foreign_object_knows_zarrs_own_names():
    names = ["zarr.json", "concentration/zarr.json", "concentration/c/0/0/0", "x/zarr.json", "x/c/0"]
    assert foreign_object(None, names) is None
    assert foreign_object(None, [*names, "concentration/c/0/notes.txt"]) == "concentration/c/0/notes.txt"
    assert foreign_object(None, [*names, "other/c/0"]) == "other/c/0"  # chunks of no array
    assert foreign_object(None, [*names, "README.md"]) == "README.md"
