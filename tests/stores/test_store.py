"""Tests for geogan.stores.store: opening a store with its checks (kind, format version,
completeness, units) and describing it (the layout: test_layout.py; the geometry: test_geometry.py)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import zarr

from geogan.errors import StoreError
from geogan.stores.geometry import grid_spec
from geogan.stores.store import describe, open_grid, open_store, units_of
from tests.helpers.grids import ELEMENTS, make_grid


@pytest.fixture
def grid(tmp_path):
    """A complete 40 x 56 grid store in tiles of 16 (``tests.helpers.grids.make_grid``)."""
    return make_grid(tmp_path / "grid.zarr")


def test_a_written_store_opens_with_its_values_units_and_grid(grid):
    path, spec, conc, _ = grid
    ds = open_grid(path)
    assert ds["element"].values.tolist() == ELEMENTS and units_of(ds) == {e: "ppm" for e in ELEMENTS}
    np.testing.assert_array_equal(ds["concentration"].values, conc)
    assert ds["concentration"].encoding["chunks"] == (len(ELEMENTS), 16, 16)
    assert grid_spec(ds) == spec
    assert ds.rio.crs.to_epsg() == 32650
    text = describe(ds, path)
    assert text.splitlines()[0] == f"store      {path}"
    assert "grid       40 rows x 56 cols = 2,240 cells of 500 m, tiles 16 (12 tiles)" in text
    assert "elements   5: Ag (ppm), Bi (ppm), Mo (ppm), Sn (ppm), W (ppm)" in text


def test_open_store_checks_kind_version_and_completeness(grid, tmp_path):
    path, *_ = grid
    with pytest.raises(StoreError, match=r"grid\.zarr is a geogan grid store, expected a scores store"):
        open_store(path, kind="scores")
    group = zarr.open_group(str(path), mode="r+")
    group.attrs.update(geogan_store_version=99)
    with pytest.raises(StoreError, match=r"has store format version 99, this geogan reads version 1"):
        open_grid(path)
    group.attrs.update(geogan_store_version=1, complete=False)
    with pytest.raises(StoreError, match=r"is incomplete; rerun the command that made it"):
        open_grid(path)
    group.attrs.update(complete=True)
    assert open_grid(path).attrs["complete"] is True


def test_a_missing_store_names_the_unfinished_run_beside_it(tmp_path):
    (tmp_path / "grid.zarr.partial").mkdir()
    with pytest.raises(StoreError, match=r"grid\.zarr does not exist; an unfinished run left grid\.zarr\.partial"):
        open_grid(tmp_path / "grid.zarr")


def test_units_must_map_elements_to_unit_strings(grid):
    path, *_ = grid
    ds = open_grid(path)
    ds.attrs["units"] = {"Ag": 5}
    with pytest.raises(StoreError, match=r"the 'units' attribute must map element symbols to unit strings, got Ag: 5"):
        units_of(ds)


def test_open_grid_rejects_foreign_stores(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        open_grid(tmp_path / "nope.zarr")
    foreign = tmp_path / "foreign.zarr"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_zarr(foreign, zarr_format=3, consolidated=False)
    with pytest.raises(StoreError, match="not a geogan grid store"):
        open_grid(foreign)
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a Zarr v3 store"):
        open_grid(tmp_path / "plain")
