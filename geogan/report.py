"""The evaluation report: plots and one self-contained HTML page.

:func:`write_report` writes ``index.html`` (every figure embedded, so the page alone shows
everything, and linked), ``map.png``, ``roc.png``, ``pa.png``, ``success.png`` and
``metrics.json``. Several detectors sit side by side: one table row, one map panel, one P-A
panel, one overlaid ROC / success-rate curve and one per-deposit table each. The map's classes
are :mod:`geogan.gis`'s, those of ``anomaly.qml`` and ``anomaly_polygons.gpkg``.
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

import numpy as np
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

import geogan  # noqa: E402
from geogan.errors import InputError, OutputExistsError  # noqa: E402
from geogan.evaluate import Deposits, EvaluationResult, locate_deposits, scores_crs, to_jsonable  # noqa: E402
from geogan.gis import CLASS_COLOURS, PERCENTILE_CLASSES, class_breaks, class_labels  # noqa: E402

__all__ = ["write_report", "PERCENTILE_CLASSES"]

# The percentile classes and their colours are geogan.gis's (PERCENTILE_CLASSES stays importable
# from here), so the report's map, anomaly.qml and anomaly_polygons.gpkg show the same classes.
_NODATA_COLOUR = "white"  # as QGIS draws no data (transparent) on its usual white canvas
_MAX_MAP_PIXELS = 1200  # per side: a map is a figure, not the data
_DPI = 110

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



def _subplots(*args, **kwargs):
    """``(figure, axes)`` drawn off-screen without pyplot: no backend is chosen for the caller,
    and a notebook's inline figures are left alone (figures are saved, never shown)."""
    figsize = kwargs.pop("figsize", None)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)

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


def _axis_scale(crs) -> tuple[float, str, str]:
    """Display factor and axis labels: km for projected grids, degrees for geographic ones."""
    name = crs.to_string()
    if crs.is_geographic:
        return 1.0, f"Longitude (°, {name})", f"Latitude (°, {name})"
    factor = crs.axis_info[0].unit_conversion_factor / 1000.0 if crs.axis_info else 1e-3
    return factor, f"Easting (km, {name})", f"Northing (km, {name})"


def _strictly_increasing(edges: np.ndarray) -> np.ndarray:
    """Class breaks for BoundaryNorm: ties (flat score regions) nudged apart, top edge above max."""
    edges = np.asarray(edges, dtype="float64").copy()
    for i in range(1, edges.size):
        if edges[i] <= edges[i - 1]:
            edges[i] = np.nextafter(edges[i - 1], np.inf)
    edges[-1] = np.nextafter(edges[-1], np.inf)
    return edges


def _break_text(k: int, breaks: np.ndarray) -> str:
    """The score range of class ``k`` for the colour bar: ``< 0.12``, ``0.12–0.34``, ``≥ 0.9``."""
    if k == 0:
        return f"< {breaks[0]:.3g}"
    if k == len(breaks):
        return f"≥ {breaks[-1]:.3g}"
    return f"{breaks[k - 1]:.3g}–{breaks[k]:.3g}"


def _plot_map(path: Path, results, scores, deposits: Deposits, title: str) -> None:
    n = len(results)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = _subplots(nrows, ncols, figsize=(6.2 * ncols, 6.2 * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, (name, result) in zip(axes.ravel(), results.items(), strict=False):
        grid = scores[name]
        crs = scores_crs(grid)
        height, width = grid.shape
        step = max(1, math.ceil(max(height, width) / _MAX_MAP_PIXELS))
        # Stride sampling: display only. The class breaks are the evaluation's, over all valid
        # cells (those of anomaly.qml); without them, from the displayed cells.
        shown = np.asarray(grid.isel(y=slice(None, None, step), x=slice(None, None, step)).data, dtype="float32")
        valid = shown[np.isfinite(shown)]
        if valid.size == 0:
            ax.set_title(f"{name}: no valid cells")
            continue
        by_pct = result.metrics.get("class_breaks") or class_breaks(valid)
        breaks = np.array([by_pct[f"P{p}"] for p in PERCENTILE_CLASSES])
        edges = np.concatenate([[min(valid.min(), breaks[0])], breaks, [max(valid.max(), breaks[-1])]])
        edges = _strictly_increasing(edges)
        cmap = ListedColormap(CLASS_COLOURS).with_extremes(bad=_NODATA_COLOUR)
        norm = BoundaryNorm(edges, cmap.N)
        t = grid.rio.transform()
        factor, xlabel, ylabel = _axis_scale(crs)
        x0, x1 = t.c * factor, (t.c + t.a * width) * factor
        y0, y1 = t.f * factor, (t.f + t.e * height) * factor
        origin = "upper" if t.e < 0 else "lower"
        extent = (x0, x1, min(y0, y1), max(y0, y1))
        im = ax.imshow(
            np.ma.masked_invalid(shown), cmap=cmap, norm=norm, extent=extent, origin=origin, interpolation="nearest"
        )
        deps = deposits.to_crs(crs)
        loc = result.deposit_location or locate_deposits(grid, deps)
        used, nodata = loc.used, loc.on_nodata
        # markers shrink as deposits multiply, so a national compilation does not hide the map
        size = float(np.clip(42.0 * np.sqrt(100.0 / max(len(deps.x), 1)), 3.0, 42.0))
        edge = 0.8 if size > 12 else 0.0
        ax.scatter(deps.x[used] * factor, deps.y[used] * factor, marker="^", s=size, c="#1f4e9c",
                   edgecolors="white", linewidths=edge, label=f"deposit ({int(used.sum())})", zorder=3)
        if nodata.any():
            ax.scatter(deps.x[nodata] * factor, deps.y[nodata] * factor, marker="^", s=size, facecolors="none",
                       edgecolors="#1f4e9c", linewidths=max(edge, 0.5), label=f"on no-data ({int(nodata.sum())})",
                       zorder=3)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_aspect("equal")
        score = result.metrics.get("score_name", "unknown")
        ax.set_title(f"{name} (score: {score})", fontsize=11)
        outside = int(loc.outside.sum())
        # below the map, never over it (inside, it hid the cells it sat on: a top class, too)
        handles, _ = ax.get_legend_handles_labels()
        handles.append(Patch(facecolor=_NODATA_COLOUR, edgecolor="0.45", label="no data (no score)"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=8,
                  frameon=False, title=f"{outside} deposits outside the grid" if outside else None, title_fontsize=7)
        cbar = fig.colorbar(im, ax=ax, shrink=0.85, ticks=(edges[:-1] + edges[1:]) / 2)
        labels = [f"{label}\n{_break_text(k, breaks)}" for k, label in enumerate(class_labels())]
        cbar.ax.set_yticklabels(labels, fontsize=7)
        cbar.set_label("anomaly score class (percentile of valid cells)", fontsize=8)
        cbar.ax.tick_params(length=0)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)


def _plot_roc(path: Path, results) -> None:
    fig, ax = _subplots(figsize=(5.4, 5.0))
    ax.plot([0, 1], [0, 1], ls="--", c="0.6", lw=1, label="chance (0.5)")
    for name, r in results.items():
        ax.plot(r.roc_fpr, r.roc_tpr, lw=1.8, label=f"{name} (AUC {r.metrics['roc_auc']:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("False-positive rate (share of non-deposit cells)")
    ax.set_ylabel("True-positive rate (share of deposit cells)")
    ax.set_title("ROC, all cells")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)


def _plot_pa(path: Path, results, note: str | None) -> None:
    # One panel per detector: thresholds are in each detector's own score units, so curves of
    # different detectors cannot share a threshold axis.
    with_area = {n: r for n, r in results.items() if r.pa_threshold is not None}
    n = max(1, len(with_area))
    fig, axes = _subplots(1, n, figsize=(5.6 * n, 4.6), squeeze=False)
    if not with_area:
        ax = axes[0, 0]
        ax.axis("off")
        ax.text(0.5, 0.5, note or "area metrics not computed", ha="center", va="center", wrap=True, fontsize=9)
    for ax, (name, r) in zip(axes[0], with_area.items(), strict=False):
        m = r.metrics
        ax.plot(r.pa_threshold, r.pa_prediction_rate, c="#b2182b", lw=1.8, label="prediction rate Pr (% deposits)")
        ax.set_xlabel(f"threshold on the {name} score ({m.get('score_name', 'unknown')})")
        ax.set_ylabel("prediction rate (% of deposits)", color="#b2182b")
        ax.set_ylim(0, 100)
        ax2 = ax.twinx()
        ax2.plot(r.pa_threshold, r.pa_area_pct, c="#2166ac", lw=1.8, label="occupied area Oa (%)")
        ax2.set_ylim(100, 0)
        ax2.set_ylabel("occupied area (% of valid area, inverted)", color="#2166ac")
        t_star = m["pa_intersection_threshold"]
        pr_star = m["pa_intersection_prediction_rate_pct"]
        ax.plot([t_star], [pr_star], marker="o", ms=8, mfc="none", mec="k", mew=1.5, zorder=4)
        ax.axvline(t_star, c="k", lw=0.8, ls=":")
        nd = m.get("pa_nd")
        # the label goes on the side of the intersection with room (towards the middle), on top
        # of both curves' axes, so neither an axis nor the curves hide it
        lo, hi = ax.get_xlim()
        right_half = t_star > (lo + hi) / 2
        label = ax2.annotate(
            f"Pr = {pr_star:.1f} %, Oa = {m['pa_intersection_area_pct']:.1f} %"
            + (f"\nNd = {nd:.2f}" if nd is not None else ""),
            (t_star, 100.0 - pr_star), xytext=(-12 if right_half else 12, -34 if pr_star > 35 else 18),
            textcoords="offset points",
            ha="right" if right_half else "left", fontsize=8, zorder=5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"},
        )
        label.set_clip_on(False)
        # the legend sits below the axes, where it cannot cover the Pr/Oa/Nd label
        lines = ax.get_lines()[:1] + ax2.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  ncol=2, fontsize=8, frameon=False)
        ax.set_title(f"P-A plot: {name}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)


#: Area shares (%) at which the success-rate figure reads off the deposits captured.
_CAPTURE_AT_PCT = (1.0, 5.0, 10.0)


def _plot_success(path: Path, results, note: str | None) -> None:
    """Cumulative share of deposits captured against the cumulative share of the map, cells
    taken from the highest score down (the exact curve, a step per deposit), on a logarithmic
    area axis: the top few % of the map, where targets are chosen, fill most of the figure.
    (On a linear axis this curve is almost the ROC curve whenever deposits are few per cell,
    and its AUC almost the ROC AUC; roc.png shows that view.)"""
    fig, ax = _subplots(figsize=(6.4, 5.6))
    curves = {n: r for n, r in results.items() if r.capture_area_pct is not None}
    n_valid = max((r.metrics.get("n_valid_cells") or 1) for r in results.values())
    lo = max(100.0 / n_valid, 1e-3)  # one cell of the largest grid
    chance = np.geomspace(lo, 100.0, 200)
    ax.plot(chance / 100, chance / 100, ls="--", c="0.6", lw=1, label="chance (deposits ∝ area)")
    for name, r in curves.items():
        area, dep = r.capture_area_pct, r.capture_deposit_pct
        at = [float(np.interp(a, area, dep)) for a in _CAPTURE_AT_PCT]
        reads = ", ".join(f"{v:.0f} % in {a:g} %" for a, v in zip(_CAPTURE_AT_PCT, at, strict=True))
        (line,) = ax.plot(np.maximum(area, lo) / 100, dep / 100, lw=1.8, drawstyle="default",
                          label=f"{name}: deposits {reads} of the map (AUC {r.metrics['success_rate_auc']:.3f})")
        ax.plot(np.array(_CAPTURE_AT_PCT) / 100, np.array(at) / 100, ls="none", marker="o", ms=4,
                c=line.get_color())
    if not curves:
        ax.text(0.5, 0.5, note or "area metrics not computed", transform=ax.transAxes, ha="center", va="center",
                wrap=True, fontsize=8)
    for a in _CAPTURE_AT_PCT:
        ax.axvline(a / 100, c="0.75", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlim(lo / 100, 1.0)
    ax.set_ylim(0, 1.01)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{100 * v:g} %")
    ax.set_xlabel("fraction of the map (valid area), cells ranked from the highest score; log scale")
    ax.set_ylabel("fraction of deposits captured")
    ax.set_title("Success rate: deposits captured vs area", fontsize=11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)


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
    """The "top anomalies" section (rows of :func:`geogan.contributions.top_anomalies`)."""
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
<p><small>geogan {html.escape(geogan.__version__)}, generated {html.escape(generated)}.</small></p>
</body></html>
"""


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
        One result per detector (from :func:`geogan.evaluate.evaluate_scores`).
    scores
        The score grid(s) for the map: one DataArray for all, or ``{name: grid}``.
    deposits
        The deposits the results were computed with.
    title
        Page and figure title.
    overwrite
        Replace an existing ``out_dir``.
    top_anomalies
        Rows of :func:`geogan.contributions.top_anomalies` (``{name: rows}``, or one list
        for one detector): adds a "Top anomalies" table per detector (position, score
        percentile, driving elements with signs) and ``top_anomalies`` to ``metrics.json``.

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is false.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise OutputExistsError("report directory exists; pass overwrite=True (--overwrite) to replace it", path=out_dir)
    results = _as_results(results)
    grids = _as_scores(scores, list(results))
    top = _as_top(top_anomalies, list(results))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        files = {k: tmp / f"{k}.png" for k in ("map", "roc", "pa", "success")}
        area_note = next(
            (r.metrics.get("area_metrics") for r in results.values() if r.metrics.get("area_metrics") != "computed"),
            None,
        )
        _plot_map(files["map"], results, grids, deposits, title)
        _plot_roc(files["roc"], results)
        _plot_pa(files["pa"], results, area_note)
        _plot_success(files["success"], results, area_note)
        generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        payload = {
            "title": title,
            "generated": generated,
            "geogan_version": geogan.__version__,
            "deposits_source": None if deposits.path is None else str(deposits.path),
            "detectors": {name: r.metrics for name, r in results.items()},
            "curves": {name: r.curves() for name, r in results.items()},
            "deposits": {name: r.deposit_table for name, r in results.items() if r.deposit_table is not None},
        }
        if top:
            payload["top_anomalies"] = top
        (tmp / "metrics.json").write_text(json.dumps(to_jsonable(payload), indent=1, allow_nan=False))
        (tmp / "index.html").write_text(_html(title, results, deposits, files, generated, top), encoding="utf-8")
        if out_dir.exists():
            # Move the old report aside first so the new one appears in one rename.
            trash = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
            out_dir.rename(trash)
            tmp.rename(out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "index.html"
