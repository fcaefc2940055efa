"""Coordinates of a point table: which columns hold them, their values, their CRS and its range.

What lives here: :func:`coordinate_columns` (x/y columns given, the point geometry, or
detected: ``x``/``y``, ``x_*``/``y_*`` such as ``x_etrstm35fin``, ``easting``/``northing``,
then lon/lat; projected names win), :func:`read_coordinates` (parsed float64 x, y; the CRS
given, the layer's, or EPSG:4326 for lon/lat columns; a range check against the CRS that
hints at degrees given as metres and swapped axes) and :func:`crs_name`. Surveys and known
deposits both use it, so they read the same columns the same way. What must not: opening
files and reading columns (:mod:`geogan.survey.tables`, which this module imports, never the
reverse), element columns (:mod:`geogan.survey.elements`), reprojection to the grid (the callers).
"""

from __future__ import annotations

import math

import numpy as np
import pyproj

from geogan.survey.censoring import parse_numbers
from geogan.errors import ConfigError, CRSError
from geogan.survey.tables import Table

__all__ = ["as_crs", "coordinate_columns", "crs_name", "outside_area_of_use", "read_coordinates"]


def coordinate_columns(table: Table, x: str | None, y: str | None) -> tuple[str | None, str | None]:
    """The coordinate columns: ``x``/``y`` when given, ``(None, None)`` for the point
    geometry, else detected (case-insensitive) from ``x``/``y``, ``x_*``/``y_*``
    (``x_etrstm35fin``), ``easting``/``northing``, then lon/lat; projected names win."""
    if (x is None) != (y is None):
        raise ConfigError("give both x and y coordinate columns, or neither to detect them", path=table.path)
    if x is not None:
        return table.find_column(x, what="x"), table.find_column(y, what="y")
    if table.geometry is not None:
        return (None, None)
    pair = _detect_coordinates(table.names)
    if pair is None:
        raise table.error(
            "no coordinate columns found (looked for x/y, x_*/y_*, easting/northing, "
            f"lon/lat); name them with {table.role.xy_option}. Columns are: {table.listed_names()}"
        )
    if isinstance(pair, list):
        raise table.error(
            "several coordinate column pairs fit equally well: "
            + ", ".join(f"{a}/{b}" for a, b in pair)
            + f"; choose one with {table.role.xy_option}"
        )
    return pair


def read_coordinates(
    table: Table, coords, arrays, *, input_crs: pyproj.CRS | None
) -> tuple[np.ndarray, np.ndarray, pyproj.CRS | None]:
    """float64 x, y of every row and their CRS (``None`` when unknown), range-checked.

    ``coords`` comes from :func:`coordinate_columns`, ``arrays`` from :meth:`Table.columns`.
    The CRS is ``input_crs``, else the layer's for geometry, else EPSG:4326 for lon/lat
    columns. A note goes to ``table.notes`` when ``input_crs`` overrides the layer's.
    """
    if coords[0] is None:
        x, y = table.geometry
        names = ("<geometry x>", "<geometry y>")
        for values, name in ((x, names[0]), (y, names[1])):
            bad = ~np.isfinite(values)
            if bad.any():
                raise table.error(
                    f"feature has no point geometry (empty or null); every {table.role.item} needs a location",
                    index=int(np.flatnonzero(bad)[0]),
                    column=name,
                )
    else:
        names = coords
        parsed = []
        for name in coords:
            p = parse_numbers(
                arrays[name],
                decimal_comma=table.decimal_comma,
                allow_qualified=False,
                fail=table.failer(name),
            )
            v = p.value
            # sentinels mark missing element values only: -9999 m is a real coordinate in
            # a projected CRS centred on the survey (and out of range for lon/lat anyway)
            bad = np.isnan(v)
            if bad.any():
                raise table.error(
                    f"coordinate is missing; every {table.role.item} needs both coordinates "
                    "(drop the row or fill it in)",
                    index=int(np.flatnonzero(bad)[0]),
                    column=name,
                )
            parsed.append(v)
        x, y = parsed

    crs = input_crs
    if crs is None and coords[0] is None:
        crs = table.crs
    elif crs is not None and coords[0] is None and table.crs is not None and crs != table.crs:
        table.notes.append(f"input_crs {crs_name(crs)} overrides the layer's CRS {crs_name(table.crs)}")
    if crs is None and coords[0] is not None and _is_lonlat_pair(coords):
        crs = pyproj.CRS.from_epsg(4326)
    if crs is not None:
        _check_range(table, x, y, crs, names)
    return x, y, crs


def _check_range(table: Table, x, y, crs, names) -> None:
    bounds = _crs_bounds(crs)
    if bounds is None:
        return
    xmin, ymin, xmax, ymax = bounds
    option = table.role.crs_option
    for values, lo, hi, name in ((x, xmin, xmax, names[0]), (y, ymin, ymax, names[1])):
        bad = (values < lo) | (values > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            hint = ""
            if not crs.is_geographic and (np.abs(x) <= 180).all() and (np.abs(y) <= 90).all():
                hint = f"; the values look like degrees: pass input_crs='EPSG:4326' ({option} EPSG:4326)"
            raise CRSError(
                f"coordinate {float(values[i])!r} is outside the range of {crs_name(crs)} "
                f"({lo:.6g} to {hi:.6g}); {int(bad.sum())} row(s) affected — check the "
                f"input CRS ({option}) and that x/y are not swapped{hint}",
                path=table.path,
                row=table.row_of(i),
                column=name,
            )


def _detect_coordinates(names: list[str]):
    lower = {n.lower(): n for n in names if n}
    levels: list[list[tuple[str, str]]] = [[], [], [], [], []]
    if "x" in lower and "y" in lower:
        levels[0].append((lower["x"], lower["y"]))
    for name_l, name in lower.items():
        if name_l.startswith("x_") and "y_" + name_l[2:] in lower:
            levels[1].append((name, lower["y_" + name_l[2:]]))
    for a, b in (("easting", "northing"), ("east", "north"), ("eastings", "northings")):
        if a in lower and b in lower:
            levels[2].append((lower[a], lower[b]))
    for name_l, name in lower.items():
        if name_l.startswith("easting_") and "northing_" + name_l[8:] in lower:
            levels[3].append((name, lower["northing_" + name_l[8:]]))
    for a, b in (("lon", "lat"), ("longitude", "latitude"), ("long", "lat"), ("lng", "lat")):
        if a in lower and b in lower:
            levels[4].append((lower[a], lower[b]))
    for level in levels:
        if len(level) == 1:
            return level[0]
        if len(level) > 1:
            return level
    return None


def _is_lonlat_pair(coords) -> bool:
    return coords[0].lower() in ("lon", "longitude", "long", "lng") and coords[1].lower() in (
        "lat",
        "latitude",
    )


def crs_name(crs: pyproj.CRS) -> str:
    """``"EPSG:3067"`` when the CRS has an authority code, else its name.

    >>> crs_name(pyproj.CRS.from_epsg(3067))
    'EPSG:3067'
    """
    authority = crs.to_authority()
    return f"{authority[0]}:{authority[1]}" if authority else crs.name


def outside_area_of_use(crs: pyproj.CRS, x, y, *, margin_deg: float = 3.0) -> str | None:
    """A warning when the points' median position lies outside the area of use of ``crs``
    (widened by ``margin_deg``: UTM is used somewhat beyond its zone), else None. Catches a
    wrong UTM zone, which reprojects the samples far off without any other error.

    >>> zone50 = pyproj.CRS.from_epsg(32650)
    >>> outside_area_of_use(zone50, [400_000.0], [2_750_000.0]) is None
    True
    >>> outside_area_of_use(pyproj.CRS.from_epsg(32651), [-200_000.0], [2_760_000.0])[:39]
    'the samples lie around lon 116.09°, lat'
    """
    area = crs.area_of_use
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    if area is None or crs.geodetic_crs is None or crs.is_geographic or not (np.isfinite(x).any() and np.isfinite(y).any()):
        return None
    try:
        lon, lat = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(
            float(np.nanmedian(x)), float(np.nanmedian(y)))
    except pyproj.exceptions.ProjError:
        return None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    w, s, e, n = area.bounds
    m = margin_deg
    in_lon = (w - m <= lon <= e + m) if w <= e else (lon >= w - m or lon <= e + m)  # w > e: across 180°
    if in_lon and s - m <= lat <= n + m:
        return None
    return (f"the samples lie around lon {lon:.2f}°, lat {lat:.2f}°, outside the area of use of the grid CRS "
            f"{crs_name(crs)} (lon {w:g}° to {e:g}°, lat {s:g}° to {n:g}°); a wrong UTM zone, or a wrong "
            f"--input-crs? The grid is made as asked")


def _crs_bounds(crs: pyproj.CRS) -> tuple[float, float, float, float] | None:
    """Generous bounds of valid coordinates in ``crs`` (x = east, always_xy)."""
    if crs.is_geographic:
        # longitudes are sometimes written 0..360
        return (-180.0, -90.0, 360.0, 90.0)
    area = crs.area_of_use
    if area is None or crs.geodetic_crs is None:
        return None
    try:
        transformer = pyproj.Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
        xmin, ymin, xmax, ymax = transformer.transform_bounds(*area.bounds, densify_pts=21)
    except pyproj.exceptions.ProjError:
        return None
    if not all(math.isfinite(b) for b in (xmin, ymin, xmax, ymax)):
        return None
    # the area of use is advice, not a hard limit (UTM is used beyond its zone): allow one
    # extent on every side, which still catches degrees given as metres, 1e12, swaps
    margin = max(xmax - xmin, ymax - ymin)
    return (xmin - margin, ymin - margin, xmax + margin, ymax + margin)


def as_crs(value, *, what: str, path=None) -> pyproj.CRS:
    """``value`` as a :class:`pyproj.CRS`; an invalid one is a :class:`CRSError` naming ``what``."""
    if isinstance(value, pyproj.CRS):
        return value
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError as err:
        raise CRSError(
            f"invalid {what} {value!r} ({err}); use e.g. 'EPSG:3067'", path=path
        ) from None
