"""Samples at identical coordinates: the one-location check and the merging of duplicates.

What lives here: :func:`merge_colocated` (refuse a survey whose samples all sit at one
place; average rows at identical coordinates, per element over present values, samples in
the order of their first row). What must not: reading coordinates or values
(:mod:`geogan.survey.coordinates`, :mod:`geogan.survey.censoring`), the survey record and its count of
merged rows (:mod:`geogan.survey.read`, which imports this module, never the reverse).
"""

from __future__ import annotations

import math

import numpy as np

from geogan.errors import SurveyError

__all__ = ["merge_colocated"]


def merge_colocated(
    x: np.ndarray, y: np.ndarray, values: np.ndarray, *, merge: bool = True, path=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Refuse samples all at one location; average rows at identical coordinates.

    Parameters
    ----------
    x, y
        float64 coordinates, one per row.
    values
        ``(n_rows, n_elements)`` float64, NaN = missing.
    merge
        Average rows at identical coordinates (per element, over present values); without
        it the rows are returned as given.
    path
        The survey file, for the error.

    Returns
    -------
    x, y, values, n_merged
        The samples (in the order of their first row) and the number of rows merged away.

    Raises
    ------
    SurveyError
        Every sample is at one location: a grid needs two or more.

    Examples
    --------
    >>> x, y = np.array([0.0, 1.0, 0.0]), np.array([5.0, 5.0, 5.0])
    >>> values = np.array([[1.0], [2.0], [3.0]])
    >>> x, y, values, n_merged = merge_colocated(x, y, values)
    >>> x.tolist(), values[:, 0].tolist(), n_merged
    ([0.0, 1.0], [2.0, 2.0], 1)
    """
    n_rows = len(x)
    group, first = _location_groups(x, y)
    n_locations = len(first)
    if n_locations < 2:
        raise SurveyError(
            f"all {n_rows} samples are at one location ({float(x[0])!r}, {float(y[0])!r}); a grid "
            "needs samples at two or more places — check the coordinate columns",
            path=path,
        )
    n_merged = 0
    if merge and n_locations < n_rows:
        x, y, values = _merge_duplicates(x, y, values, group, first)
        n_merged = n_rows - len(x)
    return x, y, values, n_merged


def _location_groups(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group id per row (ids in order of first appearance) and each group's first row.

    One hash factorisation of x + iy (pandas), much faster than sorting 1.5 M rows.
    """
    import pandas as pd

    group, _ = pd.factorize(x + 1j * y, sort=False)
    _, first = np.unique(group, return_index=True)
    return group, first


def _merge_duplicates(x, y, values, group, first) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average rows at identical coordinates, per element over present values.

    Samples keep the order of their first row.
    """
    n_groups = len(first)
    merged = np.empty((n_groups, values.shape[1]), dtype=np.float64)
    for j in range(values.shape[1]):
        v = values[:, j]
        present = ~np.isnan(v)
        total = np.bincount(group, weights=np.where(present, v, 0.0), minlength=n_groups)
        count = np.bincount(group, weights=present, minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            merged[:, j] = np.where(count > 0, total / np.maximum(count, 1), math.nan)
    return x[first].copy(), y[first].copy(), merged

