"""Import existing single-band element GeoTIFFs (maps from GIS software) into a grid store."""

from __future__ import annotations

import logging
import os
import re
import warnings
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr
from rasterio.windows import Window

from geogan.stores import layout
from geogan.stores.files import check_disjoint, check_output, file_sha256, holds_output_lock
from geogan.choices import NONPOSITIVE, RESAMPLING
from geogan.grid.coverage import grid_coverage
from geogan.errors import GeoganWarning, InputError
from geogan.gridspec import MAX_CELLS, GridSpec
from geogan.options import GridOptions
from geogan.stores.remote import is_remote, public_url, sibling
from geogan.stores.staging import Staging, partial_path
from geogan.stores.urls import is_url, local_copy

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(?:idw[_-]?)?(?P<el>[A-Z][a-z]?(?:\d*[A-Z][a-z]?\d*)*)(?:[_-](?P<unit>ppm|ppb|pct|ppt))?$",
                   re.IGNORECASE)


def element_from_filename(path: str | os.PathLike) -> tuple[str, str | None]:
    """``Idw_Au.tif`` → ("Au", None); ``W_ppm.tif`` → ("W", "ppm")."""
    stem = Path(path).stem
    m = _NAME.match(stem)
    if not m:
        raise InputError(f"cannot tell the element from the file name {Path(path).name!r}; "
                         "give --elements in file order", path=path)
    el = m.group("el")
    el = el[0].upper() + el[1:]
    return el, (m.group("unit") or None)




def _describe_grid(meta: dict) -> str:
    t = meta["transform"]
    return (f"origin ({t.c:.10g}, {t.f:.10g}), cells {t.a:.10g} x {-t.e:.10g}, {meta['shape'][0]} x {meta['shape'][1]}"
            f" cells, {meta['crs'].to_string() if meta['crs'] else 'no CRS'}")


def _read_meta(p: Path) -> dict:
    try:
        with rasterio.open(p) as src:
            return {"crs": src.crs, "transform": src.transform, "shape": (src.height, src.width), "count": src.count,
                    "nodata": src.nodata}
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"not a readable raster ({exc})", path=p) from None


def _same_grid(a: dict, b: dict) -> bool:
    return a["crs"] == b["crs"] and a["shape"] == b["shape"] and a["transform"].almost_equals(b["transform"])


@holds_output_lock("out")
def import_rasters(paths: list[str | os.PathLike], out: str | os.PathLike, *, elements: list[str] | None = None,
                   units: dict[str, str] | None = None, tile: int = GridOptions.tile, like: str | os.PathLike | None = None,
                   resampling: str | None = None, nodata: float | None = None, nonpositive: str = "error",
                   max_cells: int | None = MAX_CELLS, overwrite: bool = False) -> Path | str:
    """Stack single-band GeoTIFFs (one element each) into a grid store.

    Rasters come as GIS software writes them:

    * **Cells** may be rectangular (dx ≠ dy, common after reprojection); the store, the
      scores and the COG keep the input's georeferencing exactly.
    * **Grids** must match the reference grid (``like``, default the first raster) in CRS,
      transform and shape; one that does not is refused with the exact difference, unless
      ``resampling`` names a method (``nearest``, ``bilinear``, ``average``, ...; GDAL's
      warper) to put it onto the reference grid.
    * **No-data**: the file's nodata value, NaN, and internal mask bands all become NaN;
      ``nodata`` declares a value for files that do not declare one (e.g. -9999).
    * **Values ≤ 0** cannot enter the log-ratio transforms: ``nonpositive`` says what to
      do: ``error`` (default: refuse, with counts per element), ``nan`` (treat as
      missing), ``half-min`` (half the element's smallest positive value, as for below
      detection) or ``keep``. What was substituted is logged and kept in the store's
      ``source`` attribute.

    A reference grid of more than ``max_cells`` cells (``None``: no limit) is refused before
    anything is read or allocated.

    The store's ``distance`` variable is NaN (unknown: there are no samples).

    Parameters
    ----------
    paths
        Single-band GeoTIFFs, one element each: paths or fsspec URLs (``s3://bucket/Cu_ppm.tif``;
        read through a temporary local copy, credentials from the backend's usual places).
    out
        Path or fsspec URL of the grid store to create (``grid.zarr``, ``s3://bucket/grid.zarr``).
    elements
        Element symbols in file order. Default: read from the file names (``Idw_Au.tif`` →
        Au, ``W_ppm.tif`` → W in ppm).
    units
        Element → unit. Default: the unit in the file name, else ``ppm``.
    tile
        Tile edge in cells, the Zarr chunk (512; 1 to 16,384).
    like
        The reference grid's raster. Default: the first of ``paths``.
    resampling
        Put rasters on other grids onto the reference grid with this method (one of
        :data:`geogan.choices.RESAMPLING`). Default ``None``: refuse them.
    nodata
        A no-data value for files that declare none.
    nonpositive
        What to do with values ≤ 0: ``error``, ``nan``, ``half-min`` or ``keep`` (see above).
    max_cells
        Refuse a larger reference grid (:data:`geogan.gridspec.MAX_CELLS`; ``None``: no limit).
    overwrite
        Replace an existing store (one geogan wrote).

    Returns
    -------
    pathlib.Path or str
        The grid store, complete (open it with :func:`geogan.stores.store.open_grid`); a URL's
        as the URL.

    Raises
    ------
    InputError
        No raster given; a file missing, unreadable, with several bands or without a CRS; an
        element that cannot be told from a file name or is given twice; as many ``elements``
        as rasters not given; an unknown ``resampling`` or ``nonpositive``; a grid differing
        from the reference without ``resampling``; more than ``max_cells`` cells; values ≤ 0
        with ``nonpositive="error"`` (counted per element).
    GridError
        ``tile`` out of range.
    OutputExistsError
        ``out`` exists and ``overwrite`` is false; ``out`` is, holds or lies inside an input.

    Warns
    -----
    GeoganWarning
        Caveats about the grid's coverage (elements missing from many cells).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, xarray as xr
    >>> from geogan import open_grid
    >>> d = tempfile.mkdtemp()
    >>> rng = np.random.default_rng(0)
    >>> for name in ("Cu_ppm.tif", "Idw_Au.tif"):  # 8 x 8 cells of 100 m, as GIS software writes them
    ...     xr.DataArray(rng.lognormal(size=(8, 8)).astype("float32"), dims=("y", "x"),
    ...                  coords={"y": 750.0 - 100 * np.arange(8), "x": 50.0 + 100 * np.arange(8)},
    ...                  ).rio.write_crs("EPSG:32650").rio.to_raster(os.path.join(d, name))
    >>> paths = [os.path.join(d, "Cu_ppm.tif"), os.path.join(d, "Idw_Au.tif")]
    >>> grid = import_rasters(paths, os.path.join(d, "grid.zarr"), units={"Au": "ppb"}, tile=4)
    >>> ds = open_grid(grid)
    >>> ds["element"].values.tolist(), ds.attrs["units"]["Au"], ds["concentration"].shape
    (['Cu', 'Au'], 'ppb', (2, 8, 8))
    >>> import_rasters(paths, grid)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: ...grid.zarr exists; pass --overwrite to replace it
    >>> import_rasters(paths, os.path.join(d, "other.zarr"), nonpositive="drop")
    Traceback (most recent call last):
    geogan.errors.InputError: unknown nonpositive policy 'drop'; choose one of error, nan, half-min, keep
    """
    inputs = [p if is_url(p) else Path(p) for p in paths]  # URLs: read through local copies below
    like_in = (like if is_url(like) else Path(like)) if like else None
    check_disjoint([out, sibling(str(out), ".partial") if is_remote(out) else partial_path(out)],
                   inputs + ([like_in] if like_in is not None else []), what="grid store")
    out = check_output(out, overwrite=overwrite, what="grid store", kind="grid")
    if not inputs:
        raise InputError("give at least one GeoTIFF")
    GridOptions(tile=tile)  # the bounds every grid's tile has (ConfigError: tile must be ≤ 16,384)
    if elements is not None and len(elements) != len(inputs):
        raise InputError(f"--elements names {len(elements)} elements for {len(inputs)} rasters")
    if resampling is not None and resampling not in RESAMPLING:
        raise InputError(f"unknown resampling {resampling!r}; choose one of {', '.join(RESAMPLING)}")
    if nonpositive not in NONPOSITIVE:
        raise InputError(f"unknown nonpositive policy {nonpositive!r}; choose one of {', '.join(NONPOSITIVE)}")
    with ExitStack() as copies:  # an error naming a copy names its URL
        paths = [copies.enter_context(local_copy(p, what="raster")) for p in inputs]
        like = None if like_in is None else copies.enter_context(local_copy(like_in, what="raster"))
        names, units_all = _element_names(paths, elements, units)
        ref_path, ref, warp, spec = _reference_grid(paths, like, resampling=resampling, max_cells=max_cells,
                                                    tile=tile)
        srcs = _open_sources(paths, warp, ref, resampling=resampling, nodata=nodata)
        try:
            regions = list(layout.iter_regions(spec, spec.tiles()))
            floor = _half_min_floors(srcs, regions, nodata) if nonpositive == "half-min" else {}
            staging = Staging(out)
            if staging.exists():
                staging.remove()
            staging.start({"rasters": [_shown(p) for p in inputs]})
            attrs = {"source": {"path": [_shown(p) for p in inputs], "sha256": [file_sha256(p) for p in paths],
                                "kind": "imported rasters", "like": _shown(inputs[0] if like_in is None else like_in),
                                "resampling": {p.name: resampling for p, w in zip(paths, warp) if w},
                                "nonpositive": nonpositive}}
            layout.create_grid_store(staging.store, spec, names, units=units_all, attrs=attrs)
            counts, minima = _write_tiles(staging, srcs, regions, nonpositive=nonpositive, floor=floor, nodata=nodata)
        finally:
            for src in srcs:
                src.close()
        _check_nonpositive(staging, paths, names, counts, minima, nonpositive=nonpositive, floor=floor)
    cov = grid_coverage(xr.open_zarr(staging.store, consolidated=False))
    log.info(cov.describe())
    for line in cov.warnings():
        warnings.warn(line, GeoganWarning, stacklevel=3)
    return staging.finalize(extra_attrs={"nonpositive_cells": {names[k]: int(counts[k]) for k in range(len(names))},
                                         "coverage": cov.to_dict()})


def _shown(path) -> str:
    """A raster's path as the store records it (a URL without credentials)."""
    return public_url(path) if is_url(path) else str(path)


# -- the steps of import_rasters ---------------------------------------------------------------------
def _element_names(paths: list[Path], elements: list[str] | None,
                   units: dict[str, str] | None) -> tuple[list[str], dict[str, str]]:
    """Each raster's element (``elements``, else its file name) and every element's unit
    (``units``, else the file name's, else ppm); a missing file or an element given twice is
    an :class:`InputError`."""
    names, file_units = [], {}
    for k, p in enumerate(paths):
        if not p.is_file():
            raise InputError("file not found", path=p)
        if elements is not None:
            el, unit = elements[k], None
        else:
            el, unit = element_from_filename(p)
        if el in names:
            raise InputError(f"element {el} given twice ({paths[names.index(el)].name} and {p.name})", path=p)
        names.append(el)
        if unit:
            file_units[el] = unit
    units_all = {el: (units or {}).get(el) or file_units.get(el) or "ppm" for el in names}
    return names, units_all


def _reference_grid(paths: list[Path], like, *, resampling: str | None, max_cells: int | None,
                    tile: int) -> tuple[Path, dict, list[bool], GridSpec]:
    """The grid every raster is read on (``like``'s, else the first raster's): its path, its
    metadata, which rasters must be resampled onto it, and its :class:`GridSpec`."""
    metas = []
    for p in paths:
        meta = _read_meta(p)
        if meta["count"] != 1:
            raise InputError(f"has {meta['count']} bands; give single-band rasters", path=p)
        if meta["crs"] is None:
            raise InputError("has no CRS", path=p)
        metas.append(meta)
    ref_path = Path(like) if like else paths[0]
    if like and not ref_path.is_file():
        raise InputError("file not found", path=ref_path)
    ref = _read_meta(ref_path) if like else metas[0]
    if ref["crs"] is None:
        raise InputError("has no CRS", path=ref_path)
    warp = []
    for p, meta in zip(paths, metas):
        same = _same_grid(ref, meta)
        if not same and resampling is None:
            raise InputError(f"its grid differs from {ref_path.name}'s: {_describe_grid(meta)} vs {_describe_grid(ref)};"
                             f" pass --resample nearest|bilinear|average (to resample it onto {ref_path.name}'s "
                             f"grid), or give rasters on one grid", path=p)
        warp.append(not same)
    n_cells = int(ref["shape"][0]) * int(ref["shape"][1])
    if max_cells is not None and n_cells > max_cells:
        raise InputError(f"its grid is {ref['shape'][1]:,} x {ref['shape'][0]:,} = {n_cells:,} cells, more than "
                         f"--max-cells {max_cells:,}; raise the limit if the grid is meant", path=ref_path)
    spec = GridSpec.from_transform(ref["transform"], width=ref["shape"][1], height=ref["shape"][0],
                                   crs=ref["crs"].to_wkt(), tile=tile)
    for p, w in zip(paths, warp):
        if w:
            log.info(f"resampling {p.name} onto {ref_path.name}'s grid ({resampling})")
    return ref_path, ref, warp, spec


def _open_sources(paths: list[Path], warp: list[bool], ref: dict, *, resampling: str | None,
                  nodata: float | None) -> list:
    """The rasters opened, those off the reference grid through a :class:`WarpedVRT` onto it."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    srcs = []
    for p, w in zip(paths, warp):
        src = rasterio.open(p)
        if w:
            src = WarpedVRT(src, crs=ref["crs"], transform=ref["transform"], width=ref["shape"][1],
                            height=ref["shape"][0], resampling=Resampling[resampling],
                            src_nodata=src.nodata if src.nodata is not None else nodata, nodata=np.nan)
        srcs.append(src)
    return srcs


def _read_window(src, win, nodata: float | None) -> np.ndarray:
    """Band 1 of ``src`` in ``win`` as float32, no-data (the file's, and ``nodata``) as NaN."""
    band = src.read(1, window=win, masked=True).astype(np.float32)
    values = band.filled(np.nan)
    if nodata is not None:
        values[values == np.float32(nodata)] = np.nan
    return values


def _window(rows: slice, cols: slice) -> Window:
    return Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)


def _half_min_floors(srcs: list, regions: list, nodata: float | None) -> dict[int, float]:
    """A first pass: half of each element's smallest positive value (NaN when it has none)."""
    floor = {}
    for k, src in enumerate(srcs):
        low = np.inf
        for _, (rows, cols) in regions:
            v = _read_window(src, _window(rows, cols), nodata)
            pos = v[v > 0]
            if pos.size:
                low = min(low, float(pos.min()))
        floor[k] = low / 2 if np.isfinite(low) else np.nan
    return floor


def _write_tiles(staging: Staging, srcs: list, regions: list, *, nonpositive: str, floor: dict[int, float],
                 nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Read every tile of every raster, treat values ≤ 0 as ``nonpositive`` says and write the
    tiles (none once one is found under ``error``); returns each element's count and minimum
    of values ≤ 0."""
    counts = np.zeros(len(srcs), dtype=np.int64)
    minima = np.full(len(srcs), np.inf)
    for (i, j), (rows, cols) in regions:
        win = _window(rows, cols)
        block = np.empty((len(srcs), win.height, win.width), dtype=np.float32)
        for k, src in enumerate(srcs):
            values = _read_window(src, win, nodata)
            with np.errstate(invalid="ignore"):
                bad = values <= 0
            if bad.any():
                counts[k] += int(bad.sum())
                minima[k] = min(minima[k], float(values[bad].min()))
                if nonpositive == "nan":
                    values[bad] = np.nan
                elif nonpositive == "half-min":
                    values[bad] = floor[k]
            block[k] = values
        if nonpositive == "error" and counts.any():
            continue  # refused below, once every tile is counted: nothing more is written
        layout.write_region(staging.store, "concentration", block, (slice(None), rows, cols))
        staging.mark(i, j)
    return counts, minima


def _check_nonpositive(staging: Staging, paths: list[Path], names: list[str], counts: np.ndarray,
                       minima: np.ndarray, *, nonpositive: str, floor: dict[int, float]) -> None:
    """Refuse values ≤ 0 under ``error`` (the staged store removed), else log what was done to them."""
    if nonpositive == "error" and counts.any():
        staging.remove()
        found = ", ".join(f"{names[k]} {counts[k]:,} (min {minima[k]:g})" for k in np.flatnonzero(counts))
        raise InputError(f"cells with values ≤ 0, which the log-ratio transforms cannot take: {found}; pass "
                         f"--nonpositive nan (missing), half-min (half the smallest positive value, as below "
                         f"detection) or keep", path=paths[int(np.flatnonzero(counts)[0])])
    for k in np.flatnonzero(counts):
        what = {"nan": "set to NaN", "half-min": f"set to {floor.get(k, np.nan):g} (half the smallest positive)",
                "keep": "kept"}[nonpositive]
        log.info(f"{names[k]}: {counts[k]:,} cells ≤ 0 (min {minima[k]:g}) {what}")
