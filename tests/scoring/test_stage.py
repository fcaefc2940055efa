"""The score stage end to end: real models, real Dask clusters, real COGs read back (kill -9 and
resume: tests/integration/test_kill_resume.py)."""

import json
import os
import subprocess
import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio

from geogan.errors import ModelError, OutputExistsError
from geogan.grid.stage import grid_survey
from geogan.scoring.stage import score_grid
from geogan.stores.scores import open_scores_store
from geogan.stores.store import open_grid
from geogan.training.model import load_model
from geogan.training.stage import train_model


pytestmark = [pytest.mark.tf, pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture
def demo(demo_models):
    """The demo survey gridded and an ALAD trained on it (tests/conftest.py: shared with the kill -9
    tests in tests/integration)."""
    return demo_models


@pytest.fixture
def scored(demo_scores):
    """The demo grid scored (tests/conftest.py)."""
    return demo_scores


def valid_cells(root, elements):
    ds = open_grid(root / "grid.zarr")
    conc = ds["concentration"].sel(element=elements).values
    x = conc.reshape(len(elements), -1).T
    return x, np.isfinite(x).all(axis=1), conc.shape[1:]


def test_tilewise_scores_equal_scoring_all_cells_at_once(demo, scored):
    root, _ = demo
    model = load_model(root / "alad")
    x, valid, shape = valid_cells(root, model.elements)
    whole = np.full(x.shape[0], np.nan, np.float32)
    whole[valid] = model.score(x[valid].astype(np.float32))
    tiles = open_scores_store(scored.scores)["anomaly"].values.ravel()
    np.testing.assert_array_equal(np.isnan(tiles), ~valid)  # NaN cells stay NaN, valid ones are scored
    np.testing.assert_allclose(tiles[valid], whole[valid], rtol=1e-5, atol=1e-5)
    assert scored.n_cells_scored == int(valid.sum())


def test_cog_is_valid_and_matches_the_store(demo, scored):
    with rasterio.open(scored.cog) as src:
        assert src.driver == "GTiff" and src.count == 1 and src.dtypes[0] == "float32"
        assert src.crs.to_epsg() == 32650
        assert np.isnan(src.nodata)
        assert src.profile["tiled"] and src.block_shapes[0] == (512, 512)
        assert src.compression.name.lower() == "deflate"
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        # what the band is, for QGIS and 'geogan evaluate anomaly.tif'
        assert src.descriptions[0].startswith("alad anomaly score (")
        tags = src.tags()
        assert tags["detector"] == "alad" and tags["variable"] == "anomaly" and tags["elements"]
        data = src.read(1)
        transform = src.transform
    ds = open_scores_store(scored.scores)
    np.testing.assert_array_equal(data, ds["anomaly"].values)
    assert transform.a == 500.0 and transform.c == float(ds.x[0]) - 250.0


def test_ensemble_spread_is_a_second_layer_and_cog(demo, scored):
    """The default ALAD is a seed ensemble: scores.zarr holds its members' spread beside the
    score, tile-wise equal to scoring all cells at once, and spread.tif is a COG on the same grid."""
    root, _ = demo
    model = load_model(root / "alad")
    assert model.is_ensemble and len(model.detector.members_) == 5
    x, valid, shape = valid_cells(root, model.elements)
    score, spread = model.score_with_spread(x[valid].astype(np.float32))
    ds = open_scores_store(scored.scores)
    tiles = ds["spread"].values.ravel()
    np.testing.assert_array_equal(np.isnan(tiles), ~valid)
    np.testing.assert_allclose(tiles[valid], spread, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ds["anomaly"].values.ravel()[valid], score, rtol=1e-5, atol=1e-4)
    assert spread.min() >= 0 and spread.max() > 0  # the members disagree somewhere
    assert scored.spread == scored.out_dir / "spread.tif"
    with rasterio.open(scored.spread) as src, rasterio.open(scored.cog) as ref:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.crs == ref.crs and src.transform == ref.transform and src.shape == ref.shape
        assert "spread" in src.descriptions[0] and src.tags()["variable"] == "spread"
        np.testing.assert_array_equal(src.read(1), ds["spread"].values)
    # its QGIS style: a continuous ramp from 0 (agreement) to the spread's 99th percentile
    ramp = ET.parse(scored.out_dir / "spread.qml").getroot().find(".//colorrampshader")
    assert ramp.get("colorRampType") == "INTERPOLATED" and float(ramp.get("minimumValue")) == 0.0
    assert 0 < float(ramp.get("maximumValue")) <= float(spread.max())


def test_rescoring_with_a_single_model_drops_the_ensembles_spread(demo, scored, tmp_path):
    import shutil

    root, _ = demo
    out = tmp_path / "out"
    shutil.copytree(scored.out_dir, out)
    assert (out / "spread.tif").exists() and (out / "spread.qml").exists()
    train_model(root / "grid.zarr", tmp_path / "pca", detector="pca", sample=2000, seed=0, progress=False)
    res = score_grid(root / "grid.zarr", tmp_path / "pca", out, workers=1, overwrite=True, progress=False)
    assert res.spread is None and not (out / "spread.tif").exists() and not (out / "spread.qml").exists()
    assert (out / "anomaly.tif").exists() and (out / "anomaly_polygons.qml").exists()


QGIS_PYTHON = "/usr/bin/python3"  # Debian's python3-qgis


def _qgis_available() -> bool:
    try:
        return subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _qgis_available(), reason="QGIS is not installed (Debian's python3-qgis)")
def test_qgis_opens_the_outputs_with_their_styles(scored, tmp_path):
    """What a GIS user sees, in real QGIS (headless): the polygons outlined by class (no fill)
    with a spatial index, spread.tif on its continuous ramp, anomaly.tif in discrete classes."""
    code = textwrap.dedent("""
        import sys
        from qgis.core import QgsApplication, QgsFeatureSource, QgsRasterLayer, QgsVectorLayer
        app = QgsApplication([], False)
        app.initQgis()
        out = sys.argv[1]
        poly = QgsVectorLayer(out + "/anomaly_polygons.gpkg|layername=anomaly_polygons", "p", "ogr")
        renderer = poly.renderer()
        for cat in renderer.categories():
            fill = cat.symbol().symbolLayer(0)
            print("class", cat.value(), int(fill.brushStyle()), fill.strokeWidth(), flush=True)
        print("index", poly.hasSpatialIndex() == QgsFeatureSource.SpatialIndexPresent, flush=True)
        for name in ("spread", "anomaly"):
            layer = QgsRasterLayer(out + "/" + name + ".tif", name)
            raster = layer.renderer()
            shader = raster.shader()
            ramp = shader.rasterShaderFunction()
            print(name, raster.type(), int(ramp.colorRampType()), len(ramp.colorRampItemList()), flush=True)
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path)}
    res = subprocess.run([QGIS_PYTHON, "-c", code, str(scored.out_dir)], capture_output=True, text=True, timeout=300,
                         env=env)
    lines = [line.split() for line in res.stdout.splitlines()]
    assert lines[:2] == [["class", "P95", "0", "0.4"], ["class", "P99", "0", "0.8"]], res.stdout + res.stderr
    assert lines[2] == ["index", "True"]
    assert lines[3] == ["spread", "singlebandpseudocolor", "0", "3"]  # 0: interpolated
    assert lines[4] == ["anomaly", "singlebandpseudocolor", "1", "6"]  # 1: discrete, six classes

def test_cog_of_a_larger_grid_has_overviews(demo, tmp_path):
    root, synth = demo
    grid_survey(synth.survey, tmp_path / "fine.zarr", crs=synth.crs, input_crs=synth.crs, cell_size_m=150,
                tile=256, workers=2, progress=False)
    train_model(tmp_path / "fine.zarr", tmp_path / "pca", detector="pca", sample=5000, seed=0, progress=False)
    res = score_grid(tmp_path / "fine.zarr", tmp_path / "pca", tmp_path / "out", workers=2, progress=False)
    with rasterio.open(res.cog) as src:
        assert src.width > 512 and src.overviews(1) == [2]
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        ov = src.read(1, out_shape=(src.height // 2, src.width // 2))
        assert np.isfinite(ov).mean() > 0.5
        # overviews are resampled with MAX (GDAL >= 3.11) or NEAREST: real scores, never averages
        assert np.isin(ov[np.isfinite(ov)], src.read(1)).all()


def test_report_written_with_metrics(scored):
    report = scored.report
    for name in ("index.html", "map.png", "roc.png", "pa.png", "metrics.json"):
        assert (report / name).is_file(), name
    metrics = json.loads((report / "metrics.json").read_text())
    html = (report / "index.html").read_text()
    assert "map.png" in html and "pa.png" in html
    m = scored.metrics
    assert 0.0 <= m["roc_auc"] <= 1.0 and m["n_deposits"] == 20
    assert json.dumps(metrics)  # parses and serialises


def test_separate_scheduler_and_workers_give_identical_scores(demo, scored, dask_processes, tmp_path):
    root, _ = demo
    res = score_grid(root / "grid.zarr", root / "alad", tmp_path / "remote", scheduler=dask_processes.address,
                     progress=False)
    a = open_scores_store(res.scores)["anomaly"].values
    b = open_scores_store(scored.scores)["anomaly"].values
    np.testing.assert_array_equal(a, b)


def test_refuses_existing_outputs_and_mismatched_models(demo, scored, tmp_path):
    root, synth = demo
    with pytest.raises(OutputExistsError, match="--overwrite"):
        score_grid(root / "grid.zarr", root / "alad", scored.out_dir, progress=False)
    # a model trained on elements this grid lacks
    grid_survey(synth.survey, tmp_path / "small.zarr", crs=synth.crs, input_crs=synth.crs, elements=["W", "Sn"],
                cell_size_m=2000, tile=64, workers=1, progress=False)
    out = tmp_path / "never"
    with pytest.raises(ModelError, match="lacks Mo"):
        score_grid(tmp_path / "small.zarr", root / "alad", out, progress=False)
    assert not out.exists()
