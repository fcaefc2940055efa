"""The grid: extent, cell size, CRS and tiling.

A :class:`GridSpec` is north-up; its cells are square unless ``cell_size_y_m`` says
otherwise (rasters imported as they come: a reprojected raster often has dx ≠ dy);
``x``/``y`` coordinates are cell centres, ``y`` descending (row 0 is the northern edge),
matching GeoTIFF conventions.
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

#: Default upper bound on a grid's cell count (``--max-cells``): 26 x the national preset's
#: 38 M cells. A grid above it is refused before anything is allocated.
MAX_CELLS = 1_000_000_000
#: Default cell edge (``--cell-size``) and tile edge in cells, the Zarr chunk (``--tile``).
DEFAULT_CELL_SIZE_M = 500.0
DEFAULT_TILE = 512


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


def _check_degrees(cell: float, bounds: tuple[float, float, float, float]) -> None:
    """In a geographic CRS cells and bounds are degrees: refuse sizes meant in metres."""
    if cell > 1.0:
        raise GridError(f"the grid CRS is geographic, so the cell size is in degrees, and {cell:g}° is over 1° "
                        f"(~111 km); give it in degrees (e.g. 0.005 for ~500 m) or use a projected CRS")
    xmin, ymin, xmax, ymax = bounds
    if not (-180 <= xmin and xmax <= 360 and -90 <= ymin and ymax <= 90):
        raise GridError(f"bounds {bounds} are not longitudes/latitudes in degrees, but the grid CRS is "
                        f"geographic; check --input-crs or use a projected grid CRS")


def _clip_tile(tile, width: int, height: int) -> int:
    """A new grid's tile: never more than its longer side (``--tile 20000`` on a 50 × 50 grid
    would otherwise allocate 20,000² cells per chunk). Stored grids keep the tile they have."""
    tile = int(tile)
    return min(tile, max(width, height, 1)) if tile >= 1 else tile


@dataclass(frozen=True)
class GridSpec:
    """A north-up raster grid.

    Parameters
    ----------
    crs
        Grid CRS (WKT or any pyproj input); stored as WKT.
    cell_size_m
        Cell width (x) in CRS units (metres for projected CRSs); also the height unless
        ``cell_size_y_m`` is given.
    xmin, ymax
        Upper-left corner of the upper-left cell.
    width, height
        Number of columns and rows.
    tile
        Tile edge in cells: the unit of work and the Zarr chunk.
    cell_size_y_m
        Cell height (y) when it differs from the width; None for square cells.

    Raises
    ------
    GridError
        A cell size or height that is not a positive number, fewer than one row or column,
        a tile under 1 cell; from :meth:`from_bounds`, bounds that are not four finite numbers
        in order, or a grid of more than ``max_cells`` cells.
    CRSError
        From :meth:`from_bounds` and :meth:`from_points`: an invalid CRS, a geographic one
        without ``allow_geographic``, or a projected one whose axes are not in metres.

    Examples
    --------
    >>> from geogan import GridSpec
    >>> spec = GridSpec.from_bounds((500_000, 2_700_000, 510_000, 2_705_000), crs="EPSG:32650",
    ...                             cell_size_m=1000, tile=4)
    >>> spec.width, spec.height, spec.n_tiles
    (10, 5, 6)
    >>> spec.bounds
    (500000.0, 2700000.0, 510000.0, 2705000.0)
    >>> GridSpec.from_bounds((0, 0, 1, 1), crs="EPSG:4326")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.CRSError: grid CRS EPSG:4326 is geographic (degrees): cell sizes, distances and areas need ...
    """

    crs: str
    cell_size_m: float
    xmin: float
    ymax: float
    width: int
    height: int
    tile: int = DEFAULT_TILE
    cell_size_y_m: float | None = None

    def __post_init__(self):
        if not (self.cell_size_m > 0 and math.isfinite(self.cell_size_m)):
            raise GridError(f"cell size must be a positive number, got {self.cell_size_m!r}")
        if self.cell_size_y_m is not None:
            if not (self.cell_size_y_m > 0 and math.isfinite(self.cell_size_y_m)):
                raise GridError(f"cell height must be a positive number, got {self.cell_size_y_m!r}")
            if math.isclose(self.cell_size_y_m, self.cell_size_m, rel_tol=1e-9):
                object.__setattr__(self, "cell_size_y_m", None)  # square: one spelling only
        if self.width < 1 or self.height < 1:
            raise GridError(f"grid must have at least one cell, got {self.width} x {self.height}")
        if self.tile < 1:
            raise GridError(f"tile must be at least 1 cell, got {self.tile}")

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_bounds(
        cls, bounds, *, crs, cell_size_m: float = DEFAULT_CELL_SIZE_M, tile: int = DEFAULT_TILE,
        allow_geographic: bool = False, max_cells: int | None = MAX_CELLS,
    ) -> "GridSpec":
        """Grid covering ``bounds = (xmin, ymin, xmax, ymax)``, snapped outward to cell multiples.

        A grid of more than ``max_cells`` cells (``None``: no limit) is refused with the
        computed size and its likely cause, before any array exists.
        """
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
        if crs.is_geographic:
            _check_degrees(c, (xmin, ymin, xmax, ymax))
        n_cols, n_rows = max(math.ceil((xmax - xmin) / c), 1), max(math.ceil((ymax - ymin) / c), 1)
        if max_cells is not None and n_cols * n_rows > max_cells:
            unit = "°" if crs.is_geographic else " m"
            raise GridError(
                f"the grid would have {n_cols * n_rows:.3g} cells ({n_rows:,} rows x {n_cols:,} columns of "
                f"{c:g}{unit} over an extent of {xmax - xmin:.4g} x {ymax - ymin:.4g}{unit}), over the limit of "
                f"{max_cells:,}: are the coordinates in the units of their CRS (check --input-crs, --x/--y) and "
                f"the cell size right? Raise the limit with --max-cells if the grid is meant")
        x0 = math.floor(xmin / c) * c
        y0 = math.floor(ymin / c) * c
        x1 = max(math.ceil(xmax / c) * c, x0 + c)
        y1 = max(math.ceil(ymax / c) * c, y0 + c)
        width = int(round((x1 - x0) / c))
        height = int(round((y1 - y0) / c))
        return cls(crs=crs.to_wkt(), cell_size_m=c, xmin=x0, ymax=y1, width=width, height=height,
                   tile=_clip_tile(tile, width, height))

    @classmethod
    def from_points(cls, x, y, *, crs, cell_size_m: float = DEFAULT_CELL_SIZE_M, tile: int = DEFAULT_TILE,
                    allow_geographic: bool = False, max_cells: int | None = MAX_CELLS) -> "GridSpec":
        """Grid covering the points' extent, snapped outward to cell multiples."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.size == 0:
            raise GridError("no points to derive a grid extent from")
        return cls.from_bounds((x.min(), y.min(), x.max(), y.max()), crs=crs, cell_size_m=cell_size_m,
                               tile=tile, allow_geographic=allow_geographic, max_cells=max_cells)

    @classmethod
    def from_transform(cls, transform: Affine, *, width: int, height: int, crs, tile: int = DEFAULT_TILE) -> "GridSpec":
        """Grid from a north-up affine transform (e.g. an imported GeoTIFF); cells may be
        rectangular (dx ≠ dy)."""
        if transform.b != 0 or transform.d != 0 or transform.a <= 0 or transform.e >= 0:
            raise GridError(f"only north-up grids (no rotation, x increasing, y decreasing) are supported, got "
                            f"transform {tuple(transform)[:6]}")
        return cls(crs=parse_crs(crs).to_wkt(), cell_size_m=float(transform.a), xmin=float(transform.c),
                   ymax=float(transform.f), width=int(width), height=int(height),
                   tile=_clip_tile(tile, int(width), int(height)), cell_size_y_m=float(-transform.e))

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
    def cell_x(self) -> float:
        """Cell width (x)."""
        return self.cell_size_m

    @property
    def cell_y(self) -> float:
        """Cell height (y): ``cell_size_y_m``, or the width for square cells."""
        return self.cell_size_m if self.cell_size_y_m is None else self.cell_size_y_m

    @property
    def cell_area(self) -> float:
        """Area of one cell in CRS units squared (m² for projected CRSs)."""
        return self.cell_x * self.cell_y

    @property
    def cell_label(self) -> str:
        """The cell size as text: ``500`` or ``4243.9 x 4178.9``."""
        return f"{self.cell_x:g}" if self.cell_size_y_m is None else f"{self.cell_x:g} x {self.cell_y:g}"

    @property
    def transform(self) -> Affine:
        return Affine(self.cell_x, 0.0, self.xmin, 0.0, -self.cell_y, self.ymax)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.xmin, self.ymax - self.height * self.cell_y, self.xmin + self.width * self.cell_x, self.ymax)

    def x_coords(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = self.width if stop is None else stop
        return self.xmin + (np.arange(start, stop, dtype=np.float64) + 0.5) * self.cell_x

    def y_coords(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = self.height if stop is None else stop
        return self.ymax - (np.arange(start, stop, dtype=np.float64) + 0.5) * self.cell_y

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
        col = np.floor((np.asarray(x, float) - self.xmin) / self.cell_x).astype(np.int64)
        row = np.floor((self.ymax - np.asarray(y, float)) / self.cell_y).astype(np.int64)
        inside = (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        return row, col, inside

    def to_dict(self) -> dict:
        d = {"crs": self.crs, "cell_size_m": self.cell_size_m, "xmin": self.xmin, "ymax": self.ymax,
             "width": self.width, "height": self.height, "tile": self.tile}
        if self.cell_size_y_m is not None:  # square grids keep the layout they always had
            d["cell_size_y_m"] = self.cell_size_y_m
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GridSpec":
        return cls(**{k: d[k] for k in ("crs", "cell_size_m", "xmin", "ymax", "width", "height", "tile")},
                   cell_size_y_m=d.get("cell_size_y_m"))
