"""Evaluate score grids against known deposits: the I/O side of the evaluation.

What lives here: opening score grids (:func:`open_scores`, :func:`score_label`), evaluating
one grid (:func:`evaluate_scores`), the deposits' driving elements from a
``contributions.zarr`` (:func:`add_deposit_drivers`), and the top level that reads the
files and writes ``metrics.json`` and the report directory (:func:`evaluate`,
:func:`evaluate_many`). What does not: the metrics themselves (:mod:`geogan.evaluation.metrics`, whose
docstring defines them), locating deposits on a grid (:mod:`geogan.evaluation.locate`), reading deposit
files (:mod:`geogan.evaluation.deposits`) and the report's page and figures (:mod:`geogan.evaluation.report`).

>>> import numpy as np, xarray as xr
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

from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from geogan._version import __version__
from geogan.evaluation.deposits import Deposits, read_deposits
from geogan.options import EvalOptions, split_options
from geogan.errors import CRSError, EvaluationError, InputError, StoreError
from geogan.evaluation.gis import class_breaks
from geogan.evaluation.locate import deposits_on_grid, scores_crs
from geogan.evaluation.metrics import (
    EvaluationResult,
    deposit_table,
    negative_sampling_auc,
    prediction_area,
    roc_auc_all_cells,
    to_jsonable,
)
from geogan.evaluation.report import check_report_dir, write_report
from geogan.stores.urls import is_url

__all__ = [
    "open_scores",
    "score_label",
    "evaluate_scores",
    "evaluate",
    "evaluate_many",
    "add_deposit_drivers",
]


def open_scores(path: str | PathLike, *, variable: str = "anomaly") -> xr.DataArray:
    """Open a score grid: ``scores.zarr`` (variable ``anomaly``) or a GeoTIFF (band 1).

    Returns a lazily loaded ``(y, x)`` float DataArray with a rioxarray CRS and transform;
    NaN marks cells without a score.

    Parameters
    ----------
    path
        ``scores.zarr`` or ``anomaly.tif`` of ``geogan score``, or any single-band GeoTIFF or
        Zarr store of ``(y, x)`` scores with a CRS.
    variable
        The store's variable to read (``anomaly``); a store with a single 2-D variable is
        read whatever its name.

    Returns
    -------
    xarray.DataArray
        The ``(y, x)`` scores; ``attrs`` carry ``source`` (the path) and, for a store of
        ``geogan score``, the ``detector`` and ``score`` that made it.

    Raises
    ------
    InputError
        The path does not exist or is neither a Zarr store nor a raster.
    CRSError
        The grid carries no CRS.
    StoreError
        A geogan ``scores.zarr`` that is incomplete or damaged (see
        :func:`geogan.stores.store.open_store`).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, xarray as xr
    >>> path = os.path.join(tempfile.mkdtemp(), "anomaly.tif")
    >>> xr.DataArray(np.arange(10, dtype="float32").reshape(2, 5), dims=("y", "x"),
    ...              coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0, 350.0, 450.0]},
    ...              ).rio.write_crs("EPSG:32650").rio.to_raster(path)
    >>> scores = open_scores(path)
    >>> scores.dims, scores.shape, scores.rio.crs.to_string()
    (('y', 'x'), (2, 5), 'EPSG:32650')
    >>> open_scores(path + ".missing")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.InputError: ...anomaly.tif.missing: score grid not found
    """
    path = Path(path)
    if not path.exists():
        raise InputError("score grid not found", path=path)
    if path.is_dir():
        try:
            ds = xr.open_zarr(path, consolidated=False)
        except Exception as exc:  # zarr raises several types for "not a store"
            raise InputError(f"cannot open as a Zarr store ({exc})", path=path) from None
        from geogan.stores.store import decode_attrs

        ds.attrs = decode_attrs(ds.attrs)  # geogan stores keep nested attributes as JSON strings
        kind = ds.attrs.get("geogan_kind")
        if kind is not None and kind != "scores":  # a grid store's 'distance' is not a score
            raise InputError(f"is a geogan {kind} store, not a score grid: give the scores.zarr or anomaly.tif "
                             f"of 'geogan score'", path=path)
        if kind == "scores":
            from geogan.stores.store import open_store

            # a geogan score store is validated as the score stage's own reads are: complete,
            # its grid attribute agreeing with the coordinates, no chunk missing
            ds = open_store(path, kind="scores")
        if "spatial_ref" in ds.data_vars:
            ds = ds.set_coords("spatial_ref")
        if variable not in ds.data_vars:
            candidates = [v for v in ds.data_vars if ds[v].ndim == 2]
            if len(candidates) != 1:
                raise InputError(
                    f"no {variable!r} variable in the store (variables: {', '.join(map(str, ds.data_vars))})",
                    path=path,
                )
            variable = candidates[0]
        scores = ds[variable]
        # The score stage records which detector and score made the grid at store level
        # (attrs["model"]); carry them to the array so reports can say which score was used.
        model = ds.attrs.get("model") if isinstance(ds.attrs.get("model"), dict) else {}
        for key in ("detector", "score"):
            value = ds.attrs.get(key, model.get(key))
            if value is not None:
                scores.attrs.setdefault(key, value)
    else:
        try:
            scores = rioxarray.open_rasterio(path, masked=True)
        except Exception as exc:  # rasterio raises RasterioIOError and friends
            raise InputError(f"cannot open as a raster ({exc})", path=path) from None
        if "band" in scores.dims:
            if scores.sizes["band"] != 1:
                raise InputError(
                    f"raster has {scores.sizes['band']} bands; give a single-band anomaly map", path=path
                )
            scores = scores.squeeze("band", drop=True)
    if scores.dims != ("y", "x"):
        raise InputError(f"score grid has dims {scores.dims}; expected ('y', 'x')", path=path)
    if scores.rio.crs is None:
        raise CRSError("score grid has no CRS; write one (rio.write_crs) before evaluating", path=path)
    scores.attrs.setdefault("source", str(path))
    return scores


def score_label(path: str | PathLike) -> str | None:
    """The name a score grid gives itself: the ``name`` or ``detector`` tag of a COG written by
    ``geogan score``, the detector recorded in a ``scores.zarr``, else a GeoTIFF's band
    description. ``None`` when it names nothing, or cannot be opened (evaluating it says why)."""
    from geogan.errors import GeoganError

    try:
        attrs = open_scores(path).attrs
    except GeoganError:
        return None
    for key in ("name", "detector", "long_name"):
        value = attrs.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


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
    try:
        values = np.asarray(scores.data, dtype="float32")
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a damaged chunk: Zarr, Blosc and GDAL raise many kinds
        raise StoreError(f"the scores cannot be read ({type(exc).__name__}: {exc}); a chunk is damaged: recreate "
                         f"them with the command that made them", path=source) from None
    if values.ndim != 2:
        raise EvaluationError(f"score grid must be 2-D (y, x); got shape {values.shape}", path=source)
    valid = values[~np.isnan(values)]
    if valid.size == 0 or not np.isfinite(valid).any():
        raise EvaluationError("score grid has no valid (finite) cells", path=source)
    location = deposits_on_grid(scores, deposits, values=values)
    used = location.used
    n_used = int(used.sum())
    valid_sorted = np.sort(valid)
    del valid
    dep_scores = values[location.row[used], location.col[used]]
    height, width = values.shape
    flat = np.unique(location.row[used] * width + location.col[used])
    positive_scores = values.reshape(-1)[flat]
    if flat.size == valid_sorted.size:
        raise EvaluationError("every valid cell holds a deposit; there are no negative cells to compare with")
    roc_auc, fpr, tpr = roc_auc_all_cells(valid_sorted, positive_scores)

    transform = scores.rio.transform()
    unit_m = crs.axis_info[0].unit_conversion_factor if (crs.is_projected and crs.axis_info) else None
    metrics: dict = {
        "name": name,
        "score_name": score_name or str(scores.attrs.get("score", scores.attrs.get("score_name", "unknown"))),
        "scores_source": scores.attrs.get("source"),
        "deposits_source": None if deposits.path is None else str(deposits.path),
        "deposits_selection": deposits.selection,
        "crs": crs.to_string(),
        "crs_is_geographic": bool(crs.is_geographic),
        "cell_size_x": float(abs(transform.a)),
        "cell_size_y": float(abs(transform.e)),
        "cell_size_m": float(abs(transform.a) * unit_m) if unit_m else None,
        "cell_size_y_m": float(abs(transform.e) * unit_m) if unit_m else None,
        "grid_shape": [int(height), int(width)],
        "n_valid_cells": int(valid_sorted.size),
        "n_deposits": len(deposits),
        "n_deposits_used": n_used,
        "n_outside": int(location.outside.sum()),
        "n_on_nodata": int(location.on_nodata.sum()),
        "n_positive_cells": int(flat.size),
        "roc_auc": roc_auc,
    }
    metrics.update(
        negative_sampling_auc(
            scores, deposits, min_dist_km=min_dist_km, runs=evaluation.runs, seed=evaluation.seed, values=values,
            location=location
        )
    )
    notes = []
    if metrics["negsamp_auc_mean"] is None:
        notes.append(f"no valid cell lies ≥ {min_dist_km} km from every deposit: negative-sampling AUC not computed")
    elif metrics["negsamp_n_negatives"] < metrics["negsamp_n_positives"]:
        notes.append(
            f"only {metrics['negsamp_n_negatives']} valid cells lie ≥ {min_dist_km} km from every deposit "
            f"(fewer than the {metrics['negsamp_n_positives']} positives)"
        )
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


def _contributions_beside(path, grid: xr.DataArray) -> xr.DataArray | str | None:
    """The ``contribution`` grid of the ``contributions.zarr`` beside a score file (a score
    stage's output folder) when it covers the same cells; ``None`` when there is none, or a
    note saying why one is not used."""
    from geogan.errors import GeoganError
    from geogan.stores.scores import CONTRIBUTIONS_STORE, open_contributions_store

    if is_url(path):
        return None
    candidate = Path(path).parent / CONTRIBUTIONS_STORE
    if not candidate.is_dir():
        return None
    try:
        contrib = open_contributions_store(candidate)["contribution"]
    except GeoganError as exc:
        return f"{candidate} was not used for the deposits' driving elements: {exc}"
    same = contrib.shape[1:] == grid.shape and all(
        np.allclose(contrib[axis].values, grid[axis].values, rtol=0.0, atol=1e-6 * abs(float(grid.rio.resolution()[0])))
        for axis in ("y", "x"))
    return contrib if same else f"{candidate} covers other cells than the scores; not used for the deposits"


# --------------------------------------------------------------------------- top level


def evaluate_many(
    scores_paths: Mapping[str, str | PathLike | xr.DataArray],
    deposits: Deposits | str | PathLike,
    out_dir: str | PathLike | None,
    evaluation: EvalOptions | None = None,
    *,
    deposits_crs=None,
    deposits_x: str | None = None,
    deposits_y: str | None = None,
    deposit_type: str | None = None,
    deposit_type_column: str | None = None,
    title: str | None = None,
    overwrite: bool = False,
    top_anomalies: Mapping[str, list[dict]] | None = None,
    **shortcuts,
) -> dict[str, EvaluationResult]:
    """Evaluate several detectors' score grids (``{name: path}``) into one side-by-side report.

    A value may also be an ``(y, x)`` DataArray with a CRS (the score stage passes a
    target-aware model's target element grid this way, to show it beside the map).

    All grids must share a CRS (deposits are read once, in the first grid's CRS, and
    reprojected per grid otherwise). ``out_dir=None`` computes the metrics without a report.
    ``top_anomalies`` (``{name: rows}`` of :func:`geogan.evaluation.drivers.top_anomalies`) adds
    the top-anomalies table to the report. ``deposit_type`` (and ``deposit_type_column``)
    keep only the deposits of one type (:func:`geogan.evaluation.deposits.read_deposits`); these and
    ``deposits_crs/x/y`` apply when ``deposits`` is a file, read in the first grid's CRS (a
    :class:`~geogan.evaluation.deposits.Deposits` is used as it is). ``evaluation`` (or its fields by
    name) sets the negative-sampling protocol. A ``contributions.zarr``
    beside a score file (``geogan score --contributions``) adds each deposit's driving
    elements to the report's deposit table.

    Parameters
    ----------
    scores_paths
        ``{name: score grid}``: a ``scores.zarr``, a GeoTIFF (:func:`open_scores`) or a
        ``(y, x)`` DataArray with a CRS, per detector label.
    deposits
        A :class:`~geogan.evaluation.deposits.Deposits`, or a deposit file read with
        :func:`~geogan.evaluation.deposits.read_deposits` in the first grid's CRS.
    out_dir
        The report directory to write (``index.html``, figures, ``metrics.json``); ``None``:
        metrics only.
    evaluation
        The negative-sampling protocol (:class:`~geogan.options.EvalOptions`); default its
        defaults.
    deposits_crs, deposits_x, deposits_y
        CRS and coordinate columns of a deposit file (default: detected, as for surveys).
    deposit_type, deposit_type_column
        Keep only the deposits of one type, and the column holding it.
    title
        The report's title.
    overwrite
        Replace an existing report directory (one geogan wrote).
    top_anomalies
        ``{name: rows}`` of :func:`geogan.evaluation.drivers.top_anomalies` for the report.
    **shortcuts
        Fields of :class:`~geogan.options.EvalOptions` by name (``runs=5``).

    Returns
    -------
    dict of str to EvaluationResult
        One result per name, in the order given.

    Raises
    ------
    InputError
        No score grids; a grid that is missing or unreadable; a deposit file that cannot be
        read, or no deposit of ``deposit_type``.
    CRSError
        A grid without a CRS, or deposit coordinates that cannot be put in the grid's CRS.
    EvaluationError
        No deposit on a valid cell of a grid, or a grid without valid cells.
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is false, or it is, holds or lies inside an input.
    StoreError
        A ``scores.zarr`` that is incomplete or damaged.
    ConfigError
        An evaluation option out of range.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> scores = xr.DataArray(
    ...     np.arange(1, 11, dtype="float32").reshape(2, 5), dims=("y", "x"),
    ...     coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0, 350.0, 450.0]},
    ... ).rio.write_crs("EPSG:32650")
    >>> deps = Deposits.from_xy([450.0, 350.0], [50.0, 50.0], crs="EPSG:32650")
    >>> results = evaluate_many({"map": scores, "reversed": -scores}, deps, None, min_dist_km=0.1, runs=2)
    >>> {name: r.metrics["roc_auc"] for name, r in results.items()}
    {'map': 1.0, 'reversed': 0.0}
    >>> evaluate_many({}, deps, None)
    Traceback (most recent call last):
    geogan.errors.InputError: no score grids given
    """
    (evaluation,) = split_options("evaluate_many", shortcuts, (EvalOptions, evaluation))
    if not scores_paths:
        raise InputError("no score grids given")
    if out_dir is not None:  # the report never replaces one of its inputs (a score folder, the deposits)
        from geogan.stores.files import check_disjoint

        check_disjoint([out_dir], [p for p in scores_paths.values() if not isinstance(p, xr.DataArray)]
                       + ([] if isinstance(deposits, Deposits) else [deposits]), what="report directory")
    out = None if out_dir is None else check_report_dir(out_dir, overwrite=overwrite)
    grids = {name: p if isinstance(p, xr.DataArray) else open_scores(p) for name, p in scores_paths.items()}
    first = next(iter(grids.values()))
    if not isinstance(deposits, Deposits):
        deposits = read_deposits(
            deposits, crs=scores_crs(first), x=deposits_x, y=deposits_y, input_crs=deposits_crs,
            deposit_type=deposit_type, deposit_type_column=deposit_type_column,
        )
    results = {
        name: evaluate_scores(grid, deposits, evaluation, name=name)
        for name, grid in grids.items()
    }
    for name, path in scores_paths.items():
        if isinstance(path, xr.DataArray):
            continue
        contrib = _contributions_beside(path, grids[name])
        if isinstance(contrib, str):
            results[name].metrics["notes"].append(contrib)
        elif contrib is not None:
            add_deposit_drivers(results[name], contrib)
        _add_elements_used(results[name], path)
    if out is not None:
        from geogan.stores.files import output_lock

        kwargs = {"title": title} if title else {}
        if top_anomalies:
            kwargs["top_anomalies"] = top_anomalies
        with output_lock(out):  # one writer per report
            write_report(out, results, scores=grids, deposits=deposits, overwrite=overwrite, **kwargs)
    return results


def _add_elements_used(result: EvaluationResult, path) -> None:
    """With a ``scores.zarr`` scored with ``--min-elements``: how many cells rest on how many
    of the model's elements, in the metrics (``elements_used``) and as a note in the report."""
    if not str(path).rstrip("/").endswith(".zarr"):
        return
    try:
        ds = xr.open_zarr(str(path), consolidated=False)
    except (OSError, ValueError, KeyError):  # not a store we can read here: nothing to add
        return
    if "elements_used" not in ds:
        return
    from geogan.stores.store import decode_attrs

    counts = np.bincount(np.asarray(ds["elements_used"].values).ravel())
    n_model = len((decode_attrs(ds.attrs).get("model") or {}).get("elements", [])) or len(counts) - 1
    used = {int(k): int(c) for k, c in enumerate(counts) if k > 0 and c}
    total = sum(used.values())
    result.metrics["elements_used"] = used
    fewer = sum(c for k, c in used.items() if k < n_model)
    if fewer:
        parts = ", ".join(f"{k} of {n_model}: {c:,} ({100 * c / total:.0f} %)" for k, c in sorted(used.items()))
        result.metrics["notes"].append(
            f"{fewer:,} of the {total:,} scored cells lack some of the model's {n_model} elements; their missing "
            f"elements were imputed from the present ones (--min-elements), so their scores rest on fewer elements "
            f"(elements_used.tif maps it). Cells by elements held: {parts}")


def evaluate(
    scores_path: str | PathLike,
    deposits: Deposits | str | PathLike,
    out_dir: str | PathLike | None,
    evaluation: EvalOptions | None = None,
    *,
    deposits_crs=None,
    deposits_x: str | None = None,
    deposits_y: str | None = None,
    deposit_type: str | None = None,
    deposit_type_column: str | None = None,
    name: str | None = None,
    title: str | None = None,
    overwrite: bool = False,
    top_anomalies: list[dict] | None = None,
    **shortcuts,
) -> EvaluationResult:
    """Evaluate ``anomaly.tif`` or ``scores.zarr`` against deposits and write a report.

    This is what ``geogan evaluate SCORES --deposits CSV --out REPORT_DIR`` and the score
    stage call. ``out_dir`` receives ``index.html``, ``map.png``, ``roc.png``, ``pa.png``,
    ``success.png`` and ``metrics.json`` (``None``: metrics only).

    Parameters
    ----------
    scores_path
        ``anomaly.tif`` or ``scores.zarr`` (any score grid :func:`open_scores` reads).
    out_dir
        The report directory; ``None``: metrics only.
    name
        Detector label; default what the grid calls itself (:func:`score_label`: the COG's
        ``name``/``detector`` tag, a ``scores.zarr``'s detector, a band description), else
        ``"anomaly"``.
    deposits, evaluation
        A :class:`~geogan.evaluation.deposits.Deposits` or a deposit file, and the negative-sampling
        protocol, as for :func:`evaluate_many`.
    deposit_type, deposit_type_column
        Keep only the deposits of one type (:func:`geogan.evaluation.deposits.read_deposits`), e.g. ``"W-Sn"``.
    top_anomalies
        Rows of :func:`geogan.evaluation.drivers.top_anomalies` for the report's top-anomalies
        table (the score stage passes them with ``contributions=True``).
    deposits_crs, deposits_x, deposits_y, title, overwrite, **shortcuts
        As for :func:`evaluate_many`.

    Returns
    -------
    EvaluationResult
        The metrics (also in ``metrics.json``), the curves and the per-deposit table.

    Raises
    ------
    InputError
        The score grid is missing or unreadable; the deposit file cannot be read, or holds no
        deposit of ``deposit_type``.
    CRSError
        The grid has no CRS, or the deposits cannot be put in it.
    EvaluationError
        No deposit on a valid cell, or no valid cells.
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is false (or it is, holds or lies inside an input).
    StoreError
        A ``scores.zarr`` that is incomplete or damaged.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, xarray as xr
    >>> d = tempfile.mkdtemp()
    >>> tif, csv, report = (os.path.join(d, name) for name in ("anomaly.tif", "deposits.csv", "report"))
    >>> xr.DataArray(np.arange(1, 11, dtype="float32").reshape(2, 5), dims=("y", "x"),
    ...              coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0, 350.0, 450.0]},
    ...              ).rio.write_crs("EPSG:32650").rio.to_raster(tif)
    >>> with open(csv, "w") as f:
    ...     _ = f.write("name,x,y,type\\nA,450,50,W-Sn skarn\\nB,350,50,W-Sn vein\\nC,50,150,Au\\n")
    >>> result = evaluate(tif, csv, report, min_dist_km=0.1, runs=2)
    >>> result.name, result.metrics["n_deposits_used"], round(result.metrics["roc_auc"], 3)
    ('anomaly', 3, 0.667)
    >>> sorted(f for f in os.listdir(report) if not f.startswith("."))
    ['index.html', 'map.png', 'metrics.json', 'pa.png', 'roc.png', 'success.png']
    >>> evaluate(tif, csv, None, deposit_type="W-Sn", min_dist_km=0.1, runs=2).metrics["roc_auc"]
    1.0
    >>> evaluate(tif, csv, report)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: ...report: report directory exists; pass overwrite=True (--overwrite) to replace it
    """
    if name is None:
        if out_dir is not None:
            check_report_dir(out_dir, overwrite=overwrite)
        name = score_label(scores_path) or "anomaly"
    results = evaluate_many(
        {name: scores_path},
        deposits,
        out_dir,
        split_options("evaluate", shortcuts, (EvalOptions, evaluation))[0],
        deposits_crs=deposits_crs,
        deposits_x=deposits_x,
        deposits_y=deposits_y,
        deposit_type=deposit_type,
        deposit_type_column=deposit_type_column,
        title=title,
        overwrite=overwrite,
        top_anomalies={name: top_anomalies} if top_anomalies else None,
    )
    return results[name]

