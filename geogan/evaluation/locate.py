"""Deposits on a score grid: the grid's CRS and the cell each deposit falls in.

What lives here: :func:`scores_crs`, :class:`DepositLocation`, :func:`locate_deposits` and
:func:`deposits_on_grid`, shared by the metrics (:mod:`geogan.evaluation.metrics`), the evaluation
(:mod:`geogan.evaluation.single`), the report's map (:mod:`geogan.evaluation.report`), the score stage's early
deposit check and the anomaly polygons (:mod:`geogan.evaluation.gis`). What does not: reading deposit
files (:mod:`geogan.evaluation.deposits`), reading score grids (:mod:`geogan.evaluation.scorefiles`) and the metrics.
Nothing here reads or writes files.

>>> import numpy as np, xarray as xr
>>> from geogan.evaluation.deposits import Deposits
>>> grid = xr.DataArray(
...     np.array([[1.0, np.nan], [3.0, 4.0]], dtype="float32"), dims=("y", "x"),
...     coords={"y": [150.0, 50.0], "x": [50.0, 150.0]},
... ).rio.write_crs("EPSG:32650")
>>> loc = locate_deposits(grid, Deposits.from_xy([20.0, 120.0, 900.0], [30.0, 180.0, 0.0], crs="EPSG:32650"))
>>> loc.row.tolist(), loc.col.tolist(), loc.used.tolist()
([1, 0, -1], [0, 1, -1], [True, False, False])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from geogan.evaluation.deposits import Deposits
from geogan.errors import CRSError, EvaluationError
from geogan.gridspec import parse_crs

__all__ = ["DepositLocation", "deposits_on_grid", "locate_deposits", "scores_crs"]


def scores_crs(scores: xr.DataArray) -> pyproj.CRS:
    """The CRS of a score grid (:class:`CRSError` when it has none)."""
    if scores.rio.crs is None:
        raise CRSError("score grid has no CRS; write one with scores.rio.write_crs(...)")
    return parse_crs(scores.rio.crs, what="score grid CRS")


@dataclass(frozen=True)
class DepositLocation:
    """Where each deposit falls on the score grid.

    ``row``/``col`` are -1 for deposits outside the grid. ``used`` = inside and on a valid
    cell; ``on_nodata`` = inside but on a NaN cell.
    """

    row: np.ndarray
    col: np.ndarray
    outside: np.ndarray
    on_nodata: np.ndarray

    @property
    def used(self) -> np.ndarray:
        return ~(self.outside | self.on_nodata)


def locate_deposits(scores: xr.DataArray, deposits: Deposits, *, values: np.ndarray | None = None) -> DepositLocation:
    """Map deposits to grid cells with the inverse of the grid's affine transform."""
    deposits = deposits.to_crs(scores_crs(scores))
    height, width = scores.shape
    inverse = ~scores.rio.transform()
    colf, rowf = inverse * (deposits.x, deposits.y)
    col = np.floor(np.asarray(colf, dtype="float64"))
    row = np.floor(np.asarray(rowf, dtype="float64"))
    outside = ~(np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < width) & (row >= 0) & (row < height))
    row = np.where(outside, -1, row).astype("int64")
    col = np.where(outside, -1, col).astype("int64")
    if values is None:
        values = np.asarray(scores.data)
    on_nodata = np.zeros(row.size, dtype=bool)
    inside = ~outside
    on_nodata[inside] = np.isnan(values[row[inside], col[inside]])
    return DepositLocation(row=row, col=col, outside=outside, on_nodata=on_nodata)


def deposits_on_grid(grid: xr.DataArray, deposits: Deposits, *, values: np.ndarray | None = None) -> DepositLocation:
    """:func:`locate_deposits`, refusing (:class:`EvaluationError`) when no deposit lies on a
    valid cell of ``grid`` (any 2-D ``(y, x)`` array with the grid's CRS and transform; NaN =
    no data). The score stage calls this on the grid before scoring, so a deposit file that
    misses the grid fails in seconds, not after hours of scoring."""
    location = locate_deposits(grid, deposits, values=values)
    if not location.used.any():
        hint = ""
        if deposits.source_crs_assumed:
            hint = (
                " The deposit file named no CRS, so the grid's was assumed; if its coordinates are in "
                "another CRS, give it (--deposits-crs; DepositOptions(input_crs=...))."
            )
            looks_degrees = np.all(np.abs(deposits.x) <= 180.0) & np.all(np.abs(deposits.y) <= 90.0)
            if scores_crs(grid).is_projected and looks_degrees:
                hint += " The coordinates look like degrees: try --deposits-crs EPSG:4326."
        raise EvaluationError(
            f"none of the {len(deposits)} deposits lies on a valid grid cell "
            f"({int(location.outside.sum())} outside the grid, {int(location.on_nodata.sum())} on no-data "
            f"cells); nothing to evaluate.{hint}",
            path=deposits.path,
        )
    return location
