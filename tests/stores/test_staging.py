"""Tests for geogan.stores.staging: building a store in ``<name>.partial/``, the tiles done, and
moving the finished store into place."""

from __future__ import annotations

import pytest
import zarr

from geogan.errors import OutputExistsError, StoreError
from geogan.gridspec import GridSpec
from geogan.stores.staging import Staging, partial_path
from geogan.stores.layout import create_grid_store, write_region
from geogan.stores.store import open_grid

SPEC = GridSpec.from_bounds((0, 0, 2000, 2000), crs="EPSG:32650", cell_size_m=500, tile=2)


def test_the_staging_folder_lies_beside_the_final_path(tmp_path):
    staging = Staging(tmp_path / "grid.zarr")
    assert staging.root == partial_path(tmp_path / "grid.zarr") == tmp_path / "grid.zarr.partial"
    assert staging.store == staging.root / "store.zarr" and staging.done_dir == staging.root / "work" / "done"
    assert not staging.exists() and staging.done() == set() and staging.params() is None


def test_params_markers_and_created_flag_survive_a_new_staging_object(tmp_path):
    staging = Staging(tmp_path / "grid.zarr")
    staging.start({"token": "t", "tile": 2})
    assert staging.exists() and not staging.created()
    staging.mark_created()
    staging.mark(0, 1)
    staging.mark(1, 1)
    (staging.done_dir / "notes.txt").write_text("not a marker")  # ignored, not an error
    again = Staging(tmp_path / "grid.zarr")  # what a worker or a resumed run sees
    assert again.params() == {"token": "t", "tile": 2}
    assert again.created() and again.done() == {(0, 1), (1, 1)}


def test_finalize_moves_a_complete_store_into_place(tmp_path):
    staging = Staging(tmp_path / "grid.zarr")
    staging.start({"token": "t"})
    create_grid_store(staging.store, SPEC, ["Au"], units={"Au": "ppb"}, attrs={"source": {"n": 3}})
    write_region(staging.store, "concentration", [[[1.0] * 4] * 4], (slice(None), slice(0, 4), slice(0, 4)))
    assert staging.finalize(extra_attrs={"note": "done"}) == tmp_path / "grid.zarr"
    assert not staging.exists() and not partial_path(tmp_path / "grid.zarr").exists()
    ds = open_grid(tmp_path / "grid.zarr")
    assert ds.attrs["complete"] is True and ds.attrs["note"] == "done" and ds.attrs["geogan_version"]
    assert ds.attrs["source"] == {"n": 3}  # nested attributes decoded back
    raw = zarr.open_group(str(tmp_path / "grid.zarr"), mode="r").attrs
    assert raw["source"] == '{"n": 3}'  # stored as a JSON string (plain xarray, netCDF)
    assert float(ds["concentration"].sum()) == 16.0


def test_remove_deletes_a_staging_folder_but_never_a_users_folder_of_that_name(tmp_path):
    staging = Staging(tmp_path / "grid.zarr")
    staging.root.mkdir()
    (staging.root / "photo.jpg").write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match=r"grid\.zarr\.partial is not a geogan staging folder"):
        staging.remove()
    assert (staging.root / "photo.jpg").read_bytes() == b"precious"
    (staging.root / "photo.jpg").unlink()
    staging.start({"token": "t"})
    staging.remove()
    assert not staging.root.exists()


def test_finalize_drops_chunk_files_a_killed_writer_left_half_written(tmp_path):
    """Zarr writes a chunk as ``<chunk>.<id>.partial`` and renames it: a worker killed between
    the two leaves the temporary file, which must not reach the finished store."""
    from geogan.gridspec import GridSpec
    from geogan.stores.layout import create_grid_store

    spec = GridSpec.from_bounds((0, 0, 2000, 2000), crs="EPSG:32650", cell_size_m=500, tile=2)
    staging = Staging(tmp_path / "grid.zarr")
    staging.start({"token": "t"})
    create_grid_store(staging.store, spec, ["Au"], units={"Au": "ppb"}, attrs={})
    torn = staging.store / "concentration" / "c" / "0" / "0" / "0.7fabb7488b3d4b29bc38ecf3af984099.partial"
    torn.parent.mkdir(parents=True, exist_ok=True)
    torn.write_bytes(b"")
    final = staging.finalize()
    assert final == tmp_path / "grid.zarr" and not list(final.rglob("*.partial"))
    import zarr

    assert zarr.open_group(str(final), mode="r").attrs["complete"] is True


# -- in object storage: built in place, committed by the root zarr.json (moto's S3 server) ----------
def test_in_object_storage_the_store_is_built_in_place_with_its_state_beside_it(s3_bucket):
    from geogan.stores.remote import Remote

    url = f"{s3_bucket}/out/grid.zarr"
    staging = Staging(url + "/")
    assert staging.remote and staging.final == staging.store == url and staging.root == url + ".partial"
    assert staging.done_dir == url + ".partial/work/done" and staging.params_file == url + ".partial/work/params.json"
    assert not staging.exists() and staging.done() == set() and staging.params() is None and not staging.created()
    staging.start({"token": "t", "tile": 2})
    staging.write_work_file("samples.npz", b"samples")
    create_grid_store(staging.store, SPEC, ["Au"], units={"Au": "ppb"}, attrs={})
    staging.mark_created()
    staging.mark(0, 1)
    staging.mark(1, 1)
    Remote(staging.root).write_bytes("work/done/notes.txt", b"not a marker")  # ignored, not an error
    again = Staging(url)  # what a worker or a resumed run sees
    assert again.exists() and again.params() == {"token": "t", "tile": 2} and again.created()
    assert again.done() == {(0, 1), (1, 1)} and again.work_file("samples.npz") == url + ".partial/work/samples.npz"
    assert Remote(staging.root).read_bytes("work/samples.npz") == b"samples"
    with pytest.raises(StoreError, match="incomplete"):
        open_grid(url)  # built in place, not yet committed: readers refuse it


def test_in_object_storage_finalize_commits_the_store_and_deletes_its_state(s3_bucket):
    from geogan.stores.remote import Remote

    url = f"{s3_bucket}/out/grid.zarr"
    staging = Staging(url)
    staging.start({"token": "t"})
    staging.write_work_file("samples.npz", b"samples")
    create_grid_store(staging.store, SPEC, ["Au"], units={"Au": "ppb"}, attrs={"source": {"n": 3}})
    staging.mark_created()
    write_region(staging.store, "concentration", [[[1.0] * 4] * 4], (slice(None), slice(0, 4), slice(0, 4)))
    staging.mark(0, 0)
    assert staging.finalize(extra_attrs={"note": "done"}) == url
    assert not staging.exists() and not Remote(url + ".partial").exists()
    ds = open_grid(url)
    assert ds.attrs["complete"] is True and ds.attrs["note"] == "done" and ds.attrs["source"] == {"n": 3}
    assert float(ds["concentration"].sum()) == 16.0
    assert all(not n.startswith(("work/", ".partial")) for n in Remote(url).names())


def test_in_object_storage_a_fresh_start_deletes_what_stood_at_the_url_and_remove_deletes_both(s3_bucket):
    from geogan.stores.remote import Remote

    url = f"{s3_bucket}/out/grid.zarr"
    Remote(url).write_bytes("concentration/c/0/0/0", b"an old chunk")  # checked by check_output beforehand
    staging = Staging(url)
    staging.start({"token": "t"})
    assert Remote(url).names() == [] and staging.params() == {"token": "t"}
    create_grid_store(staging.store, SPEC, ["Au"], units={"Au": "ppb"}, attrs={})
    staging.remove()
    assert not Remote(url).exists() and not staging.exists()


def test_in_object_storage_remove_never_deletes_a_users_objects_under_the_partial_name(s3_bucket):
    from geogan.stores.remote import Remote

    url = f"{s3_bucket}/out/grid.zarr"
    Remote(url + ".partial").write_bytes("photo.jpg", b"precious")
    Remote(url).write_bytes("notes.txt", b"mine")
    with pytest.raises(OutputExistsError, match=r"grid\.zarr\.partial is not a geogan staging folder"):
        Staging(url).remove()
    assert Remote(url + ".partial").read_bytes("photo.jpg") == b"precious"
    assert Remote(url).read_bytes("notes.txt") == b"mine"
    Remote(url + ".partial").remove()
    Staging(url).remove()  # nothing staged: nothing to remove, and the final URL is not touched
    assert Remote(url).read_bytes("notes.txt") == b"mine"
