"""A tiny grid store for examples and doctests: :func:`example_grid`.

The docstrings' examples need a grid store to open, train on or score. Building one shows
:func:`geogan.grid.rasters.import_rasters` at work (its own example does so in full); every
other example starts from this one call instead of ten lines of raster writing.

Must not hold: surveys (:mod:`geogan.synth.memory`, :mod:`geogan.synth.writer`) or anything a
pipeline run uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

#: the examples' projected CRS (UTM zone 50N, the demo survey's)
EXAMPLE_CRS = "EPSG:32650"


def example_grid(directory: str | os.PathLike, elements: Sequence[str] = ("Cu", "Zn", "Pb"), *,
                 size: int = 8, seed: int = 0, tile: int = 4) -> Path:
    """Write a small grid store of log-normal element rasters, for examples and doctests.

    Each element is a ``size`` × ``size`` GeoTIFF of 100 m cells in :data:`EXAMPLE_CRS`
    (``<element>_ppm.tif``, values log-normal, drawn in element order from one generator
    seeded by ``seed``), imported with :func:`~geogan.grid.rasters.import_rasters` into
    ``<directory>/grid.zarr``.

    Parameters
    ----------
    directory
        An existing folder; the rasters and ``grid.zarr`` are written into it.
    elements
        Element symbols, one raster (and one band of the store) each, in this order.
    size
        Rows and columns of the grid.
    seed
        Seed of the values (the same seed gives the same store).
    tile
        Tile (chunk) size of the store, in cells.

    Returns
    -------
    Path
        The grid store, ``<directory>/grid.zarr``.

    Raises
    ------
    OutputExistsError
        ``grid.zarr`` already exists in ``directory``.

    Examples
    --------
    >>> import tempfile
    >>> from geogan.stores.store import open_grid
    >>> ds = open_grid(example_grid(tempfile.mkdtemp(), ["Cu", "Zn"]))
    >>> ds["concentration"].shape, ds.attrs["units"]
    ((2, 8, 8), {'Cu': 'ppm', 'Zn': 'ppm'})
    """
    import numpy as np
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    from geogan.grid.rasters import import_rasters

    directory = Path(directory)
    rng = np.random.default_rng(seed)
    coords = {"y": 50.0 + 100 * (size - 1) - 100 * np.arange(size), "x": 50.0 + 100 * np.arange(size)}
    rasters = []
    for el in elements:
        raster = directory / f"{el}_ppm.tif"
        xr.DataArray(rng.lognormal(size=(size, size)).astype("float32"), dims=("y", "x"), coords=coords,
                     ).rio.write_crs(EXAMPLE_CRS).rio.to_raster(raster)
        rasters.append(raster)
    return Path(import_rasters(rasters, directory / "grid.zarr", tile=tile))
