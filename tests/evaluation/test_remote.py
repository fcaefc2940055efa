"""``geogan evaluate`` with score grids and the report in object storage (moto's S3 server on
127.0.0.1, :func:`tests.conftest.s3_server`): the same metrics and files as on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geogan.errors import InputError, OutputExistsError
from geogan.evaluation.stage import evaluate
from geogan.stores.remote import Remote
from tests.helpers.cli import assert_user_error, cli
from tests.helpers.scores import CRS, X0, Y0, cell_xy

EVAL = dict(runs=2, min_dist_km=0.3)


@pytest.fixture
def inputs(tmp_path, s3_bucket):
    """A tagged score GeoTIFF and a deposit file on disk, and the GeoTIFF's copy in the bucket."""
    values = np.random.default_rng(5).random((20, 30)).astype("float32")
    rows, cols = np.array([5, 12, 17]), np.array([4, 20, 28])
    values[rows, cols] = 2.0
    tif = tmp_path / "anomaly.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=20, width=30, count=1, dtype="float32", crs=CRS,
                       transform=from_origin(X0, Y0, 100.0, 100.0), nodata=np.nan) as dst:
        dst.write(values, 1)
        dst.update_tags(detector="alad", score="fm")
    x, y = cell_xy(rows, cols)
    csv = tmp_path / "deposits.csv"
    csv.write_text("deposit_id,x,y\n" + "".join(f"d{i},{a},{b}\n" for i, (a, b) in enumerate(zip(x, y, strict=True))))
    url = f"{s3_bucket}/maps/anomaly.tif"
    Remote(url).fs.put_file(str(tif), Remote(url).key)
    return tif, csv, url


def test_a_report_in_the_bucket_from_a_map_there_equals_the_local_one(inputs, tmp_path, s3_bucket):
    tif, csv, url = inputs
    want = evaluate(tif, csv, tmp_path / "report", **EVAL)
    out = f"{s3_bucket}/report"
    got = evaluate(url, csv, out, **EVAL)
    assert got.name == want.name == "alad" and got.metrics["scores_source"] == url
    drop = ("scores_source",)
    assert {k: v for k, v in got.metrics.items() if k not in drop} == \
        {k: v for k, v in want.metrics.items() if k not in drop}
    local_names = sorted(p.relative_to(tmp_path / "report").as_posix() for p in (tmp_path / "report").rglob("*"))
    report = Remote(out)
    assert report.names() == local_names
    assert report.read_json(".geogan") == json.loads((tmp_path / "report" / ".geogan").read_text())
    metrics = report.read_json("metrics.json")
    assert metrics["detectors"]["alad"]["roc_auc"] == want.metrics["roc_auc"] == 1.0
    stamps = {n: report.fs.info(f"{report.key}/{n}")["LastModified"] for n in report.names()}
    assert stamps[".geogan"] == max(stamps.values())  # the marker last


@pytest.mark.slow
def test_an_existing_report_in_the_bucket_is_replaced_only_with_overwrite_and_only_if_geogans(inputs, s3_bucket):
    tif, csv, url = inputs
    out = f"{s3_bucket}/report"
    evaluate(url, csv, out, **EVAL)
    with pytest.raises(OutputExistsError, match="report directory exists; pass overwrite=True"):
        evaluate(url, csv, out, **EVAL)
    evaluate(url, csv, out, overwrite=True, **EVAL)
    Remote(out).write_bytes("notes.txt", b"mine")
    with pytest.raises(OutputExistsError, match="report directory holds notes.txt, which geogan did not write"):
        evaluate(url, csv, out, overwrite=True, **EVAL)
    assert Remote(out).read_bytes("notes.txt") == b"mine" and Remote(out).isfile("index.html")


@pytest.mark.slow
def test_the_evaluate_command_reads_and_writes_urls(inputs, s3_bucket):
    tif, csv, url = inputs
    out = f"{s3_bucket}/cli-report"
    res = cli("evaluate", url, f"local={tif}", "--deposits", csv, "--out", out, "--runs", "2", "--min-dist-km", "0.3")
    assert res.exit_code == 0, res.output
    assert "alad: AUC (all cells) 1.000" in res.stdout and "local: AUC (all cells) 1.000" in res.stdout
    assert f"report   {out}/index.html" in res.stdout
    assert set(Remote(out).read_json("metrics.json")["detectors"]) == {"alad", "local"}
    assert_user_error(cli("evaluate", f"{s3_bucket}/none.tif", "--deposits", csv, "--out", f"{s3_bucket}/r2"),
                      f"{s3_bucket}/none.tif: score grid not found")
    with pytest.raises(InputError, match="score grid not found"):
        evaluate(f"{s3_bucket}/maps", csv, None)  # a prefix holding no store
