"""Tests for geogan.scoring.maps: the detector's label, the tags every COG carries, and the score
folder's maps written from a finished scores store (anomaly.tif, spread.tif, elements_used.tif,
the QGIS styles and polygons), read back with rasterio."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio

from geogan._version import __version__
from geogan.evaluation.gis import class_breaks
from geogan.scoring.maps import ScoreMaps, cog_tags, detector_label, export_maps
from geogan.stores.layout import finalize_metadata, write_region
from geogan.stores.scores import create_scores_store, open_scores_store
from geogan.training.model import load_model

RUN_KEY = {"grid": "/data/grid.zarr", "grid_created": "2025-01-01T00:00:00+00:00"}


@pytest.fixture(scope="module")
def models(pca_dir, ensemble_dir, small_grid, tmp_path_factory):
    """The package's PCA model and ensemble, and a target-aware PCA model for W."""
    from geogan.training.stage import train_model

    target = train_model(small_grid.path, tmp_path_factory.mktemp("target") / "w", detector="pca", target="W",
                         sample=500, seed=0, progress=False).model_dir
    return {"pca": load_model(pca_dir), "ensemble": load_model(ensemble_dir), "target": load_model(target)}


def scores_store(path, spec, anomaly, *, spread=None, used=None):
    """A finished ``scores.zarr`` at ``path`` holding ``anomaly`` (and ``spread``,
    ``elements_used``), opened as the score stage opens it."""
    create_scores_store(path, spec, {}, spread=spread is not None, elements_used=used is not None)
    whole = (slice(0, spec.height), slice(0, spec.width))
    for name, values in (("anomaly", anomaly), ("spread", spread), ("elements_used", used)):
        if values is not None:
            write_region(path, name, values, whole)
    finalize_metadata(path, {"complete": True})
    return open_scores_store(path)


def scores_like(small_grid, seed=0):
    """Scores on the small grid: gamma-distributed, NaN where the grid has no complete cell."""
    values = np.random.default_rng(seed).gamma(2.0, size=small_grid.spec.shape).astype(np.float32)
    values[~np.isfinite(small_grid.conc).all(axis=0)] = np.nan
    return values


def test_detector_label_is_what_users_call_the_detector(models):
    assert detector_label(models["pca"]) == "pca"
    assert models["ensemble"].detector_name == "ensemble"
    assert detector_label(models["ensemble"]) == "pca"  # an ensemble is named by its members' detector


def test_cog_tags_say_what_made_the_map(models):
    model = models["pca"]
    tags = cog_tags(model, "/models/pca", "123-456", RUN_KEY, label="my pca")
    assert tags == {"name": "my pca", "detector": "pca", "score": "reconstruction_error", "transform": "log",
                    "elements": "Ag,Bi,Mo,Sn,W", "geogan_version": __version__, "model": "/models/pca",
                    "model_token": "123-456", "grid": "/data/grid.zarr",
                    "grid_created": "2025-01-01T00:00:00+00:00"}
    assert all(isinstance(v, str) for v in tags.values())  # GDAL tags are strings
    # no timestamp of its own: the same run gives the same tags, and a grid without a creation time ""
    assert cog_tags(model, "/models/pca", "123-456", RUN_KEY, label="my pca") == tags
    assert cog_tags(model, "m", "t", {"grid": "g", "grid_created": None}, label="x")["grid_created"] == ""


def test_cog_tags_of_an_ensemble_and_of_a_target_aware_model(models):
    ens = cog_tags(models["ensemble"], "m", "t", RUN_KEY, label="pca")
    assert ens["detector"] == "pca" and ens["ensemble_members"] == "3"
    assert ens["score"] == "ensemble_percentile(reconstruction_error)" and "target" not in ens
    target = models["target"]
    tags = cog_tags(target, "m", "t", RUN_KEY, label="w")
    assert tags["target"] == "W" and tags["deposit_type"] == "w-sn-granite"  # W's deposit type in the catalogue
    assert tags["target_score"] == target.target.describe() and tags["target_score"].startswith("target W (")
    assert tags["score"] == "target(W, reconstruction_error)" and "ensemble_members" not in tags


def test_export_maps_writes_the_anomaly_cog_its_style_and_polygons(tmp_path, small_grid, models):
    spec, values = small_grid.spec, scores_like(small_grid)
    ds = scores_store(tmp_path / "scores.zarr", spec, values)
    out = tmp_path / "out"
    out.mkdir()
    for stale in ("spread.tif", "spread.qml", "elements_used.tif"):  # an earlier run's (--overwrite)
        (out / stale).write_text("stale")
    tags = cog_tags(models["pca"], "m", "t", RUN_KEY, label="pca")
    maps = export_maps(ds, spec, models["pca"], out, tags)
    assert isinstance(maps, ScoreMaps)
    assert (maps.cog, maps.spread, maps.qml, maps.polygons) == (out / "anomaly.tif", None, out / "anomaly.qml",
                                                                out / "anomaly_polygons.gpkg")
    assert maps.class_breaks == class_breaks(values)
    assert sorted(p.name for p in out.iterdir()) == ["anomaly.qml", "anomaly.tif", "anomaly_polygons.gpkg",
                                                     "anomaly_polygons.qml"]  # the stale maps are gone
    with rasterio.open(maps.cog) as src:
        np.testing.assert_array_equal(src.read(1), values)
        assert src.transform == spec.transform and src.crs.to_epsg() == 32650
        assert src.descriptions[0] == "pca anomaly score (reconstruction_error; higher = more anomalous)"
        assert src.tags() == {**tags, "variable": "anomaly", "AREA_OR_POINT": "Area"}


def test_export_maps_writes_the_spread_and_the_elements_used(tmp_path, small_grid, models, log_lines):
    spec, values = small_grid.spec, scores_like(small_grid)
    spread = scores_like(small_grid, seed=1) * 10
    used = np.where(np.isfinite(values), 5, 0).astype(np.uint8)
    used[20:22, :] = np.where(np.isfinite(small_grid.conc[0, 20:22, :]), 4, 0)  # the strip without Mo, imputed
    ds = scores_store(tmp_path / "scores.zarr", spec, values, spread=spread, used=used)
    out = tmp_path / "out"
    out.mkdir()
    model = models["ensemble"]
    tags = cog_tags(model, "m", "t", RUN_KEY, label="ens")
    maps = export_maps(ds, spec, model, out, tags)
    assert maps.spread == out / "spread.tif" and (out / "spread.qml").is_file()
    with rasterio.open(maps.spread) as src:
        np.testing.assert_array_equal(src.read(1), spread)
        assert src.tags()["variable"] == "spread" and src.tags()["ensemble_members"] == "3"
        assert src.descriptions[0].startswith("ens ensemble spread (standard deviation of the members'")
    ramp = ET.parse(out / "spread.qml").getroot().find(".//colorrampshader")
    assert float(ramp.get("maximumValue")) == pytest.approx(np.nanpercentile(spread[::4, ::4], 99), rel=1e-6)
    with rasterio.open(out / "elements_used.tif") as src:
        band = src.read(1)
        assert src.tags()["variable"] == "elements_used"
        assert src.tags()["geogan_version"] == tags["geogan_version"]  # geogan's: --overwrite replaces it
    np.testing.assert_array_equal(np.isnan(band), used == 0)  # unscored cells are nodata, not 0
    np.testing.assert_array_equal(band[used > 0], used[used > 0])
    n4, n5 = int((used == 4).sum()), int((used == 5).sum())
    assert f"elements used per scored cell: 4: {n4:,}, 5: {n5:,}" in log_lines()


def test_a_map_without_a_scored_cell_has_no_classes(tmp_path, small_grid, models, log_lines):
    spec = small_grid.spec
    nan = np.full(spec.shape, np.nan, dtype=np.float32)
    ds = scores_store(tmp_path / "scores.zarr", spec, nan, spread=nan)
    out = tmp_path / "out"
    out.mkdir()
    maps = export_maps(ds, spec, models["ensemble"], out, cog_tags(models["ensemble"], "m", "t", RUN_KEY, label="e"))
    assert (maps.qml, maps.polygons, maps.class_breaks) == (None, None, None)
    assert sorted(p.name for p in out.iterdir()) == ["anomaly.tif", "spread.qml", "spread.tif"]
    ramp = ET.parse(out / "spread.qml").getroot().find(".//colorrampshader")
    assert float(ramp.get("maximumValue")) == 1.0  # no spread to scale the ramp: 0 to 1
    with rasterio.open(maps.cog) as src:
        assert np.isnan(src.read(1)).all()
    assert "no cell could be scored: no anomaly.qml or anomaly_polygons.gpkg" in log_lines()
