"""Tests for geogan.evaluation.report and geogan.evaluation.figures (and the top-level geogan.evaluation.stage.evaluate that writes them)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geogan.evaluation.deposits import Deposits
from geogan.errors import OutputExistsError
from geogan.evaluation.stage import evaluate, evaluate_scores
from geogan.evaluation.report import write_report

from _score_grids import CRS, X0, Y0, cell_xy, make_scores

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


def test_evaluate_from_geotiff_and_csv_writes_report(tmp_path):
    rng = np.random.default_rng(5)
    values = rng.random((20, 30)).astype("float32")
    rows, cols = np.array([5, 12, 17]), np.array([4, 20, 28])
    values[rows, cols] = 2.0
    tif = tmp_path / "anomaly.tif"
    with rasterio.open(
        tif, "w", driver="GTiff", height=20, width=30, count=1, dtype="float32", crs=CRS,
        transform=from_origin(X0, Y0, 100.0, 100.0), nodata=np.nan,
    ) as dst:
        dst.write(values, 1)
        dst.update_tags(detector="alad", score="fm")
    x, y = cell_xy(rows, cols)
    csv = tmp_path / "deposits.csv"
    csv.write_text("deposit_id,x,y\n" + "".join(f"d{i},{a},{b}\n" for i, (a, b) in enumerate(zip(x, y, strict=True))))
    result = evaluate(tif, csv, tmp_path / "report", runs=2, min_dist_km=0.3)
    assert result.name == "alad" and result.metrics["score_name"] == "fm"
    assert result.metrics["roc_auc"] == 1.0 and result.metrics["n_deposits_used"] == 3
    for name in FILES:
        assert (tmp_path / "report" / name).exists()
    with pytest.raises(OutputExistsError):
        evaluate(tif, csv, tmp_path / "report", runs=2)

