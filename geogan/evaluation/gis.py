"""Hand-off to GIS software: the anomaly map's percentile classes as a QGIS style and as polygons.

The report draws an anomaly map in percentile classes of its valid cells (< P50, P50–P75,
P75–P90, P90–P95, P95–P99, ≥ P99). This module computes those class breaks once
(:func:`class_breaks`) and carries them out of the report, so the map a geologist opens in
QGIS is the map in the report:

- :func:`write_qml`: a QGIS layer style (``anomaly.qml`` beside ``anomaly.tif``; QGIS
  applies a ``.qml`` of the same name when it opens the raster) drawing the score in the
  report's classes and colours;
- :func:`anomaly_polygons` and :func:`write_anomaly_polygons`: the connected regions of
  cells scoring ≥ P95 and ≥ P99 as polygons in a GeoPackage, each with its area, its highest
  score and, when deposits are known, the number of deposits inside;
- :func:`export_classes`: both, from a score grid read once (what ``geogan score`` calls).

A cell is in a class when its score is at or above the class's lower break (``≥ P95`` means
score ≥ the 95th percentile of the valid scores); breaks are :func:`numpy.percentile`
(linear interpolation) of the valid cells.

>>> import numpy as np
>>> breaks = class_breaks(np.arange(1.0, 101.0))
>>> breaks["P50"], breaks["P99"]
(50.5, 99.01)
>>> classify(np.array([10.0, 60.0, 99.5, np.nan]), breaks).tolist()  # class index, 255 = no data
[0, 1, 5, 255]
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj

from geogan.errors import EvaluationError
from geogan.gridspec import parse_crs

__all__ = [
    "PERCENTILE_CLASSES",
    "CLASS_COLOURS",
    "POLYGON_CLASSES",
    "class_labels",
    "class_breaks",
    "classify",
    "write_qml",
    "write_spread_qml",
    "write_polygons_qml",
    "AnomalyPolygons",
    "anomaly_polygons",
    "write_anomaly_polygons",
    "export_classes",
]

#: Percentile class breaks of the anomaly map (the classes geologists read maps by).
PERCENTILE_CLASSES = (50, 75, 90, 95, 99)
#: One colour per class, lowest first. Light-to-hot: the lower half of the area is a neutral
#: grey so the eye goes to the top classes; hue and lightness both change so the classes
#: survive greyscale printing.
CLASS_COLOURS = ("#d9d9d9", "#fee391", "#fec44f", "#fe9929", "#d95f0e", "#7f0000")
#: Percentiles whose "at or above" regions become anomaly polygons.
POLYGON_CLASSES = (95, 99)
#: Layer name inside ``anomaly_polygons.gpkg``.
POLYGON_LAYER = "anomaly_polygons"
NO_DATA_CLASS = 255
_QML_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"


def class_labels() -> list[str]:
    """Legend labels of the classes, lowest first: ``["< P50", "P50–P75", …, "≥ P99"]``."""
    pairs = zip(PERCENTILE_CLASSES[:-1], PERCENTILE_CLASSES[1:], strict=True)
    return [f"< P{PERCENTILE_CLASSES[0]}"] + [f"P{a}–P{b}" for a, b in pairs] + [f"≥ P{PERCENTILE_CLASSES[-1]}"]


def class_breaks(values) -> dict[str, float]:
    """The score at each percentile of :data:`PERCENTILE_CLASSES` over the finite cells.

    Parameters
    ----------
    values : array-like
        Scores (any shape; NaN = no data). Read whole: a national grid of 38 M float32
        cells needs its 150 MB plus a copy of the valid cells.

    Returns
    -------
    dict
        ``{"P50": score, "P75": …, "P99": …}`` (:func:`numpy.percentile`, linear), ascending.

    Raises
    ------
    EvaluationError
        No finite value.
    """
    values = np.asarray(values)
    valid = values[np.isfinite(values)]
    if valid.size == 0:
        raise EvaluationError("the score grid has no valid (non-NaN) cells; there are no classes to compute")
    qs = np.percentile(valid, PERCENTILE_CLASSES)
    return {f"P{p}": float(q) for p, q in zip(PERCENTILE_CLASSES, qs, strict=True)}


def classify(values, breaks: Mapping[str, float]) -> np.ndarray:
    """The class raster: ``uint8`` class index (0 = < P50 … 5 = ≥ P99), 255 where no data.

    A cell is in the highest class whose lower break its score reaches (score ≥ break).
    """
    values = np.asarray(values)
    edges = np.array([breaks[f"P{p}"] for p in PERCENTILE_CLASSES], dtype="float64")
    out = np.searchsorted(edges, values, side="right").astype(np.uint8)
    out[~np.isfinite(values)] = NO_DATA_CLASS
    return out


def _just_below(value: float) -> float:
    """The largest float32 strictly below ``value``: QGIS's discrete classes include their
    upper item value, so an item at this value puts a float32 score equal to the break in
    the class above, as :func:`classify` does."""
    v32 = np.float32(value)
    if float(v32) >= value:
        v32 = np.nextafter(v32, np.float32(-np.inf))
    return float(v32)


def write_qml(path: str | os.PathLike, breaks: Mapping[str, float], *, vmin: float, vmax: float,
              band: int = 1) -> Path:
    """Write a QGIS raster layer style drawing the score in the report's percentile classes.

    A single-band pseudocolour renderer with a *discrete* colour ramp: one item per class
    with the report's colour and label (``"P95–P99"``; the score range in the label too),
    no-data transparent. QGIS applies ``anomaly.qml`` automatically when it opens
    ``anomaly.tif`` from the same folder (or: Layer Properties → Style → Load Style).

    Parameters
    ----------
    path
        The ``.qml`` file to write (replaced atomically).
    breaks
        :func:`class_breaks` of the grid.
    vmin, vmax
        The lowest and highest valid score (the ramp's range).
    band
        The raster band styled.
    """
    edges = [breaks[f"P{p}"] for p in PERCENTILE_CLASSES]
    lows = [float(vmin)] + edges
    items = []
    for k, (colour, label) in enumerate(zip(CLASS_COLOURS, class_labels(), strict=True)):
        # each item is its class's upper bound; the top class runs to infinity
        upper = "inf" if k == len(edges) else repr(_just_below(edges[k]))
        span = f"≥ {lows[k]:.4g}" if k == len(edges) else f"{lows[k]:.4g} – {edges[k]:.4g}"
        items.append((upper, colour, f"{label} ({span})"))
    return _write_raster_style(path, items, "DISCRETE", vmin=vmin, vmax=vmax, band=band)


def write_spread_qml(path: str | os.PathLike, *, vmax: float, band: int = 1) -> Path:
    """Write a QGIS raster style for an ensemble's ``spread.tif`` (``spread.qml`` beside it):
    a continuous ramp from white (the members agree, 0 percentage points) to dark purple at
    ``vmax`` (e.g. the spread's 99th percentile), no-data transparent."""
    vmax = max(float(vmax), 1e-6)
    items = [(repr(0.0), "#ffffff", "0 (members agree)"), (repr(vmax / 2), "#9e9ac8", f"{vmax / 2:.3g}"),
             (repr(vmax), "#3f007d", f"≥ {vmax:.3g} percentage points")]
    return _write_raster_style(path, items, "INTERPOLATED", vmin=0.0, vmax=vmax, band=band)


def _write_raster_style(path, items, ramp_type: str, *, vmin: float, vmax: float, band: int) -> Path:
    """A single-band pseudocolour QGIS style with ``items`` ``(value, colour, label)``."""
    path = Path(path)
    root = ET.Element("qgis", version="3.28.0", styleCategories="AllStyleCategories")
    pipe = ET.SubElement(root, "pipe")
    renderer = ET.SubElement(pipe, "rasterrenderer", type="singlebandpseudocolor", band=str(band), opacity="1",
                             alphaBand="-1", nodataColor="", classificationMin=repr(float(vmin)),
                             classificationMax=repr(float(vmax)))
    ET.SubElement(renderer, "rasterTransparency")
    minmax = ET.SubElement(renderer, "minMaxOrigin")
    for tag, text in (("limits", "None"), ("extent", "WholeRaster"), ("statAccuracy", "Exact"),
                      ("cumulativeCutLower", "0.02"), ("cumulativeCutUpper", "0.98"), ("stdDevFactor", "2")):
        ET.SubElement(minmax, tag).text = text
    shader = ET.SubElement(renderer, "rastershader")
    ramp = ET.SubElement(shader, "colorrampshader", colorRampType=ramp_type, classificationMode="3", clip="0",
                         minimumValue=repr(float(vmin)), maximumValue=repr(float(vmax)), labelPrecision="4")
    for value, colour, label in items:
        ET.SubElement(ramp, "item", value=value, color=colour, alpha="255", label=label)
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0", colorizeRed="255",
                  colorizeGreen="128", colorizeBlue="128", colorizeStrength="100")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(root, "blendMode").text = "0"
    return _write_style(path, root)


#: outline colour and width (mm) of each polygon class: the anomaly, then its core
POLYGON_OUTLINES = {"P95": ("#d95f0e", "0.4"), "P99": ("#7f0000", "0.8")}


def write_polygons_qml(path: str | os.PathLike) -> Path:
    """Write a QGIS vector style for ``anomaly_polygons.gpkg`` (``anomaly_polygons.qml``
    beside it; QGIS applies it when it opens the layer): outlines only, categorised by
    ``class`` (≥ P95 thin orange, ≥ P99 thick dark red), so the map beneath stays readable."""
    root = ET.Element("qgis", version="3.28.0", styleCategories="Symbology")
    renderer = ET.SubElement(root, "renderer-v2", type="categorizedSymbol", attr="class", symbollevels="0",
                             enableorderby="0", forceraster="0")
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for k, (cls, (colour, width)) in enumerate(POLYGON_OUTLINES.items()):
        label = f"≥ {cls} ({'anomaly' if k == 0 else 'core'})"
        ET.SubElement(categories, "category", render="true", symbol=str(k), value=cls, label=label)
        symbol = ET.SubElement(symbols, "symbol", type="fill", name=str(k), alpha="1", clip_to_extent="1",
                               force_rhr="0")
        layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "enabled": "1", "pass": "0", "locked": "0"})
        rgb = ",".join(str(int(colour[i:i + 2], 16)) for i in (1, 3, 5)) + ",255"
        props = {"color": "0,0,0,0", "style": "no", "outline_color": rgb, "outline_style": "solid",
                 "outline_width": width, "outline_width_unit": "MM", "joinstyle": "round"}
        options = ET.SubElement(layer, "Option", type="Map")
        for key, value in props.items():  # QGIS ≥ 3.26 reads the Option map, earlier versions the props
            ET.SubElement(options, "Option", name=key, type="QString", value=value)
        for key, value in props.items():
            ET.SubElement(layer, "prop", k=key, v=value)
    ET.SubElement(root, "blendMode").text = "0"
    return _write_style(Path(path), root)


def _write_style(path: Path, root) -> Path:
    from geogan.stores.ownership import write_file

    ET.indent(root)
    write_file(path, _QML_DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n")  # never through a link
    return path


@dataclass(frozen=True)
class AnomalyPolygons:
    """Anomaly polygons (:func:`anomaly_polygons`): shapely polygons in ``crs`` and one array
    per attribute column, in the same order."""

    geometry: np.ndarray
    columns: dict[str, np.ndarray]
    crs: pyproj.CRS

    def __len__(self) -> int:
        return int(self.geometry.size)


def _area_km2(polygons: list, crs: pyproj.CRS) -> np.ndarray:
    """Polygon areas in km²: planar in a projected CRS, geodesic on its ellipsoid otherwise."""
    import shapely

    if not polygons:
        return np.zeros(0, dtype="float64")
    if crs.is_geographic:
        geod = crs.get_geod()
        return np.array([abs(geod.geometry_area_perimeter(p)[0]) for p in polygons]) / 1e6
    unit_m = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return shapely.area(np.asarray(polygons, dtype=object)) * unit_m**2 / 1e6


def anomaly_polygons(values, transform, crs, breaks: Mapping[str, float], *,
                     deposit_cells: tuple[np.ndarray, np.ndarray] | None = None) -> AnomalyPolygons:
    """The connected regions of cells scoring ≥ P95 and ≥ P99, as polygons.

    For each percentile of :data:`POLYGON_CLASSES` the cells at or above its break are
    grouped into 4-connected regions (cells sharing an edge), and each region becomes one
    polygon (with holes where lower cells lie inside) by :func:`rasterio.features.shapes`.
    The ≥ P99 regions lie inside ≥ P95 ones: a ``P95`` feature is a whole anomaly, its ``P99``
    features are its cores. Features are ordered by class, then highest score first.

    Parameters
    ----------
    values : array-like, shape (height, width)
        The score grid (NaN = no data), north-up.
    transform : affine.Affine
        The grid's transform (cell corners).
    crs
        The grid's CRS.
    breaks
        :func:`class_breaks` of the grid.
    deposit_cells
        ``(rows, cols)`` of the deposits on valid cells: adds ``n_deposits``, the deposits
        inside each polygon.

    Returns
    -------
    AnomalyPolygons
        Columns ``class`` (``"P95"``, ``"P99"``: cells scoring at or above that percentile),
        ``threshold`` (the break), ``area_km2`` (planar; geodesic in a geographic CRS),
        ``n_cells``, ``max_score`` and, with deposits, ``n_deposits``.

    Memory: the scores plus a ``uint8`` class mask and an ``int32`` region label per cell
    (≈ 9 bytes a cell with the scores, 0.35 GB for a national grid of 38 M cells).
    """
    import shapely
    from rasterio.features import shapes
    from scipy import ndimage

    values = np.asarray(values)
    crs = parse_crs(crs, what="grid CRS")
    four = ndimage.generate_binary_structure(2, 1)
    geoms, cols = [], {"class": [], "threshold": [], "n_cells": [], "max_score": []}
    if deposit_cells is not None:
        cols["n_deposits"] = []
    for p in POLYGON_CLASSES:
        threshold = breaks[f"P{p}"]
        with np.errstate(invalid="ignore"):
            # compared in float64, as classify() does (a float32 comparison would round the break);
            # NaN compares False: no data is never in a class
            mask = (values >= np.float64(threshold)).view(np.uint8)
        labels, n = ndimage.label(mask, structure=four, output=np.int32)
        if n == 0:
            continue
        n_cells = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        # each region's highest score: one pass over the class's cells (ndimage.maximum sorts
        # every label of the grid, 22 s on a national grid)
        inside = mask.view(bool)
        max_score = np.full(n + 1, -np.inf)
        np.maximum.at(max_score, labels[inside], values[inside].astype("float64"))
        max_score = max_score[1:]
        if deposit_cells is not None:
            at = labels[deposit_cells[0], deposit_cells[1]]
            n_deps = np.bincount(at[at > 0], minlength=n + 1)[1:]
        polygon = [None] * n
        for geom, label in shapes(labels, mask=mask, connectivity=4, transform=transform):
            polygon[int(label) - 1] = shapely.geometry.shape(geom)
        order = np.argsort(-max_score, kind="stable")
        geoms.extend(polygon[i] for i in order)
        cols["class"].extend([f"P{p}"] * n)
        cols["threshold"].extend([float(threshold)] * n)
        cols["n_cells"].extend(n_cells[order].tolist())
        cols["max_score"].extend(max_score[order].tolist())
        if deposit_cells is not None:
            cols["n_deposits"].extend(n_deps[order].tolist())
        del labels, mask
    columns = {
        "class": np.array(cols["class"], dtype=object),
        "threshold": np.array(cols["threshold"], dtype="float64"),
        "area_km2": _area_km2(geoms, crs),
        "n_cells": np.array(cols["n_cells"], dtype="int64"),
        "max_score": np.array(cols["max_score"], dtype="float64"),
    }
    if deposit_cells is not None:
        columns["n_deposits"] = np.array(cols["n_deposits"], dtype="int64")
    geometry = np.empty(len(geoms), dtype=object)
    geometry[:] = geoms
    return AnomalyPolygons(geometry=geometry, columns=columns, crs=crs)


def write_anomaly_polygons(path: str | os.PathLike, polygons: AnomalyPolygons) -> Path:
    """Write :func:`anomaly_polygons` as a GeoPackage (layer ``anomaly_polygons``, the grid's
    CRS), replacing ``path`` only once the new file is complete."""
    import pyogrio
    import shapely

    from geogan.stores.files import replace_path

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-{os.urandom(4).hex()}.gpkg")
    names = list(polygons.columns)
    try:
        pyogrio.raw.write(tmp, geometry=shapely.to_wkb(polygons.geometry), field_data=list(polygons.columns.values()),
                          fields=names, crs=polygons.crs.to_wkt(), geometry_type="Polygon", driver="GPKG",
                          layer=POLYGON_LAYER)
        replace_path(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def export_classes(scores, qml_path: str | os.PathLike, gpkg_path: str | os.PathLike, *,
                   deposits=None) -> dict[str, float] | None:
    """Write the QGIS style and the anomaly polygons of a score grid; return its class breaks
    (``None``, writing nothing, when the grid has no valid cell: there are no classes).

    Parameters
    ----------
    scores : xarray.DataArray
        ``(y, x)`` score grid with a rioxarray CRS and transform (read once, whole).
    qml_path, gpkg_path
        Where :func:`write_qml` and :func:`write_anomaly_polygons` write.
    deposits : geogan.evaluation.deposits.Deposits, optional
        Known deposits: the polygons count those inside.
    """
    from geogan.evaluation.locate import locate_deposits

    values = np.asarray(scores.values, dtype=np.float32)
    if not np.isfinite(values).any():
        return None
    breaks = class_breaks(values)
    vmin, vmax = float(np.nanmin(values)), float(np.nanmax(values))
    write_qml(qml_path, breaks, vmin=vmin, vmax=vmax)
    cells = None
    if deposits is not None:
        location = locate_deposits(scores, deposits, values=values)
        cells = (location.row[location.used], location.col[location.used])
    polygons = anomaly_polygons(values, scores.rio.transform(), scores.rio.crs, breaks, deposit_cells=cells)
    write_anomaly_polygons(gpkg_path, polygons)
    return breaks
