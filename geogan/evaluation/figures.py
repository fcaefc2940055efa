"""The evaluation report's figures: the class map with deposits, ROC, P-A and success-rate plots.

What lives here: one function per PNG of the report directory (:func:`plot_map`,
:func:`plot_roc`, :func:`plot_pa`, :func:`plot_success`), drawn with matplotlib's object API
(no pyplot: no backend is chosen for the caller and a notebook's figures are left alone); each
saves its PNG and returns the :class:`~matplotlib.figure.Figure` it drew (its axes hold the data
plotted).
What does not: the metrics (:mod:`geogan.evaluation.metrics`), the HTML page and ``metrics.json``
(:mod:`geogan.evaluation.report`). The map's classes and colours are :mod:`geogan.evaluation.gis`'s, those of
``anomaly.qml`` and ``anomaly_polygons.gpkg``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from geogan.evaluation.deposits import Deposits
from geogan.evaluation.gis import CLASS_COLOURS, PERCENTILE_CLASSES, class_breaks, class_labels
from geogan.evaluation.locate import locate_deposits, scores_crs

__all__ = ["plot_map", "plot_pa", "plot_roc", "plot_success"]

_NODATA_COLOUR = "white"  # as QGIS draws no data (transparent) on its usual white canvas
_MAX_MAP_PIXELS = 1200  # per side: a map is a figure, not the data
_DPI = 110


def _subplots(*args, **kwargs):
    """``(figure, axes)`` drawn off-screen without pyplot: no backend is chosen for the caller,
    and a notebook's inline figures are left alone (figures are saved, never shown)."""
    figsize = kwargs.pop("figsize", None)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


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


def plot_map(path: Path, results, scores, deposits: Deposits, title: str) -> Figure:
    """``map.png``: one panel per detector (``results``, ``{name: EvaluationResult}``) of its
    grid (``scores``, ``{name: grid}``) in the percentile classes, with the deposits on top."""
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
    return fig


def plot_roc(path: Path, results) -> Figure:
    """``roc.png``: the all-cells ROC curve of every detector, overlaid."""
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
    return fig


def plot_pa(path: Path, results, note: str | None) -> Figure:
    """``pa.png``: a P-A panel per detector with area metrics; ``note`` says why there are
    none when no detector has them."""
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
    return fig


#: Area shares (%) at which the success-rate figure reads off the deposits captured.
_CAPTURE_AT_PCT = (1.0, 5.0, 10.0)


def plot_success(path: Path, results, note: str | None) -> Figure:
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
    return fig
