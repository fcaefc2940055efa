"""Tests for geogan.stores.geometry: a store's grid attribute checked against its coordinates."""

from __future__ import annotations

import pytest
import xarray as xr

from geogan.errors import StoreError
from geogan.stores.geometry import grid_spec
from geogan.stores.store import open_grid
from tests.helpers.grids import make_grid


@pytest.fixture
def grid(tmp_path):
    """A complete 40 x 56 grid store in tiles of 16 (``tests.helpers.grids.make_grid``)."""
    return make_grid(tmp_path / "grid.zarr")


def test_a_grid_attribute_that_disagrees_with_the_coordinates_is_refused(grid):
    path, *_ = grid
    ds = open_grid(path)
    ds.attrs["grid"] = {**ds.attrs["grid"], "cell_size_m": 250.0}
    with pytest.raises(StoreError, match=r"the 'grid' attribute cell_size_m is 250 but the x/y coordinates give 500"):
        grid_spec(ds)
    ds.attrs["grid"] = {k: v for k, v in ds.attrs["grid"].items() if k != "tile"}
    with pytest.raises(StoreError, match=r"the 'grid' attribute lacks tile"):
        grid_spec(ds)
    with pytest.raises(StoreError, match=r"no 'grid' attribute"):
        grid_spec(xr.Dataset())
