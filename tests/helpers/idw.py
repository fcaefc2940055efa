"""An independent IDW reference for the grid tests (geogan.grid.idw and the real-data grids)."""

from __future__ import annotations

import numpy as np


def brute_force_idw(sx, sy, vals, qx, qy, k, power, max_d, space):
    """Independent reference: loops over query points, per element over its own samples."""
    out = np.full((vals.shape[1], len(qx)), np.nan)
    for e in range(vals.shape[1]):
        ok = ~np.isnan(vals[:, e])
        xs, ys, v = sx[ok], sy[ok], vals[ok, e]
        for q in range(len(qx)):
            d = np.hypot(xs - qx[q], ys - qy[q])
            order = np.argsort(d, kind="stable")[:k]
            if d[order[0]] > max_d:
                continue
            if d[order[0]] == 0:
                out[e, q] = v[order[0]]
                continue
            w = 1.0 / d[order] ** power
            if space == "log":
                out[e, q] = np.exp(np.sum(w * np.log(v[order])) / w.sum())
            else:
                out[e, q] = np.sum(w * v[order]) / w.sum()
    return out
