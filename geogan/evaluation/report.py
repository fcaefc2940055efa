"""The evaluation report: one self-contained HTML page and ``metrics.json``.

:func:`write_report` writes ``index.html`` (every figure embedded, so the page alone shows
everything, and linked), ``map.png``, ``roc.png``, ``pa.png``, ``success.png`` and
``metrics.json``. Several detectors sit side by side: one table row, one map panel, one P-A
panel, one overlaid ROC / success-rate curve and one per-deposit table each.

What lives here: writing the report directory (its figures, ``metrics.json`` and page, under
a temporary name, then renamed; in object storage written into a local temporary folder and
uploaded, its marker object last). What does not: the page, its tables and definitions
(:mod:`geogan.evaluation.page`), the figures (:mod:`geogan.evaluation.figures`), the metrics
(:mod:`geogan.evaluation.metrics`, :mod:`geogan.evaluation.result`) and
reading score grids or deposit files (:mod:`geogan.evaluation.stage`, :mod:`geogan.evaluation.deposits`); this
module depends on the metrics' results, never on :mod:`geogan.evaluation.stage`.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import xarray as xr

from geogan._version import __version__
from geogan.stores.files import check_output, replace_path
from geogan.stores.ownership import MARKER, check_replaceable, write_marker
from geogan.stores.remote import is_remote, join, public_url, upload_tree
from geogan.stores.remoteowner import check_remote_replaceable
from geogan.evaluation.deposits import Deposits
from geogan.errors import InputError, OutputExistsError
from geogan.evaluation.figures import plot_map, plot_pa, plot_roc, plot_success
from geogan.evaluation.page import page_html
from geogan.evaluation.result import EvaluationResult, to_jsonable

__all__ = ["check_report_dir", "write_report"]


def _as_results(results) -> dict[str, EvaluationResult]:
    if isinstance(results, EvaluationResult):
        return {results.name: results}
    if isinstance(results, Mapping):
        out = dict(results)
    elif isinstance(results, Sequence):
        out = {}
        for r in results:
            if r.name in out:
                raise InputError(f"two results are named {r.name!r}; give each detector a distinct name")
            out[r.name] = r
    else:
        raise InputError("results must be an EvaluationResult, a list of them or a {name: result} dict")
    if not out:
        raise InputError("no evaluation results to report")
    return out


def _as_scores(scores, names: list[str]) -> dict[str, xr.DataArray]:
    if isinstance(scores, xr.DataArray):
        return {name: scores for name in names}
    missing = [n for n in names if n not in scores]
    if missing:
        raise InputError(f"no score grid given for detector(s) {', '.join(missing)}")
    return {n: scores[n] for n in names}


def _as_top(top, names: list[str]) -> dict[str, list]:
    """Top-anomaly rows per detector: ``{name: rows}``, or one list of rows for one detector."""
    if not top:
        return {}
    if isinstance(top, Mapping):
        unknown = [n for n in top if n not in names]
        if unknown:
            raise InputError(f"top anomalies given for unknown detector(s) {', '.join(map(str, unknown))}")
        return {n: list(top[n]) for n in names if top.get(n)}
    if len(names) != 1:
        raise InputError("with several detectors give top_anomalies as {name: rows}")
    return {names[0]: list(top)}


#: the report's figures (``<name>.png``)
_FIGURES = ("map", "roc", "pa", "success")
#: everything a report directory holds: --overwrite replaces a report only when it holds nothing else
REPORT_FILES = ("index.html", "metrics.json", *(f"{k}.png" for k in _FIGURES))


def check_report_dir(out_dir: str | PathLike, *, overwrite: bool) -> Path | str:
    """Refuse an existing report directory unless ``overwrite``, and even then one geogan did
    not write or one holding files of the user's (:func:`geogan.stores.files.check_replaceable`);
    return it as a Path (a prefix in object storage: as its URL).

    :func:`geogan.stores.files.check_output`, saying "report directory exists" (the words the
    ``evaluate`` command has always used).

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is false.
    """
    try:
        return check_output(out_dir, overwrite=overwrite, what="report directory", kind="report")
    except OutputExistsError:
        if overwrite:  # not geogan's, or holding the user's files
            raise
        raise OutputExistsError("report directory exists; pass overwrite=True (--overwrite) to replace it",
                                path=public_url(str(out_dir)) if is_remote(out_dir) else out_dir) from None


def write_report(
    out_dir: str | PathLike,
    results: EvaluationResult | Sequence[EvaluationResult] | Mapping[str, EvaluationResult],
    *,
    scores: Mapping[str, xr.DataArray] | xr.DataArray,
    deposits: Deposits,
    title: str = "geogan anomaly evaluation",
    overwrite: bool = False,
    top_anomalies: Mapping[str, Sequence[Mapping]] | Sequence[Mapping] | None = None,
) -> Path:
    """Write the evaluation report directory and return the path of its ``index.html``.

    Parameters
    ----------
    out_dir
        Report directory; written beside itself under a temporary name and renamed when
        complete, so a crash never leaves a report that looks finished. A prefix in object
        storage (``s3://bucket/report``) is written into a local temporary folder, then
        uploaded with its marker object last (what says the report is geogan's and whole).
    results
        One result per detector (from :func:`geogan.evaluation.single.evaluate_scores`).
    scores
        The score grid(s) for the map: one DataArray for all, or ``{name: grid}``.
    deposits
        The deposits the results were computed with.
    title
        Page and figure title.
    overwrite
        Replace an existing ``out_dir``.
    top_anomalies
        Rows of :func:`geogan.evaluation.drivers.top_anomalies` (``{name: rows}``, or one list
        for one detector): adds a "Top anomalies" table per detector (position, score
        percentile, driving elements with signs) and ``top_anomalies`` to ``metrics.json``.

    Returns
    -------
    pathlib.Path or str
        ``index.html`` of the report (its URL in object storage).

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is false.
    """
    out_dir = check_report_dir(out_dir, overwrite=overwrite)
    results = _as_results(results)
    grids = _as_scores(scores, list(results))
    top = _as_top(top_anomalies, list(results))
    if is_remote(out_dir):
        with tempfile.TemporaryDirectory(prefix="geogan-report-") as local:
            _write_files(Path(local), results, grids, deposits, title, top)
            check_remote_replaceable(out_dir, what="report directory", kind="report")  # a user may have written
            marker = (Path(local) / MARKER).read_bytes()  # first too: an upload cut short stays geogan's
            upload_tree(local, out_dir, last=(MARKER,), first={MARKER: marker})  # last: the report is whole
        return join(out_dir, "index.html")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _write_files(tmp, results, grids, deposits, title, top)
        check_replaceable(out_dir, what="report directory", kind="report")  # a user may have written meanwhile
        replace_path(tmp, out_dir)  # the new report appears complete, in one rename
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "index.html"


def _write_files(tmp: Path, results: dict[str, EvaluationResult], grids: dict[str, xr.DataArray], deposits: Deposits,
                 title: str, top: dict[str, list]) -> None:
    """The report's files in the folder ``tmp``: figures, ``metrics.json``, the page, the marker."""
    files = {k: tmp / f"{k}.png" for k in _FIGURES}
    area_note = next(
        (r.metrics.get("area_metrics") for r in results.values() if r.metrics.get("area_metrics") != "computed"),
        None,
    )
    plot_map(files["map"], results, grids, deposits, title)
    plot_roc(files["roc"], results)
    plot_pa(files["pa"], results, area_note)
    plot_success(files["success"], results, area_note)
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    payload = {
        "title": title,
        "generated": generated,
        "geogan_version": __version__,
        "deposits_source": None if deposits.path is None else _shown(deposits.path),
        "detectors": {name: r.metrics for name, r in results.items()},
        "curves": {name: r.curves() for name, r in results.items()},
        "deposits": {name: r.deposit_table for name, r in results.items() if r.deposit_table is not None},
    }
    if top:
        payload["top_anomalies"] = top
    (tmp / "metrics.json").write_text(json.dumps(to_jsonable(payload), indent=1, allow_nan=False))
    (tmp / "index.html").write_text(page_html(title, results, deposits, files, generated, top), encoding="utf-8")
    write_marker(tmp, "report", REPORT_FILES)


def _shown(path) -> str:
    """A path as the report records it: a URL without credentials."""
    return public_url(str(path)) if is_remote(path) else str(path)
