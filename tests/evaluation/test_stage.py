"""Tests for geogan.evaluation.stage: the evaluate entry points that read score files and deposits
and write the report."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geogan.errors import ConfigError, OutputExistsError
from geogan.evaluation.stage import evaluate
from geogan.options import DepositOptions
from tests.helpers.scores import CRS, X0, Y0, cell_xy
from tests.helpers.scores import typed_deposits as typed_deposit_files

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


@pytest.fixture
def typed_deposits(tmp_path):
    """:func:`tests.helpers.scores.typed_deposits` in ``tmp_path``."""
    return typed_deposit_files(tmp_path)


def test_evaluate_reads_the_deposits_as_deposit_options_or_their_keywords_say(typed_deposits):
    tif, csv = typed_deposits
    how = DepositOptions(x="E", y="N", input_crs="EPSG:4326", deposit_type="W-Sn", deposit_type_column="kind")
    by_object = evaluate(tif, csv, None, deposit_options=how, runs=2, min_dist_km=0.3).metrics
    by_keywords = evaluate(tif, csv, None, deposits_x="E", deposits_y="N", deposits_crs="EPSG:4326",
                           deposit_type="W-Sn", deposit_type_column="kind", runs=2, min_dist_km=0.3).metrics
    assert by_object["deposits_selection"] == by_keywords["deposits_selection"] == "kind contains 'W-Sn' (2 of 3 rows)"
    assert by_object["n_deposits_used"] == by_keywords["n_deposits_used"] == 2
    assert by_object["roc_auc"] == by_keywords["roc_auc"] == 1.0
    # both: a keyword overrides the object's field (the Au deposit sits on the lowest cell)
    au = evaluate(tif, csv, None, deposit_options=how, deposit_type="Au", runs=2, min_dist_km=0.3).metrics
    assert au["deposits_selection"] == "kind contains 'Au' (1 of 3 rows)" and au["roc_auc"] == 0.0


def test_evaluate_refuses_bad_deposit_options_before_writing(typed_deposits, tmp_path):
    tif, csv = typed_deposits
    with pytest.raises(ConfigError, match="give deposit_type too"):
        evaluate(tif, csv, tmp_path / "r", deposit_type_column="kind")
    with pytest.raises(ConfigError, match="x must be a non-empty string, got ''"):
        evaluate(tif, csv, tmp_path / "r", deposits_x="")
    with pytest.raises(TypeError, match=r"evaluate\(\) got an unexpected keyword argument 'x'"):
        evaluate(tif, csv, tmp_path / "r", x="E")  # read_deposits' name, not evaluate's
    assert not (tmp_path / "r").exists()
