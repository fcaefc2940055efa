"""Tests for geogan.evaluation.scorefiles: score grids opened from a GeoTIFF or a ``scores.zarr``,
and the name a grid gives itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401
import xarray as xr
from rasterio.transform import from_origin

from geogan.errors import CRSError, InputError
from geogan.evaluation.deposits import Deposits
from geogan.evaluation.scorefiles import open_scores
from geogan.evaluation.single import evaluate_scores
from tests.helpers.scores import CRS, X0, Y0, cell_xy, make_scores


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


def test_score_label_names_a_map_by_its_tags_or_band_description(tmp_path):
    from geogan.evaluation.scorefiles import score_label

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
