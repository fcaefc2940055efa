"""Tests for geogan.stores.layout: the grid store's layout on disk, tile writes, portable attributes
and a store's identity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from geogan.errors import StoreError
from geogan.stores.layout import decode_attrs, encode_attrs, iter_regions, metadata_fingerprint, write_region
from geogan.stores.store import open_grid
from tests.helpers.grids import make_grid


@pytest.fixture
def grid(tmp_path):
    """A complete 40 x 56 grid store in tiles of 16 (``tests.helpers.grids.make_grid``)."""
    return make_grid(tmp_path / "grid.zarr")


def test_nested_attributes_are_json_strings_and_decode_back():
    attrs = {"grid": {"tile": 16, "crs": "EPSG:32650"}, "elements": ["Au", "Cu"], "complete": True, "name": "g"}
    encoded = encode_attrs(attrs)
    assert encoded["grid"] == json.dumps({"crs": "EPSG:32650", "tile": 16}) and encoded["elements"] == '["Au", "Cu"]'
    assert encoded["complete"] is True and encoded["name"] == "g"  # scalars stay as they are
    assert decode_attrs(encoded) == attrs
    # stores written before (nested attributes) read unchanged; a plain string starting with a
    # bracket is not JSON and stays a string
    assert decode_attrs({"grid": {"tile": 16}, "note": "[draft"}) == {"grid": {"tile": 16}, "note": "[draft"}


def test_tile_writes_must_be_aligned_with_the_chunks(grid):
    path, *_ = grid
    with pytest.raises(StoreError, match=r"not aligned with chunks"):
        write_region(path, "distance", np.zeros((8, 16), np.float32), (slice(8, 16), slice(0, 16)))
    write_region(path, "distance", np.zeros((8, 16), np.float32), (slice(32, 40), slice(0, 16)))  # the last row of tiles
    assert float(open_grid(path)["distance"][39, 0]) == 0.0


def test_iter_regions_gives_each_tiles_slices(grid):
    _, spec, *_ = grid
    regions = dict(iter_regions(spec, [(0, 0), (2, 3)]))
    assert regions == {(0, 0): (slice(0, 16), slice(0, 16)), (2, 3): (slice(32, 40), slice(48, 56))}


def test_the_metadata_fingerprint_follows_the_metadata_not_the_chunks(grid):
    path, *_ = grid
    first = metadata_fingerprint(path)
    assert len(first) == 64 and metadata_fingerprint(path) == first
    write_region(path, "distance", np.ones((16, 16), np.float32), (slice(0, 16), slice(0, 16)))
    assert metadata_fingerprint(path) == first  # chunks are not read
    zarr.open_group(str(path), mode="r+").attrs.update(created="2026-01-01T00:00:00+00:00")
    assert metadata_fingerprint(path) != first
