"""The evaluation report's HTML page: its metrics table, top anomalies, deposits, figures and definitions.

What lives here: :func:`page_html`, the self-contained ``index.html`` of a report (every
figure embedded), rendered from the Jinja2 templates in ``geogan/evaluation/templates/``
(``report.html`` and the sections it includes, the stylesheet ``report.css`` and the
definitions the page prints), and what those templates are given. The templates autoescape:
every value they print (detector, deposit, element and file names, notes, the title) is
HTML-escaped, so a name holding ``<``, ``&`` or quotes is shown as written, never read as
markup. What does not: writing the report directory and ``metrics.json``
(:mod:`geogan.evaluation.report`), the figures (:mod:`geogan.evaluation.figures`) and the
metrics (:mod:`geogan.evaluation.metrics`).

>>> _fmt(0.81234), _fmt(None), _fmt(2.5, 1, " %")
('0.812', '—', '2.5 %')
>>> _shown_contributions([["W", 2.5], ["Cr", -0.25], ["Sn", 0.0], ["Bi", float("nan")], ["Mo", None]])
[('W', 2.5), ('Cr', -0.25)]
"""

from __future__ import annotations

import base64
import math
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from geogan._version import __version__
from geogan.evaluation.deposits import Deposits

__all__ = ["page_html"]

#: Rows of the HTML deposit table per detector (all of them are in metrics.json).
_MAX_DEPOSIT_ROWS = 1000
#: Driving elements shown per top-anomaly row (all of them are in metrics.json).
_MAX_TOP_DRIVERS = 5
#: The figures the page embeds, in order: the key of ``out_files`` and the caption.
_FIGURES = (
    ("map", "Anomaly map with deposits"),
    ("roc", "ROC curves (all cells)"),
    ("pa", "Prediction-area plot"),
    ("success", "Success-rate curves"),
)


def _fmt(value, digits: int = 3, suffix: str = "") -> str:
    """A metric for a table cell: ``—`` when absent, floats to ``digits`` decimals."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def _shown_contributions(contributions) -> list[tuple[str, float]]:
    """The first ``_MAX_TOP_DRIVERS`` ``[element, value]`` pairs of a top-anomaly row, less
    those without a finite, non-zero value."""
    return [(e, v) for e, v in contributions[:_MAX_TOP_DRIVERS] if v is not None and math.isfinite(v) and v != 0]


def _cell_text(metrics: dict) -> str:
    """``of 500 m`` or, for rectangular cells, ``of 4243.9 × 4178.9 m``."""
    dx, dy = metrics.get("cell_size_m"), metrics.get("cell_size_y_m")
    if dx is None:
        return ""
    return f"of {dx:g} m" if dy is None or math.isclose(dx, dy, rel_tol=1e-9) else f"of {dx:g} × {dy:g} m"


@cache
def _environment() -> Environment:
    """The templates' environment: autoescaping every template, strict about undefined names
    (a missing metric raises instead of printing nothing)."""
    env = Environment(
        loader=PackageLoader("geogan.evaluation", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt=_fmt, num=format, cell_text=_cell_text, shown_contributions=_shown_contributions)
    return env


def _deposit_tables(results) -> list[dict]:
    """What the "Deposits" section shows per detector with a deposit table: its rows highest
    percentile first (unscored deposits last, ties in file order), at most
    ``_MAX_DEPOSIT_ROWS``, and whether a type or driving-elements column is needed."""
    tables = []
    for name, r in results.items():
        rows = r.deposit_table
        if not rows:
            continue
        ranked = sorted(rows, key=lambda row: (row["percentile"] is None, -(row["percentile"] or 0.0)))
        tables.append({
            "name": name,
            "rows": ranked[:_MAX_DEPOSIT_ROWS],
            "n_rows": len(rows),
            "n_more": len(rows) - _MAX_DEPOSIT_ROWS,
            "has_type": any("type" in row for row in rows),
            "has_drivers": any("drivers" in row for row in rows),
        })
    return tables


def _figures(out_files: dict[str, Path]) -> list[dict]:
    """Each figure's file name (the link), caption and PNG as a ``data:`` URI (the embed)."""
    return [
        {"file": out_files[key].name, "alt": alt,
         "src": "data:image/png;base64," + base64.b64encode(out_files[key].read_bytes()).decode("ascii")}
        for key, alt in _FIGURES
    ]


def page_html(title: str, results, deposits: Deposits, out_files: dict[str, Path], generated: str,
              top: dict[str, list] | None = None) -> str:
    """The report's ``index.html``, every figure embedded.

    Parameters
    ----------
    title
        The page's title and heading.
    results
        ``{name: EvaluationResult}``, one per detector
        (:class:`geogan.evaluation.result.EvaluationResult`), in table order.
    deposits
        The deposits the results were evaluated with (their source, count and selection are printed).
    out_files
        The figure files to embed and link: ``map``, ``roc``, ``pa`` and ``success`` PNGs.
    generated
        When the report was made, as printed at the foot of the page.
    top
        The top anomalies per detector (rows of :func:`geogan.evaluation.drivers.top_anomalies`);
        none: no "Top anomalies" section.

    Returns
    -------
    str
        The HTML page. Every name, note and path in it is HTML-escaped.

    Raises
    ------
    jinja2.UndefinedError
        A result's metrics lack a number the table prints (``n_deposits_used``, ...).
    OSError
        A figure file cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, xarray as xr
    >>> from geogan import Deposits, evaluate_scores
    >>> scores = xr.DataArray(
    ...     np.arange(1, 11, dtype="float32").reshape(2, 5), dims=("y", "x"),
    ...     coords={"y": [150.0, 50.0], "x": [50.0, 150.0, 250.0, 350.0, 450.0]},
    ... ).rio.write_crs("EPSG:32650")
    >>> deps = Deposits.from_xy([450.0, 350.0], [50.0, 50.0], crs="EPSG:32650")
    >>> result = evaluate_scores(scores, deps, min_dist_km=0.1, runs=2, name="<alad>")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = {key: Path(tmp) / f"{key}.png" for key in ("map", "roc", "pa", "success")}
    ...     _ = [path.write_bytes(b"PNG") for path in files.values()]
    ...     page = page_html("W & Sn", {"<alad>": result}, deps, files, "2025-01-01 00:00 UTC")
    >>> "<h1>W &amp; Sn</h1>" in page, "<td>&lt;alad&gt;</td>" in page, page.count("<img ")
    (True, True, 4)
    """
    return _environment().get_template("report.html").render(
        title=title,
        results=results,
        deposits=deposits,
        first=next(iter(results.values())).metrics,
        top=top or {},
        deposit_tables=_deposit_tables(results),
        figures=_figures(out_files),
        version=__version__,
        generated=generated,
    )
