"""Known deposits: read a point table of mineral occurrences into grid coordinates.

What lives here: :class:`Deposits` (points in one CRS, with optional names and types) and
:func:`read_deposits` (CSV / Parquet / GeoPackage / shapefile → :class:`Deposits`,
reprojected to the grid CRS, filtered by type). The file is read by
:func:`geogan.survey.tables.open_table` and :mod:`geogan.survey.coordinates`, exactly as a survey is: same
formats, delimiter and encoding sniffing, URLs, coordinate column detection, CRS from the
file and range checks. What must not: reading tables and coordinates (:mod:`geogan.survey.tables`,
:mod:`geogan.survey.coordinates`), locating deposits on a score grid and the metrics
(:mod:`geogan.evaluation.locate`, :mod:`geogan.evaluation.metrics`, :mod:`geogan.evaluation.stage`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj

from geogan.survey.coordinates import coordinate_columns, read_coordinates
from geogan.errors import CRSError, GeoganWarning, InputError
from geogan.gridspec import parse_crs
from geogan.options import DepositOptions, split_options
from geogan.survey.tables import Table, TableRole, open_table

__all__ = ["Deposits", "read_deposits", "TYPE_COLUMNS"]

#: Deposit type columns looked for (any case) by ``deposit_type`` when no column is named.
TYPE_COLUMNS = ("deposit_type", "type", "commodity", "commodities")
_ROLE = TableRole(
    "deposit", "deposit", InputError, xy_option="x= and y= (--deposits-x/--deposits-y)", crs_option="--deposits-crs"
)

# --------------------------------------------------------------------------- deposits


@dataclass(frozen=True)
class Deposits:
    """Known deposit locations.

    Made by :func:`read_deposits` from a file, or by :meth:`from_xy` from coordinate arrays.
    Each parameter is also an attribute of the same name.

    Parameters
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

    Raises
    ------
    InputError
        :meth:`from_xy`: ``x`` and ``y`` of different lengths; :meth:`select_type`: no type
        column, or no deposit of that type (the message lists the types present).
    CRSError
        :meth:`from_xy`, :meth:`to_crs`: an invalid CRS.

    Examples
    --------
    >>> import pandas as pd
    >>> from geogan import Deposits
    >>> deps = Deposits.from_xy([450_000.0, 452_000.0], [2_750_000.0, 2_751_000.0], crs="EPSG:32650",
    ...                         attributes=pd.DataFrame({"type": ["W-Sn skarn", "Au"]}))
    >>> len(deps), deps.crs.to_string()
    (2, 'EPSG:32650')
    >>> deps.select_type("w-sn").selection
    "type contains 'w-sn' (1 of 2 rows)"
    >>> deps.to_crs("EPSG:4326").x.round(3).tolist()
    [116.505, 116.525]
    >>> deps.select_type("Cu")
    Traceback (most recent call last):
    geogan.errors.InputError: column 'type': no deposit of type 'Cu'; the types present are: 'Au', 'W-Sn skarn'
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


def read_deposits(
    path: str | PathLike,
    *,
    crs,
    options: DepositOptions | None = None,
    **shortcuts,
) -> Deposits:
    """Read known deposits from CSV (or Parquet) or a vector file (GeoPackage) into ``crs``.

    How (columns, CRS, deposit type) is a :class:`~geogan.options.DepositOptions`, or any of
    its fields by name (``x=``, ``y=``, ``input_crs=``, ``deposit_type=``,
    ``deposit_type_column=``), overriding the object given.

    Parameters
    ----------
    path
        CSV (delimiter and encoding sniffed), Parquet, or a vector file (GeoPackage,
        shapefile, ...; first layer, polygons stand for their centroids); a local path or
        an fsspec URL. Read by :func:`geogan.survey.tables.open_table`, as surveys are.
    crs
        The grid's CRS: deposits are reprojected to it (pyproj, ``always_xy``).
    options
        How to read the file (:class:`~geogan.options.DepositOptions`); default its defaults.
    **shortcuts
        Fields of :class:`~geogan.options.DepositOptions` by name:

        ``x``, ``y``: coordinate column names. Auto-detected (any case) as for surveys: x/y,
        x_*/y_* (``x_etrstm35fin``), easting/northing, then lon/lat; vector files use their
        geometry. ``input_crs``: CRS of the file's coordinates. Default: the layer's CRS for a
        vector geometry, EPSG:4326 for lon/lat columns, else ``crs`` (the file is assumed to
        be in the grid CRS). ``deposit_type``: keep only the deposits of this type
        (:meth:`Deposits.select_type`: the type column equals or contains it, any case), e.g.
        ``"W-Sn"``; every row is validated first. ``deposit_type_column``: the type column;
        default the first of ``deposit_type``, ``type``, ``commodity``, ``commodities`` (any
        case).

    Returns
    -------
    Deposits
        Coordinates in ``crs`` plus the remaining columns as attributes.

    Raises
    ------
    InputError
        Missing or empty file, no coordinate columns, a non-numeric or missing coordinate; a
        ``deposit_type`` with no type column or no deposit of that type (the types present
        are listed). Rows are CSV line numbers (header = line 1) or 1-based features.
    CRSError
        Coordinates outside the valid range of the input CRS (usually a wrong CRS).
    ConfigError
        An option of the wrong type, or ``deposit_type_column`` without ``deposit_type``
        (before the file is read).

    Warns
    -----
    GeoganWarning
        What the reader noticed (Latin-1 text, decimal commas, several layers, ...).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "deposits.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("name,lon,lat,type\\nPangushan,114.52,25.52,W-Sn vein\\nDajishan,114.55,24.92,W skarn\\n")
    >>> deps = read_deposits(path, crs="EPSG:32650")  # lon/lat: read as EPSG:4326, reprojected
    >>> deps.source_crs.to_string(), deps.x.round(-2).tolist()
    ('EPSG:4326', [250800.0, 252600.0])
    >>> read_deposits(path, crs="EPSG:32650", deposit_type="W-Sn").ids.tolist()
    ['Pangushan']
    >>> from geogan.options import DepositOptions
    >>> how = DepositOptions(x="lon", y="lat", input_crs="EPSG:4326")
    >>> read_deposits(path, crs="EPSG:32650", options=how).ids.tolist()
    ['Pangushan', 'Dajishan']
    >>> read_deposits(path, crs="EPSG:32650", deposit_type="Au")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.InputError: ...deposits.csv: column 'type': no deposit of type 'Au'; the types present are: ...
    """
    (o,) = split_options("read_deposits", shortcuts, (DepositOptions, options))
    grid_crs = parse_crs(crs, what="grid CRS")
    given_crs = None if o.input_crs is None else parse_crs(o.input_crs, what="deposits CRS")
    with open_table(path, role=_ROLE, centroids=True) as table:  # a URL is read from a local copy
        deposits = _read(table, x=o.x, y=o.y, input_crs=given_crs, grid_crs=grid_crs)
    for note in table.notes:
        warnings.warn(f"{deposits.path}: {note}", GeoganWarning, stacklevel=2)
    if o.deposit_type is not None:  # (a type column without a type: refused by DepositOptions)
        deposits = deposits.select_type(o.deposit_type, column=o.deposit_type_column)
    return deposits


def _read(table: Table, *, x, y, input_crs: pyproj.CRS | None, grid_crs: pyproj.CRS) -> Deposits:
    path = table.path
    table.check_names()
    coords = coordinate_columns(table, x, y)
    names = [n for n in table.names if n and n not in coords]
    arrays = table.columns([c for c in coords if c is not None] + names)
    n_rows = table.require_rows()
    xs, ys, src_crs = read_coordinates(table, coords, arrays, input_crs=input_crs)
    # no CRS named, none in the file: the grid's is assumed (and not range-checked here:
    # evaluate_scores explains degrees read as metres when no deposit lands on the grid)
    assumed = src_crs is None
    if assumed:
        src_crs = grid_crs

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
                row=table.row_of(i),
            )
        xs, ys = gx, gy
    attributes = pd.DataFrame({n: arrays[n].to_pandas() for n in names}, index=pd.RangeIndex(n_rows))
    if table.kind == "csv":  # empty cells are empty text, as written, not NaN
        for n in names:
            attributes[n] = attributes[n].fillna("")
    return Deposits(
        x=xs,
        y=ys,
        attributes=attributes,
        crs=grid_crs,
        source_crs=src_crs,
        path=table.source,
        source_crs_assumed=assumed,
    )
