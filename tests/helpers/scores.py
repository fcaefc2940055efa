"""Small score grids and deposit coordinates for the evaluation and report tests.

Plain functions (not fixtures) so tests call them with arguments; imported by the test
modules as ``from tests.helpers.scores import make_scores, cell_xy``.
"""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

CRS = "EPSG:32650"
X0, Y0 = 400_000.0, 2_800_000.0


def make_scores(values, *, crs=CRS, cell=100.0, x0=X0, y0=Y0) -> xr.DataArray:
    """A north-up (y descending) score grid with cell-centre coords and a CRS."""
    values = np.asarray(values, dtype="float32")
    h, w = values.shape
    x = x0 + cell * (np.arange(w) + 0.5)
    y = y0 - cell * (np.arange(h) + 0.5)
    da = xr.DataArray(values, dims=("y", "x"), coords={"y": y, "x": x}, name="anomaly")
    return da.rio.write_crs(crs)


def cell_xy(row, col, *, cell=100.0, x0=X0, y0=Y0, dx=0.5, dy=0.5):
    """Coordinates of a point in cell ``(row, col)`` of :func:`make_scores`'s grid (its centre
    by default; ``dx``/``dy`` = position inside the cell, 0..1 from its north-west corner)."""
    return x0 + cell * (np.asarray(col) + dx), y0 - cell * (np.asarray(row) + dy)


def typed_deposits(directory) -> tuple:
    """A score GeoTIFF high at two W-Sn deposits and low at an Au one, and the deposits in
    lon/lat under names nothing detects (``E``, ``N``) with their type in ``kind``:
    ``(anomaly.tif, deposits.csv)`` in ``directory``."""
    import pyproj

    values = np.full((20, 30), 0.5, dtype="float32")
    rows, cols = np.array([3, 10, 16]), np.array([4, 20, 25])
    values[rows[:2], cols[:2]] = 2.0
    values[rows[2], cols[2]] = 0.0
    tif = directory / "anomaly.tif"
    make_scores(values).rename(None).rio.to_raster(tif)
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(*cell_xy(rows, cols))
    csv = directory / "deposits.csv"
    csv.write_text("name,E,N,kind\n" + "".join(f"{n},{a},{b},{k}\n" for n, a, b, k in zip(
        "abc", lon, lat, ["W-Sn skarn", "w-sn vein", "Au orogenic"], strict=True)))
    return tif, csv
