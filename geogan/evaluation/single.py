"""Evaluate one score grid held in memory against deposits: every metric into one result.

What lives here: :func:`evaluate_scores` (the AUCs of :mod:`geogan.evaluation.metrics`, the
area metrics of :mod:`geogan.evaluation.area`, the map's class breaks and the per-deposit
table, into an :class:`~geogan.evaluation.result.EvaluationResult`) and
:func:`add_deposit_drivers` (each deposit's driving elements from a contribution grid).
What does not: opening score files (:mod:`geogan.evaluation.scorefiles`), the evaluate entry
points that read the files and write the report (:mod:`geogan.evaluation.stage`) and the
record itself (:mod:`geogan.evaluation.result`).

>>> import numpy as np, xarray as xr
>>> from geogan.evaluation.deposits import Deposits
>>> scores = xr.DataArray(
...     np.arange(1, 11, dtype="float32").reshape(2, 5), dims=("y", "x"),
...     coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0, 350.0, 450.0]},
... ).rio.write_crs("EPSG:32650")
>>> deps = Deposits.from_xy([450.0, 350.0], [50.0, 50.0], crs="EPSG:32650")
>>> result = evaluate_scores(scores, deps, min_dist_km=0.1, runs=2)
>>> result.metrics["roc_auc"], result.metrics["n_deposits_used"]
(1.0, 2)
"""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from geogan._version import __version__
from geogan.errors import EvaluationError, StoreError
from geogan.evaluation.area import prediction_area
from geogan.evaluation.deposits import Deposits
from geogan.evaluation.gis import class_breaks
from geogan.evaluation.locate import deposits_on_grid, scores_crs
from geogan.evaluation.metrics import negative_sampling_auc, roc_auc_all_cells
from geogan.evaluation.result import EvaluationResult, deposit_table, to_jsonable
from geogan.options import EvalOptions, split_options

__all__ = ["evaluate_scores", "add_deposit_drivers"]


def evaluate_scores(
    scores: xr.DataArray,
    deposits: Deposits,
    evaluation: EvalOptions | None = None,
    *,
    name: str = "alad",
    score_name: str | None = None,
    **shortcuts,
) -> EvaluationResult:
    """Evaluate one score grid against deposits (all the metrics of :mod:`geogan.evaluation.metrics`).

    Parameters
    ----------
    scores
        ``anomaly(y, x)`` with a rioxarray CRS and transform; NaN = no data. Loaded into
        memory as float32 (38 M cells ≈ 150 MB, plus a sorted copy of the valid cells).
    deposits
        Deposits (any CRS; reprojected to the grid's).
    evaluation
        The negative-sampling protocol (:class:`~geogan.options.EvalOptions`: ``min_dist_km``,
        ``runs``, ``seed``; default its defaults); its fields may also be given by name.
    name
        Detector label (table row, legend).
    score_name
        Which score the grid holds (e.g. ``fm``, ``l1_high``); default: the grid's
        ``score`` attribute, else ``"unknown"``.
    **shortcuts
        Fields of :class:`~geogan.options.EvalOptions` by name (``runs=5``), overriding
        ``evaluation``.

    Returns
    -------
    EvaluationResult
        The metrics (``result.metrics``, JSON-able), the curves and the per-deposit table.

    Raises
    ------
    EvaluationError
        No deposit on a valid cell (with a hint when the CRS looks wrong), or no valid cells.
    StoreError
        The scores cannot be read (a damaged chunk).
    ConfigError
        An evaluation option out of range (``runs=0``).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> scores = xr.DataArray(
    ...     np.arange(1, 11, dtype="float32").reshape(2, 5), dims=("y", "x"),
    ...     coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0, 350.0, 450.0]},
    ... ).rio.write_crs("EPSG:32650")
    >>> deps = Deposits.from_xy([450.0, 50.0], [50.0, 150.0], crs="EPSG:32650")
    >>> result = evaluate_scores(scores, deps, min_dist_km=0.1, runs=2, name="demo")
    >>> result.metrics["roc_auc"], result.metrics["n_positive_cells"], result.metrics["n_valid_cells"]
    (0.5, 2, 10)
    >>> far = Deposits.from_xy([10_000.0], [10_000.0], crs="EPSG:32650")
    >>> evaluate_scores(scores, far, runs=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.EvaluationError: none of the 1 deposits lies on a valid grid cell (1 outside the grid, ...
    """
    (evaluation,) = split_options("evaluate_scores", shortcuts, (EvalOptions, evaluation))
    min_dist_km = evaluation.min_dist_km
    crs = scores_crs(scores)
    source = scores.encoding.get("source") or scores.attrs.get("source")
    values = _read_values(scores, source)
    valid = values[~np.isnan(values)]
    if valid.size == 0 or not np.isfinite(valid).any():
        raise EvaluationError("score grid has no valid (finite) cells", path=source)
    location = deposits_on_grid(scores, deposits, values=values)
    used = location.used
    valid_sorted = np.sort(valid)
    del valid
    dep_scores = values[location.row[used], location.col[used]]
    height, width = values.shape
    flat = np.unique(location.row[used] * width + location.col[used])
    positive_scores = values.reshape(-1)[flat]
    if flat.size == valid_sorted.size:
        raise EvaluationError("every valid cell holds a deposit; there are no negative cells to compare with")
    roc_auc, fpr, tpr = roc_auc_all_cells(valid_sorted, positive_scores)

    metrics = _grid_metrics(scores, deposits, location, name=name, score_name=score_name, crs=crs,
                            shape=(height, width), n_valid=valid_sorted.size, n_positive=flat.size, roc_auc=roc_auc)
    metrics.update(
        negative_sampling_auc(
            scores, deposits, min_dist_km=min_dist_km, runs=evaluation.runs, seed=evaluation.seed, values=values,
            location=location
        )
    )
    notes = _sampling_notes(metrics, min_dist_km)
    curves = _add_area_metrics(metrics, notes, valid_sorted, dep_scores, crs)
    # the map's percentile classes, exact over all valid cells: the report's map, anomaly.qml
    # and anomaly_polygons.gpkg use the same breaks
    metrics["class_breaks"] = class_breaks(valid_sorted)
    metrics["notes"] = notes
    metrics["geogan_version"] = __version__
    return EvaluationResult(
        name=name,
        metrics=to_jsonable(metrics),
        roc_fpr=fpr,
        roc_tpr=tpr,
        deposit_location=location,
        deposit_table=deposit_table(deposits.to_crs(crs), location, values, valid_sorted, metrics["class_breaks"]),
        **curves,
    )


def _read_values(scores: xr.DataArray, source) -> np.ndarray:
    """The grid's scores in memory as a 2-D float32 array (a damaged chunk is a StoreError)."""
    try:
        values = np.asarray(scores.data, dtype="float32")
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a damaged chunk: Zarr, Blosc and GDAL raise many kinds
        raise StoreError(f"the scores cannot be read ({type(exc).__name__}: {exc}); a chunk is damaged: recreate "
                         f"them with the command that made them", path=source) from None
    if values.ndim != 2:
        raise EvaluationError(f"score grid must be 2-D (y, x); got shape {values.shape}", path=source)
    return values


def _shown(path) -> str:
    """A path as the metrics record it: a URL without credentials."""
    from geogan.stores.remote import is_remote, public_url

    return public_url(str(path)) if is_remote(path) else str(path)


def _grid_metrics(scores: xr.DataArray, deposits: Deposits, location, *, name: str, score_name: str | None, crs,
                  shape: tuple[int, int], n_valid: int, n_positive: int, roc_auc: float) -> dict:
    """The metrics that describe the grid, the deposits on it and the all-cells ROC AUC."""
    height, width = shape
    transform = scores.rio.transform()
    unit_m = crs.axis_info[0].unit_conversion_factor if (crs.is_projected and crs.axis_info) else None
    return {
        "name": name,
        "score_name": score_name or str(scores.attrs.get("score", scores.attrs.get("score_name", "unknown"))),
        "scores_source": scores.attrs.get("source"),
        "deposits_source": None if deposits.path is None else _shown(deposits.path),
        "deposits_selection": deposits.selection,
        "crs": crs.to_string(),
        "crs_is_geographic": bool(crs.is_geographic),
        "cell_size_x": float(abs(transform.a)),
        "cell_size_y": float(abs(transform.e)),
        "cell_size_m": float(abs(transform.a) * unit_m) if unit_m else None,
        "cell_size_y_m": float(abs(transform.e) * unit_m) if unit_m else None,
        "grid_shape": [int(height), int(width)],
        "n_valid_cells": int(n_valid),
        "n_deposits": len(deposits),
        "n_deposits_used": int(location.used.sum()),
        "n_outside": int(location.outside.sum()),
        "n_on_nodata": int(location.on_nodata.sum()),
        "n_positive_cells": int(n_positive),
        "roc_auc": roc_auc,
    }


def _sampling_notes(metrics: dict, min_dist_km: float) -> list[str]:
    """The report's notes on the negative sampling: no cell, or too few, far enough from the deposits."""
    notes = []
    if metrics["negsamp_auc_mean"] is None:
        notes.append(f"no valid cell lies ≥ {min_dist_km} km from every deposit: negative-sampling AUC not computed")
    elif metrics["negsamp_n_negatives"] < metrics["negsamp_n_positives"]:
        notes.append(
            f"only {metrics['negsamp_n_negatives']} valid cells lie ≥ {min_dist_km} km from every deposit "
            f"(fewer than the {metrics['negsamp_n_positives']} positives)"
        )
    return notes


def _add_area_metrics(metrics: dict, notes: list[str], valid_sorted: np.ndarray, dep_scores: np.ndarray, crs) -> dict:
    """Add the area metrics (:func:`~geogan.evaluation.area.prediction_area`) to ``metrics``, or
    why they were refused to it and ``notes``; return the curves (empty when refused)."""
    curves: dict = {}
    try:
        area = prediction_area(valid_sorted, dep_scores, crs=crs)
    except EvaluationError as exc:
        metrics["area_metrics"] = exc.message
        notes.append(exc.message)
    else:
        metrics["area_metrics"] = "computed"
        curves = {k: area.pop(k) for k in list(area) if isinstance(area[k], np.ndarray)}
        metrics.update(area)
    return curves


def add_deposit_drivers(result: EvaluationResult, contributions: xr.DataArray, *, n_drivers: int = 5) -> None:
    """Add the elements driving each used deposit's score to ``result.deposit_table``
    (``drivers``, e.g. ``"W+ Sn+"``, and ``contributions``, ``[element, value]`` pairs largest
    first), from a ``contribution(element, y, x)`` grid on the score grid's cells
    (``contributions.zarr``). Only the deposits' cells are read, each chunk once."""
    from geogan.evaluation.drivers import cell_drivers

    location = result.deposit_location
    if result.deposit_table is None or location is None:
        return
    used = np.flatnonzero(location.used)
    found = cell_drivers(contributions, contributions[contributions.dims[0]].values.tolist(),
                         location.row[used], location.col[used], n_drivers=n_drivers)
    for k, cell in zip(used, found, strict=True):
        result.deposit_table[k].update(cell)
