"""Import existing single-band element GeoTIFFs (maps from GIS software) into a grid store."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from geogan import store
from geogan.errors import InputError
from geogan.gridspec import GridSpec

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


def import_rasters(paths: list[str | os.PathLike], out: str | os.PathLike, *, elements: list[str] | None = None,
                   units: dict[str, str] | None = None, tile: int = 512, overwrite: bool = False) -> Path:
    """Stack single-band GeoTIFFs (one element each) into a grid store.

    All rasters must share CRS, transform and shape; nodata becomes NaN. The store's
    ``distance`` variable is NaN (unknown: there are no samples).
    """
    out = store.check_output(out, overwrite=overwrite)
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("give at least one GeoTIFF")
    if elements is not None and len(elements) != len(paths):
        raise InputError(f"--elements names {len(elements)} elements for {len(paths)} rasters")
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

    ref = None
    for p in paths:
        try:
            with rasterio.open(p) as src:
                meta = {"crs": src.crs, "transform": src.transform, "shape": (src.height, src.width),
                        "count": src.count}
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"not a readable raster ({exc})", path=p) from None
        if meta["count"] != 1:
            raise InputError(f"has {meta['count']} bands; give single-band rasters", path=p)
        if meta["crs"] is None:
            raise InputError("has no CRS", path=p)
        if ref is None:
            ref = (p, meta)
            continue
        for key in ("crs", "transform", "shape"):
            a, b = ref[1][key], meta[key]
            differs = (a != b) if key != "transform" else not a.almost_equals(b)
            if differs:
                raise InputError(f"{key} differs from {ref[0].name}: {b} vs {a}", path=p)
    meta = ref[1]
    spec = GridSpec.from_transform(meta["transform"], width=meta["shape"][1], height=meta["shape"][0],
                                   crs=meta["crs"].to_wkt(), tile=tile)
    staging = store.Staging(out)
    if staging.exists():
        staging.remove()
    staging.start({"rasters": [str(p) for p in paths]})
    attrs = {"source": {"path": [str(p) for p in paths], "sha256": [store.sha256_file(p) for p in paths],
                        "kind": "imported rasters"}}
    store.create_grid_store(staging.store, spec, names, units=units_all, attrs=attrs)
    srcs = [rasterio.open(p) for p in paths]
    try:
        for (i, j), (rows, cols) in store.iter_regions(spec, spec.tiles()):
            win = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
            block = np.empty((len(srcs), win.height, win.width), dtype=np.float32)
            for k, src in enumerate(srcs):
                band = src.read(1, window=win, masked=True).astype(np.float32)
                block[k] = band.filled(np.nan)
            store.write_region(staging.store, "concentration", block, (slice(None), rows, cols))
            staging.mark(i, j)
    finally:
        for s in srcs:
            s.close()
    return staging.finalize()
