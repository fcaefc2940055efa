"""Hand-off to GIS software (geogan.evaluation.gis and what the score stage writes for it): class breaks,
the QGIS style, anomaly polygons, tagged COGs, and stores that plain xarray/rioxarray read."""

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pyogrio
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize
from typer.testing import CliRunner

from geogan.cli import app
from geogan.evaluation.gis import (
    CLASS_COLOURS,
    PERCENTILE_CLASSES,
    anomaly_polygons,
    class_breaks,
    classify,
    write_anomaly_polygons,
    write_qml,
)
from geogan.scoring.stage import score_grid
from geogan.stores.scores import open_scores_store
from geogan.stores.store import open_grid
from geogan.training.stage import train_model
from tests.helpers.grids import make_grid

CRS = "EPSG:32650"


def read_polygons(path):
    """(crs, shapely polygons, {column: values}) of anomaly_polygons.gpkg, read with pyogrio."""
    meta, _fids, geometry, fields = pyogrio.raw.read(path)
    return meta["crs"], shapely.from_wkb(geometry), dict(zip(meta["fields"], fields, strict=True))


def qml_items(path):
    root = ET.parse(path).getroot()
    ramp = root.find("./pipe/rasterrenderer/rastershader/colorrampshader")
    return ramp, [item.attrib for item in ramp.findall("item")]


# --------------------------------------------------------------------------- units


def test_class_breaks_classify_and_the_qml_agree(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.gamma(2.0, size=(30, 40)).astype(np.float32)
    values[:3] = np.nan
    breaks = class_breaks(values)
    assert list(breaks) == [f"P{p}" for p in PERCENTILE_CLASSES]
    np.testing.assert_allclose(list(breaks.values()), np.percentile(values[3:], PERCENTILE_CLASSES))
    classes = classify(values, breaks)
    assert classes.dtype == np.uint8 and (classes[:3] == 255).all()
    assert (classes[3:] == 5).mean() == pytest.approx(0.01, abs=0.005)
    np.testing.assert_array_equal(values >= np.float64(breaks["P95"]), (classes >= 4) & (classes != 255))

    qml = write_qml(tmp_path / "anomaly.qml", breaks, vmin=float(np.nanmin(values)), vmax=float(np.nanmax(values)))
    assert qml.read_text(encoding="utf-8").startswith("<!DOCTYPE qgis")
    ramp, items = qml_items(qml)
    assert ramp.get("colorRampType") == "DISCRETE"
    assert [i["color"] for i in items] == list(CLASS_COLOURS)
    assert [i["label"].split(" (")[0] for i in items] == ["< P50", "P50–P75", "P75–P90", "P90–P95", "P95–P99", "≥ P99"]
    # QGIS puts a value in the first class whose item value it does not exceed: each item sits
    # just below the next break, so a cell equal to a break is in the upper class, as classify() says
    uppers = [float(i["value"]) for i in items]
    assert uppers[-1] == np.inf
    for upper, (name, b) in zip(uppers[:-1], breaks.items(), strict=True):
        # the largest float32 below the break
        assert np.float32(upper) == upper < b <= np.nextafter(np.float32(upper), np.float32(np.inf)), name
    finite = values[np.isfinite(values)]
    qgis_class = np.searchsorted(np.array(uppers), finite, side="left")  # first item with value ≥ cell
    np.testing.assert_array_equal(qgis_class, classify(finite, breaks))


def test_class_breaks_of_an_empty_grid_is_an_error():
    from geogan.errors import EvaluationError

    with pytest.raises(EvaluationError, match="no valid"):
        class_breaks(np.full((3, 3), np.nan))


def test_polygons_cover_exactly_the_cells_at_or_above_p95(tmp_path):
    rng = np.random.default_rng(1)
    values = rng.random((40, 50)).astype(np.float32)
    values[5:8, 10:14] += 2.0  # one strong 3 × 4 anomaly, its core one cell
    values[6, 12] += 1.0
    values[:2] = np.nan
    transform = Affine(100.0, 0.0, 400_000.0, 0.0, -100.0, 2_800_000.0)
    breaks = class_breaks(values)
    deposit_cells = (np.array([6, 6, 30]), np.array([12, 13, 3]))
    polygons = anomaly_polygons(values, transform, CRS, breaks, deposit_cells=deposit_cells)
    path = write_anomaly_polygons(tmp_path / "anomaly_polygons.gpkg", polygons)

    crs, geoms, cols = read_polygons(path)
    assert pyproj.CRS(crs).equals(pyproj.CRS(CRS))
    assert set(cols) == {"class", "threshold", "area_km2", "n_cells", "max_score", "n_deposits"}
    assert all(shapely.is_valid(geoms))
    for name, percentile in (("P95", 95), ("P99", 99)):
        mine = cols["class"] == name
        mask = values >= np.float64(breaks[f"P{percentile}"])
        # rasterised back, the polygons are exactly the cells ≥ the break, no more, no less
        burnt = rasterize(((g, 1) for g in geoms[mine]), out_shape=values.shape, transform=transform, dtype="uint8")
        np.testing.assert_array_equal(burnt.astype(bool), mask)
        assert shapely.union_all(geoms[mine]).area == pytest.approx(mask.sum() * 100.0**2)
        np.testing.assert_allclose(cols["area_km2"][mine], shapely.area(geoms[mine]) / 1e6)
        assert cols["n_cells"][mine].sum() == mask.sum()
        assert (cols["threshold"][mine] == breaks[f"P{percentile}"]).all()
        assert cols["max_score"][mine].max() == pytest.approx(float(np.nanmax(values)))
        assert list(cols["max_score"][mine]) == sorted(cols["max_score"][mine], reverse=True)
        assert cols["n_deposits"][mine].sum() == mask[deposit_cells].sum()
    # the strongest anomaly holds both deposits on it; its ≥ P99 core lies inside it
    first = np.flatnonzero(cols["class"] == "P95")[0]
    assert cols["n_deposits"][first] == 2 and cols["n_cells"][first] >= 12
    p95 = shapely.union_all(geoms[cols["class"] == "P95"])
    assert all(p95.buffer(1e-6).contains(g) for g in geoms[cols["class"] == "P99"])


@pytest.mark.tf
@pytest.mark.slow
def test_polygons_have_a_spatial_index_in_a_process_that_runs_tensorflow(tmp_path):
    """TensorFlow carries an SQLite without R-trees; geogan loads GDAL first, so the GeoPackage
    written after TensorFlow started (as `geogan score` does) still has its spatial index."""
    code = textwrap.dedent(f"""
        import sqlite3
        import numpy as np
        from affine import Affine
        from geogan._tf import tensorflow
        tensorflow()
        from geogan.evaluation.gis import anomaly_polygons, class_breaks, write_anomaly_polygons
        values = np.random.default_rng(1).random((30, 30)).astype(np.float32)
        polygons = anomaly_polygons(values, Affine(100.0, 0, 400_000.0, 0, -100.0, 2_800_000.0), "EPSG:32650",
                                    class_breaks(values))
        path = write_anomaly_polygons({str(tmp_path / "p.gpkg")!r}, polygons)
        with sqlite3.connect(path) as db:
            print(sorted(r[0] for r in db.execute("select name from sqlite_master where name like 'rtree_%'")))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "'rtree_anomaly_polygons_geom'" in res.stdout.splitlines()[-1]


def test_polygons_in_a_geographic_crs_have_geodesic_areas():
    values = np.zeros((10, 10), np.float32)
    values[4, 4] = 1.0
    transform = Affine(0.01, 0.0, 115.0, 0.0, -0.01, 26.0)
    polygons = anomaly_polygons(values, transform, "EPSG:4326", {"P95": 1.0, "P99": 1.0})
    assert len(polygons) == 2 and "n_deposits" not in polygons.columns
    # a 0.01° cell at 25.95° N: 1.113 km × 1.001 km
    assert polygons.columns["area_km2"] == pytest.approx([1.113 * 1.001] * 2, rel=0.01)


# --------------------------------------------------------------------------- the score stage


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A scored grid (PCA, contributions) with deposits of two types, one off the anomalies."""
    root = tmp_path_factory.mktemp("gis")
    path, spec, conc, deposits = make_grid(root / "grid.zarr")
    model = train_model(path, root / "pca", detector="pca", transform="clr", sample=1500, seed=0,
                        progress=False).model_dir
    ds = open_grid(path)
    x, y = ds["x"].values, ds["y"].values
    rows = [(r, c, "W-Sn skarn") for r, c in deposits] + [(25, 20, "Au orogenic"), (0, 0, "W-Sn greisen")]
    csv = root / "deposits.csv"
    csv.write_text("name,type,x,y\n" + "".join(f"d{k},{t},{x[c]},{y[r]}\n" for k, (r, c, t) in enumerate(rows)))
    res = score_grid(path, model, root / "out", deposits=csv, runs=2, workers=1,
                     contributions=True, progress=False)
    return root, res, csv


@pytest.mark.cluster
@pytest.mark.slow
def test_score_writes_the_style_and_polygons_of_its_classes(scored):
    root, res, _ = scored
    assert res.qml == res.cog.with_suffix(".qml") and res.polygons.name == "anomaly_polygons.gpkg"
    anomaly = open_scores_store(res.scores)["anomaly"].values
    breaks = class_breaks(anomaly)
    assert res.class_breaks == breaks
    # metrics.json holds the same breaks (per detector), computed by the evaluation
    metrics = json.loads((res.report / "metrics.json").read_text())
    assert metrics["detectors"]["pca"]["class_breaks"] == pytest.approx(breaks)
    _, items = qml_items(res.qml)
    assert [float(i["value"]) for i in items[:-1]] == pytest.approx(list(breaks.values()), rel=1e-6)
    # the polygons' style beside them: outlines only, one category per class
    style = ET.parse(res.polygons.with_suffix(".qml")).getroot()
    renderer = style.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "class"
    assert [c.get("value") for c in renderer.iter("category")] == ["P95", "P99"]
    fills = [{o.get("name"): o.get("value") for o in layer.find("Option")} for layer in renderer.iter("layer")]
    assert [f["style"] for f in fills] == ["no", "no"] and fills[1]["outline_width"] > fills[0]["outline_width"]

    crs, geoms, cols = read_polygons(res.polygons)
    with rasterio.open(res.cog) as src:
        assert pyproj.CRS(crs).equals(pyproj.CRS(src.crs.to_wkt()))
        cell_km2 = abs(src.transform.a * src.transform.e) / 1e6
    p95 = cols["class"] == "P95"
    n_cells = int((anomaly >= np.float64(breaks["P95"])).sum())
    assert shapely.union_all(geoms[p95]).area / 1e6 == pytest.approx(n_cells * cell_km2)
    assert cols["area_km2"][p95].sum() == pytest.approx(n_cells * cell_km2)
    # both synthetic deposits sit on W-Sn-Bi anomalies; the Au one and the corner one do not
    assert cols["n_deposits"][p95].sum() == 2


@pytest.mark.cluster
@pytest.mark.slow
def test_cog_names_its_band_and_says_what_made_it(scored):
    root, res, _ = scored
    with rasterio.open(res.cog) as src:
        assert src.descriptions[0].startswith("pca anomaly score")
        tags = src.tags()
    assert tags["detector"] == tags["name"] == "pca" and tags["variable"] == "anomaly"
    assert tags["elements"] == "Ag,Bi,Mo,Sn,W" and tags["transform"] == "clr"
    assert tags["model"] == str((root / "pca").resolve()) and tags["grid"] == str((root / "grid.zarr").resolve())
    assert tags["geogan_version"] and tags["model_token"] and tags["score"]


@pytest.mark.cluster
@pytest.mark.slow
def test_evaluate_a_bare_cog_by_its_detector_and_deposit_type(scored, tmp_path):
    root, res, csv = scored
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["evaluate", str(res.cog), "--deposits", str(csv), "--deposits-crs", CRS,
                                      "--deposit-type", "w-sn", "--runs", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pca: AUC" in result.output  # the band's detector, not the folder's name
    metrics = json.loads((out / "metrics.json").read_text())
    m = metrics["detectors"]["pca"]
    assert m["n_deposits"] == 3 and m["deposits_selection"] == "type contains 'w-sn' (3 of 4 rows)"
    rows = metrics["deposits"]["pca"]
    assert [r["type"] for r in rows] == ["W-Sn skarn", "W-Sn skarn", "W-Sn greisen"]
    # contributions.zarr beside anomaly.tif gives each scored deposit its driving elements
    used = [r for r in rows if r["status"] == "used"]
    assert used and all(r["drivers"].split()[0][:-1] in {"W", "Sn", "Bi"} for r in used[:2])
    assert rows[2]["status"] == "no data" and "drivers" not in rows[2]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<h2>Deposits</h2>" in page and "W-Sn greisen" in page and "selected: type contains" in page

    bad = CliRunner().invoke(app, ["evaluate", str(res.cog), "--deposits", str(csv), "--deposits-crs", CRS,
                                   "--deposit-type", "porphyry", "--out", str(tmp_path / "r2")])
    assert bad.exit_code != 0
    assert "no deposit of type 'porphyry'" in bad.output and "'Au orogenic'" in bad.output
    assert not (tmp_path / "r2").exists()


@pytest.mark.cluster
@pytest.mark.slow
def test_score_reads_the_deposits_as_its_deposit_options_say_before_scoring(scored, tmp_path):
    from geogan.errors import ConfigError, InputError
    from geogan.options import DepositOptions

    root, _, csv = scored
    out = tmp_path / "out"
    with pytest.raises(InputError, match="no deposit of type 'porphyry'; the types present are: 'Au orogenic'"):
        score_grid(root / "grid.zarr", root / "pca", out, deposits=csv, deposit_type="porphyry", progress=False)
    with pytest.raises(InputError, match="column 'east': x column not found"):
        score_grid(root / "grid.zarr", root / "pca", out, deposits=csv, progress=False,
                   deposit_options=DepositOptions(x="east", y="y"))
    with pytest.raises(ConfigError, match="give deposit_type too"):
        score_grid(root / "grid.zarr", root / "pca", out, deposits=csv, deposit_type_column="type", progress=False)
    assert not out.exists()


@pytest.mark.cluster
@pytest.mark.slow
def test_score_report_lists_every_deposit_with_its_drivers(scored):
    _, res, _ = scored
    rows = res.evaluation.deposit_table
    assert len(rows) == 4 and [r["id"] for r in rows] == ["d0", "d1", "d2", "d3"]
    assert [r["status"] for r in rows] == ["used", "used", "used", "no data"]
    assert rows[0]["class"] == "≥ P99" and rows[0]["percentile"] > 99
    assert rows[0]["drivers"] and rows[0]["contributions"][0][0] in {"W", "Sn", "Bi"}


PLAIN_XARRAY = textwrap.dedent('''
    import json, sys, warnings
    import rasterio, rioxarray, xarray as xr

    out = {}
    for path, var, tif, nc in json.loads(sys.argv[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the plain open call must not warn (consolidated metadata)
            ds = xr.open_zarr(path, decode_coords="all")
        da = ds[var].isel(element=0) if "element" in ds[var].dims else ds[var]
        da.rio.to_raster(tif)
        with rasterio.open(tif) as src:
            tif_epsg = src.crs.to_epsg() if src.crs else None
        ds.to_netcdf(nc)
        with xr.open_dataset(nc) as back:
            nc_vars = sorted(map(str, back.data_vars))
        out[var] = {"crs": ds[var].rio.crs.to_epsg() if ds[var].rio.crs else None, "tif_epsg": tif_epsg,
                    "nc_vars": nc_vars, "geogan_version": ds.attrs.get("geogan_version"),
                    "grid": json.loads(ds.attrs["grid"])["width"]}
    assert "geogan" not in sys.modules
    print(json.dumps(out))
''')


@pytest.mark.cluster
@pytest.mark.slow
def test_stores_open_with_plain_xarray_and_rioxarray(scored, tmp_path):
    """The grid, scores and contributions stores outside geogan: CRS, GeoTIFF export with the
    CRS, netCDF export, the geogan version, all without a warning."""
    from geogan.grid.rasters import import_rasters

    root, res, _ = scored
    # a grid store made by a real stage (import-rasters finalises it as 'geogan grid' does)
    for name in ("W_ppm", "Sn_ppm"):
        with rasterio.open(tmp_path / f"{name}.tif", "w", driver="GTiff", width=20, height=10, count=1,
                           dtype="float32", crs=CRS, transform=Affine(500.0, 0, 500_000.0, 0, -500.0, 2_705_000.0),
                           nodata=np.nan) as dst:
            dst.write(np.random.default_rng(2).random((1, 10, 20)).astype(np.float32))
    grid = import_rasters([tmp_path / "W_ppm.tif", tmp_path / "Sn_ppm.tif"], tmp_path / "grid.zarr", tile=8)
    jobs = [(str(grid), "concentration"), (str(res.scores), "anomaly"), (str(res.contributions), "contribution")]
    args = [[p, v, str(tmp_path / f"{v}.tif"), str(tmp_path / f"{v}.nc")] for p, v in jobs]
    proc = subprocess.run([sys.executable, "-c", PLAIN_XARRAY, json.dumps(args)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for _, var in jobs:
        assert out[var]["crs"] == 32650 and out[var]["tif_epsg"] == 32650, var
        assert var in out[var]["nc_vars"] and out[var]["geogan_version"], var
    assert out["concentration"]["grid"] == 20 and out["anomaly"]["grid"] == 56
    # and geogan still reads them, nested attributes decoded
    assert open_grid(grid).attrs["units"] == {"W": "ppm", "Sn": "ppm"}
    assert open_scores_store(res.scores).attrs["run_key"]["model"] == str((root / "pca").resolve())
