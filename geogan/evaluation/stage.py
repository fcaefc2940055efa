"""Evaluate score grids against known deposits: the entry points that read files and write the report.

What lives here: the top level that opens the score grids and the deposits, evaluates each
grid, adds what lies beside a score file (the deposits' driving elements from a
``contributions.zarr``, the cells scored on fewer elements) and writes ``metrics.json`` and
the report directory (:func:`evaluate`, :func:`evaluate_many`). What does not: opening score
grids (:mod:`geogan.evaluation.scorefiles`), evaluating one grid in memory
(:mod:`geogan.evaluation.single`), the metrics themselves (:mod:`geogan.evaluation.metrics`, whose
docstring defines them), locating deposits on a grid (:mod:`geogan.evaluation.locate`), reading deposit
files (:mod:`geogan.evaluation.deposits`) and the report's page and figures (:mod:`geogan.evaluation.report`).

>>> import numpy as np, xarray as xr
>>> scores = xr.DataArray(
...     np.arange(1, 11, dtype="float32").reshape(2, 5), dims=("y", "x"),
...     coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0, 350.0, 450.0]},
... ).rio.write_crs("EPSG:32650")
>>> deps = Deposits.from_xy([450.0, 350.0], [50.0, 50.0], crs="EPSG:32650")
>>> results = evaluate_many({"map": scores}, deps, None, min_dist_km=0.1, runs=2)
>>> results["map"].metrics["roc_auc"], results["map"].metrics["n_deposits_used"]
(1.0, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from geogan.evaluation.deposits import Deposits, read_deposits
from geogan.options import DepositOptions, EvalOptions, split_options
from geogan.errors import InputError
from geogan.evaluation.locate import scores_crs
from geogan.evaluation.report import check_report_dir, write_report
from geogan.evaluation.result import EvaluationResult
from geogan.evaluation.scorefiles import open_scores, score_label
from geogan.evaluation.single import add_deposit_drivers, evaluate_scores
from geogan.stores.urls import is_url

__all__ = [
    "evaluate",
    "evaluate_many",
]


def _contributions_beside(path, grid: xr.DataArray) -> xr.DataArray | str | None:
    """The ``contribution`` grid of the ``contributions.zarr`` beside a score file (a score
    stage's output folder) when it covers the same cells; ``None`` when there is none, or a
    note saying why one is not used."""
    from geogan.errors import GeoganError
    from geogan.stores.remote import Remote, is_remote, join, public_url
    from geogan.stores.scores import CONTRIBUTIONS_STORE, open_contributions_store

    if is_remote(path):  # a score folder in object storage: its prefix
        candidate = join(str(path).rstrip("/").rpartition("/")[0], CONTRIBUTIONS_STORE)
        if not Remote(candidate).isfile("zarr.json"):
            return None
        shown = public_url(candidate)
    elif is_url(path):
        return None
    else:
        candidate = shown = Path(path).parent / CONTRIBUTIONS_STORE
        if not candidate.is_dir():
            return None
    try:
        contrib = open_contributions_store(candidate)["contribution"]
    except GeoganError as exc:
        return f"{shown} was not used for the deposits' driving elements: {exc}"
    same = contrib.shape[1:] == grid.shape and all(
        np.allclose(contrib[axis].values, grid[axis].values, rtol=0.0, atol=1e-6 * abs(float(grid.rio.resolution()[0])))
        for axis in ("y", "x"))
    return contrib if same else f"{shown} covers other cells than the scores; not used for the deposits"


# --------------------------------------------------------------------------- top level


def evaluate_many(
    scores_paths: Mapping[str, str | PathLike | xr.DataArray],
    deposits: Deposits | str | PathLike,
    out_dir: str | PathLike | None,
    evaluation: EvalOptions | None = None,
    *,
    deposit_options: DepositOptions | None = None,
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
    the top-anomalies table to the report. ``deposit_options`` (or its fields by the names
    :attr:`DepositOptions.keywords <geogan.options.DepositOptions.keywords>` gives them:
    ``deposits_crs``, ``deposits_x``, ``deposits_y``, ``deposit_type``, ``deposit_type_column``)
    say how a deposit file is read (:func:`geogan.evaluation.deposits.read_deposits`, in the first
    grid's CRS; a :class:`~geogan.evaluation.deposits.Deposits` is used as it is), e.g. keeping only
    the deposits of one type. ``evaluation`` (or its fields by
    name) sets the negative-sampling protocol. A ``contributions.zarr``
    beside a score file (``geogan score --contributions``) adds each deposit's driving
    elements to the report's deposit table.

    Parameters
    ----------
    scores_paths
        ``{name: score grid}``: a ``scores.zarr``, a GeoTIFF
        (:func:`~geogan.evaluation.scorefiles.open_scores`) or a ``(y, x)`` DataArray with a
        CRS, per detector label.
    deposits
        A :class:`~geogan.evaluation.deposits.Deposits`, or a deposit file read with
        :func:`~geogan.evaluation.deposits.read_deposits` in the first grid's CRS.
    out_dir
        The report directory to write (``index.html``, figures, ``metrics.json``), a path or
        an fsspec URL (``s3://bucket/report``: written locally, then uploaded); ``None``:
        metrics only.
    evaluation
        The negative-sampling protocol (:class:`~geogan.options.EvalOptions`); default its
        defaults.
    deposit_options
        How to read a deposit file (:class:`~geogan.options.DepositOptions`: CRS and coordinate
        columns, detected by default as for surveys; the deposit type to keep, and its column);
        default its defaults.
    title
        The report's title.
    overwrite
        Replace an existing report directory (one geogan wrote).
    top_anomalies
        ``{name: rows}`` of :func:`geogan.evaluation.drivers.top_anomalies` for the report.
    **shortcuts
        Fields of :class:`~geogan.options.EvalOptions` by name (``runs=5``), and of
        :class:`~geogan.options.DepositOptions` by their keywords (``deposits_crs="EPSG:4326"``,
        ``deposit_type="W-Sn"``).

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
        An evaluation or deposit option out of range or of the wrong type.

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
    evaluation, deposit_options = split_options("evaluate_many", shortcuts, (EvalOptions, evaluation),
                                                (DepositOptions, deposit_options, DepositOptions.keywords))
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
        deposits = read_deposits(deposits, crs=scores_crs(first), options=deposit_options)
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
    from geogan.stores.layout import decode_attrs

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
    deposit_options: DepositOptions | None = None,
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
        ``anomaly.tif`` or ``scores.zarr`` (any score grid
        :func:`~geogan.evaluation.scorefiles.open_scores` reads).
    out_dir
        The report directory, a path or an fsspec URL (``s3://bucket/report``); ``None``:
        metrics only.
    name
        Detector label; default what the grid calls itself
        (:func:`~geogan.evaluation.scorefiles.score_label`: the COG's
        ``name``/``detector`` tag, a ``scores.zarr``'s detector, a band description), else
        ``"anomaly"``.
    deposits, evaluation
        A :class:`~geogan.evaluation.deposits.Deposits` or a deposit file, and the negative-sampling
        protocol, as for :func:`evaluate_many`.
    deposit_options
        How to read a deposit file (:class:`~geogan.options.DepositOptions`), e.g. keeping only
        the deposits of one type (``deposit_type="W-Sn"``), as for :func:`evaluate_many`.
    top_anomalies
        Rows of :func:`geogan.evaluation.drivers.top_anomalies` for the report's top-anomalies
        table (the score stage passes them with ``contributions=True``).
    title, overwrite, **shortcuts
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
    >>> from geogan.options import DepositOptions
    >>> evaluate(tif, csv, None, deposit_options=DepositOptions(deposit_type="Au"), runs=2).metrics["n_deposits_used"]
    1
    >>> evaluate(tif, csv, report)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: ...report: report directory exists; pass overwrite=True (--overwrite) to replace it
    """
    evaluation, deposit_options = split_options("evaluate", shortcuts, (EvalOptions, evaluation),
                                                (DepositOptions, deposit_options, DepositOptions.keywords))
    if name is None:
        if out_dir is not None:
            check_report_dir(out_dir, overwrite=overwrite)
        name = score_label(scores_path) or "anomaly"
    results = evaluate_many(
        {name: scores_path},
        deposits,
        out_dir,
        evaluation,
        deposit_options=deposit_options,
        title=title,
        overwrite=overwrite,
        top_anomalies={name: top_anomalies} if top_anomalies else None,
    )
    return results[name]

