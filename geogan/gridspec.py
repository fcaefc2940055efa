"""The grid: extent, cell size, CRS and tiling.

A :class:`GridSpec` is north-up with square cells; ``x``/``y`` coordinates are cell
centres, ``y`` descending (row 0 is the northern edge), matching GeoTIFF conventions.
Tiles are ``tile × tile`` cells and are the unit of work and the Zarr chunk.

>>> spec = GridSpec.from_bounds((0, 0, 2000, 1000), crs="EPSG:32650", cell_size_m=500, tile=2)
>>> spec.shape, spec.n_tiles
((2, 4), 2)
>>> spec.x_coords()
array([ 250.,  750., 1250., 1750.])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyproj
from affine import Affine

from geogan.errors import CRSError, GridError


def parse_crs(crs, *, what: str = "CRS") -> pyproj.CRS:
    """Parse a user CRS (``EPSG:xxxx``, WKT, PROJ string, pyproj/rasterio CRS)."""
    if isinstance(crs, pyproj.CRS):
        return crs
    try:
        return pyproj.CRS.from_user_input(crs if not hasattr(crs, "to_wkt") else crs.to_wkt())
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"{what} {crs!r} is not a valid coordinate reference system ({exc})") from None


def check_grid_crs(crs, *, allow_geographic: bool = False) -> pyproj.CRS:
    """Return the grid CRS, refusing geographic CRSs (cells must have a size in metres)."""
    crs = parse_crs(crs, what="grid CRS")
    if crs.is_geographic and not allow_geographic:
        raise CRSError(
            f"grid CRS {crs.to_string()} is geographic (degrees): cell sizes, distances and areas "
            "need a projected CRS in metres; pick one (e.g. a UTM zone or a national grid) "
            "or pass --allow-geographic"
        )
    if crs.is_projected:
        unit = crs.axis_info[0].unit_name if crs.axis_info else "metre"
        if unit not in ("metre", "meter", "m"):
            raise CRSError(f"grid CRS {crs.to_string()} has axis unit {unit!r}; geogan grids need metres")
    return crs


@dataclass(frozen=True)
class GridSpec:
    """A north-up raster grid.

    Parameters
    ----------
    crs
        Grid CRS (WKT or any pyproj input); stored as WKT.
    cell_size_m
        Cell edge length in CRS units (metres for projected CRSs).
    xmin, ymax
        Upper-left corner of the upper-left cell.
    width, height
        Number of columns and rows.
    tile
        Tile edge in cells: the unit of work and the Zarr chunk.
    """

    crs: str
    cell_size_m: float
    xmin: float
    ymax: float
    width: int
    height: int
    tile: int = 512

    def __post_init__(self):
        if not (self.cell_size_m > 0 and math.isfinite(self.cell_size_m)):
            raise GridError(f"cell size must be a positive number, got {self.cell_size_m!r}")
        if self.width < 1 or self.height < 1:
            raise GridError(f"grid must have at least one cell, got {self.width} x {self.height}")
        if self.tile < 1:
            raise GridError(f"tile must be at least 1 cell, got {self.tile}")

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_bounds(
        cls, bounds, *, crs, cell_size_m: float = 500.0, tile: int = 512,
        allow_geographic: bool = False,
    ) -> "GridSpec":
        """Grid covering ``bounds = (xmin, ymin, xmax, ymax)``, snapped outward to cell multiples."""
        crs = check_grid_crs(crs, allow_geographic=allow_geographic)
        try:
            xmin, ymin, xmax, ymax = (float(v) for v in bounds)
        except (TypeError, ValueError):
            raise GridError(f"bounds must be four numbers xmin,ymin,xmax,ymax, got {bounds!r}") from None
        if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
            raise GridError(f"bounds must be finite, got {bounds!r}")
        if xmax < xmin or ymax < ymin:
            raise GridError(f"bounds must be xmin,ymin,xmax,ymax with xmin <= xmax and ymin <= ymax, got {bounds!r}")
        if not cell_size_m > 0:
            raise GridError(f"cell size must be a positive number, got {cell_size_m!r}")
        c = float(cell_size_m)
        x0 = math.floor(xmin / c) * c
        y0 = math.floor(ymin / c) * c
        x1 = max(math.ceil(xmax / c) * c, x0 + c)
        y1 = max(math.ceil(ymax / c) * c, y0 + c)
        width = int(round((x1 - x0) / c))
        height = int(round((y1 - y0) / c))
        return cls(crs=crs.to_wkt(), cell_size_m=c, xmin=x0, ymax=y1, width=width, height=height, tile=int(tile))

    @classmethod
    def from_points(cls, x, y, *, crs, cell_size_m: float = 500.0, tile: int = 512,
                    allow_geographic: bool = False) -> "GridSpec":
        """Grid covering the points' extent, snapped outward to cell multiples."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.size == 0:
            raise GridError("no points to derive a grid extent from")
        return cls.from_bounds((x.min(), y.min(), x.max(), y.max()), crs=crs, cell_size_m=cell_size_m,
                               tile=tile, allow_geographic=allow_geographic)

    @classmethod
    def from_transform(cls, transform: Affine, *, width: int, height: int, crs, tile: int = 512) -> "GridSpec":
        """Grid from a north-up affine transform with square cells (e.g. an imported GeoTIFF)."""
        if transform.b != 0 or transform.d != 0 or transform.e >= 0 or not math.isclose(transform.a, -transform.e):
            raise GridError(f"only north-up grids with square cells are supported, got transform {tuple(transform)[:6]}")
        return cls(crs=parse_crs(crs).to_wkt(), cell_size_m=float(transform.a), xmin=float(transform.c),
                   ymax=float(transform.f), width=int(width), height=int(height), tile=int(tile))

    # -- derived ----------------------------------------------------------------------
    @property
    def pyproj_crs(self) -> pyproj.CRS:
        return pyproj.CRS.from_wkt(self.crs)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (self.height, self.width)

    @property
    def n_cells(self) -> int:
        return self.width * self.height

    @property
    def transform(self) -> Affine:
        return Affine(self.cell_size_m, 0.0, self.xmin, 0.0, -self.cell_size_m, self.ymax)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        c = self.cell_size_m
        return (self.xmin, self.ymax - self.height * c, self.xmin + self.width * c, self.ymax)

    def x_coords(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = self.width if stop is None else stop
        return self.xmin + (np.arange(start, stop, dtype=np.float64) + 0.5) * self.cell_size_m

    def y_coords(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = self.height if stop is None else stop
        return self.ymax - (np.arange(start, stop, dtype=np.float64) + 0.5) * self.cell_size_m

    @property
    def chunks(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Dask-style chunks ``(row chunks, column chunks)`` aligned with the tiles."""
        def split(n):
            full, rest = divmod(n, self.tile)
            return (self.tile,) * full + ((rest,) if rest else ())
        return (split(self.height), split(self.width))

    @property
    def tile_grid(self) -> tuple[int, int]:
        """Number of tiles along (rows, columns)."""
        return (math.ceil(self.height / self.tile), math.ceil(self.width / self.tile))

    @property
    def n_tiles(self) -> int:
        r, c = self.tile_grid
        return r * c

    def tile_slices(self, i: int, j: int) -> tuple[slice, slice]:
        """Row and column slices of tile ``(i, j)``."""
        t = self.tile
        return (slice(i * t, min((i + 1) * t, self.height)), slice(j * t, min((j + 1) * t, self.width)))

    def tiles(self) -> Iterator[tuple[int, int]]:
        """Tile indices in row-major order."""
        rows, cols = self.tile_grid
        for i in range(rows):
            for j in range(cols):
                yield (i, j)

    def cell_of(self, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and an inside-the-grid mask for points in the grid CRS."""
        col = np.floor((np.asarray(x, float) - self.xmin) / self.cell_size_m).astype(np.int64)
        row = np.floor((self.ymax - np.asarray(y, float)) / self.cell_size_m).astype(np.int64)
        inside = (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        return row, col, inside

    def to_dict(self) -> dict:
        return {"crs": self.crs, "cell_size_m": self.cell_size_m, "xmin": self.xmin, "ymax": self.ymax,
                "width": self.width, "height": self.height, "tile": self.tile}

    @classmethod
    def from_dict(cls, d: dict) -> "GridSpec":
        return cls(**{k: d[k] for k in ("crs", "cell_size_m", "xmin", "ymax", "width", "height", "tile")})
