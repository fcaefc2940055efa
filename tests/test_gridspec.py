import numpy as np
import pytest

from geogan.errors import CRSError, GridError
from geogan.gridspec import GridSpec, check_grid_crs


def test_from_bounds_snaps_outward_to_cell_multiples():
    spec = GridSpec.from_bounds((1234, 5678, 4321, 8765), crs="EPSG:32650", cell_size_m=500, tile=4)
    assert spec.bounds == (1000.0, 5500.0, 4500.0, 9000.0)
    assert spec.shape == (7, 7)
    assert spec.x_coords()[0] == 1250.0 and spec.y_coords()[0] == 8750.0
    assert np.all(np.diff(spec.y_coords()) < 0)  # north-up, y descending
    assert spec.chunks == ((4, 3), (4, 3))
    assert spec.n_tiles == 4
    assert spec.tile_slices(1, 1) == (slice(4, 7), slice(4, 7))


def test_points_on_cell_edges_and_single_point_get_a_cell():
    spec = GridSpec.from_points([0, 1000], [0, 500], crs="EPSG:3067", cell_size_m=500)
    assert spec.shape == (1, 2)
    one = GridSpec.from_points([10.0], [10.0], crs="EPSG:3067", cell_size_m=500)
    assert one.shape == (1, 1)


def test_transform_and_cell_of_agree():
    spec = GridSpec.from_bounds((0, 0, 3000, 2000), crs="EPSG:32650", cell_size_m=1000, tile=2)
    t = spec.transform
    assert (t.a, t.e, t.c, t.f) == (1000.0, -1000.0, 0.0, 2000.0)
    row, col, inside = spec.cell_of([500, 2999, -1, 3500], [1999, 1, 500, 500])
    assert row.tolist()[:2] == [0, 1] and col.tolist()[:2] == [0, 2]
    assert inside.tolist() == [True, True, False, False]


def test_geographic_crs_refused_unless_allowed():
    with pytest.raises(CRSError, match="geographic"):
        GridSpec.from_bounds((0, 0, 1, 1), crs="EPSG:4326", cell_size_m=0.1)
    spec = GridSpec.from_bounds((0, 0, 1, 1), crs="EPSG:4326", cell_size_m=0.5, allow_geographic=True)
    assert spec.shape == (2, 2)


def test_bad_crs_and_parameters():
    with pytest.raises(CRSError, match="not a valid coordinate reference system"):
        check_grid_crs("EPSG:999999")
    with pytest.raises(CRSError, match="metres"):
        check_grid_crs("EPSG:2263")  # US survey feet
    with pytest.raises(GridError, match="positive"):
        GridSpec.from_bounds((0, 0, 10, 10), crs="EPSG:32650", cell_size_m=0)
    with pytest.raises(GridError, match="xmin <= xmax"):
        GridSpec.from_bounds((10, 0, 0, 10), crs="EPSG:32650")


def test_dict_round_trip():
    spec = GridSpec.from_bounds((0, 0, 3000, 2000), crs="EPSG:32650", cell_size_m=1000, tile=2)
    assert GridSpec.from_dict(spec.to_dict()) == spec
