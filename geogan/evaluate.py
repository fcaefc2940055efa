"""Evaluate an anomaly map against known deposits.

The metrics follow DESIGN.md "Evaluation definitions":

- **ROC AUC, all cells**: positives are the cells holding at least one deposit (a cell
  counts once), negatives every other valid cell. Computed exactly from the sorted valid
  scores (ties count ½), which equals :func:`sklearn.metrics.roc_auc_score` on the same cells.
- **Negative-sampling AUC** (the GeoChemAD benchmark protocol): positives are the scores at
  the cell of each deposit, negatives as many random valid cells at least ``min_dist_km``
  from every deposit; ``runs`` seeded draws, mean ± std.
- **P-A plot** (Yousefi & Carranza 2015): for thresholds ``t`` over the score,
  ``Pr(t)`` = % of deposits in cells scoring ≥ t and ``Oa(t)`` = % of the valid area scoring
  ≥ t; the intersection where ``Pr = 100 − Oa`` and ``Nd = Pr / Oa`` there. The success-rate
  curve (cumulative % deposits against % area ranked by score), its AUC, and the deposit share
  of the top 5 % of cells. Area metrics need equal-area cells, so they are refused for a
  geographic CRS (the AUCs are still computed and the refusal is recorded in the metrics).

>>> import numpy as np, xarray as xr
>>> scores = xr.DataArray(
...     np.arange(1, 11, dtype="float32").reshape(2, 5), dims=("y", "x"),
...     coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0, 350.0, 450.0]},
... ).rio.write_crs("EPSG:32650")
>>> deps = Deposits.from_xy([450.0, 350.0], [50.0, 50.0], crs="EPSG:32650")
>>> result = evaluate_scores(scores, deps, min_dist_km=0.1, runs=2)
>>> result.metrics["roc_auc"], result.metrics["n_deposits_used"]
(1.0, 2)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from scipy.spatial import cKDTree

import geogan
from geogan.errors import CRSError, EvaluationError, InputError, OutputExistsError
from geogan.gis import class_breaks, class_labels, classify
from geogan.gridspec import parse_crs
from geogan.urls import is_url, local_copy

__all__ = [
    "Deposits",
    "DepositLocation",
    "EvaluationResult",
    "read_deposits",
    "open_scores",
    "locate_deposits",
    "roc_auc_all_cells",
    "sample_negative_cells",
    "negative_sampling_auc",
    "prediction_area",
    "evaluate_scores",
    "evaluate",
    "evaluate_many",
    "add_deposit_drivers",
    "score_label",
    "TYPE_COLUMNS",
]

# Coordinate column pairs tried in order (case-insensitive); grid-native names first so a
# table carrying both projected and lon/lat columns is read in its projected coordinates.
_COORD_PAIRS = (
    ("x", "y"),
    ("easting", "northing"),
    ("lon", "lat"),
    ("longitude", "latitude"),
)
_LONLAT_NAMES = {"lon", "lat", "longitude", "latitude"}
# Slack around a projected CRS's area of use: legitimate data spill over zone edges by a few
# degrees, whereas degrees read as metres land thousands of km away.
_AREA_OF_USE_MARGIN_DEG = 5.0
_EARTH_RADIUS_KM = 6371.0088
_TOP_FRACTION = 0.05
#: Deposit type columns looked for (any case) by ``deposit_type`` when no column is named.
TYPE_COLUMNS = ("deposit_type", "type", "commodity", "commodities")
_PA_LEVELS = np.linspace(0.0, 1.0, 1001)


# --------------------------------------------------------------------------- deposits


@dataclass(frozen=True)
class Deposits:
    """Known deposit locations.

    Attributes
    ----------
    x, y
        Coordinates in :attr:`crs` (float64 arrays of equal length).
    attributes
        The other columns of the source table, one row per deposit, index 0..n-1.
    crs
        CRS of ``x``/``y`` (the grid's after :func:`read_deposits`).
    source_crs
        CRS the file's coordinates were read in.
    path
        Source file, if any.
    source_crs_assumed
        True when the file named no CRS and the grid's was assumed.
    selection
        How the rows were selected, e.g. ``"type contains 'W-Sn' (17 of 40 rows)"``
        (:func:`read_deposits` with ``deposit_type``); ``None`` when all rows are used.
    """

    x: np.ndarray
    y: np.ndarray
    attributes: pd.DataFrame
    crs: pyproj.CRS
    source_crs: pyproj.CRS | None = None
    path: Path | None = None
    source_crs_assumed: bool = False
    selection: str | None = None

    def __len__(self) -> int:
        return int(self.x.size)

    @classmethod
    def from_xy(cls, x, y, *, crs, attributes: pd.DataFrame | None = None) -> Deposits:
        """Build deposits from coordinate arrays already in ``crs``."""
        x = np.asarray(x, dtype="float64").ravel()
        y = np.asarray(y, dtype="float64").ravel()
        if x.shape != y.shape:
            raise InputError(f"deposit x and y have different lengths ({x.size} and {y.size})")
        crs = parse_crs(crs, what="deposits CRS")
        if attributes is None:
            attributes = pd.DataFrame(index=pd.RangeIndex(x.size))
        return cls(x=x, y=y, attributes=attributes.reset_index(drop=True), crs=crs, source_crs=crs)

    def to_crs(self, crs) -> Deposits:
        """Return the deposits reprojected to ``crs`` (same object when already there)."""
        crs = parse_crs(crs, what="target CRS")
        if crs == self.crs:
            return self
        tr = pyproj.Transformer.from_crs(self.crs, crs, always_xy=True)
        x, y = tr.transform(self.x, self.y, errcheck=False)
        return Deposits(
            x=np.asarray(x, dtype="float64"),
            y=np.asarray(y, dtype="float64"),
            attributes=self.attributes,
            crs=crs,
            source_crs=self.source_crs,
            path=self.path,
            source_crs_assumed=self.source_crs_assumed,
            selection=self.selection,
        )

    def select_type(self, value: str, *, column: str | None = None) -> Deposits:
        """The deposits whose type column holds ``value`` (case-insensitive: equal to it or
        containing it, so ``"W-Sn"`` matches ``"W-Sn skarn"``).

        ``column`` names the type column; default: the first of :data:`TYPE_COLUMNS` the
        table has (any case).

        Raises
        ------
        InputError
            No type column, or no deposit of that type (the message lists the types present).
        """
        table = self.attributes
        if column is not None:
            col = _find_column(table, column, path=self.path, what="deposit type")
        else:
            lower = {str(c).lower(): c for c in table.columns}
            col = next((lower[c] for c in TYPE_COLUMNS if c in lower), None)
            if col is None:
                raise InputError(
                    f"no deposit type column to select {value!r} by (looked for {', '.join(TYPE_COLUMNS)}, any "
                    f"case); name it with --deposit-type-column. Columns: {', '.join(map(str, table.columns[:30]))}",
                    path=self.path,
                )
        types = table[col].fillna("").astype(str).str.strip()
        wanted = str(value).strip().lower()
        keep = types.str.lower().str.contains(wanted, regex=False).to_numpy() if wanted else np.zeros(len(self), bool)
        if not keep.any():
            present = sorted({t for t in types if t})
            listed = ", ".join(repr(t) for t in present[:40]) + (f", … ({len(present)} types)" if len(present) > 40 else "")
            raise InputError(f"no deposit of type {value!r}; the types present are: "
                             f"{listed or '(none: the column is empty)'}", path=self.path, column=str(col))
        return replace(
            self,
            x=self.x[keep],
            y=self.y[keep],
            attributes=table[keep].reset_index(drop=True),
            selection=f"{col} contains {value!r} ({int(keep.sum())} of {len(self)} rows)",
        )

    @property
    def ids(self) -> pd.Series:
        """A label per deposit: an id/name column when the table has one, else the row number."""
        lower = {str(c).lower(): c for c in self.attributes.columns}
        for key in ("deposit_id", "id", "site_code", "name", "short_name", "site_title"):
            if key in lower:
                return self.attributes[lower[key]].astype(str)
        return pd.Series([str(i + 1) for i in range(len(self))])


def _sniff_delimiter(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.readline().decode("latin-1")
    counts = {d: head.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_table(path: Path) -> tuple[pd.DataFrame, np.ndarray | None, pyproj.CRS | None]:
    """Read a deposit table; returns (attributes, point xy from geometry or None, file CRS)."""
    suffix = path.suffix.lower()
    if suffix in (".gpkg", ".shp", ".geojson", ".json", ".fgb"):
        return _read_vector(path)
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path), None, None
        except Exception as exc:  # pyarrow raises several unrelated types
            raise InputError(f"cannot read Parquet file ({exc})", path=path) from None
    if path.stat().st_size == 0:
        raise InputError("deposit file is empty; it needs a header row and one row per deposit", path=path)
    sep = _sniff_delimiter(path)
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            table = pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False)
            return table, None, None
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise InputError(
                "deposit file is empty; it needs a header row and one row per deposit", path=path
            ) from None
        except pd.errors.ParserError as exc:
            raise InputError(f"cannot parse as a delimited table ({exc})", path=path) from None
    raise InputError("cannot decode the file as UTF-8 or Latin-1 text", path=path)  # pragma: no cover


def _read_vector(path: Path) -> tuple[pd.DataFrame, np.ndarray | None, pyproj.CRS | None]:
    import pyogrio
    import shapely

    try:
        meta, _fids, geometry, field_data = pyogrio.raw.read(path)
    except Exception as exc:  # pyogrio/GDAL raise DataSourceError, DataLayerError, ...
        raise InputError(f"cannot read vector file ({exc})", path=path) from None
    table = pd.DataFrame({name: values for name, values in zip(meta["fields"], field_data, strict=True)})
    file_crs = parse_crs(meta["crs"], what="file CRS") if meta.get("crs") else None
    if geometry is None:
        return table, None, file_crs
    geoms = shapely.from_wkb(geometry)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        row = int(np.flatnonzero(empty)[0]) + 1
        raise InputError("deposit has no geometry; give every deposit a point", path=path, row=row)
    # Mine outlines are sometimes polygons; their centroid is where the deposit is scored.
    points = shapely.centroid(geoms)
    xy = np.column_stack([shapely.get_x(points), shapely.get_y(points)])
    return table, xy, file_crs


def _find_column(table: pd.DataFrame, name: str, *, path: Path, what: str) -> str:
    if name in table.columns:
        return name
    lower = {str(c).lower(): c for c in table.columns}
    if name.lower() in lower:
        return lower[name.lower()]
    raise InputError(
        f"{what} column not found; the table has: {', '.join(map(str, table.columns[:30]))}",
        path=path,
        column=name,
    )


def _detect_xy(table: pd.DataFrame, *, path: Path, x: str | None, y: str | None) -> tuple[str, str]:
    if x is not None or y is not None:
        if x is None or y is None:
            raise InputError("give both the x and the y coordinate column, or neither", path=path)
        return _find_column(table, x, path=path, what="x"), _find_column(table, y, path=path, what="y")
    lower = {str(c).lower(): c for c in table.columns}
    for cx, cy in _COORD_PAIRS:
        if cx in lower and cy in lower:
            return lower[cx], lower[cy]
    raise InputError(
        "no coordinate columns found (looked for x/y, easting/northing, lon/lat, "
        "longitude/latitude, any case); name them with --deposits-x/--deposits-y. "
        f"Columns: {', '.join(map(str, table.columns[:30]))}",
        path=path,
    )


def _to_numeric(values: pd.Series, *, path: Path, column: str) -> np.ndarray:
    text = values.astype(str).str.strip() if values.dtype == object else values
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isfinite(numbers)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = values.iloc[i]
        what = "is missing" if (raw is None or str(raw).strip() == "") else f"{raw!r} is not a number"
        raise InputError(
            f"coordinate {what}; every deposit needs numeric coordinates (fix or remove the row)",
            path=path,
            row=i + 1,
            column=column,
        )
    return numbers


def _check_range(x, y, *, crs: pyproj.CRS, path: Path, columns: tuple[str, str], assumed: bool):
    """Refuse coordinates outside what ``crs`` can describe (the usual symptom of a wrong CRS)."""
    if crs.is_geographic:
        bad = (np.abs(x) > 180.0) | (np.abs(y) > 90.0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            col = columns[0] if abs(x[i]) > 180.0 else columns[1]
            raise CRSError(
                f"({x[i]:g}, {y[i]:g}) is outside longitude −180..180 / latitude −90..90 of "
                f"{crs.to_string()}; if these are projected coordinates, give their CRS "
                "(input_crs / --deposits-crs)",
                path=path,
                row=i + 1,
                column=col,
            )
        return
    aou = crs.area_of_use
    # An assumed CRS is the grid's own: data matching the grid are consistent whatever the
    # area of use says (synthetic grids near the false origin); evaluate_scores explains
    # the mismatch instead when no deposit lands on the grid.
    if aou is None or assumed:
        return
    to_geo = pyproj.Transformer.from_crs(crs, crs.geodetic_crs or "EPSG:4326", always_xy=True)
    lon, lat = to_geo.transform(x, y, errcheck=False)
    lon, lat = np.asarray(lon), np.asarray(lat)
    m = _AREA_OF_USE_MARGIN_DEG
    if aou.west <= aou.east:
        lon_ok = (lon >= aou.west - m) & (lon <= aou.east + m)
    else:  # the area crosses the antimeridian
        lon_ok = (lon >= aou.west - m) | (lon <= aou.east + m)
    ok = np.isfinite(lon) & np.isfinite(lat) & lon_ok & (lat >= aou.south - m) & (lat <= aou.north + m)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        hint = "check the CRS (input_crs / --deposits-crs) and the coordinate columns"
        if np.all(np.abs(x) <= 180.0) and np.all(np.abs(y) <= 90.0):
            hint = "the values look like degrees: pass input_crs='EPSG:4326' (--deposits-crs EPSG:4326)"
        raise CRSError(
            f"({x[i]:g}, {y[i]:g}) lies far outside the area of use of {crs.to_string()} "
            f"({aou.name}); {hint}",
            path=path,
            row=i + 1,
        )


def read_deposits(
    path: str | PathLike,
    *,
    crs,
    x: str | None = None,
    y: str | None = None,
    input_crs=None,
    deposit_type: str | None = None,
    deposit_type_column: str | None = None,
) -> Deposits:
    """Read known deposits from CSV (or Parquet) or a vector file (GeoPackage) into ``crs``.

    Parameters
    ----------
    path
        CSV (delimiter sniffed, UTF-8 or Latin-1), Parquet, or a point layer (GeoPackage, ...).
    crs
        The grid's CRS: deposits are reprojected to it (pyproj, ``always_xy``).
    x, y
        Coordinate column names. Auto-detected (any case) among x/y, easting/northing,
        lon/lat and longitude/latitude; vector files use their geometry.
    input_crs
        CRS of the file's coordinates. Default: the file's own CRS (vector files),
        EPSG:4326 for lon/lat columns, else ``crs`` (the file is assumed to be in the grid CRS).
    deposit_type
        Keep only the deposits of this type (:meth:`Deposits.select_type`: the type column
        equals or contains it, any case), e.g. ``"W-Sn"``. Every row is validated first.
    deposit_type_column
        The type column; default the first of ``deposit_type``, ``type``, ``commodity``,
        ``commodities`` (any case).

    Returns
    -------
    Deposits
        Coordinates in ``crs`` plus the remaining columns as attributes.

    Raises
    ------
    InputError
        Missing or empty file, no coordinate columns, a non-numeric or missing coordinate; a
        ``deposit_type`` with no type column or no deposit of that type (the types present
        are listed).
    CRSError
        Coordinates outside the valid range of the input CRS (usually a wrong CRS).
    """
    if is_url(path):  # s3://, gs://, https:// ...: read a temporary local copy
        with local_copy(path, what="deposit file") as local:
            deposits = read_deposits(local, crs=crs, x=x, y=y, input_crs=input_crs, deposit_type=deposit_type,
                                     deposit_type_column=deposit_type_column)
        return replace(deposits, path=path)
    path = Path(path)
    if not path.exists():
        raise InputError("deposit file not found", path=path)
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise InputError("deposit path is a directory; give a CSV or GeoPackage file", path=path)
    grid_crs = parse_crs(crs, what="grid CRS")
    table, geometry_xy, file_crs = _read_table(path)
    if len(table) == 0:
        raise InputError("deposit file has a header but no rows; nothing to evaluate against", path=path)

    if geometry_xy is not None and x is None and y is None:
        xs, ys = geometry_xy[:, 0].astype("float64"), geometry_xy[:, 1].astype("float64")
        columns = ("geometry", "geometry")
        attributes = table
        default_crs = file_crs
    else:
        cx, cy = _detect_xy(table, path=path, x=x, y=y)
        xs = _to_numeric(table[cx], path=path, column=str(cx))
        ys = _to_numeric(table[cy], path=path, column=str(cy))
        columns = (str(cx), str(cy))
        attributes = table.drop(columns=[cx, cy])
        lonlat = str(cx).lower() in _LONLAT_NAMES
        default_crs = file_crs or (pyproj.CRS.from_epsg(4326) if lonlat else None)

    assumed = False
    if input_crs is not None:
        src_crs = parse_crs(input_crs, what="deposits CRS")
    elif default_crs is not None:
        src_crs = default_crs
    else:
        src_crs, assumed = grid_crs, True
    _check_range(xs, ys, crs=src_crs, path=path, columns=columns, assumed=assumed)

    if src_crs != grid_crs:
        tr = pyproj.Transformer.from_crs(src_crs, grid_crs, always_xy=True)
        gx, gy = tr.transform(xs, ys, errcheck=False)
        gx, gy = np.asarray(gx, dtype="float64"), np.asarray(gy, dtype="float64")
        bad = ~(np.isfinite(gx) & np.isfinite(gy))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CRSError(
                f"({xs[i]:g}, {ys[i]:g}) cannot be transformed from {src_crs.to_string()} to the "
                f"grid CRS {grid_crs.to_string()}; check the deposits CRS",
                path=path,
                row=i + 1,
            )
        xs, ys = gx, gy
    deposits = Deposits(
        x=xs,
        y=ys,
        attributes=attributes.reset_index(drop=True),
        crs=grid_crs,
        source_crs=src_crs,
        path=path,
        source_crs_assumed=assumed,
    )
    if deposit_type is not None:
        deposits = deposits.select_type(deposit_type, column=deposit_type_column)
    elif deposit_type_column is not None:
        raise InputError("--deposit-type-column names the column that --deposit-type selects by; give "
                         "--deposit-type too", path=path)
    return deposits


# --------------------------------------------------------------------------- scores


def open_scores(path: str | PathLike, *, variable: str = "anomaly") -> xr.DataArray:
    """Open a score grid: ``scores.zarr`` (variable ``anomaly``) or a GeoTIFF (band 1).

    Returns a lazily loaded ``(y, x)`` float DataArray with a rioxarray CRS and transform;
    NaN marks cells without a score.

    Raises
    ------
    InputError
        The path does not exist or is neither a Zarr store nor a raster.
    CRSError
        The grid carries no CRS.
    StoreError
        A geogan ``scores.zarr`` that is incomplete or damaged (see
        :func:`geogan.store.open_store`).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("score grid not found", path=path)
    if path.is_dir():
        try:
            ds = xr.open_zarr(path, consolidated=False)
        except Exception as exc:  # zarr raises several types for "not a store"
            raise InputError(f"cannot open as a Zarr store ({exc})", path=path) from None
        from geogan.store import decode_attrs

        ds.attrs = decode_attrs(ds.attrs)  # geogan stores keep nested attributes as JSON strings
        if ds.attrs.get("geogan_kind") == "scores":
            from geogan.store import open_store

            # a geogan score store is validated as the score stage's own reads are: complete,
            # its grid attribute agreeing with the coordinates, no chunk missing
            ds = open_store(path, kind="scores")
        if "spatial_ref" in ds.data_vars:
            ds = ds.set_coords("spatial_ref")
        if variable not in ds.data_vars:
            candidates = [v for v in ds.data_vars if ds[v].ndim == 2]
            if len(candidates) != 1:
                raise InputError(
                    f"no {variable!r} variable in the store (variables: {', '.join(map(str, ds.data_vars))})",
                    path=path,
                )
            variable = candidates[0]
        scores = ds[variable]
        # The score stage records which detector and score made the grid at store level
        # (attrs["model"]); carry them to the array so reports can say which score was used.
        model = ds.attrs.get("model") if isinstance(ds.attrs.get("model"), dict) else {}
        for key in ("detector", "score"):
            value = ds.attrs.get(key, model.get(key))
            if value is not None:
                scores.attrs.setdefault(key, value)
    else:
        try:
            scores = rioxarray.open_rasterio(path, masked=True)
        except Exception as exc:  # rasterio raises RasterioIOError and friends
            raise InputError(f"cannot open as a raster ({exc})", path=path) from None
        if "band" in scores.dims:
            if scores.sizes["band"] != 1:
                raise InputError(
                    f"raster has {scores.sizes['band']} bands; give a single-band anomaly map", path=path
                )
            scores = scores.squeeze("band", drop=True)
    if scores.dims != ("y", "x"):
        raise InputError(f"score grid has dims {scores.dims}; expected ('y', 'x')", path=path)
    if scores.rio.crs is None:
        raise CRSError("score grid has no CRS; write one (rio.write_crs) before evaluating", path=path)
    scores.attrs.setdefault("source", str(path))
    return scores


def score_label(path: str | PathLike) -> str | None:
    """The name a score grid gives itself: the ``name`` or ``detector`` tag of a COG written by
    ``geogan score``, the detector recorded in a ``scores.zarr``, else a GeoTIFF's band
    description. ``None`` when it names nothing, or cannot be opened (evaluating it says why)."""
    from geogan.errors import GeoganError

    try:
        attrs = open_scores(path).attrs
    except GeoganError:
        return None
    for key in ("name", "detector", "long_name"):
        value = attrs.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def scores_crs(scores: xr.DataArray) -> pyproj.CRS:
    """The CRS of a score grid (:class:`CRSError` when it has none)."""
    if scores.rio.crs is None:
        raise CRSError("score grid has no CRS; write one with scores.rio.write_crs(...)")
    return parse_crs(scores.rio.crs, what="score grid CRS")


# --------------------------------------------------------------------------- metrics


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
                "another CRS, pass deposits_crs (--deposits-crs)."
            )
            looks_degrees = np.all(np.abs(deposits.x) <= 180.0) & np.all(np.abs(deposits.y) <= 90.0)
            if scores_crs(grid).is_projected and looks_degrees:
                hint += " The coordinates look like degrees: try deposits_crs='EPSG:4326'."
        raise EvaluationError(
            f"none of the {len(deposits)} deposits lies on a valid grid cell "
            f"({int(location.outside.sum())} outside the grid, {int(location.on_nodata.sum())} on no-data "
            f"cells); nothing to evaluate.{hint}",
            path=deposits.path,
        )
    return location


def _auc_sorted(pos_scores: np.ndarray, neg_sorted: np.ndarray) -> float:
    """Mann-Whitney AUC: mean over positives of P(neg < s) + ½ P(neg == s)."""
    less = np.searchsorted(neg_sorted, pos_scores, side="left")
    less_eq = np.searchsorted(neg_sorted, pos_scores, side="right")
    return float(np.sum(less + 0.5 * (less_eq - less), dtype="float64") / (pos_scores.size * neg_sorted.size))


def roc_auc_all_cells(valid_sorted: np.ndarray, positive_scores: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """ROC AUC and curve with positives = ``positive_scores`` (one per positive cell).

    Negatives are all other valid cells; they are never materialised: counts below/at each
    positive score come from the sorted scores of *all* valid cells minus the positives'.

    Parameters
    ----------
    valid_sorted
        Scores of every valid cell, sorted ascending (positives included).
    positive_scores
        Scores of the positive cells (each cell once).

    Returns
    -------
    auc, fpr, tpr
        The AUC (ties ½, equal to scikit-learn's) and the exact ROC curve vertices.
    """
    pos_sorted = np.sort(positive_scores)
    n_pos, n_neg = pos_sorted.size, valid_sorted.size - pos_sorted.size
    if n_pos == 0 or n_neg <= 0:
        raise EvaluationError(
            f"ROC AUC needs positive and negative cells (got {n_pos} positive, {max(n_neg, 0)} negative)"
        )
    all_less = np.searchsorted(valid_sorted, pos_sorted, side="left")
    all_le = np.searchsorted(valid_sorted, pos_sorted, side="right")
    pos_less = np.searchsorted(pos_sorted, pos_sorted, side="left")
    pos_le = np.searchsorted(pos_sorted, pos_sorted, side="right")
    neg_less = all_less - pos_less
    neg_eq = (all_le - all_less) - (pos_le - pos_less)
    auc = float(np.sum(neg_less + 0.5 * neg_eq, dtype="float64") / (n_pos * n_neg))

    # Curve vertices at each distinct positive score t: just above t, then at t (ties give
    # the diagonal segment that the ½ rule integrates).
    thresholds = np.unique(pos_sorted)[::-1]
    lo = np.searchsorted(valid_sorted, thresholds, side="left")
    hi = np.searchsorted(valid_sorted, thresholds, side="right")
    plo = np.searchsorted(pos_sorted, thresholds, side="left")
    phi = np.searchsorted(pos_sorted, thresholds, side="right")
    tp_above, tp_at = n_pos - phi, n_pos - plo
    fp_above = (valid_sorted.size - hi) - tp_above
    fp_at = (valid_sorted.size - lo) - tp_at
    fpr = np.concatenate([[0.0], np.column_stack([fp_above, fp_at]).ravel() / n_neg, [1.0]])
    tpr = np.concatenate([[0.0], np.column_stack([tp_above, tp_at]).ravel() / n_pos, [1.0]])
    return auc, fpr, tpr


def _cell_xyz_km(crs: pyproj.CRS, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points in a space where Euclidean distance is (a monotone function of) ground distance."""
    if crs.is_geographic:
        lon, lat = np.radians(x), np.radians(y)
        return _EARTH_RADIUS_KM * np.column_stack(
            [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
        )
    factor_km = crs.axis_info[0].unit_conversion_factor / 1000.0 if crs.axis_info else 1e-3
    return np.column_stack([x * factor_km, y * factor_km])


def _chord_km(crs: pyproj.CRS, distance_km: float) -> float:
    if crs.is_geographic:  # great-circle distance → chord length on the sphere
        return 2.0 * _EARTH_RADIUS_KM * math.sin(min(distance_km / (2.0 * _EARTH_RADIUS_KM), math.pi / 2))
    return distance_km


def sample_negative_cells(
    scores: xr.DataArray,
    deposits: Deposits,
    n: int,
    *,
    min_dist_km: float = 5.0,
    rng: np.random.Generator,
    values: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw up to ``n`` distinct random valid cells at least ``min_dist_km`` from every deposit.

    Candidates are drawn uniformly over the grid and rejected when NaN or too close to a
    deposit (distances between cell centres; great-circle for a geographic CRS). The pool
    grows until enough are found or the whole grid was examined, so memory stays small on
    large grids with few exclusions. Fewer than ``n`` cells are returned only when the grid
    has fewer eligible cells.

    Returns
    -------
    rows, cols
        Cell indices of the sampled cells.
    """
    crs = scores_crs(scores)
    deposits = deposits.to_crs(crs)
    if values is None:
        values = np.asarray(scores.data)
    height, width = values.shape
    transform = scores.rio.transform()
    finite = np.isfinite(deposits.x) & np.isfinite(deposits.y)
    tree = cKDTree(_cell_xyz_km(crs, deposits.x[finite], deposits.y[finite])) if finite.any() else None
    radius = _chord_km(crs, min_dist_km)
    flat_values = values.reshape(-1)
    pool = height * width
    m = min(pool, max(8 * n, 4096))
    while True:
        cand = rng.choice(pool, size=m, replace=False)
        keep = ~np.isnan(flat_values[cand])
        cand = cand[keep]
        if tree is not None and cand.size:
            rows, cols = np.divmod(cand, width)
            cx, cy = transform * (cols + 0.5, rows + 0.5)
            dist, _ = tree.query(_cell_xyz_km(crs, np.asarray(cx), np.asarray(cy)), k=1)
            cand = cand[dist >= radius]
        if cand.size >= n or m == pool:
            break
        m = min(pool, m * 4)
    rows, cols = np.divmod(cand[:n], width)
    return rows, cols


def negative_sampling_auc(
    scores: xr.DataArray,
    deposits: Deposits,
    *,
    min_dist_km: float = 5.0,
    runs: int = 20,
    seed: int = 0,
    values: np.ndarray | None = None,
    location: DepositLocation | None = None,
) -> dict:
    """GeoChemAD negative-sampling AUC: ``runs`` seeded draws, mean ± std.

    Positives are the scores at the cells of the deposits on valid cells (a deposit each);
    each draw takes as many negatives (see :func:`sample_negative_cells`).
    """
    if runs < 1:
        raise EvaluationError(f"runs must be ≥ 1 (got {runs})")
    if not min_dist_km >= 0:
        raise EvaluationError(f"min_dist_km must be ≥ 0 (got {min_dist_km})")
    if values is None:
        values = np.asarray(scores.data)
    if location is None:
        location = locate_deposits(scores, deposits, values=values)
    used = location.used
    pos = values[location.row[used], location.col[used]].astype("float64")
    rng = np.random.default_rng(seed)
    aucs, n_negatives = [], []
    for _ in range(runs):
        rows, cols = sample_negative_cells(
            scores, deposits, pos.size, min_dist_km=min_dist_km, rng=rng, values=values
        )
        if rows.size == 0:
            break
        neg = np.sort(values[rows, cols].astype("float64"))
        aucs.append(_auc_sorted(pos, neg))
        n_negatives.append(int(rows.size))
    out = {
        "negsamp_runs": runs,
        "negsamp_min_dist_km": float(min_dist_km),
        "negsamp_seed": seed,
        "negsamp_n_positives": int(pos.size),
        "negsamp_n_negatives": int(min(n_negatives)) if n_negatives else 0,
        "negsamp_auc_mean": float(np.mean(aucs)) if aucs else None,
        "negsamp_auc_std": float(np.std(aucs)) if aucs else None,
        "negsamp_aucs": [float(a) for a in aucs],
    }
    return out


def prediction_area(
    valid_sorted: np.ndarray,
    deposit_scores: np.ndarray,
    *,
    crs=None,
    levels: np.ndarray = _PA_LEVELS,
) -> dict:
    """P-A curves, their intersection, the success-rate curve and the top-5 % shares.

    Parameters
    ----------
    valid_sorted
        Scores of every valid cell, sorted ascending (cells are equal-area).
    deposit_scores
        Score at the cell of each deposit (one per deposit; several may share a cell).
    crs
        Grid CRS; a geographic CRS is refused because its cells are not equal-area.
    levels
        Quantile levels (0..1) of the valid scores used as thresholds.

    Returns
    -------
    dict
        Curves ``pa_threshold``, ``pa_prediction_rate`` (Pr, %), ``pa_area_pct`` (Oa, %),
        ``success_area_pct``, ``success_deposit_pct`` (the success-rate curve at the
        thresholds), ``capture_area_pct``, ``capture_deposit_pct`` (the same curve exactly,
        a step per deposit score) and scalars ``pa_intersection_*``,
        ``pa_nd``, ``success_rate_auc``, ``top5_area_pct``, ``top5_deposit_pct``.

    Raises
    ------
    EvaluationError
        Geographic CRS, or no valid cells / deposits.
    """
    if crs is not None and parse_crs(crs).is_geographic:
        raise EvaluationError(
            f"area metrics (P-A plot, success rate, top-5 % shares) need a projected CRS with "
            f"equal-area cells; the score grid is in {parse_crs(crs).to_string()} (geographic, degrees). "
            "Reproject the grid (e.g. to a UTM zone or an equal-area CRS); the AUCs are still computed"
        )
    n = valid_sorted.size
    if n == 0 or deposit_scores.size == 0:
        raise EvaluationError("P-A plot needs valid cells and deposits on them")
    idx = np.clip(np.ceil(levels * n).astype("int64") - 1, 0, n - 1)
    thresholds = np.unique(valid_sorted[idx])
    dep_sorted = np.sort(deposit_scores)
    pr = 100.0 * (dep_sorted.size - np.searchsorted(dep_sorted, thresholds, side="left")) / dep_sorted.size
    oa = 100.0 * (n - np.searchsorted(valid_sorted, thresholds, side="left")) / n

    # Pr falls and 100 − Oa rises with t: the first sign change of their difference brackets
    # the intersection; both curves are linear between thresholds.
    diff = pr - (100.0 - oa)
    cross = np.flatnonzero((diff[:-1] > 0) & (diff[1:] <= 0))
    if diff[0] <= 0:
        k, frac = 0, 0.0
    elif cross.size:
        k = int(cross[0])
        frac = diff[k] / (diff[k] - diff[k + 1])
    else:  # Pr stays above 100 − Oa up to the top threshold
        k, frac = thresholds.size - 1, 0.0
    k1 = min(k + 1, thresholds.size - 1)
    t_star = thresholds[k] + frac * (thresholds[k1] - thresholds[k])
    pr_star = pr[k] + frac * (pr[k1] - pr[k])
    oa_star = oa[k] + frac * (oa[k1] - oa[k])

    # Success rate: cells ranked by descending score; each threshold is one point.
    s_area = np.concatenate([[0.0], oa[::-1]])
    s_dep = np.concatenate([[0.0], pr[::-1]])
    if s_area[-1] < 100.0:  # pragma: no cover - the lowest threshold is the minimum score
        s_area, s_dep = np.append(s_area, 100.0), np.append(s_dep, 100.0)
    success_auc = float(np.sum(np.diff(s_area) * (s_dep[1:] + s_dep[:-1]) / 2.0) / 1e4)

    # The same cumulative curve exactly, one step per deposit score (no threshold grid), for
    # the success-rate figure's logarithmic area axis: vertices just above and at each
    # distinct deposit score (ties between cells give a sloped step, as on the ROC curve).
    levels_dep = np.unique(dep_sorted)[::-1]
    c_area = np.column_stack([n - np.searchsorted(valid_sorted, levels_dep, side="right"),
                              n - np.searchsorted(valid_sorted, levels_dep, side="left")]).ravel() / n
    c_dep = np.column_stack([dep_sorted.size - np.searchsorted(dep_sorted, levels_dep, side="right"),
                             dep_sorted.size - np.searchsorted(dep_sorted, levels_dep, side="left")]).ravel()
    capture_area = 100.0 * np.concatenate([[0.0], c_area, [1.0]])
    capture_dep = 100.0 * np.concatenate([[0.0], c_dep / dep_sorted.size, [1.0]])

    k_top = max(1, math.ceil(_TOP_FRACTION * n))
    t_top = valid_sorted[n - k_top]
    top_area = 100.0 * (n - np.searchsorted(valid_sorted, t_top, side="left")) / n
    top_dep = 100.0 * (dep_sorted.size - np.searchsorted(dep_sorted, t_top, side="left")) / dep_sorted.size
    return {
        "pa_threshold": thresholds.astype("float64"),
        "pa_prediction_rate": pr,
        "pa_area_pct": oa,
        "success_area_pct": s_area,
        "success_deposit_pct": s_dep,
        "capture_area_pct": capture_area,
        "capture_deposit_pct": capture_dep,
        "pa_intersection_threshold": float(t_star),
        "pa_intersection_prediction_rate_pct": float(pr_star),
        "pa_intersection_area_pct": float(oa_star),
        "pa_nd": float(pr_star / oa_star) if oa_star > 0 else None,
        "success_rate_auc": success_auc,
        "top5_threshold": float(t_top),
        "top5_area_pct": float(top_area),
        "top5_deposit_pct": float(top_dep),
    }


@dataclass
class EvaluationResult:
    """Metrics and curves of one detector's score grid against deposits.

    ``metrics`` is JSON-able (NaN → None). Curves are float64 arrays; the P-A and success
    curves are ``None`` when area metrics were refused (geographic CRS).
    """

    name: str
    metrics: dict
    roc_fpr: np.ndarray
    roc_tpr: np.ndarray
    pa_threshold: np.ndarray | None = None
    pa_prediction_rate: np.ndarray | None = None
    pa_area_pct: np.ndarray | None = None
    success_area_pct: np.ndarray | None = None
    success_deposit_pct: np.ndarray | None = None
    capture_area_pct: np.ndarray | None = None
    capture_deposit_pct: np.ndarray | None = None
    deposit_location: DepositLocation | None = field(default=None, repr=False)
    #: One row per deposit (file order): ``id``, ``x``, ``y`` (grid CRS), ``status`` (``used``,
    #: ``outside``, ``no data``), ``score``, ``percentile`` and ``class`` (None unless used),
    #: ``type`` when the table has a type column, and ``drivers``/``contributions`` when
    #: contributions were added (:func:`add_deposit_drivers`).
    deposit_table: list[dict] | None = field(default=None, repr=False)

    def curves(self) -> dict:
        """The curves as JSON-able lists (absent curves omitted)."""
        names = (
            "roc_fpr",
            "roc_tpr",
            "pa_threshold",
            "pa_prediction_rate",
            "pa_area_pct",
            "success_area_pct",
            "success_deposit_pct",
            "capture_area_pct",
            "capture_deposit_pct",
        )
        return {k: getattr(self, k).tolist() for k in names if getattr(self, k) is not None}


def to_jsonable(value):
    """``value`` as JSON types for ``metrics.json``: numpy scalars as Python numbers, tuples as
    lists, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate_scores(
    scores: xr.DataArray,
    deposits: Deposits,
    *,
    min_dist_km: float = 5.0,
    runs: int = 20,
    seed: int = 0,
    name: str = "alad",
    score_name: str | None = None,
) -> EvaluationResult:
    """Evaluate one score grid against deposits (all metrics of the module docstring).

    Parameters
    ----------
    scores
        ``anomaly(y, x)`` with a rioxarray CRS and transform; NaN = no data. Loaded into
        memory as float32 (38 M cells ≈ 150 MB, plus a sorted copy of the valid cells).
    deposits
        Deposits (any CRS; reprojected to the grid's).
    min_dist_km, runs, seed
        Negative-sampling protocol.
    name
        Detector label (table row, legend).
    score_name
        Which score the grid holds (e.g. ``fm``, ``l1_high``); default: the grid's
        ``score`` attribute, else ``"unknown"``.

    Raises
    ------
    EvaluationError
        No deposit on a valid cell (with a hint when the CRS looks wrong), or no valid cells.
    """
    crs = scores_crs(scores)
    values = np.asarray(scores.data, dtype="float32")
    if values.ndim != 2:
        raise EvaluationError(f"score grid must be 2-D (y, x); got shape {values.shape}")
    valid = values[~np.isnan(values)]
    if valid.size == 0:
        raise EvaluationError("score grid has no valid (non-NaN) cells")
    location = deposits_on_grid(scores, deposits, values=values)
    used = location.used
    n_used = int(used.sum())
    valid_sorted = np.sort(valid)
    del valid
    dep_scores = values[location.row[used], location.col[used]]
    height, width = values.shape
    flat = np.unique(location.row[used] * width + location.col[used])
    positive_scores = values.reshape(-1)[flat]
    if flat.size == valid_sorted.size:
        raise EvaluationError("every valid cell holds a deposit; there are no negative cells to compare with")
    roc_auc, fpr, tpr = roc_auc_all_cells(valid_sorted, positive_scores)

    transform = scores.rio.transform()
    unit_m = crs.axis_info[0].unit_conversion_factor if (crs.is_projected and crs.axis_info) else None
    metrics: dict = {
        "name": name,
        "score_name": score_name or str(scores.attrs.get("score", scores.attrs.get("score_name", "unknown"))),
        "scores_source": scores.attrs.get("source"),
        "deposits_source": None if deposits.path is None else str(deposits.path),
        "deposits_selection": deposits.selection,
        "crs": crs.to_string(),
        "crs_is_geographic": bool(crs.is_geographic),
        "cell_size_x": float(abs(transform.a)),
        "cell_size_y": float(abs(transform.e)),
        "cell_size_m": float(abs(transform.a) * unit_m) if unit_m else None,
        "cell_size_y_m": float(abs(transform.e) * unit_m) if unit_m else None,
        "grid_shape": [int(height), int(width)],
        "n_valid_cells": int(valid_sorted.size),
        "n_deposits": len(deposits),
        "n_deposits_used": n_used,
        "n_outside": int(location.outside.sum()),
        "n_on_nodata": int(location.on_nodata.sum()),
        "n_positive_cells": int(flat.size),
        "roc_auc": roc_auc,
    }
    metrics.update(
        negative_sampling_auc(
            scores, deposits, min_dist_km=min_dist_km, runs=runs, seed=seed, values=values, location=location
        )
    )
    notes = []
    if metrics["negsamp_auc_mean"] is None:
        notes.append(f"no valid cell lies ≥ {min_dist_km} km from every deposit: negative-sampling AUC not computed")
    elif metrics["negsamp_n_negatives"] < metrics["negsamp_n_positives"]:
        notes.append(
            f"only {metrics['negsamp_n_negatives']} valid cells lie ≥ {min_dist_km} km from every deposit "
            f"(fewer than the {metrics['negsamp_n_positives']} positives)"
        )
    curves: dict = {}
    try:
        area = prediction_area(valid_sorted, dep_scores, crs=crs)
    except EvaluationError as exc:
        metrics["area_metrics"] = exc.message
        notes.append(exc.message)
    else:
        metrics["area_metrics"] = "computed"
        curves = {k: area.pop(k) for k in list(area) if isinstance(area[k], np.ndarray)}
        metrics.update(area)
    # the map's percentile classes, exact over all valid cells: the report's map, anomaly.qml
    # and anomaly_polygons.gpkg use the same breaks
    metrics["class_breaks"] = class_breaks(valid_sorted)
    metrics["notes"] = notes
    metrics["geogan_version"] = geogan.__version__
    return EvaluationResult(
        name=name,
        metrics=to_jsonable(metrics),
        roc_fpr=fpr,
        roc_tpr=tpr,
        deposit_location=location,
        deposit_table=_deposit_table(deposits.to_crs(crs), location, values, valid_sorted, metrics["class_breaks"]),
        **curves,
    )


def _deposit_table(deposits: Deposits, location: DepositLocation, values: np.ndarray, valid_sorted: np.ndarray,
                   breaks: dict) -> list[dict]:
    """One row per deposit (see :attr:`EvaluationResult.deposit_table`)."""
    labels = class_labels()
    lower = {str(c).lower(): c for c in deposits.attributes.columns}
    type_col = next((lower[c] for c in TYPE_COLUMNS if c in lower), None)
    ids = deposits.ids.tolist()
    rows = []
    for k in range(len(deposits)):
        row = {"id": ids[k], "x": float(deposits.x[k]), "y": float(deposits.y[k]), "status": "used",
               "score": None, "percentile": None, "class": None}
        if type_col is not None:
            row["type"] = str(deposits.attributes[type_col].iloc[k])
        if location.outside[k]:
            row["status"] = "outside"
        elif location.on_nodata[k]:
            row["status"] = "no data"
        else:
            score = float(values[location.row[k], location.col[k]])
            row["score"] = score
            row["percentile"] = float(100.0 * np.searchsorted(valid_sorted, score, side="right") / valid_sorted.size)
            row["class"] = labels[int(classify(np.array([score]), breaks)[0])]
        rows.append(row)
    return rows


def add_deposit_drivers(result: EvaluationResult, contributions: xr.DataArray, *, n_drivers: int = 5) -> None:
    """Add the elements driving each used deposit's score to ``result.deposit_table``
    (``drivers``, e.g. ``"W+ Sn+"``, and ``contributions``, ``[element, value]`` pairs largest
    first), from a ``contribution(element, y, x)`` grid on the score grid's cells
    (``contributions.zarr``). Only the deposits' cells are read, each chunk once."""
    from geogan.contributions import cell_drivers

    location = result.deposit_location
    if result.deposit_table is None or location is None:
        return
    used = np.flatnonzero(location.used)
    found = cell_drivers(contributions, contributions[contributions.dims[0]].values.tolist(),
                         location.row[used], location.col[used], n_drivers=n_drivers)
    for k, cell in zip(used, found, strict=True):
        result.deposit_table[k].update(cell)


def _contributions_beside(path, grid: xr.DataArray) -> xr.DataArray | str | None:
    """The ``contribution`` grid of the ``contributions.zarr`` beside a score file (a score
    stage's output folder) when it covers the same cells; ``None`` when there is none, or a
    note saying why one is not used."""
    from geogan.errors import GeoganError
    from geogan.score import CONTRIBUTIONS_STORE, open_contributions_store

    if is_url(path):
        return None
    candidate = Path(path).parent / CONTRIBUTIONS_STORE
    if not candidate.is_dir():
        return None
    try:
        contrib = open_contributions_store(candidate)["contribution"]
    except GeoganError as exc:
        return f"{candidate} was not used for the deposits' driving elements: {exc}"
    same = contrib.shape[1:] == grid.shape and all(
        np.allclose(contrib[axis].values, grid[axis].values, rtol=0.0, atol=1e-6 * abs(float(grid.rio.resolution()[0])))
        for axis in ("y", "x"))
    return contrib if same else f"{candidate} covers other cells than the scores; not used for the deposits"


# --------------------------------------------------------------------------- top level


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not overwrite:
        raise OutputExistsError("report directory exists; pass overwrite=True (--overwrite) to replace it", path=out_dir)


def evaluate_many(
    scores_paths: Mapping[str, str | PathLike],
    deposits_path: str | PathLike,
    out_dir: str | PathLike | None,
    *,
    deposits_crs=None,
    deposits_x: str | None = None,
    deposits_y: str | None = None,
    deposit_type: str | None = None,
    deposit_type_column: str | None = None,
    min_dist_km: float = 5.0,
    runs: int = 20,
    seed: int = 0,
    title: str | None = None,
    overwrite: bool = False,
    top_anomalies: Mapping[str, list[dict]] | None = None,
) -> dict[str, EvaluationResult]:
    """Evaluate several detectors' score grids (``{name: path}``) into one side-by-side report.

    All grids must share a CRS (deposits are read once, in the first grid's CRS, and
    reprojected per grid otherwise). ``out_dir=None`` computes the metrics without a report.
    ``top_anomalies`` (``{name: rows}`` of :func:`geogan.contributions.top_anomalies`) adds
    the top-anomalies table to the report. ``deposit_type`` (and ``deposit_type_column``)
    keep only the deposits of one type (:func:`read_deposits`). A ``contributions.zarr``
    beside a score file (``geogan score --contributions``) adds each deposit's driving
    elements to the report's deposit table.
    """
    from geogan.report import write_report

    if not scores_paths:
        raise InputError("no score grids given")
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        _check_out_dir(out, overwrite)
    grids = {name: open_scores(p) for name, p in scores_paths.items()}
    first = next(iter(grids.values()))
    deposits = read_deposits(
        deposits_path, crs=scores_crs(first), x=deposits_x, y=deposits_y, input_crs=deposits_crs,
        deposit_type=deposit_type, deposit_type_column=deposit_type_column,
    )
    results = {
        name: evaluate_scores(grid, deposits, min_dist_km=min_dist_km, runs=runs, seed=seed, name=name)
        for name, grid in grids.items()
    }
    for name, path in scores_paths.items():
        contrib = _contributions_beside(path, grids[name])
        if isinstance(contrib, str):
            results[name].metrics["notes"].append(contrib)
        elif contrib is not None:
            add_deposit_drivers(results[name], contrib)
        _add_elements_used(results[name], path)
    if out is not None:
        kwargs = {"title": title} if title else {}
        if top_anomalies:
            kwargs["top_anomalies"] = top_anomalies
        write_report(out, results, scores=grids, deposits=deposits, overwrite=overwrite, **kwargs)
    return results


def _add_elements_used(result: EvaluationResult, path) -> None:
    """With a ``scores.zarr`` scored with ``--min-elements``: how many cells rest on how many
    of the model's elements, in the metrics (``elements_used``) and as a note in the report."""
    if not str(path).rstrip("/").endswith(".zarr"):
        return
    try:
        ds = xr.open_zarr(str(path), consolidated=False)
    except (OSError, ValueError, KeyError):  # not a store we can read here: nothing to add
        return
    if "elements_used" not in ds:
        return
    from geogan.store import decode_attrs

    counts = np.bincount(np.asarray(ds["elements_used"].values).ravel())
    n_model = len((decode_attrs(ds.attrs).get("model") or {}).get("elements", [])) or len(counts) - 1
    used = {int(k): int(c) for k, c in enumerate(counts) if k > 0 and c}
    total = sum(used.values())
    result.metrics["elements_used"] = used
    fewer = sum(c for k, c in used.items() if k < n_model)
    if fewer:
        parts = ", ".join(f"{k} of {n_model}: {c:,} ({100 * c / total:.0f} %)" for k, c in sorted(used.items()))
        result.metrics["notes"].append(
            f"{fewer:,} of the {total:,} scored cells lack some of the model's {n_model} elements; their missing "
            f"elements were imputed from the present ones (--min-elements), so their scores rest on fewer elements "
            f"(elements_used.tif maps it). Cells by elements held: {parts}")


def evaluate(
    scores_path: str | PathLike,
    deposits_path: str | PathLike,
    out_dir: str | PathLike | None,
    *,
    deposits_crs=None,
    deposits_x: str | None = None,
    deposits_y: str | None = None,
    deposit_type: str | None = None,
    deposit_type_column: str | None = None,
    min_dist_km: float = 5.0,
    runs: int = 20,
    seed: int = 0,
    name: str | None = None,
    title: str | None = None,
    overwrite: bool = False,
    top_anomalies: list[dict] | None = None,
) -> EvaluationResult:
    """Evaluate ``anomaly.tif`` or ``scores.zarr`` against a deposit file and write a report.

    This is what ``geogan evaluate SCORES --deposits CSV --out REPORT_DIR`` and the score
    stage call. ``out_dir`` receives ``index.html``, ``map.png``, ``roc.png``, ``pa.png``,
    ``success.png`` and ``metrics.json`` (``None``: metrics only).

    Parameters
    ----------
    name
        Detector label; default what the grid calls itself (:func:`score_label`: the COG's
        ``name``/``detector`` tag, a ``scores.zarr``'s detector, a band description), else
        ``"anomaly"``.
    deposit_type, deposit_type_column
        Keep only the deposits of one type (:func:`read_deposits`), e.g. ``"W-Sn"``.
    top_anomalies
        Rows of :func:`geogan.contributions.top_anomalies` for the report's top-anomalies
        table (the score stage passes them with ``contributions=True``).
    """
    if name is None:
        out = None if out_dir is None else Path(out_dir)
        if out is not None:
            _check_out_dir(out, overwrite)
        name = score_label(scores_path) or "anomaly"
    results = evaluate_many(
        {name: scores_path},
        deposits_path,
        out_dir,
        deposits_crs=deposits_crs,
        deposits_x=deposits_x,
        deposits_y=deposits_y,
        deposit_type=deposit_type,
        deposit_type_column=deposit_type_column,
        min_dist_km=min_dist_km,
        runs=runs,
        seed=seed,
        title=title,
        overwrite=overwrite,
        top_anomalies={name: top_anomalies} if top_anomalies else None,
    )
    return results[name]

