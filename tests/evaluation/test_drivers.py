"""Tests for geogan.evaluation.drivers: the strongest anomalies and the elements driving them."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from geogan.evaluation.drivers import format_drivers, top_anomalies


def test_top_anomalies_ranks_cells_and_names_signed_drivers():
    rng = np.random.default_rng(1)
    scores = rng.random((6, 7))
    scores[0, 0] = np.nan
    scores[2, 3], scores[4, 5] = 10.0, 9.0
    contrib = np.zeros((3, 6, 7))
    contrib[:, 2, 3] = [0.5, 3.0, -1.0]
    contrib[:, 4, 5] = [-2.0, 0.0, 0.1]
    x, y = np.arange(7) * 100.0 + 50, 1000.0 - np.arange(6) * 100.0 - 50
    rows = top_anomalies(scores, contrib, ["Cu", "W", "Cr"], x, y, n=3)
    assert [(r["row"], r["col"]) for r in rows[:2]] == [(2, 3), (4, 5)]
    assert rows[0]["x"] == 350.0 and rows[0]["y"] == 750.0 and rows[0]["score"] == 10.0
    assert rows[0]["drivers"] == "W+ Cr− Cu+" and rows[1]["drivers"] == "Cu− Cr+"
    assert rows[0]["percentile"] == 100.0 and rows[1]["percentile"] == pytest.approx(100 * 40 / 41)
    assert rows[0]["contributions"][0] == ["W", 3.0]
    assert rows[2]["score"] < 9.0
    # xarray (lazy) contributions are read cell by cell and give the same rows
    da = xr.DataArray(contrib, dims=("element", "y", "x")).chunk({"y": 3, "x": 3})
    assert top_anomalies(scores, da, ["Cu", "W", "Cr"], x, y, n=3) == rows
    assert len(top_anomalies(scores, contrib, ["Cu", "W", "Cr"], x, y, n=100)) == 41
    assert top_anomalies(np.full((2, 2), np.nan), np.zeros((3, 2, 2)), ["Cu", "W", "Cr"], x, y) == []
    assert format_drivers([("W", 0.0), ("Cr", float("nan"))]) == "—"
