"""Tests for geogan.evaluation.page: the report's HTML page rendered from its Jinja2 templates
(escaping, structure, number formats, embedded figures, the deposit and top-anomaly tables).
The report directory that holds the page: test_report.py."""

from __future__ import annotations

import base64
import copy
import dataclasses
import fnmatch
import math
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import pytest

import geogan
from geogan.evaluation.deposits import Deposits
from geogan.evaluation.page import page_html
from geogan.evaluation.single import evaluate_scores
from tests.helpers.data import REPO
from tests.helpers.scores import CRS, cell_xy, make_scores

HOSTILE = "<script>alert(1)</script> & \"q\" 'r'"
HOSTILE_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;q&#34; &#39;r&#39;"
GENERATED = "2025-01-02 03:04 UTC"
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """A rendered page, parsed: its tag nesting errors, headings, tables (cells as text, ``<br>``
    as a newline), images, links and all of its text."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.errors: list[str] = []
        self.stack: list[str] = []
        self.starts: list[tuple[str, dict]] = []
        self.headings: dict[str, list[str]] = {"h1": [], "h2": []}
        self.tables: list[dict] = []
        self.text: list[str] = []
        self._into: list[str] | None = None  # the list whose last string collects the text
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.starts.append((tag, attrs))
        if tag in self.headings:
            self._into = self.headings[tag]
            self._into.append("")
        elif tag == "table":
            self.tables.append({"class": attrs.get("class"), "caption": [], "rows": []})
        elif tag == "caption":
            self._into = self.tables[-1]["caption"]
            self._into.append("")
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._into = self.tables[-1]["rows"][-1]
            self._into.append("")
        elif tag == "br" and self._into is not None:
            self._into[-1] += "\n"
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag in ("h1", "h2", "caption", "td", "th"):
            self._into = None

    def handle_data(self, data):
        self.text.append(data)
        if self._into is not None:
            self._into[-1] += data

    def table(self, cls: str | None = None, caption: str | None = None) -> list[list[str]]:
        """The rows (cells stripped) of the one table of class ``cls`` (and ``caption``)."""
        found = [t for t in self.tables if t["class"] == cls and (caption is None or t["caption"] == [caption])]
        assert len(found) == 1, [(t["class"], t["caption"]) for t in self.tables]
        return [[cell.strip() for cell in row] for row in found[0]["rows"]]

    def tags(self, name: str) -> list[dict]:
        return [attrs for tag, attrs in self.starts if tag == name]

    def plain(self) -> str:
        return " ".join("".join(self.text).split())


def _deposits(ids=("A", "B", "C", "D", "E"), types=("W-Sn", "Au", "Cu", "W", "Sn")) -> Deposits:
    rows, cols = np.array([10, 20, 30, 35, 1]), np.array([10, 25, 40, 5, 7])  # the last on no-data
    return Deposits.from_xy(*cell_xy(rows, cols), crs=CRS,
                            attributes=pd.DataFrame({"name": list(ids), "type": list(types)}))


def _results(deposits: Deposits, names=("alad", "vae")) -> dict:
    rng = np.random.default_rng(4)
    base = rng.random((40, 50)).astype("float32")
    base[1, 7] = np.nan
    hot = base.copy()
    hot[[10, 20, 30, 35], [10, 25, 40, 5]] += 1.0
    grids = dict(zip(names, (make_scores(hot), make_scores(base)), strict=True))
    return {n: evaluate_scores(g, deposits, name=n, runs=2, min_dist_km=0.5) for n, g in grids.items()}


def _figures(folder: Path, names=("map", "roc", "pa", "success")) -> dict[str, Path]:
    """Figure files with distinct contents (the page embeds their bytes whatever they are)."""
    files = {}
    for k, key in enumerate(("map", "roc", "pa", "success")):
        files[key] = folder / f"{names[k]}.png"
        files[key].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([k]) * (50 + k))
    return files


def _top_row(**changes) -> dict:
    row = {"x": 401050.123456789, "y": 2798950.0, "row": 10, "col": 10, "score": 1.23456, "percentile": 99.994,
           "contributions": [["W", 2.5], ["Cr", -0.25]], "drivers": "W+ Cr−"}
    return {**row, **changes}


def test_hostile_names_are_escaped_wherever_they_are_printed(tmp_path):
    deposits = dataclasses.replace(_deposits(ids=("A", HOSTILE, "C", "D", "E"), types=("W", HOSTILE, "Cu", "W", "Sn")),
                                   path=Path(f"/data/{HOSTILE}.csv"), selection=f"type contains {HOSTILE!r}")
    results = _results(deposits, names=(HOSTILE, "vae"))
    m = results[HOSTILE].metrics
    m["notes"] = [f"note about {HOSTILE}"]
    m["scores_source"] = f"/scores/{HOSTILE}.tif"
    m["score_name"] = HOSTILE
    top = {HOSTILE: [_top_row(contributions=[[HOSTILE, 1.5]], drivers=HOSTILE)]}
    files = _figures(tmp_path, names=("m<a>\"p\"", "roc", "pa", "success"))

    page = page_html(HOSTILE, results, deposits, files, GENERATED, top)

    assert "<script" not in page and "alert(1)</script>" not in page
    # title ×2, detector: source, note, metrics row, top caption, deposit summary; score name,
    # the deposit id and type in both deposit tables, the top row's drivers and element
    assert page.count(HOSTILE_ESCAPED) >= 14
    parsed = Page(page)
    assert parsed.errors == [] and parsed.stack == []
    assert parsed.tags("script") == []  # nothing the names hold became a tag
    assert parsed.headings["h1"] == [HOSTILE]
    assert parsed.table()[1][:2] == [HOSTILE, HOSTILE]  # detector, score name
    assert parsed.table("top-anomalies", caption=HOSTILE)[1][-1] == f"{HOSTILE}\n{HOSTILE} +1.5"
    hostile_rows = [[c.strip() for c in row] for t in parsed.tables if t["class"] == "deposits" for row in t["rows"]
                    if row[0] == HOSTILE]
    assert [row[:2] for row in hostile_rows] == [[HOSTILE, HOSTILE]] * 2  # one per detector's table
    text = parsed.plain()
    assert f"note about {HOSTILE}" in text and f"/scores/{HOSTILE}.tif" in text
    assert f"Deposits: /data/{HOSTILE}.csv, 5 rows (selected: type contains {HOSTILE!r})" in text
    assert 'm<a>"p".png' in [a["href"] for a in parsed.tags("a")]  # attribute values too


def test_page_is_well_formed_with_its_sections_in_order(tmp_path):
    deposits = _deposits()
    results = _results(deposits)
    page = page_html("W & Sn", results, deposits, _figures(tmp_path), GENERATED, {"alad": [_top_row()]})
    parsed = Page(page)
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert parsed.errors == [] and parsed.stack == []
    assert parsed.headings == {"h1": ["W & Sn"], "h2": ["Metrics", "Top anomalies", "Deposits", "Figures",
                                                        "Definitions"]}
    assert [t["class"] for t in parsed.tables] == [None, "top-anomalies", "deposits", "deposits"]
    assert len(parsed.tags("dt")) == len(parsed.tags("dd")) == 8
    assert "Yousefi & Carranza (2015)" in parsed.plain() and "(< P50 … ≥ P99)" in parsed.plain()
    assert parsed.plain().endswith(f"geogan {geogan.__version__}, generated {GENERATED}.")
    assert [d.get("open") for d in parsed.tags("details")] == [None, None] and "<details open>" in page
    assert "border-collapse:collapse" in page  # the stylesheet is inlined

    for result in results.values():
        result.deposit_table = None
    bare = Page(page_html("plain", results, deposits, _figures(tmp_path), GENERATED))
    assert bare.errors == [] and bare.headings["h2"] == ["Metrics", "Figures", "Definitions"]
    assert "Top anomalies" not in bare.plain() and "Deposits used / outside / on no-data" in bare.plain()


def test_metrics_table_prints_each_number_in_its_format(tmp_path):
    deposits = _deposits()
    results = _results(deposits)
    rows = Page(page_html("t", results, deposits, _figures(tmp_path), GENERATED)).table()
    assert rows[0][:3] == ["detector", "score", "ROC AUC\n(all cells)"] and len(rows[0]) == 10
    assert [row[0] for row in rows[1:]] == ["alad", "vae"]
    for row, m in zip(rows[1:], (r.metrics for r in results.values()), strict=True):
        assert row == [
            m["name"], "unknown", f"{m['roc_auc']:.3f}",
            f"{m['negsamp_auc_mean']:.3f} ± {m['negsamp_auc_std']:.3f}\n2 runs, ≥ 0.5 km",
            f"{m['pa_intersection_prediction_rate_pct']:.1f} % of deposits in {m['pa_intersection_area_pct']:.1f} % of area",
            f"{m['pa_nd']:.2f}", f"{m['success_rate_auc']:.3f}",
            f"{m['top5_deposit_pct']:.1f} %\n({m['top5_area_pct']:.2f} % of area)",
            "4 / 0 / 1\nof 5", "4 / 1,999",
        ]
    assert rows[1][2] == "1.000" and rows[1][7].startswith("100.0 %")  # the hot cells: all four deposits on top

    m = results["vae"].metrics
    m.update(negsamp_auc_mean=None, pa_nd=None, area_metrics="need a projected CRS", n_valid_cells=1234567)
    row = Page(page_html("t", results, deposits, _figures(tmp_path), GENERATED)).table()[2]
    assert row[3] == "—" and row[4] == row[7] == "refused (geographic CRS)" and row[5] == "—"
    assert row[9] == "4 / 1,234,567"


def test_header_describes_the_grid_the_deposits_and_each_score_source(tmp_path):
    deposits = _deposits()
    results = _results(deposits)
    results["alad"].metrics["scores_source"] = "/runs/alad/anomaly.tif"
    text = Page(page_html("t", results, deposits, _figures(tmp_path), GENERATED)).plain()
    assert ("Grid CRS EPSG:32650, 40 × 50 cells of 100 m; 1,999 valid. "
            "Deposits: (in memory), 5 rows, read in EPSG:32650.") in text
    assert "alad: /runs/alad/anomaly.tif vae: (in memory)" in text

    results["alad"].metrics["cell_size_y_m"] = 250.0
    assumed = dataclasses.replace(deposits, path=Path("/d/deps.csv"), selection="type contains 'w' (5 of 9 rows)",
                                  source_crs_assumed=True)
    text = Page(page_html("t", results, assumed, _figures(tmp_path), GENERATED)).plain()
    assert ("40 × 50 cells of 100 × 250 m; 1,999 valid. Deposits: /d/deps.csv, 5 rows (selected: type contains "
            "'w' (5 of 9 rows)), read in EPSG:32650 (assumed: the file names no CRS).") in text

    results["alad"].metrics["cell_size_m"] = None  # a geographic grid: no cell size in metres
    no_crs = dataclasses.replace(deposits, source_crs=None)
    text = Page(page_html("t", results, no_crs, _figures(tmp_path), GENERATED)).plain()
    assert "40 × 50 cells; 1,999 valid. Deposits: (in memory), 5 rows. " in text


def test_figures_are_embedded_as_data_uris_and_linked(tmp_path):
    deposits = _deposits()
    files = _figures(tmp_path)
    parsed = Page(page_html("t", _results(deposits), deposits, files, GENERATED))
    images = parsed.tags("img")
    assert [img["alt"] for img in images] == ["Anomaly map with deposits", "ROC curves (all cells)",
                                              "Prediction-area plot", "Success-rate curves"]
    for img, path in zip(images, files.values(), strict=True):
        prefix, data = img["src"].split(",", 1)
        assert prefix == "data:image/png;base64" and base64.b64decode(data) == path.read_bytes()
    links = [a["href"] for a in parsed.tags("a")]
    assert all(links.count(f"{key}.png") == 2 for key in files)  # the image and its caption
    assert "Prediction-area plot — pa.png" in parsed.plain()
    files["roc"].unlink()
    with pytest.raises(FileNotFoundError):
        page_html("t", _results(deposits), deposits, files, GENERATED)


def test_deposit_tables_rank_deposits_and_stop_at_1000_rows(tmp_path):
    deposits = _deposits()
    results = _results(deposits)
    table = Page(page_html("t", results, deposits, _figures(tmp_path), GENERATED)).tables[1]["rows"]  # alad's
    rows = [[c.strip() for c in row] for row in table]
    assert rows[0] == ["deposit", "type", "x", "y", "score", "percentile", "class"]
    scored = sorted((r for r in results["alad"].deposit_table if r["status"] == "used"), key=lambda r: -r["percentile"])
    assert [row[0] for row in rows[1:]] == [r["id"] for r in scored] + ["E"]  # highest first, unscored last
    first = scored[0]
    assert rows[1] == [first["id"], first["type"], f"{first['x']:.10g}", f"{first['y']:.10g}", f"{first['score']:.4g}",
                       f"{first['percentile']:.2f}", "≥ P99"]
    assert rows[-1] == ["E", "Sn", "400750", "2799850", "— (no data)", "—", "—"]
    results["alad"].deposit_table[-1]["type"] = None  # a deposit without a type: a blank cell
    table = Page(page_html("t", results, deposits, _figures(tmp_path), GENERATED)).tables[1]["rows"]
    assert [c.strip() for c in table[-1]][:2] == ["E", ""]

    # no type column; drivers where computed (— elsewhere); 2,500 rows: 1,000 shown
    table = [{k: v for k, v in r.items() if k != "type"} for r in results["alad"].deposit_table]
    table[0]["drivers"] = "W+ Sn+"
    results["alad"].deposit_table = table + [dict(table[-1], id=f"x{k}") for k in range(2495)]
    parsed = Page(page_html("t", results, deposits, _figures(tmp_path), GENERATED))
    rows = parsed.tables[1]["rows"]
    assert [c.strip() for c in rows[0]] == ["deposit", "x", "y", "score", "percentile", "class", "driving elements"]
    assert len(rows) == 1 + 1000 and rows[1][-1] == "W+ Sn+" and rows[2][-1] == "—"
    assert "alad (2500 deposits)" in parsed.plain() and "1,500 more rows in metrics.json." in parsed.plain()


def test_top_anomaly_rows_show_five_finite_nonzero_contributions(tmp_path):
    deposits = _deposits()
    contributions = [["W", 2.5], ["Sn", 0.0], ["Bi", math.nan], ["Cr", -0.25], ["Mo", None], ["As", 0.0012345],
                     ["Cu", 9.0]]  # only the first five are candidates
    top = {"vae": [_top_row(contributions=contributions), _top_row(score=0.5, percentile=12.0, contributions=[])]}
    parsed = Page(page_html("t", _results(deposits), deposits, _figures(tmp_path), GENERATED, top))
    assert [t["caption"] for t in parsed.tables if t["class"] == "top-anomalies"] == [["vae"]]
    rows = parsed.table("top-anomalies")
    assert rows[0] == ["#", "x", "y", "score", "score percentile", "driving elements"]
    assert rows[1] == ["1", "401050.1235", "2798950", "1.235", "99.99", "W+ Cr−\nW +2.5, Cr -0.25"]
    assert rows[2] == ["2", "401050.1235", "2798950", "0.5", "12.00", "W+ Cr−"]


def test_a_metric_missing_from_a_result_is_an_error_not_a_blank_cell(tmp_path):
    deposits = _deposits()
    results = copy.deepcopy(_results(deposits))
    del results["vae"].metrics["n_deposits_used"]
    with pytest.raises(jinja2.UndefinedError, match="n_deposits_used"):
        page_html("t", results, deposits, _figures(tmp_path), GENERATED)


def test_the_templates_are_package_data_and_jinja2_a_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert any(d.replace(" ", "").startswith("jinja2>=3.1") for d in project["project"]["dependencies"])
    patterns = project["tool"]["setuptools"]["package-data"]["geogan"]
    package = Path(geogan.__file__).parent
    templates = sorted(p for p in (package / "evaluation" / "templates").iterdir() if p.is_file())
    assert {p.name for p in templates} >= {"report.html", "report.css"}
    for path in templates:
        assert any(fnmatch.fnmatch(path.relative_to(package).as_posix(), pat) for pat in patterns), path
