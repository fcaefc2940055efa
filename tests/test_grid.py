"""The grid stage end to end: real Zarr stores, a real LocalCluster, real processes."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr

from geogan.errors import CRSError, OutputExistsError, StoreError
from geogan.grid.stage import grid_survey
from geogan.grid.idw import SampleIndex, idw
from geogan.stores.staging import Staging, partial_path
from geogan.stores.store import open_grid




@pytest.fixture(scope="module")
def small_survey(tmp_path_factory):
    rng = np.random.default_rng(7)
    n = 400
    x = rng.uniform(400_000, 420_000, n)
    y = rng.uniform(2_700_000, 2_715_000, n)
    w = rng.lognormal(1.0, 0.8, n)
    sn = rng.lognormal(2.0, 0.5, n)
    au = rng.lognormal(0.5, 1.0, n)
    df = pd.DataFrame({"sample_id": np.arange(n), "x": x, "y": y, "W_ppm": w.round(4), "Sn_ppm": sn.round(4),
                       "Au_ppb": au.round(4)})
    df["W_ppm"] = df["W_ppm"].astype(object)
    df.loc[:19, "W_ppm"] = "<0.4"  # censored: becomes 0.2 with the default factor
    df.loc[20:39, "Au_ppb"] = np.nan  # Au has its own sample set
    path = tmp_path_factory.mktemp("survey") / "survey.csv"
    df.to_csv(path, index=False)
    return path, df


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


@pytest.fixture(scope="module")
def local_grid(small_survey, tmp_path_factory):
    path, _ = small_survey
    out = tmp_path_factory.mktemp("grid") / "grid.zarr"
    res = grid_survey(path, out, crs="EPSG:32650", elements=["W", "Sn", "Au"], cell_size_m=500, tile=16,
                      workers=2, progress=False)
    return res


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


def test_value_at_a_sample_location(local_grid, small_survey):
    _, df = small_survey
    ds = open_grid(local_grid.path)
    # cells whose centre is closest to a sample should be near its value in log space
    i = 100
    cell = float(ds["concentration"].sel(element="Sn").sel(x=df.x[i], y=df.y[i], method="nearest").values)
    assert np.isfinite(cell)
    assert abs(np.log(cell) - np.log(df["Sn_ppm"][i])) < 1.5


def test_refuses_existing_output_and_geographic_crs(local_grid, small_survey, tmp_path):
    path, _ = small_survey
    with pytest.raises(OutputExistsError, match="--overwrite"):
        grid_survey(path, local_grid.path, crs="EPSG:32650", progress=False)
    out = tmp_path / "g.zarr"
    with pytest.raises(CRSError, match="geographic"):
        grid_survey(path, out, crs="EPSG:4326", input_crs="EPSG:32650", progress=False)
    assert not out.exists() and not partial_path(out).exists()


def test_open_grid_rejects_foreign_stores(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        open_grid(tmp_path / "nope.zarr")
    foreign = tmp_path / "foreign.zarr"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_zarr(foreign, zarr_format=3, consolidated=False)
    with pytest.raises(StoreError, match="not a geogan grid store"):
        open_grid(foreign)
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a Zarr v3 store"):
        open_grid(tmp_path / "plain")


@pytest.mark.parametrize("kill_after_tiles", [0, 5])
def test_kill_9_then_rerun_resumes_to_identical_store(small_survey, local_grid, tmp_path, kill_after_tiles):
    """kill -9 a real `geogan grid` mid-run (as soon as its staging folder appears, or after
    some tiles); the same command resumes and matches a clean run."""
    path, _ = small_survey
    out = tmp_path / "grid.zarr"
    cmd = [sys.executable, "-m", "geogan.cli", "grid", str(path), "--out", str(out), "--crs", "EPSG:32650",
           "--elements", "W,Sn,Au", "--cell-size", "500", "--tile", "2", "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    done_dir = Staging(out).done_dir
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if kill_after_tiles == 0 and partial_path(out).exists():
            break
        if done_dir.exists() and len(os.listdir(done_dir)) >= kill_after_tiles > 0:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, 9)
    proc.wait()
    assert partial_path(out).exists() and not out.exists(), "the run finished before it could be killed"
    n_done = len(os.listdir(done_dir)) if done_dir.exists() else 0
    h, w = local_grid.spec.shape
    n_tiles = -(-h // 2) * -(-w // 2)
    assert kill_after_tiles <= n_done < n_tiles
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    if kill_after_tiles:
        assert f"{n_done} of {n_tiles} tiles already done" in res.stdout
    a = open_grid(out)
    b = open_grid(local_grid.path)
    np.testing.assert_array_equal(a["concentration"].values, b["concentration"].values)
    np.testing.assert_array_equal(a["distance"].values, b["distance"].values)
    assert not partial_path(out).exists()
    # byte-identical chunks against an uninterrupted run with the same tiling (the metadata
    # differs only by its creation time)
    ref = grid_survey(path, tmp_path / "ref.zarr", crs="EPSG:32650", elements=["W", "Sn", "Au"], cell_size_m=500,
                      tile=2, workers=1, progress=False).path
    for var in ("concentration", "distance"):
        mine = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / var / "c").rglob("*") if p.is_file()}
        theirs = {p.relative_to(ref).as_posix(): p.read_bytes() for p in (ref / var / "c").rglob("*") if p.is_file()}
        assert mine and mine == theirs


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


def test_finalize_drops_chunk_files_a_killed_writer_left_half_written(tmp_path):
    """Zarr writes a chunk as ``<chunk>.<id>.partial`` and renames it: a worker killed between
    the two leaves the temporary file, which must not reach the finished store."""
    from geogan.gridspec import GridSpec
    from geogan.stores.store import create_grid_store

    spec = GridSpec.from_bounds((0, 0, 2000, 2000), crs="EPSG:32650", cell_size_m=500, tile=2)
    staging = Staging(tmp_path / "grid.zarr")
    staging.start({"token": "t"})
    create_grid_store(staging.store, spec, ["Au"], units={"Au": "ppb"}, attrs={})
    torn = staging.store / "concentration" / "c" / "0" / "0" / "0.7fabb7488b3d4b29bc38ecf3af984099.partial"
    torn.parent.mkdir(parents=True, exist_ok=True)
    torn.write_bytes(b"")
    final = staging.finalize()
    assert final == tmp_path / "grid.zarr" and not list(final.rglob("*.partial"))
    import zarr

    assert zarr.open_group(str(final), mode="r").attrs["complete"] is True


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
