"""Tests for geogan.evaluation.stage: the evaluate entry points that read score files and deposits
and write the report."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geogan.errors import OutputExistsError
from geogan.evaluation.stage import evaluate
from tests.helpers.scores import CRS, X0, Y0, cell_xy

FILES = ("index.html", "map.png", "roc.png", "pa.png", "success.png", "metrics.json")


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
