"""The evaluation report's HTML page: its metrics table, top anomalies, deposits, figures and definitions.

What lives here: :func:`page_html`, the self-contained ``index.html`` of a report (every
figure embedded), with its tables, stylesheet and the definitions it prints. What does not:
writing the report directory and ``metrics.json`` (:mod:`geogan.evaluation.report`), the
figures (:mod:`geogan.evaluation.figures`) and the metrics (:mod:`geogan.evaluation.metrics`).

>>> _fmt(0.81234), _fmt(None), _fmt(2.5, 1, " %")
('0.812', '—', '2.5 %')
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from geogan._version import __version__
from geogan.evaluation.deposits import Deposits

__all__ = ["page_html"]


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


def page_html(title: str, results, deposits: Deposits, out_files: dict[str, Path], generated: str,
              top: dict[str, list] | None = None) -> str:
    """The report's ``index.html``: ``results`` per detector, the ``deposits`` they were
    evaluated with, the figure files to embed (``out_files``: ``map``, ``roc``, ``pa``,
    ``success``), when it was ``generated`` and the ``top`` anomalies per detector."""
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
