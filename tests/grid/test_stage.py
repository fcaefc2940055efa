"""The grid stage end to end: real Zarr stores, a real LocalCluster, real processes (the
``small_survey`` and ``local_grid`` fixtures are in tests/conftest.py; kill -9 and resume:
tests/integration/test_kill_resume.py)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr

from geogan.errors import CRSError, OutputExistsError
from geogan.grid.idw import SampleIndex, idw
from geogan.grid.stage import grid_survey
from geogan.stores.staging import partial_path
from geogan.stores.store import open_grid

pytestmark = pytest.mark.slow


def reference_grid(df, spec_ds, params):
    """Independent of the store: IDW evaluated at the store's own cell centres."""
    vals = np.column_stack([
        np.where(df.index < 20, 0.2, pd.to_numeric(df["W_ppm"], errors="coerce")),
        df["Sn_ppm"].to_numpy(float),
        df["Au_ppb"].to_numpy(float),
    ])
    qx, qy = np.meshgrid(spec_ds.x.values, spec_ds.y.values)
    out = idw(SampleIndex(df["x"].to_numpy(), df["y"].to_numpy(), vals, space=params.space),
              qx.ravel(), qy.ravel(), params)
    return out.reshape((3,) + qx.shape)


@pytest.mark.cluster
def test_store_layout_crs_and_values(local_grid, small_survey):
    _, df = small_survey
    ds = xr.open_zarr(local_grid.path, consolidated=False, decode_coords="all")
    assert ds.rio.crs.to_epsg() == 32650
    assert ds["concentration"].dims == ("element", "y", "x")
    assert ds["concentration"].dtype == np.float32
    assert ds["element"].values.tolist() == ["W", "Sn", "Au"]
    attrs = {k: json.loads(ds.attrs[k]) for k in ("units", "idw", "source")}  # JSON strings: netCDF-safe
    assert attrs["units"] == {"W": "ppm", "Sn": "ppm", "Au": "ppb"}
    assert ds["concentration"].encoding["chunks"] == (3, 16, 16)
    assert attrs["idw"]["space"] == "log" and attrs["idw"]["neighbors"] == 12
    assert len(attrs["source"]["sha256"]) == 64
    assert ds.rio.transform().a == 500.0
    # snapped extent covers all samples
    assert ds.x.values.min() - 250 <= df.x.min() and ds.x.values.max() + 250 >= df.x.max()
    ref = reference_grid(df, ds, local_grid.idw)
    got = ds["concentration"].values
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-6)
    # distance is the distance to the nearest sample of any element
    d = ds["distance"].values
    assert np.nanmax(d) > 0 and np.all(d >= 0)
    assert not partial_path(local_grid.path).exists()


@pytest.mark.cluster
def test_value_at_a_sample_location(local_grid, small_survey):
    _, df = small_survey
    ds = open_grid(local_grid.path)
    # cells whose centre is closest to a sample should be near its value in log space
    i = 100
    cell = float(ds["concentration"].sel(element="Sn").sel(x=df.x[i], y=df.y[i], method="nearest").values)
    assert np.isfinite(cell)
    assert abs(np.log(cell) - np.log(df["Sn_ppm"][i])) < 1.5


@pytest.mark.cluster
def test_refuses_existing_output_and_geographic_crs(local_grid, small_survey, tmp_path):
    path, _ = small_survey
    with pytest.raises(OutputExistsError, match="--overwrite"):
        grid_survey(path, local_grid.path, crs="EPSG:32650", progress=False)
    out = tmp_path / "g.zarr"
    with pytest.raises(CRSError, match="geographic"):
        grid_survey(path, out, crs="EPSG:4326", input_crs="EPSG:32650", progress=False)
    assert not out.exists() and not partial_path(out).exists()


@pytest.mark.cluster
def test_local_cluster_and_separate_scheduler_processes_give_identical_stores(
        small_survey, local_grid, dask_processes, tmp_path):
    path, _ = small_survey
    out = tmp_path / "remote.zarr"
    res = grid_survey(path, out, crs="EPSG:32650", elements=["W", "Sn", "Au"], cell_size_m=500, tile=16,
                      scheduler=dask_processes.address, progress=False)
    assert res.tiles_computed == local_grid.spec.n_tiles
    a, b = open_grid(out), open_grid(local_grid.path)
    np.testing.assert_array_equal(a["concentration"].values, b["concentration"].values)
    np.testing.assert_array_equal(a["distance"].values, b["distance"].values)
    assert a.attrs["idw"] == b.attrs["idw"]


def test_cli_one_line_errors_and_no_output(small_survey, tmp_path):
    path, _ = small_survey
    out = tmp_path / "g.zarr"
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,W_ppm\n1,2,3\n4,5,abc\n")
    for args, expect in [
        (["grid", str(bad), "--out", str(out), "--crs", "EPSG:32650"], "bad.csv"),
        (["grid", str(path), "--out", str(out), "--crs", "EPSG:4326"], "geographic"),
        (["grid", str(tmp_path / "missing.csv"), "--out", str(out), "--crs", "EPSG:32650"], "missing.csv"),
        (["info", str(tmp_path)], "not a Zarr v3 store"),
    ]:
        res = subprocess.run([sys.executable, "-m", "geogan.cli", *args], capture_output=True, text=True)
        assert res.returncode == 1, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], res.stderr
        assert "Traceback" not in res.stderr
        assert not out.exists() and not partial_path(out).exists()


@pytest.mark.cluster
def test_a_wrong_utm_zone_is_warned_about_and_a_bad_crs_refused_before_reading(tmp_path, monkeypatch):
    # issue 23: EPSG:32651 for zone-50 data gridded silently, far east of the samples' zone
    from geogan.errors import GeoganWarning

    survey = tmp_path / "s.csv"
    survey.write_text("sample_id,x,y,Cu_ppm\n" + "".join(
        f"s{i},{400000 + 1000 * (i % 7)},{2700000 + 1000 * (i // 7)},{10 + i % 5}\n" for i in range(49)))
    kw = dict(input_crs="EPSG:32650", cell_size_m=1000, workers=1, progress=False)
    with pytest.warns(GeoganWarning, match=r"outside the area of use of the grid CRS EPSG:32651 .*wrong UTM zone"):
        grid_survey(survey, tmp_path / "z51.zarr", crs="EPSG:32651", **kw)
    grid_survey(survey, tmp_path / "z50.zarr", crs="EPSG:32650", **kw)  # the right zone: no warning (errors here)
    import geogan.grid.stage

    def never(*a, **k):
        raise AssertionError("the survey was read before the CRS was checked")

    monkeypatch.setattr("geogan.survey.read.read_survey", never)
    with pytest.raises(CRSError, match="EPSG:99999"):
        geogan.grid.stage.grid_survey(survey, tmp_path / "bad.zarr", crs="EPSG:99999", **kw)
