"""The evaluation report: one self-contained HTML page and ``metrics.json``.

:func:`write_report` writes ``index.html`` (every figure embedded, so the page alone shows
everything, and linked), ``map.png``, ``roc.png``, ``pa.png``, ``success.png`` and
``metrics.json``. Several detectors sit side by side: one table row, one map panel, one P-A
panel, one overlaid ROC / success-rate curve and one per-deposit table each.

What lives here: the page, its tables and definitions, and writing the report directory.
What does not: the figures (:mod:`geogan.evaluation.figures`), the metrics (:mod:`geogan.evaluation.metrics`) and
reading score grids or deposit files (:mod:`geogan.evaluation.stage`, :mod:`geogan.evaluation.deposits`); this
module depends on the metrics' results, never on :mod:`geogan.evaluation.stage`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import shutil
import uuid
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import xarray as xr

from geogan._version import __version__
from geogan.stores.files import check_output, replace_path
from geogan.stores.ownership import check_replaceable, write_marker
from geogan.evaluation.deposits import Deposits
from geogan.errors import InputError, OutputExistsError
from geogan.evaluation.figures import plot_map, plot_pa, plot_roc, plot_success
from geogan.evaluation.metrics import EvaluationResult, to_jsonable

__all__ = ["check_report_dir", "write_report"]

_DEFINITIONS = [
    ("ROC AUC (all cells)", "Positives: grid cells holding at least one deposit (a cell counts once); "
     "negatives: every other valid cell. Probability that a random positive cell scores above a random "
     "negative one (ties ½). 0.5 = no better than chance."),
    ("Negative-sampling AUC", "GeoChemAD benchmark protocol: positives are the scores at each deposit's cell; "
     "negatives the same number of random valid cells at least min-dist km from every deposit; "
     "mean ± std over several seeded draws. Comparable with published benchmark numbers."),
    ("P-A plot", "Yousefi &amp; Carranza (2015). For thresholds t over the score: Pr(t) = % of deposits in "
     "cells scoring ≥ t (prediction rate), Oa(t) = % of the valid area scoring ≥ t (area axis inverted). "
     "At the intersection Pr = 100 − Oa: Pr % of deposits lie in Oa % of the area."),
    ("Nd", "Normalised density at the P-A intersection, Pr / Oa: how many times more deposits per unit "
     "area the anomalous class holds than the average (1 = no better than chance)."),
    ("Success-rate curve", "Cumulative fraction of deposits captured against the cumulative fraction of "
     "the map, cells taken from the highest score down; its AUC (0.5 = chance, 1 = all deposits in the top "
     "cells). Drawn exactly (a step per deposit) on a logarithmic area axis, so the top 1–10 % of the map, "
     "where targets are chosen, can be read. On a linear axis it nearly equals the ROC curve whenever "
     "deposits are few per cell (the negatives are then nearly all the cells), and its AUC the ROC AUC."),
    ("Map classes", "Percentile classes of the valid cells' scores (< P50 … ≥ P99), computed over all valid "
     "cells; the score at each break is in metrics.json (<code>class_breaks</code>). The same classes style "
     "anomaly.tif in QGIS (anomaly.qml) and outline the ≥ P95 / ≥ P99 anomalies (anomaly_polygons.gpkg)."),
    ("Top 5 % cells", "Share of deposits in the highest-scoring 5 % of valid cells (area share given "
     "because ties can make it slightly larger than 5 %)."),
    ("Deposits used / outside / on no-data", "Deposits on a valid cell are used; those outside the grid "
     "or on cells without a score are counted and excluded, never silently dropped."),
]


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


def _fmt(value, digits: int = 3, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def _table(results) -> str:
    head = (
        "<tr><th>detector</th><th>score</th><th>ROC AUC<br>(all cells)</th><th>neg.-sampling AUC<br>"
        "(mean ± std)</th><th>P-A: Pr = 100 − Oa</th><th>Nd</th><th>success-rate AUC</th>"
        "<th>deposits in top 5 % cells</th><th>deposits used / outside / on no-data</th>"
        "<th>positive cells / valid cells</th></tr>"
    )
    rows = []
    for name, r in results.items():
        m = r.metrics
        if m.get("negsamp_auc_mean") is None:
            neg = "—"
        else:
            neg = (f"{m['negsamp_auc_mean']:.3f} ± {m['negsamp_auc_std']:.3f}<br><small>{m['negsamp_runs']} runs, "
                   f"≥ {m['negsamp_min_dist_km']:g} km</small>")
        if m.get("area_metrics") == "computed":
            pa = (f"{m['pa_intersection_prediction_rate_pct']:.1f} % of deposits in "
                  f"{m['pa_intersection_area_pct']:.1f} % of area")
            top5 = f"{m['top5_deposit_pct']:.1f} %<br><small>({m['top5_area_pct']:.2f} % of area)</small>"
        else:
            pa = top5 = "refused (geographic CRS)"
        cells = [
            html.escape(name),
            html.escape(str(m.get("score_name"))),
            _fmt(m.get("roc_auc")),
            neg,
            pa,
            _fmt(m.get("pa_nd"), 2),
            _fmt(m.get("success_rate_auc")),
            top5,
            f"{m['n_deposits_used']} / {m['n_outside']} / {m['n_on_nodata']}<br><small>of {m['n_deposits']}</small>",
            f"{m['n_positive_cells']:,} / {m['n_valid_cells']:,}",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


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


def _top_tables(top: dict[str, list]) -> str:
    """The "top anomalies" section (rows of :func:`geogan.evaluation.drivers.top_anomalies`)."""
    if not top:
        return ""
    parts = ["<h2>Top anomalies</h2>",
             "<p>The highest-scoring cells and the elements driving each score, largest first: + = an "
             "enrichment raises the score, − = a depletion does. An element's contribution is how much the "
             "score falls when that element is put at background, its training median (occlusion). Percentile = % "
             "of valid cells scoring at or below the cell. All elements: <a href=\"metrics.json\">metrics.json"
             "</a> (<code>top_anomalies</code>).</p>"]
    head = ("<tr><th>#</th><th>x</th><th>y</th><th>score</th><th>score percentile</th>"
            "<th>driving elements</th></tr>")
    for name, rows in top.items():
        body = []
        for k, r in enumerate(rows, 1):
            values = ", ".join(f"{html.escape(str(e))} {v:+.3g}" for e, v in r["contributions"][:5]
                               if v is not None and math.isfinite(v) and v != 0)
            cells = [str(k), f"{r['x']:.10g}", f"{r['y']:.10g}", f"{r['score']:.4g}", f"{r['percentile']:.2f}",
                     f"{html.escape(r['drivers'])}<br><small>{values}</small>"]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append(f"<table class=\"top-anomalies\"><caption>{html.escape(name)}</caption>{head}"
                     f"{''.join(body)}</table>")
    return "\n".join(parts)


#: Rows of the HTML deposit table per detector (all of them are in metrics.json).
_MAX_DEPOSIT_ROWS = 1000
#: the report's figures (``<name>.png``)
_FIGURES = ("map", "roc", "pa", "success")
#: everything a report directory holds: --overwrite replaces a report only when it holds nothing else
REPORT_FILES = ("index.html", "metrics.json", *(f"{k}.png" for k in _FIGURES))


def _deposit_tables(results) -> str:
    """The "Deposits" section: each deposit's score, percentile and class per detector (and
    its driving elements when contributions were computed), highest percentile first."""
    tables = {n: r.deposit_table for n, r in results.items() if r.deposit_table}
    if not tables:
        return ""
    parts = ["<h2>Deposits</h2>",
             "<p>Each deposit's score at its cell, its percentile (% of valid cells scoring at or below it) and "
             "map class; deposits outside the grid or on cells without a score are listed last. Driving elements "
             "(largest contribution first; + = enrichment, − = depletion) appear when the scores were made with <code>--contributions</code>. All rows: "
             "<a href=\"metrics.json\">metrics.json</a> (<code>deposits</code>).</p>"]
    for k, (name, rows) in enumerate(tables.items()):
        has_type = any("type" in r for r in rows)
        has_drivers = any("drivers" in r for r in rows)
        head = ("<tr><th>deposit</th>" + ("<th>type</th>" if has_type else "") + "<th>x</th><th>y</th><th>score</th>"
                "<th>percentile</th><th>class</th>" + ("<th>driving elements</th>" if has_drivers else "") + "</tr>")
        # highest percentile first, unscored deposits last; ties keep the file order (stable sort)
        ranked = sorted(rows, key=lambda r: (r["percentile"] is None, -(r["percentile"] or 0.0)))
        body = []
        for r in ranked[:_MAX_DEPOSIT_ROWS]:
            used = r["status"] == "used"
            cells = [html.escape(str(r["id"]))]
            if has_type:
                cells.append(html.escape(str(r.get("type", ""))))
            cells += [f"{r['x']:.10g}", f"{r['y']:.10g}",
                      f"{r['score']:.4g}" if used else f"— <small>({html.escape(r['status'])})</small>",
                      f"{r['percentile']:.2f}" if used else "—", html.escape(r["class"]) if used else "—"]
            if has_drivers:
                cells.append(html.escape(r.get("drivers", "—")))
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        more = len(rows) - _MAX_DEPOSIT_ROWS
        note = f"<p><small>{more:,} more rows in metrics.json.</small></p>" if more > 0 else ""
        parts.append(f"<details{' open' if k == 0 else ''}><summary>{html.escape(name)} ({len(rows)} deposits)</summary>"
                     f"<table class=\"deposits\">{head}{''.join(body)}</table>{note}</details>")
    return "\n".join(parts)


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.name)
    return (
        f'<figure><a href="{name}"><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"></a>'
        f'<figcaption>{html.escape(alt)} — <a href="{name}">{name}</a></figcaption></figure>'
    )


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1400px;
padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.92em}
th,td{border:1px solid #ccc;padding:0.35em 0.6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
figure{display:inline-block;margin:0.5em 1em 1em 0;vertical-align:top}
img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:0.85em;color:#555}
caption{text-align:left;font-weight:600;padding:0.3em 0}
dt{font-weight:600;margin-top:0.5em}
.note{background:#fff4e5;border-left:4px solid #f0a020;padding:0.4em 0.8em;margin:0.5em 0}
small{color:#666}
"""


def _cell_text(metrics: dict) -> str:
    """``of 500 m`` or, for rectangular cells, ``of 4243.9 × 4178.9 m``."""
    dx, dy = metrics.get("cell_size_m"), metrics.get("cell_size_y_m")
    if dx is None:
        return ""
    return f"of {dx:g} m" if dy is None or math.isclose(dx, dy, rel_tol=1e-9) else f"of {dx:g} × {dy:g} m"


def _html(title: str, results, deposits: Deposits, out_files: dict[str, Path], generated: str,
          top: dict[str, list] | None = None) -> str:
    notes = []
    for name, r in results.items():
        for note in r.metrics.get("notes", []):
            notes.append(f"<p class='note'><b>{html.escape(name)}</b>: {html.escape(note)}</p>")
    src = html.escape(str(deposits.path)) if deposits.path else "(in memory)"
    crs_note = ""
    if deposits.source_crs is not None:
        crs_note = f"read in {html.escape(deposits.source_crs.to_string())}"
        if deposits.source_crs_assumed:
            crs_note += " (assumed: the file names no CRS)"
    first = next(iter(results.values())).metrics
    selection = f" (selected: {html.escape(deposits.selection)})" if deposits.selection else ""
    sources = "".join(
        f"<li>{html.escape(n)}: {html.escape(str(r.metrics.get('scores_source') or '(in memory)'))}</li>"
        for n, r in results.items()
    )
    defs = "".join(f"<dt>{t}</dt><dd>{d}</dd>" for t, d in _DEFINITIONS)
    figures = "".join(
        _img(out_files[key], alt)
        for key, alt in (
            ("map", "Anomaly map with deposits"),
            ("roc", "ROC curves (all cells)"),
            ("pa", "Prediction-area plot"),
            ("success", "Success-rate curves"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Grid CRS {html.escape(str(first.get('crs')))}, {first['grid_shape'][0]:,} × {first['grid_shape'][1]:,} cells
{_cell_text(first)}; {first['n_valid_cells']:,} valid.
Deposits: {src}, {len(deposits)} rows{selection}, {crs_note}.</p>
<ul>{sources}</ul>
{''.join(notes)}
<h2>Metrics</h2>
{_table(results)}
<p>All numbers, curves included: <a href="metrics.json">metrics.json</a>.</p>
{_top_tables(top or {})}
{_deposit_tables(results)}
<h2>Figures</h2>
{figures}
<h2>Definitions</h2>
<dl>{defs}</dl>
<p><small>geogan {html.escape(__version__)}, generated {html.escape(generated)}.</small></p>
</body></html>
"""


def check_report_dir(out_dir: str | PathLike, *, overwrite: bool) -> Path:
    """Refuse an existing report directory unless ``overwrite``, and even then one geogan did
    not write or one holding files of the user's (:func:`geogan.stores.files.check_replaceable`);
    return it as a Path.

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
                                path=out_dir) from None


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
        complete, so a crash never leaves a report that looks finished.
    results
        One result per detector (from :func:`geogan.evaluation.stage.evaluate_scores`).
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

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is false.
    """
    out_dir = check_report_dir(out_dir, overwrite=overwrite)
    results = _as_results(results)
    grids = _as_scores(scores, list(results))
    top = _as_top(top_anomalies, list(results))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
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
            "deposits_source": None if deposits.path is None else str(deposits.path),
            "detectors": {name: r.metrics for name, r in results.items()},
            "curves": {name: r.curves() for name, r in results.items()},
            "deposits": {name: r.deposit_table for name, r in results.items() if r.deposit_table is not None},
        }
        if top:
            payload["top_anomalies"] = top
        (tmp / "metrics.json").write_text(json.dumps(to_jsonable(payload), indent=1, allow_nan=False))
        (tmp / "index.html").write_text(_html(title, results, deposits, files, generated, top), encoding="utf-8")
        write_marker(tmp, "report", REPORT_FILES)
        check_replaceable(out_dir, what="report directory", kind="report")  # a user may have written meanwhile
        replace_path(tmp, out_dir)  # the new report appears complete, in one rename
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "index.html"
