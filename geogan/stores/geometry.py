"""A store's grid geometry, checked: its ``grid`` attribute against its coordinates, its chunks against the tile.

What lives here: :func:`grid_spec` (the :class:`~geogan.gridspec.GridSpec` of a store, which
the ``x``/``y`` cell centres must confirm, so a false attribute never georeferences an
output) and :func:`check_chunks` (every ``(…, y, x)`` array chunked one tile, every chunk of
the arrays a store lists in ``all_chunks_written`` present). What does not: opening a store
(:mod:`geogan.stores.store`) and its layout (:mod:`geogan.stores.layout`).

>>> import xarray as xr
>>> grid_spec(xr.Dataset())  # doctest: +ELLIPSIS
Traceback (most recent call last):
geogan.errors.StoreError: the store has no 'grid' attribute describing the grid (...); it is not a complete ...
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from geogan.errors import GeoganError, StoreError
from geogan.gridspec import GridSpec
from geogan.stores.layout import ALL_CHUNKS_WRITTEN
from geogan.stores.urls import filesystem, is_url

__all__ = ["grid_spec", "check_chunks"]


_GRID_KEYS = ("crs", "cell_size_m", "xmin", "ymax", "width", "height", "tile")


def grid_spec(ds: xr.Dataset) -> GridSpec:
    """The :class:`GridSpec` of a store, its geometry checked against the coordinates.

    The ``x``/``y`` cell centres are the truth: the width and height are their lengths, the
    cell size their spacing (even, square, ``y`` descending), the corner half a cell beyond
    the first ones. The ``grid`` attribute (which alone gives the CRS and the tile) must agree
    with them to 1e-6 (relative; of a cell for the corner), so a false attribute can never
    georeference an output: a disagreement is a :class:`StoreError` naming the attribute, its
    value and the value the coordinates give.

    Parameters
    ----------
    ds
        A store opened by :func:`~geogan.stores.store.open_grid` or
        :func:`~geogan.stores.store.open_store` (or any Dataset with ``x``/``y`` cell centres
        and a ``grid`` attribute).

    Returns
    -------
    GridSpec
        The grid's CRS, cell size, corner, shape and tile.

    Raises
    ------
    StoreError
        No ``grid`` attribute, or one lacking a key or holding a bad value; ``x``/``y`` that
        are not evenly spaced cell centres (``x`` ascending, ``y`` descending); a ``grid``
        attribute that disagrees with them.

    Examples
    --------
    >>> import tempfile
    >>> import xarray as xr
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> path = example_grid(d, ["Cu", "Zn"])
    >>> from geogan.stores.store import open_grid
    >>> spec = grid_spec(open_grid(path))
    >>> spec.shape, spec.cell_size_m, spec.bounds, spec.n_tiles
    ((8, 8), 100.0, (0.0, 0.0, 800.0, 800.0), 4)
    >>> grid_spec(xr.Dataset())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.StoreError: the store has no 'grid' attribute describing the grid (...); it is not a complete ...
    """
    where = ds.encoding.get("source", "the store")
    attrs = ds.attrs.get("grid")
    if not isinstance(attrs, dict):
        raise StoreError(f"{where} has no 'grid' attribute describing the grid (a mapping with "
                         f"{', '.join(_GRID_KEYS)}); it is not a complete geogan store")
    missing = [k for k in _GRID_KEYS if k not in attrs]
    if missing:
        raise StoreError(f"{where}: the 'grid' attribute lacks {', '.join(missing)}")
    for key in ("width", "height", "tile"):
        if not isinstance(attrs[key], int) or isinstance(attrs[key], bool) or attrs[key] < 1:
            raise StoreError(f"{where}: 'grid' attribute {key} must be a positive integer, got {attrs[key]!r}")
    for key in ("cell_size_m", "xmin", "ymax") + (("cell_size_y_m",) if attrs.get("cell_size_y_m") is not None else ()):
        v = attrs[key]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise StoreError(f"{where}: 'grid' attribute {key} must be a finite number, got {v!r}")
    if not isinstance(attrs["crs"], str):
        raise StoreError(f"{where}: 'grid' attribute crs must be a WKT string, got {type(attrs['crs']).__name__}")
    coords = {}
    for axis in ("x", "y"):
        values = np.asarray(ds[axis].values, dtype=np.float64) if axis in ds.coords else None
        if values is None or values.ndim != 1 or not values.size or not np.isfinite(values).all():
            raise StoreError(f"{where}: the {axis} coordinate must be a non-empty 1-D array of finite cell centres")
        coords[axis] = values
    x, y = coords["x"], coords["y"]
    size = {"x": float(attrs["cell_size_m"]), "y": float(attrs.get("cell_size_y_m") or attrs["cell_size_m"])}
    cell = {}
    for axis, d in (("x", np.diff(x)), ("y", -np.diff(y))):  # cell centres: x ascending, y descending
        cell[axis] = float(d[0]) if d.size else size[axis]  # one cell: no spacing to read
        if d.size and not (cell[axis] > 0 and np.allclose(d, cell[axis], rtol=1e-6, atol=0.0)):
            raise StoreError(f"{where}: the {axis} coordinates are not evenly spaced "
                             f"{'ascending' if axis == 'x' else 'descending'} cell centres ({cell[axis]:.10g} then "
                             f"{d.min():.10g} to {d.max():.10g}); geogan grids are north-up and regular")
    derived = {"width": x.size, "height": y.size, "cell_size_m": cell["x"], "cell_size_y_m": cell["y"],
               "xmin": x[0] - cell["x"] / 2, "ymax": y[0] + cell["y"] / 2}
    for key, value in derived.items():
        given = size["y"] if key == "cell_size_y_m" else attrs[key]
        if key in ("width", "height"):
            same = given == value
        elif key in ("cell_size_m", "cell_size_y_m"):
            same = math.isclose(given, value, rel_tol=1e-6)
        else:
            same = abs(given - value) <= 1e-6 * cell["x" if key == "xmin" else "y"]
        if not same:
            raise StoreError(f"{where}: the 'grid' attribute {key} is {given:.10g} but the x/y coordinates give "
                             f"{value:.10g}; the store's metadata is damaged or was edited, recreate it")
    try:
        return GridSpec.from_dict(attrs)
    except GeoganError as exc:
        raise StoreError(f"{where}: invalid 'grid' attribute ({exc})") from None


def check_chunks(ds: xr.Dataset, path, spec: GridSpec) -> None:
    """Every ``(…, y, x)`` array is chunked one tile, and every chunk of the arrays listed in
    ``all_chunks_written`` exists (listing the array's chunk keys; nothing is read)."""
    names = [str(n) for n, v in ds.data_vars.items() if v.dims[-2:] == ("y", "x")]
    for name in names:
        chunks = tuple(ds[name].encoding.get("chunks") or ())
        if chunks[-2:] != (spec.tile, spec.tile):
            raise StoreError(f"{path}: the 'grid' attribute tile is {spec.tile} but '{name}' is stored in chunks of "
                             f"{chunks[-2:]} cells; the store's metadata is damaged or was edited, recreate it")
    listed = ds.attrs.get(ALL_CHUNKS_WRITTEN)
    names = [n for n in names if isinstance(listed, list) and n in listed]
    if not names:
        return
    group = zarr.open_group(str(path), mode="r")
    if is_url(path):
        fs, root = filesystem(str(path))
        root = root.rstrip("/")
    for name in names:
        arr = group[name]
        if is_url(path):
            prefix = f"{root}/{name}/"
            present = {p[len(prefix):] for p in fs.find(prefix)}
        else:
            base = Path(path) / name
            present = {(Path(d) / f).relative_to(base).as_posix() for d, _, files in os.walk(base) for f in files}
        for index in itertools.product(*(range(n) for n in arr.cdata_shape)):
            key = arr.metadata.encode_chunk_key(index)
            if key not in present:
                n_missing = sum(arr.metadata.encode_chunk_key(k) not in present
                                for k in itertools.product(*(range(n) for n in arr.cdata_shape)))
                more = f" ({n_missing} chunks of '{name}' are missing)" if n_missing > 1 else ""
                raise StoreError(f"{path}: chunk {key} of '{name}' (tile row {index[-2]}, col {index[-1]}) is missing"
                                 f"{more}: the store is damaged (a complete store has every chunk); recreate it "
                                 f"with the command that made it")
