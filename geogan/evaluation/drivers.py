"""Which elements drive the strongest anomalies and the deposits' cells, read back from the
occlusion contributions that ``geogan score --contributions`` writes (``contributions.zarr``,
computed by :mod:`geogan.scoring.contributions`).

:func:`top_anomalies` turns a score grid and its contributions into the rows of the report's
"top anomalies" table (position, score, percentile, driving elements with signs);
:func:`cell_drivers` gives the drivers at chosen cells (the deposits').
"""

from __future__ import annotations

import numpy as np

from geogan.errors import InputError

__all__ = ["top_anomalies", "read_top_anomalies", "format_drivers", "cell_drivers", "ranked_pairs"]


def format_drivers(pairs, *, n: int = 5) -> str:
    """``[("W", 3.1), ("Cr", -0.4)]`` → ``"W+ Cr−"``: the first ``n`` elements with a
    non-zero contribution, ``+`` for enrichment and ``−`` for depletion."""
    parts = [f"{el}{'+' if v > 0 else '−'}" for el, v in pairs if np.isfinite(v) and v != 0][:n]
    return " ".join(parts) if parts else "—"


def ranked_pairs(values: np.ndarray, elements: list[str]) -> list[list]:
    """``[element, value]`` pairs, largest ``|value|`` first (NaN last)."""
    order = sorted(range(len(elements)), key=lambda i: -abs(values[i]) if np.isfinite(values[i]) else np.inf)
    return [[elements[i], float(values[i])] for i in order]


def cell_drivers(contributions_3d, elements, rows, cols, *, n_drivers: int = 5) -> list[dict]:
    """The contributions at many cells, reading each chunk once (deposits' cells, say).

    Parameters
    ----------
    contributions_3d : xarray.DataArray or numpy array, shape (n_elements, height, width)
        Contributions (``contributions.zarr``'s ``contribution``); an xarray grid is indexed
        point-wise, so a dask-backed one reads only the chunks holding the cells.
    elements : sequence of str
        Element symbols, in the order of the first axis.
    rows, cols : array-like of int
        The cells.
    n_drivers : int
        Elements named in ``drivers``.

    Returns
    -------
    list of dict
        Per cell, in order: ``contributions`` (``[element, value]`` pairs, largest
        ``|value|`` first) and ``drivers`` (e.g. ``"W+ Sn+ Cr−"``).
    """
    elements = [str(e) for e in elements]
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    if rows.size == 0:
        return []
    if hasattr(contributions_3d, "isel"):
        import xarray as xr

        el, ydim, xdim = contributions_3d.dims
        picked = contributions_3d.isel({ydim: xr.DataArray(rows, dims="cell"), xdim: xr.DataArray(cols, dims="cell")})
        values = np.asarray(picked.transpose("cell", el).values, dtype=np.float64)
    else:
        values = np.asarray(contributions_3d[:, rows, cols], dtype=np.float64).T
    if values.shape[1] != len(elements):
        raise InputError(f"contributions hold {values.shape[1]} elements at a cell, expected {len(elements)}")
    out = []
    for c in values:
        pairs = ranked_pairs(c, elements)
        out.append({"contributions": pairs, "drivers": format_drivers(pairs, n=n_drivers)})
    return out


def _cell_contributions(contributions_3d, row: int, col: int) -> np.ndarray:
    if hasattr(contributions_3d, "isel"):  # xarray DataArray (element, y, x), possibly dask-backed
        dims = contributions_3d.dims
        return np.asarray(contributions_3d.isel({dims[1]: row, dims[2]: col}).values, dtype=np.float64)
    return np.asarray(contributions_3d[:, row, col], dtype=np.float64)  # numpy or zarr array


def top_anomalies(scores_2d, contributions_3d, elements, x_coords, y_coords, n: int = 10, *,
                  n_drivers: int = 5) -> list[dict]:
    """The ``n`` highest-scoring valid cells with the elements driving each.

    Parameters
    ----------
    scores_2d : array-like, shape (height, width)
        The anomaly score grid (NaN = no score); an xarray DataArray is read whole.
    contributions_3d : array-like, shape (n_elements, height, width)
        Contributions (:func:`geogan.scoring.contributions.element_contributions` per cell, e.g. ``contributions.zarr``'s
        ``contribution``): numpy, Zarr or xarray; only the ``n`` top cells are read.
    elements : sequence of str
        Element symbols, in the order of the first axis of ``contributions_3d``.
    x_coords, y_coords : array-like
        Cell-centre coordinates of the columns and rows.
    n : int
        Cells to return (fewer if the grid has fewer valid cells).
    n_drivers : int
        Elements named in ``drivers``.

    Returns
    -------
    list of dict
        Highest score first, each with ``x``, ``y`` (cell centre), ``row``, ``col``,
        ``score``, ``percentile`` (% of valid cells scoring at or below this one),
        ``contributions`` (``[element, value]`` pairs, largest ``|value|`` first) and
        ``drivers`` (e.g. ``"W+ Sn+ Bi+ Cr−"``).

    Examples
    --------
    >>> s = np.array([[0.1, 5.0], [np.nan, 2.0]])
    >>> c = np.zeros((2, 2, 2)); c[:, 0, 1] = [4.0, -0.5]; c[:, 1, 1] = [-1.0, 0.2]
    >>> rows = top_anomalies(s, c, ["W", "Cr"], [10.0, 20.0], [5.0, 15.0], n=2)
    >>> [(r["x"], r["y"], r["drivers"], round(r["percentile"], 1)) for r in rows]
    [(20.0, 5.0, 'W+ Cr−', 100.0), (20.0, 15.0, 'W− Cr+', 66.7)]
    """
    values = np.asarray(getattr(scores_2d, "values", scores_2d), dtype=np.float64)
    if values.ndim != 2:
        raise InputError(f"scores must be a 2-D (y, x) grid, got shape {values.shape}")
    elements = [str(e) for e in elements]
    x_coords, y_coords = np.asarray(x_coords), np.asarray(y_coords)
    flat = values.ravel()
    valid = np.flatnonzero(np.isfinite(flat))
    if valid.size == 0 or n <= 0:
        return []
    k = min(int(n), valid.size)
    top = valid[np.argpartition(-flat[valid], k - 1)[:k]]
    top = top[np.argsort(-flat[top], kind="stable")]
    ranked = np.sort(flat[valid])
    out = []
    for idx in top:
        row, col = divmod(int(idx), values.shape[1])
        score = float(flat[idx])
        c = _cell_contributions(contributions_3d, row, col)
        if c.shape != (len(elements),):
            raise InputError(f"contributions hold {c.shape[0]} elements at a cell, expected {len(elements)}")
        pairs = ranked_pairs(c, elements)
        out.append({
            "x": float(x_coords[col]), "y": float(y_coords[row]), "row": row, "col": col, "score": score,
            "percentile": float(100.0 * np.searchsorted(ranked, score, side="right") / ranked.size),
            "contributions": pairs, "drivers": format_drivers(pairs, n=n_drivers),
        })
    return out


def read_top_anomalies(out_dir, n: int = 10) -> list[dict]:
    """:func:`top_anomalies` of a score stage's output directory: ``scores.zarr`` and
    ``contributions.zarr`` (written by ``geogan score --contributions``) in ``out_dir`` (a
    folder, or a prefix in object storage).

    Reads the score grid whole and the contributions of the ``n`` top cells only.
    """
    from pathlib import Path

    from geogan.stores.remote import is_remote, join
    from geogan.stores.scores import CONTRIBUTIONS_STORE, SCORES_STORE, open_contributions_store, open_scores_store

    def path_of(name):
        return join(str(out_dir), name) if is_remote(out_dir) else Path(out_dir) / name

    scores = open_scores_store(path_of(SCORES_STORE))
    contrib = open_contributions_store(path_of(CONTRIBUTIONS_STORE))
    return top_anomalies(scores["anomaly"], contrib["contribution"], contrib["element"].values.tolist(),
                         scores["x"].values, scores["y"].values, n=n)
