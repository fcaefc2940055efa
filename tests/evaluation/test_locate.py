"""Tests for geogan.evaluation.locate: where deposits fall on a score grid."""

from __future__ import annotations

import numpy as np
import pyproj

from geogan.evaluation.deposits import Deposits
from geogan.evaluation.locate import locate_deposits
from tests.helpers.scores import CRS, X0, Y0, cell_xy, make_scores


def test_locate_deposits_edges_and_y_ascending_grid():
    scores = make_scores(np.ones((2, 3)))
    # right/bottom edges are outside (half-open cells); the left/top edges are inside
    x = np.array([X0, X0 + 300.0, X0 + 150.0, X0 + 150.0])
    y = np.array([Y0, Y0 - 50.0, Y0 - 200.0, Y0 - 199.0])
    loc = locate_deposits(scores, Deposits.from_xy(x, y, crs=CRS))
    assert loc.outside.tolist() == [False, True, True, False]
    assert (loc.row[0], loc.col[0]) == (0, 0) and (loc.row[3], loc.col[3]) == (1, 1)

    flipped = make_scores(np.arange(6.0).reshape(2, 3)).isel(y=slice(None, None, -1))
    loc = locate_deposits(flipped, Deposits.from_xy([X0 + 50.0], [Y0 - 50.0], crs=CRS))
    assert float(flipped.values[loc.row[0], loc.col[0]]) == 0.0  # the north-west cell


def test_deposits_are_reprojected_to_the_grid_crs():
    scores = make_scores(np.arange(12.0).reshape(3, 4))
    x, y = cell_xy(2, 3)
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    loc = locate_deposits(scores, Deposits.from_xy([lon], [lat], crs="EPSG:4326"))
    assert (loc.row[0], loc.col[0]) == (2, 3)
