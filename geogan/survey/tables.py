"""Point tables: a CSV, Parquet or vector file read as named columns of points.

What lives here: :func:`open_table` (a local path or an fsspec URL; the format by suffix;
the Parquet opener and the vector opener, first layer and point geometry), :class:`Table`
(lazy column reads as pyarrow arrays, a row locator, duplicate-name and empty-table checks,
the file's CRS and point geometry) and :class:`TableRole`. Surveys (:mod:`geogan.survey.read`)
and known deposits (:mod:`geogan.evaluation.deposits`) both read through it, so they accept the same
files and refuse the same mistakes. What must not: the CSV reader itself (delimiter and
encoding sniffing, decimal commas, line numbers: :mod:`geogan.survey.csvtable`, which this module
imports, never the reverse), which columns hold the coordinates, their values and CRS checks
(:mod:`geogan.survey.coordinates`, which imports this module, never the reverse), element columns
and below-detection values (:mod:`geogan.survey.elements`, :mod:`geogan.survey.censoring`), what a survey
or a deposit list does with its points.

Rows are reported as *line numbers in the file* for CSV (the header is line 1, so an editor
jumps straight to the line) and as 1-based data rows (features) for Parquet and vector files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyproj

from geogan.stores.files import file_sha256
from geogan.survey.csvtable import open_csv
from geogan.errors import InputError
from geogan.stores.urls import is_url, local_copy

__all__ = ["Table", "TableRole", "open_table"]

_CSV_SUFFIXES = (".csv", ".txt", ".tsv", ".tab")
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gdb")


@dataclass(frozen=True)
class TableRole:
    """What a table holds, as its messages name it.

    Attributes
    ----------
    what
        The table, in ``"<what> file not found"`` (``"survey"``, ``"deposit"``).
    item
        One row, in ``"one row per <item>"`` (``"sample"``, ``"deposit"``).
    error
        The error class raised for the table's problems.
    xy_option, crs_option
        How the user names the coordinate columns and their CRS (``"x= and y= (--x/--y)"``,
        ``"--input-crs"``).
    """

    what: str
    item: str
    error: type[InputError] = InputError
    xy_option: str = "x= and y="
    crs_option: str = "input_crs"


@dataclass
class Table:
    """An opened point table: column names, lazy column reads, a row locator, CRS and geometry.

    Made by :func:`open_table`; its coordinates are read by :mod:`geogan.survey.coordinates`.
    ``names`` are the column names stripped of surrounding blanks (the keys of
    :meth:`columns`); ``path`` is the local file read, ``source`` the path or URL as given.
    """

    path: Path
    kind: str  # "csv" | "parquet" | "vector"
    raw_names: list[str]  # column names as written, file order
    sha256: str  # of the file's bytes ("" for a directory such as a FileGDB)
    read_columns: Callable[[list[str]], dict[str, pa.Array]]  # raw names -> arrays
    n_rows: Callable[[], int]
    row_of: Callable[[int], int]  # 0-based data index -> reported row number
    role: TableRole
    crs: pyproj.CRS | None = None  # from the file (vector layers)
    geometry: tuple[np.ndarray, np.ndarray] | None = None  # point x, y (vector layers)
    notes: list[str] = field(default_factory=list)  # what the reader noticed, for warnings
    decimal_comma: bool = False
    source: str | Path | None = None
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.names = [n.strip() for n in self.raw_names]
        self._raw = dict(zip(self.names, self.raw_names))

    def error(self, message: str, *, index: int | None = None, column: str | None = None) -> InputError:
        """The table's error for a problem at data row ``index`` (0-based) and ``column``."""
        row = None if index is None else self.row_of(index)
        return self.role.error(message, path=self.path, row=row, column=column)

    def failer(self, column: str) -> Callable[[int, str], None]:
        """``fail(index, message)`` raising :meth:`error` for ``column``."""

        def fail(index: int, message: str) -> None:
            raise self.error(message, index=index, column=column)

        return fail

    def find_column(self, name: str, *, what: str) -> str:
        """The column called ``name`` (exactly, else in any case); an error naming the columns."""
        if name in self._raw:
            return name
        folded = [n for n in self.names if n.lower() == name.strip().lower()]
        if len(folded) == 1:
            return folded[0]
        raise self.error(f"{what} column not found; columns are: {self.listed_names()}", column=name)

    def columns(self, names: list[str]) -> dict[str, pa.Array]:
        """Read columns (one pass over a CSV for all of them), keyed by stripped name."""
        arrays = self.read_columns([self._raw[n] for n in names])
        return {n: arrays[self._raw[n]] for n in names}

    def listed_names(self, limit: int = 30) -> str:
        """The column names quoted for a message, at most ``limit`` of them."""
        return _list_names(self.names, limit)

    def check_names(self) -> None:
        """Refuse a column name used twice."""
        seen: dict[str, int] = {}
        for i, name in enumerate(self.names):
            if not name:
                continue
            if name in seen:
                raise self.error(
                    f"duplicated column name (columns {seen[name] + 1} and {i + 1}); rename "
                    "one so that every column is unambiguous",
                    column=name,
                )
            seen[name] = i

    def require_rows(self) -> int:
        """Number of data rows; an error when the table has none."""
        n_rows = self.n_rows()
        if n_rows == 0:
            raise self.error(
                f"{self.role.what} file has a header but no rows; expected one row per {self.role.item}"
            )
        return n_rows


# --------------------------------------------------------------------------------------
# opening: one opener per format, each yields named pyarrow arrays plus a row locator


@contextmanager
def open_table(path: str | PathLike, *, role: TableRole, centroids: bool = False) -> Iterator[Table]:
    """Open a point table for reading inside the ``with`` block.

    Parameters
    ----------
    path
        ``.csv`` / ``.txt`` / ``.tsv`` / ``.tab`` (delimiter ``, ; tab |`` and encoding UTF-8,
        UTF-8 with BOM, UTF-16 with BOM or Latin-1 detected), ``.parquet`` / ``.pq``, or a
        vector file (``.gpkg``, ``.shp``, ``.geojson``, ``.fgb``, a ``.gdb`` directory: first
        layer; its geometry gives the points). A local path or an fsspec URL, fetched to a
        temporary copy for the block (see :mod:`geogan.stores.urls`; errors name the URL).
    role
        What the table holds, for messages and the error class.
    centroids
        Take the centroid of non-point geometries (mine outlines) instead of refusing them.

    Raises
    ------
    InputError
        (``role.error``) The file is missing, empty, of an unknown type or unreadable.
    """
    with local_copy(path, what=f"{role.what} file") as local:
        table = _open(local, role, centroids=centroids)
        table.source = path if is_url(path) else local
        yield table


def _open(path: Path, role: TableRole, *, centroids: bool) -> Table:
    if not path.exists():
        raise role.error(f"{role.what} file not found; check the path", path=path)
    if not (path.is_file() or path.is_dir()):  # a FIFO or a device: reading it would block or never end
        raise role.error(f"{role.what} file is not a regular file (a FIFO or a device)", path=path)
    suffixes = [s.lower() for s in path.suffixes]
    suffix = suffixes[-1] if suffixes else ""
    if path.is_dir() and suffix != ".gdb":
        raise role.error(f"is a directory, expected a {role.what} table file", path=path)
    if suffix in _CSV_SUFFIXES:
        return _open_csv(path, role)
    if suffix in _PARQUET_SUFFIXES:
        return _open_parquet(path, role)
    if suffix in _VECTOR_SUFFIXES:
        return _open_vector(path, role, centroids=centroids)
    raise role.error(
        f"unknown file type {suffix or '(no extension)'!r}; {role.what} tables must be .csv "
        "(or .txt/.tsv), .parquet, or a vector file (.gpkg, .shp, .geojson, .fgb, .gdb)",
        path=path,
    )


def _open_csv(path: Path, role: TableRole) -> Table:
    pieces = open_csv(path, role)
    return Table(
        path=path,
        kind="csv",
        raw_names=pieces.raw_names,
        sha256=pieces.sha256,
        read_columns=pieces.read_columns,
        n_rows=pieces.n_rows,
        row_of=pieces.row_of,
        role=role,
        notes=pieces.notes,
        decimal_comma=pieces.decimal_comma,
    )


def _open_parquet(path: Path, role: TableRole) -> Table:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise role.error(f"cannot read as Parquet: {err}", path=path) from None
    names = list(parquet.schema_arrow.names)

    def read_columns(columns: list[str]) -> dict[str, pa.Array]:
        if not columns:
            return {}
        try:
            table = parquet.read(columns=list(dict.fromkeys(columns)))
        except (pa.ArrowException, OSError) as err:
            raise role.error(f"cannot read Parquet columns: {err}", path=path) from None
        return {c: table.column(c) for c in columns}

    return Table(
        path=path,
        kind="parquet",
        raw_names=names,
        sha256=file_sha256(path),
        read_columns=read_columns,
        n_rows=lambda: int(parquet.metadata.num_rows),
        row_of=lambda i: i + 1,
        role=role,
    )


def _open_vector(path: Path, role: TableRole, *, centroids: bool) -> Table:
    import pyogrio
    import shapely

    label = "GeoPackage" if path.suffix.lower() == ".gpkg" else "vector file"
    try:
        layers = pyogrio.list_layers(path)
    except Exception as err:  # pyogrio raises DataSourceError and friends
        raise role.error(f"cannot open as {label}: {err}", path=path) from None
    if len(layers) == 0:
        raise role.error(f"the {label} has no layers", path=path)
    layer = str(layers[0][0])
    notes = []
    if len(layers) > 1:
        notes.append(
            f"{label} has {len(layers)} layers; read the first, {layer!r} "
            f"(others: {', '.join(str(row[0]) for row in layers[1:])})"
        )
    info = pyogrio.read_info(path, layer=layer, force_feature_count=True)
    names = [str(n) for n in info["fields"]]
    crs = None
    if info.get("crs"):
        try:
            crs = pyproj.CRS.from_user_input(info["crs"])
        except pyproj.exceptions.CRSError:
            notes.append(f"layer CRS {info['crs']!r} is not understood; ignored")

    def read_columns(columns: list[str]) -> dict[str, pa.Array]:
        if not columns:
            return {}
        _, table = pyogrio.read_arrow(
            path, layer=layer, columns=list(dict.fromkeys(columns)), read_geometry=False
        )
        return {c: table.column(c).combine_chunks() for c in columns}

    geometry = None
    if info.get("geometry_type") not in (None, "Unknown", "None") or info["features"]:
        meta, table = pyogrio.read_arrow(path, layer=layer, columns=[], read_geometry=True)
        geom_name = meta.get("geometry_name") or "wkb_geometry"
        if geom_name in table.column_names:
            wkb = table.column(geom_name).combine_chunks().to_numpy(zero_copy_only=False)
            geoms = shapely.from_wkb(wkb)
            if centroids:
                # mine outlines are sometimes polygons; their centroid stands for the site
                geoms = shapely.centroid(geoms)
            types = shapely.get_type_id(geoms)
            if np.any((types != 0) & (types != -1)):
                i = int(np.flatnonzero((types != 0) & (types != -1))[0])
                raise role.error(
                    f"geometry is a {geoms[i].geom_type}, not a Point; {role.what} {role.item}s must be "
                    "points (convert polygons to centroids first)",
                    path=path,
                    row=i + 1,
                    column=geom_name,
                )
            gx = shapely.get_x(geoms)
            gy = shapely.get_y(geoms)
            geometry = (np.asarray(gx, dtype=np.float64), np.asarray(gy, dtype=np.float64))

    return Table(
        path=path,
        kind="vector",
        raw_names=names,
        sha256=file_sha256(path) if path.is_file() else "",
        read_columns=read_columns,
        n_rows=lambda: int(info["features"]),
        row_of=lambda i: i + 1,
        role=role,
        crs=crs,
        geometry=geometry,
        notes=notes,
    )


def _list_names(names: list[str], limit: int = 30) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
