"""The score folder's layout (geogan.stores.scores): the names of what ``geogan score`` writes, its
two stores created empty for tile writes, and opening them with their checks (the score stage
filling them: tests/scoring/test_stage.py)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from geogan.errors import StoreError
from geogan.gridspec import GridSpec
from geogan.stores import layout
from geogan.stores.scores import (CONTRIBUTIONS_STORE, FOLDERS, OUTPUT_KINDS, REPORT_DIR, SCORE_OUTPUTS, SCORES_STORE,
                                  create_contributions_store, create_scores_store, open_contributions_store,
                                  open_scores_store, run_key_of)
from tests.helpers.grids import make_grid

#: 6 x 10 cells of 500 m in tiles of 4: 2 x 3 tiles, the last row and column of tiles partial
SPEC = GridSpec.from_bounds((500_000, 2_700_000, 505_000, 2_703_000), crs="EPSG:32650", cell_size_m=500, tile=4)


def fill(path, name, value, spec=SPEC, *, lead=()):
    """Write every tile of array ``name`` (as a score run does), then mark the store complete."""
    for _, (rows, cols) in layout.iter_regions(spec, spec.tiles()):
        shape = (*lead, rows.stop - rows.start, cols.stop - cols.start)
        layout.write_region(path, name, np.full(shape, value, np.float32), (*(slice(None) for _ in lead), rows, cols))
    layout.finalize_metadata(path, {"complete": True})


def test_the_score_folders_names_and_which_of_them_are_folders_of_which_kind():
    assert (SCORES_STORE, CONTRIBUTIONS_STORE, REPORT_DIR) == ("scores.zarr", "contributions.zarr", "report")
    assert len(set(SCORE_OUTPUTS)) == len(SCORE_OUTPUTS) and set(FOLDERS) <= set(SCORE_OUTPUTS)
    assert OUTPUT_KINDS == {"scores.zarr": "scores", "contributions.zarr": "contributions", "report": "report"}
    assert "anomaly.tif" in SCORE_OUTPUTS and "anomaly.tif" not in FOLDERS


def test_a_new_scores_store_is_empty_incomplete_and_chunked_by_tile(tmp_path):
    path = tmp_path / SCORES_STORE
    create_scores_store(path, SPEC, {"run_key": {"model": "m"}})
    group = zarr.open_group(str(path), mode="r")
    assert group.attrs["geogan_kind"] == "scores" and group.attrs["complete"] is False
    assert group.attrs[layout.ALL_CHUNKS_WRITTEN] == ["anomaly"]
    assert group["anomaly"].shape == SPEC.shape == (6, 10) and group["anomaly"].chunks == (4, 4)
    assert not list((path / "anomaly").glob("c/*"))  # no chunk written: the tiles write them
    with pytest.raises(StoreError, match=r"scores\.zarr is incomplete; rerun the command that made it"):
        open_scores_store(path)
    fill(path, "anomaly", 0.5)
    ds = open_scores_store(path)
    assert list(ds.data_vars) == ["anomaly"] and ds.rio.crs.to_epsg() == 32650
    assert float(ds["anomaly"].mean()) == 0.5 and ds["anomaly"].dtype == np.float32
    np.testing.assert_allclose(ds["x"].values[:2], [500_250, 500_750])
    assert run_key_of(path) == {"model": "m"}


def test_an_ensembles_store_has_spread_and_a_minimum_element_count_elements_used(tmp_path):
    path = tmp_path / SCORES_STORE
    create_scores_store(path, SPEC, {}, spread=True, elements_used=True)
    group = zarr.open_group(str(path), mode="r")
    assert sorted(group.array_keys()) == ["anomaly", "elements_used", "spatial_ref", "spread", "x", "y"]
    assert group["elements_used"].dtype == np.uint8 and group["elements_used"].fill_value == 0
    assert np.isnan(group["spread"].fill_value) and group.attrs["grid"]["tile"] == 4
    assert sorted(group.attrs[layout.ALL_CHUNKS_WRITTEN]) == ["anomaly", "elements_used", "spread"]
    for name in ("anomaly", "spread", "elements_used"):
        fill(path, name, 3)
    ds = open_scores_store(path)
    assert int(ds["elements_used"].min()) == 3 and ds["spread"].attrs["units"] == "percentage points"


def test_a_contributions_store_holds_every_element_per_tile_chunk(tmp_path):
    path = tmp_path / CONTRIBUTIONS_STORE
    create_contributions_store(path, SPEC, ["Cu", "W", "Sn"], {})
    arr = zarr.open_group(str(path), mode="r")["contribution"]
    assert arr.shape == (3, 6, 10) and arr.chunks == (3, 4, 4)
    fill(path, "contribution", -1.0, lead=(3,))
    ds = open_contributions_store(path)
    assert ds["element"].values.tolist() == ["Cu", "W", "Sn"] and float(ds["contribution"].sum()) == -180.0
    with pytest.raises(StoreError, match=r"contributions\.zarr is a geogan contributions store, expected a scores"):
        open_scores_store(path)


def test_other_stores_missing_or_garbled_ones_are_refused(tmp_path):
    grid = make_grid(tmp_path / "grid.zarr")[0]
    with pytest.raises(StoreError, match=r"grid\.zarr is a geogan grid store, expected a scores store"):
        open_scores_store(grid)
    with pytest.raises(StoreError, match=r"grid\.zarr is a geogan grid store, expected a contributions store"):
        open_contributions_store(grid)
    with pytest.raises(StoreError, match=r"scores\.zarr does not exist"):
        open_scores_store(tmp_path / "none" / SCORES_STORE)
    path = tmp_path / SCORES_STORE
    create_scores_store(path, SPEC, {})
    fill(path, "anomaly", 1.0)
    (path / "anomaly" / "c" / "1" / "2").unlink()
    with pytest.raises(StoreError, match=r"'anomaly'.*tile row 1, col 2.*missing"):
        open_scores_store(path)
    (path / "zarr.json").write_text("{garbled")
    with pytest.raises(StoreError, match=r"scores\.zarr cannot be opened as a Zarr store"):
        open_scores_store(path)
    assert run_key_of(path) is None and run_key_of(tmp_path / "nothing.zarr") is None
    assert run_key_of(grid) is None  # a store without one
