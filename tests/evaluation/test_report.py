"""Tests for geogan.evaluation.report: the report directory (page, figures, metrics.json) (the
evaluate entry point that writes it: test_stage.py; the page itself: test_page.py; the figures:
test_figures.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from geogan.errors import InputError, OutputExistsError
from geogan.evaluation.deposits import Deposits
from geogan.evaluation.report import write_report
from geogan.evaluation.single import evaluate_scores
from tests.helpers.scores import CRS, cell_xy, make_scores

FILES = ("index.html", "map.png", "roc.png", "pa.png", "success.png", "metrics.json")


def _two_detectors():
    rng = np.random.default_rng(4)
    base = rng.random((40, 50)).astype("float32")
    base[:3, :] = np.nan
    rows, cols = np.array([10, 20, 30, 35, 1]), np.array([10, 25, 40, 5, 7])  # last on no-data
    hot = base.copy()
    hot[rows, cols] += 1.0
    deposits = Deposits.from_xy(*cell_xy(rows, cols), crs=CRS)
    grids = {"alad": make_scores(hot), "vae": make_scores(base)}
    results = {n: evaluate_scores(g, deposits, name=n, runs=2, min_dist_km=0.5) for n, g in grids.items()}
    return grids, deposits, results


def test_report_files_html_references_and_metrics_json(tmp_path):
    grids, deposits, results = _two_detectors()
    out = tmp_path / "report"
    index = write_report(out, results, scores=grids, deposits=deposits, title="Two detectors")
    assert index == out / "index.html"
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    page = index.read_text(encoding="utf-8")
    for png in ("map.png", "roc.png", "pa.png", "success.png"):
        assert f'<a href="{png}">' in page
    assert len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', page)) == 4
    assert 'href="metrics.json"' in page
    metrics_table = page.split("<h2>Metrics</h2>")[1].split("</table>")[0]
    assert metrics_table.count("<tr>") == 3  # header + one row per detector
    assert "alad" in page and "vae" in page and "4 / 0 / 1" in page
    assert "Nd" in page and "Negative-sampling AUC" in page  # definitions are on the page

    payload = json.loads((out / "metrics.json").read_text())
    assert set(payload["detectors"]) == {"alad", "vae"}
    assert payload["detectors"]["alad"]["roc_auc"] == pytest.approx(results["alad"].metrics["roc_auc"])
    assert payload["detectors"]["alad"]["roc_auc"] > payload["detectors"]["vae"]["roc_auc"]
    assert len(payload["curves"]["vae"]["pa_threshold"]) > 10
    assert list(payload["detectors"]["alad"]["class_breaks"]) == ["P50", "P75", "P90", "P95", "P99"]
    assert payload["curves"]["alad"]["capture_area_pct"][0] == 0.0  # the exact success-rate curve
    deposits_rows = payload["deposits"]["alad"]
    assert [r["status"] for r in deposits_rows] == ["used"] * 4 + ["no data"]
    assert all(r["class"] == "≥ P99" for r in deposits_rows[:4])  # the hot cells
    assert page.count('class="deposits"') == 2 and "<h2>Deposits</h2>" in page
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temp dirs left behind

    with pytest.raises(OutputExistsError, match="report directory exists"):
        write_report(out, results, scores=grids, deposits=deposits)
    write_report(out, [results["vae"]], scores=grids["vae"], deposits=deposits, overwrite=True)
    assert list(json.loads((out / "metrics.json").read_text())["detectors"]) == ["vae"]
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_report_in_geographic_crs_explains_missing_area_metrics(tmp_path):
    scores = make_scores(np.arange(30.0).reshape(5, 6), crs="EPSG:4326", cell=0.01, x0=115.0, y0=26.0)
    deposits = Deposits.from_xy([115.055], [25.955], crs="EPSG:4326")
    result = evaluate_scores(scores, deposits, runs=1, min_dist_km=1.0, name="alad")
    index = write_report(tmp_path / "r", result, scores=scores, deposits=deposits)
    page = index.read_text(encoding="utf-8")
    assert "need a projected CRS" in page and "refused (geographic CRS)" in page
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["detectors"]["alad"]["roc_auc"] == 1.0


def test_report_shows_one_top_table_per_detector(tmp_path):
    grids, deposits, results = _two_detectors()
    row = {"x": 401050.0, "y": 2798950.0, "row": 10, "col": 10, "score": 1.5, "percentile": 100.0,
           "contributions": [["W", 2.5], ["Cr", -0.25]], "drivers": "W+ Cr−"}
    index = write_report(tmp_path / "r", results, scores=grids, deposits=deposits, top_anomalies={"alad": [row]})
    page = index.read_text(encoding="utf-8")
    assert page.count('class="top-anomalies"') == 1 and "<caption>alad</caption>" in page
    assert "W+ Cr−" in page and "401050" in page and "W +2.5, Cr -0.25" in page
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["top_anomalies"] == {"alad": [row]}
    with pytest.raises(InputError, match="unknown detector"):
        write_report(tmp_path / "r2", results, scores=grids, deposits=deposits, top_anomalies={"svm": [row]})
    plain = write_report(tmp_path / "r3", results, scores=grids, deposits=deposits).read_text(encoding="utf-8")
    assert "Top anomalies" not in plain
