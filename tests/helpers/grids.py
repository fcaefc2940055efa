"""A small complete grid store without gridding (fast): used by the train, score, GIS,
contributions, reliability and hostile-input tests."""

from __future__ import annotations

import numpy as np

ELEMENTS = ["Ag", "Bi", "Mo", "Sn", "W"]
#: ALAD networks small enough for a few seconds of training on two cores
TINY_ALAD = dict(encoder_units=[16, 8], generator_units=[8, 16], dxz_units=[8, 16], dxx_units=[16, 8],
                 dzz_units=[8, 4])


def make_grid(path, *, height=40, width=56, tile=16, seed=0):
    """A complete grid store (the layout of geogan.stores.store) with log-normal, correlated
    concentrations, a NaN corner (invalid cells), one element missing in a strip, and a
    W-Sn-Bi enrichment around two "deposits". Returns the path and the deposit cells."""
    import zarr

    from geogan.gridspec import GridSpec
    from geogan.stores.layout import create_grid_store, write_region

    spec = GridSpec.from_bounds((500_000, 2_700_000, 500_000 + width * 500, 2_700_000 + height * 500),
                                crs="EPSG:32650", cell_size_m=500, tile=tile)
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(height, width))
    logc = np.stack([0.6 * shared + 0.5 * rng.normal(size=(height, width)) + k for k in range(len(ELEMENTS))])
    deposits = [(10, 12), (30, 40)]
    for r, c in deposits:
        logc[[1, 3, 4], r - 1:r + 2, c - 1:c + 2] += 2.5
    conc = np.exp(logc).astype(np.float32)
    conc[:, :6, :8] = np.nan
    conc[2, 20:22, :] = np.nan
    create_grid_store(path, spec, ELEMENTS, units={e: "ppm" for e in ELEMENTS}, attrs={"source": {"sha256": "test"}})
    write_region(path, "concentration", conc, (slice(None), slice(0, height), slice(0, width)))
    dist = np.where(np.isnan(conc[0]), np.nan, 100.0).astype(np.float32)
    write_region(path, "distance", dist, (slice(0, height), slice(0, width)))
    zarr.open_group(str(path), mode="r+").attrs.update(complete=True, created="2025-01-01T00:00:00+00:00")
    return path, spec, conc, deposits
