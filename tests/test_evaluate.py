"""Tests for geogan.evaluation.stage, geogan.evaluation.metrics and geogan.evaluation.locate: score grids, deposits and the metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import rioxarray  # noqa: F401
import xarray as xr
from rasterio.transform import from_origin
from sklearn.metrics import roc_auc_score

from geogan.evaluation.deposits import Deposits, read_deposits
from geogan.errors import CRSError, EvaluationError, InputError
from geogan.evaluation.stage import evaluate_scores, open_scores
from geogan.evaluation.locate import locate_deposits
from geogan.evaluation.metrics import negative_sampling_auc, prediction_area, sample_negative_cells

from _score_grids import CRS, X0, Y0, cell_xy, make_scores

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# --------------------------------------------------------------------------- all-cells AUC


def test_roc_auc_equals_sklearn_with_ties_duplicates_outside_and_nodata():
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(size=(30, 40)), 1)  # 0.1 steps: many ties
    values[rng.random(values.shape) < 0.1] = np.nan
    scores = make_scores(values)
    rows = rng.integers(0, 30, 40)
    cols = rng.integers(0, 40, 40)
    x, y = cell_xy(rows, cols, dx=rng.random(40), dy=rng.random(40))
    # two more deposits in the first deposit's cell, plus two outside the grid
    x2, y2 = cell_xy([rows[0]] * 2, [cols[0]] * 2, dx=np.array([0.1, 0.9]), dy=np.array([0.2, 0.8]))
    deposits = Deposits.from_xy(
        np.r_[x, x2, X0 - 50.0, X0 + 1e6], np.r_[y, y2, Y0 - 50.0, Y0], crs=CRS
    )
    result = evaluate_scores(scores, deposits, runs=3, min_dist_km=0.3)
    m = result.metrics

    valid = ~np.isnan(values)
    positive = np.zeros_like(valid)
    on_nodata = 0
    for r, c in zip(np.r_[rows, [rows[0]] * 2], np.r_[cols, [cols[0]] * 2], strict=True):
        if valid[r, c]:
            positive[r, c] = True
        else:
            on_nodata += 1
    expected = roc_auc_score(positive[valid].astype(int), values[valid])
    assert m["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert m["n_outside"] == 2
    assert m["n_on_nodata"] == on_nodata > 0
    assert m["n_deposits"] == 44
    assert m["n_deposits_used"] == 42 - on_nodata
    assert m["n_positive_cells"] == positive.sum() < m["n_deposits_used"]
    assert m["n_valid_cells"] == valid.sum()
    # the plotted curve integrates to the same AUC
    assert np.trapezoid(result.roc_tpr, result.roc_fpr) == pytest.approx(expected, abs=1e-12)
    assert np.all(np.diff(result.roc_fpr) >= 0) and np.all(np.diff(result.roc_tpr) >= 0)


def test_locate_deposits_edges_and_y_ascending_grid():
    scores = make_scores(np.ones((2, 3)))
    # right/bottom edges are outside (half-open cells); the left/top edges are inside
    x = np.array([X0, X0 + 300.0, X0 + 150.0, X0 + 150.0])
    y = np.array([Y0, Y0 - 50.0, Y0 - 200.0, Y0 - 199.0])
    loc = locate_deposits(scores, Deposits.from_xy(x, y, crs=CRS))
    assert loc.outside.tolist() == [False, True, True, False]
    assert (loc.row[0], loc.col[0]) == (0, 0) and (loc.row[3], loc.col[3]) == (1, 1)

    flipped = make_scores(np.arange(6.0).reshape(2, 3)).isel(y=slice(None, None, -1))
    loc = locate_deposits(flipped, Deposits.from_xy([X0 + 50.0], [Y0 - 50.0], crs=CRS))
    assert float(flipped.values[loc.row[0], loc.col[0]]) == 0.0  # the north-west cell


def test_deposits_are_reprojected_to_the_grid_crs():
    scores = make_scores(np.arange(12.0).reshape(3, 4))
    x, y = cell_xy(2, 3)
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    loc = locate_deposits(scores, Deposits.from_xy([lon], [lat], crs="EPSG:4326"))
    assert (loc.row[0], loc.col[0]) == (2, 3)


def test_no_deposit_on_valid_cells_is_an_error_with_counts():
    scores = make_scores(np.ones((3, 3)))
    deposits = Deposits.from_xy([0.0], [0.0], crs=CRS)
    with pytest.raises(EvaluationError, match=r"none of the 1 deposits .*1 outside the grid"):
        evaluate_scores(scores, deposits, runs=1)


# --------------------------------------------------------------------------- P-A


def test_pa_intersection_hand_case():
    # scores 1..10, one cell each; deposits on the cells scoring 10, 9, 8 and 3.
    # Oa(t) = (11 - t)·10 %, Pr(8) = 75, Pr(9) = 50 → Pr − (100 − Oa) = +5 at t=8, −30 at t=9
    # → t* = 8 + 5/35, Pr* = 75 − 25/7, Oa* = 100 − Pr*.
    scores = make_scores(np.arange(1, 11).reshape(2, 5))
    flat_cells = np.array([9, 8, 7, 2])  # score = index + 1
    x, y = cell_xy(flat_cells // 5, flat_cells % 5)
    result = evaluate_scores(scores, Deposits.from_xy(x, y, crs=CRS), runs=1, min_dist_km=0.0)
    m = result.metrics
    pr_star = 75 - 25 / 7
    assert result.pa_threshold.tolist() == list(range(1, 11))
    assert result.pa_prediction_rate.tolist() == [100, 100, 100, 75, 75, 75, 75, 75, 50, 25]
    assert result.pa_area_pct == pytest.approx(np.arange(100, 0, -10))
    assert m["pa_intersection_threshold"] == pytest.approx(8 + 1 / 7)
    assert m["pa_intersection_prediction_rate_pct"] == pytest.approx(pr_star)
    assert m["pa_intersection_area_pct"] == pytest.approx(100 - pr_star)
    assert m["pa_nd"] == pytest.approx(pr_star / (100 - pr_star))
    # success rate: (0,0),(10,25),(20,50),(30,75),...,(70,75),(80,100),(90,100),(100,100)
    assert result.success_area_pct.tolist() == pytest.approx([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    # trapezoids × 10: 12.5 + 37.5 + 62.5 + 4·75 + 87.5 + 2·100 = 700
    assert m["success_rate_auc"] == pytest.approx(0.7)
    # all-cells AUC by hand: each deposit cell vs the 6 other cells
    assert m["roc_auc"] == pytest.approx((6 + 6 + 6 + 2) / 24)
    # the exact capture curve (success.png): a step per deposit cell, just above then at its score
    assert result.capture_area_pct.tolist() == pytest.approx([0, 0, 10, 10, 20, 20, 30, 70, 80, 100])
    assert result.capture_deposit_pct.tolist() == pytest.approx([0, 0, 25, 25, 50, 50, 75, 75, 100, 100])
    # the map's classes, over all valid cells (np.percentile of 1..10)
    assert m["class_breaks"] == pytest.approx({"P50": 5.5, "P75": 7.75, "P90": 9.1, "P95": 9.55, "P99": 9.91})
    table = result.deposit_table
    assert [(r["score"], r["percentile"], r["class"]) for r in table] == [
        (10.0, 100.0, "≥ P99"), (9.0, 90.0, "P75–P90"), (8.0, 80.0, "P75–P90"), (3.0, 30.0, "< P50")]
    assert [r["id"] for r in table] == ["1", "2", "3", "4"] and {r["status"] for r in table} == {"used"}


def test_top5_shares():
    values = np.arange(1, 101, dtype="float32").reshape(10, 10)
    flat = np.array([99, 96, 49])  # scores 100, 97, 50
    pa = prediction_area(np.sort(values.ravel()), values.ravel()[flat], crs=CRS)
    assert pa["top5_area_pct"] == pytest.approx(5.0)
    assert pa["top5_deposit_pct"] == pytest.approx(200 / 3)
    assert pa["top5_threshold"] == 96.0


def test_geographic_crs_refuses_area_metrics_but_computes_aucs():
    scores = make_scores(np.arange(20.0).reshape(4, 5), crs="EPSG:4326", cell=0.01, x0=115.0, y0=26.0)
    deposits = Deposits.from_xy([115.045], [25.965], crs="EPSG:4326")  # row 3, col 4
    result = evaluate_scores(scores, deposits, runs=2, min_dist_km=1.0)
    m = result.metrics
    assert m["roc_auc"] == pytest.approx(1.0)
    assert m["negsamp_auc_mean"] == pytest.approx(1.0)
    assert "need a projected CRS" in m["area_metrics"] and "EPSG:4326" in m["area_metrics"]
    assert "pa_nd" not in m and result.pa_threshold is None
    with pytest.raises(EvaluationError, match=r"area metrics .* need a projected CRS .*EPSG:4326 \(geographic, degrees\)"):
        prediction_area(np.arange(5.0), np.array([4.0]), crs="EPSG:4326")


# --------------------------------------------------------------------------- negative sampling


def test_negative_sampling_respects_min_dist_and_is_seeded():
    rng = np.random.default_rng(0)
    scores = make_scores(rng.random((60, 60)))  # 6 × 6 km
    x, y = cell_xy(np.array([10, 30, 50]), np.array([10, 45, 20]))
    deposits = Deposits.from_xy(x, y, crs=CRS)
    rows, cols = sample_negative_cells(scores, deposits, 200, min_dist_km=1.5, rng=np.random.default_rng(3))
    assert rows.size == 200 and np.unique(rows * 60 + cols).size == 200
    cx, cy = cell_xy(rows, cols)
    dist_km = np.hypot(cx[:, None] - x[None], cy[:, None] - y[None]).min(axis=1) / 1000
    assert dist_km.min() >= 1.5

    a = negative_sampling_auc(scores, deposits, min_dist_km=1.5, runs=5, seed=7)
    b = negative_sampling_auc(scores, deposits, min_dist_km=1.5, runs=5, seed=7)
    c = negative_sampling_auc(scores, deposits, min_dist_km=1.5, runs=5, seed=8)
    assert a == b and a["negsamp_aucs"] != c["negsamp_aucs"]
    assert len(a["negsamp_aucs"]) == 5
    assert a["negsamp_auc_mean"] == pytest.approx(np.mean(a["negsamp_aucs"]))
    assert a["negsamp_n_positives"] == a["negsamp_n_negatives"] == 3


def test_negative_sampling_skips_nodata_and_reports_shortage():
    values = np.full((20, 20), np.nan)
    values[:2, :2] = 1.0  # four valid cells far from the deposit …
    values[19, 19] = 2.0  # … and the deposit's own cell
    scores = make_scores(values)
    deposits = Deposits.from_xy(*cell_xy(np.array([19] * 6), np.array([19] * 6)), crs=CRS)
    rows, cols = sample_negative_cells(scores, deposits, 6, min_dist_km=1.0, rng=np.random.default_rng(0))
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    m = evaluate_scores(scores, deposits, runs=2, min_dist_km=1.0).metrics
    assert m["negsamp_n_negatives"] == 4 and m["negsamp_auc_mean"] == 1.0
    assert any("only 4 valid cells" in n for n in m["notes"])
    m = evaluate_scores(scores, deposits, runs=2, min_dist_km=100.0).metrics
    assert m["negsamp_auc_mean"] is None and any("not computed" in n for n in m["notes"])


# --------------------------------------------------------------------------- score files


def _write_tif(path: Path, values: np.ndarray, *, nodata=-9999.0):
    data = np.where(np.isnan(values), nodata, values).astype("float32")
    with rasterio.open(
        path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1, dtype="float32",
        crs=CRS, transform=from_origin(X0, Y0, 100.0, 100.0), nodata=nodata,
    ) as dst:
        dst.write(data, 1)


def test_open_scores_from_geotiff_and_zarr_agree(tmp_path):
    rng = np.random.default_rng(2)
    values = rng.random((12, 16)).astype("float32")
    values[0, :3] = np.nan
    tif = tmp_path / "anomaly.tif"
    _write_tif(tif, values)
    zarr_path = tmp_path / "scores.zarr"
    ds = make_scores(values).chunk({"y": 4, "x": 8}).to_dataset()
    ds.attrs["model"] = {"detector": "alad", "score": "l1_high"}  # as the score stage records it
    ds.to_zarr(zarr_path, consolidated=False, zarr_format=3)

    from_tif, from_zarr = open_scores(tif), open_scores(zarr_path)
    assert (from_zarr.attrs["detector"], from_zarr.attrs["score"]) == ("alad", "l1_high")
    for grid in (from_tif, from_zarr):
        assert grid.dims == ("y", "x") and grid.rio.crs.to_epsg() == 32650
        np.testing.assert_array_equal(np.asarray(grid.values), values)
        assert grid.rio.transform() == from_origin(X0, Y0, 100.0, 100.0)
    deposits = Deposits.from_xy(*cell_xy(np.array([5, 6, 0]), np.array([5, 9, 1])), crs=CRS)
    a = evaluate_scores(from_tif, deposits, runs=2, min_dist_km=0.2).metrics
    b = evaluate_scores(from_zarr, deposits, runs=2, min_dist_km=0.2).metrics
    for key in ("roc_auc", "negsamp_aucs", "pa_nd", "n_on_nodata"):
        assert a[key] == b[key]
    assert a["n_on_nodata"] == 1


def test_open_scores_errors(tmp_path):
    with pytest.raises(InputError, match="score grid not found"):
        open_scores(tmp_path / "missing.tif")
    bad = tmp_path / "bad.tif"
    bad.write_text("not a raster")
    with pytest.raises(InputError, match="cannot open as a raster"):
        open_scores(bad)
    store = tmp_path / "nocrs.zarr"
    xr.Dataset({"anomaly": (("y", "x"), np.ones((2, 2), "float32"))}, coords={"y": [1.5, 0.5], "x": [0.5, 1.5]}).to_zarr(
        store, consolidated=False, zarr_format=3
    )
    with pytest.raises(CRSError, match="no CRS"):
        open_scores(store)


# --------------------------------------------------------------------------- read_deposits


def test_read_deposits_csv_variants(tmp_path):
    x, y = cell_xy(np.array([1, 2]), np.array([3, 4]))
    p = tmp_path / "d.csv"
    pd.DataFrame({"deposit_id": ["a", "b"], "Easting": x, "NORTHING": y}).to_csv(p, index=False)
    d = read_deposits(p, crs=CRS)
    np.testing.assert_allclose(d.x, x)
    assert d.source_crs_assumed and d.ids.tolist() == ["a", "b"] and list(d.attributes.columns) == ["deposit_id"]

    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    p2 = tmp_path / "d2.csv"
    p2.write_text("name;Latitude;Longitude\nA;{};{}\nB;{};{}\n".format(lat[0], lon[0], lat[1], lon[1]))
    d2 = read_deposits(p2, crs=CRS)
    np.testing.assert_allclose(d2.x, x, atol=1e-3)
    np.testing.assert_allclose(d2.y, y, atol=1e-3)
    assert d2.source_crs.to_epsg() == 4326 and not d2.source_crs_assumed

    p3 = tmp_path / "d3.csv"
    pd.DataFrame({"E": x, "N": y}).to_csv(p3, index=False)
    d3 = read_deposits(p3, crs="EPSG:4326", x="e", y="n", input_crs=CRS)
    np.testing.assert_allclose(d3.x, lon)


def test_read_deposits_geopackage(tmp_path):
    pyogrio = pytest.importorskip("pyogrio")
    shapely = pytest.importorskip("shapely")
    x, y = cell_xy(np.array([1, 2]), np.array([3, 4]))
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    p = tmp_path / "d.gpkg"
    pyogrio.raw.write(
        p, geometry=shapely.to_wkb(shapely.points(lon, lat)), field_data=[np.array(["a", "b"], dtype=object)],
        fields=["name"], crs="EPSG:4326", geometry_type="Point", driver="GPKG",
    )
    d = read_deposits(p, crs=CRS)
    np.testing.assert_allclose(d.x, x, atol=1e-3)
    np.testing.assert_allclose(d.y, y, atol=1e-3)
    assert d.ids.tolist() == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (None, InputError, r"missing\.csv: deposit file not found"),
        ("", InputError, r"deposit file is empty"),
        ("x,y\n", InputError, r"header but no rows"),
        ("a,b\n1,2\n", InputError, r"no coordinate columns found"),
        ("id,x,y\n1,400000,2800000\n2,4x,2800000\n", InputError, r"d\.csv:3: column 'x': non-numeric value '4x'"),
        ("id,x,y\n1,400000,\n", InputError, r"d\.csv:2: column 'y': coordinate is missing"),
        ("lon,lat\n115,26\n115,96\n", CRSError, r"d\.csv:3: column 'lat': coordinate 96\.0 is outside the range of EPSG:4326"),
        ("x,y\n115.1,26.2\n", CRSError, r"d\.csv:2: column 'y': .*outside the range of EPSG:3067 .*look like degrees.*EPSG:4326"),
    ],
)
def test_read_deposits_errors(tmp_path, content, error, match):
    p = tmp_path / ("missing.csv" if content is None else "d.csv")
    if content is not None:
        p.write_text(content)
    with pytest.raises(error, match=match) as info:
        read_deposits(p, crs=CRS, input_crs="EPSG:3067" if "115.1" in (content or "") else None)
    assert "\n" not in str(info.value)


def test_degrees_in_an_assumed_projected_crs_get_a_hint(tmp_path):
    p = tmp_path / "sites.csv"
    p.write_text("X,Y,name\n115.1,26.2,a\n115.2,26.3,b\n")
    deposits = read_deposits(p, crs=CRS)  # no CRS named: the grid's is assumed
    assert deposits.source_crs_assumed
    with pytest.raises(EvaluationError, match=r"sites\.csv: none of the 2 deposits .*look like degrees.*EPSG:4326"):
        evaluate_scores(make_scores(np.ones((3, 3))), deposits, runs=1)


def test_read_deposits_selects_a_deposit_type(tmp_path):
    x, y = cell_xy(np.arange(4), np.arange(4))
    p = tmp_path / "d.csv"
    pd.DataFrame({"name": list("abcd"), "Type": ["W-Sn skarn", "Au orogenic", "w-sn greisen", "Cu porphyry"],
                  "commodity": ["W", "Au", "Sn", "Cu"], "x": x, "y": y}).to_csv(p, index=False)
    d = read_deposits(p, crs=CRS, deposit_type="W-Sn")  # 'Type' found before 'commodity'; any case, contains
    assert d.ids.tolist() == ["a", "c"] and d.selection == "Type contains 'W-Sn' (2 of 4 rows)"
    np.testing.assert_allclose(d.x, x[[0, 2]])
    assert read_deposits(p, crs=CRS, deposit_type="au", deposit_type_column="COMMODITY").ids.tolist() == ["b"]
    assert read_deposits(p, crs=CRS).selection is None and len(read_deposits(p, crs=CRS)) == 4
    with pytest.raises(InputError, match=r"column 'Type': no deposit of type 'Mo'; the types present are: "
                                         r"'Au orogenic', 'Cu porphyry', 'W-Sn skarn', 'w-sn greisen'"):
        read_deposits(p, crs=CRS, deposit_type="Mo")
    with pytest.raises(InputError, match=r"column 'kind': deposit type column not found"):
        read_deposits(p, crs=CRS, deposit_type="W", deposit_type_column="kind")
    with pytest.raises(InputError, match="give --deposit-type too"):
        read_deposits(p, crs=CRS, deposit_type_column="type")


def test_score_label_names_a_map_by_its_tags_or_band_description(tmp_path):
    from geogan.evaluation.stage import score_label

    values = np.ones((3, 3), "float32")
    tif = tmp_path / "anomaly.tif"
    _write_tif(tif, values)
    assert score_label(tif) is None and score_label(tmp_path / "missing.tif") is None
    with rasterio.open(tif, "r+") as dst:
        dst.set_band_description(1, "prospectivity")
    assert score_label(tif) == "prospectivity"
    with rasterio.open(tif, "r+") as dst:
        dst.update_tags(detector="vae")
    assert score_label(tif) == "vae"
    with rasterio.open(tif, "r+") as dst:
        dst.update_tags(name="vae_big")
    assert score_label(tif) == "vae_big"


def test_read_deposits_named_column_missing(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("x,y\n400000,2800000\n")
    with pytest.raises(InputError, match=r"column 'east': x column not found"):
        read_deposits(p, crs=CRS, x="east", y="y")


@pytest.mark.realdata
def test_read_real_deposit_files():
    gtk = DATA / "gtk-lapland-till" / "iocg_deposits_prospects_occurrences_26.csv"
    gswa = DATA / "gswa-soil1" / "area6_soil_au_site.csv"
    if not gtk.exists() or not gswa.exists():
        pytest.skip(f"real data not found under {DATA} (read-only shared data absent)")
    # x_etrstm35fin/y_etrstm35fin auto-detected (projected columns win over lon/lat), grid CRS assumed
    d = read_deposits(gtk, crs="EPSG:3067")
    table = pd.read_csv(gtk)
    assert len(d) == 26
    np.testing.assert_allclose(d.x, table["x_etrstm35fin"], atol=1.0)
    np.testing.assert_allclose(d.y, table["y_etrstm35fin"], atol=1.0)
    # GSWA sites: lon/lat in columns named X/Y (GDA94), so the CRS must be named
    d = read_deposits(gswa, crs="EPSG:28350", input_crs="EPSG:4283")
    assert len(d) == 14 and np.all((d.x > 1e5) & (d.x < 9e5))
