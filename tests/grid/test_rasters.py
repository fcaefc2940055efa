"""geogan import-rasters: existing element GeoTIFFs into a grid store."""

import numpy as np
import pytest
import rasterio
from affine import Affine

from geogan.errors import InputError, OutputExistsError
from geogan.grid.rasters import element_from_filename, import_rasters
from geogan.stores.staging import partial_path
from geogan.stores.store import open_grid
from tests.helpers.cli import assert_user_error, cli


def write_tif(path, data, *, crs="EPSG:32650", transform=Affine(100, 0, 400000, 0, -100, 2710000), nodata=-9999.0):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="float32", crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data.astype(np.float32), 1)


@pytest.fixture
def rasters(tmp_path):
    rng = np.random.default_rng(1)
    au = rng.lognormal(size=(30, 50)).astype(np.float32)
    au[0, 0] = -9999.0
    cu = rng.lognormal(size=(30, 50)).astype(np.float32)
    write_tif(tmp_path / "Idw_Au.tif", au)
    write_tif(tmp_path / "Cu_ppm.tif", cu)
    return tmp_path, au, cu


def test_names_from_files():
    assert element_from_filename("Idw_Au.tif") == ("Au", None)
    assert element_from_filename("W_ppm.tif") == ("W", "ppm")
    assert element_from_filename("Fe2O3_pct.tif") == ("Fe2O3", "pct")
    with pytest.raises(InputError, match="cannot tell the element"):
        element_from_filename("map of gold.tif")


def test_import_stacks_elements_with_nodata_as_nan(rasters, tmp_path):
    d, au, cu = rasters
    out = tmp_path / "grid.zarr"
    import_rasters([d / "Idw_Au.tif", d / "Cu_ppm.tif"], out, units={"Au": "ppb"}, tile=16)
    ds = open_grid(out)
    assert ds["element"].values.tolist() == ["Au", "Cu"]
    assert ds.attrs["units"] == {"Au": "ppb", "Cu": "ppm"}
    c = ds["concentration"].values
    assert np.isnan(c[0, 0, 0])
    np.testing.assert_array_equal(c[0].ravel()[1:], au.ravel()[1:])
    np.testing.assert_array_equal(c[1], cu)
    assert ds.rio.crs.to_epsg() == 32650
    assert float(ds.x[0]) == 400050.0 and float(ds.y[0]) == 2709950.0
    assert ds["concentration"].encoding["chunks"] == (2, 16, 16)


def test_import_refuses_mismatched_rasters_and_leaves_nothing(rasters, tmp_path):
    d, au, _ = rasters
    write_tif(d / "Pb.tif", au, transform=Affine(100, 0, 400100, 0, -100, 2710000))
    write_tif(d / "Zn.tif", au, crs="EPSG:32651")
    out = tmp_path / "bad.zarr"
    with pytest.raises(InputError, match=r"grid differs from Idw_Au.tif's: origin \(400100, 2710000\).* vs "
                                         r"origin \(400000, 2710000\).*--resample"):
        import_rasters([d / "Idw_Au.tif", d / "Pb.tif"], out)
    with pytest.raises(InputError, match="EPSG:32651 vs .*EPSG:32650"):
        import_rasters([d / "Idw_Au.tif", d / "Zn.tif"], out)
    with pytest.raises(InputError, match="given twice"):
        import_rasters([d / "Idw_Au.tif", d / "Idw_Au.tif"], out)
    assert not out.exists() and not partial_path(out).exists()


# -- rasters as they come (issue 11) -------------------------------------------------------------
RECT = Affine(4243.9, 0, 300000, 0, -4178.9, 2800000)  # a reprojected regional raster set: dx != dy


@pytest.mark.cluster
@pytest.mark.slow
def test_rectangular_cells_round_trip_import_train_score_cog(tmp_path):
    """import → train → score → the COG's georeferencing equals the inputs'."""
    from geogan.scoring.stage import score_grid
    from geogan.stores.geometry import grid_spec
    from geogan.training.stage import train_model

    rng = np.random.default_rng(3)
    paths = []
    for el in ("Au", "As", "Cu"):
        data = rng.lognormal(size=(37, 45)).astype(np.float32)
        paths.append(tmp_path / f"{el}.tif")
        write_tif(paths[-1], data, transform=RECT)
    grid = import_rasters(paths, tmp_path / "grid.zarr", tile=16)
    ds = open_grid(grid)
    spec = grid_spec(ds)
    assert (spec.cell_x, spec.cell_y) == (4243.9, 4178.9) and spec.transform.almost_equals(RECT)
    np.testing.assert_allclose(ds.x.values[:2], [300000 + 4243.9 / 2, 300000 + 1.5 * 4243.9])
    np.testing.assert_allclose(ds.y.values[:2], [2800000 - 4178.9 / 2, 2800000 - 1.5 * 4178.9])
    train_model(grid, tmp_path / "model", detector="pca", sample=800, progress=False)
    res = score_grid(grid, tmp_path / "model", tmp_path / "scores", workers=1, progress=False)
    with rasterio.open(res.cog) as cog, rasterio.open(paths[0]) as src:
        assert cog.transform.almost_equals(src.transform) and cog.crs == src.crs
        assert (cog.width, cog.height) == (src.width, src.height)
        assert np.isfinite(cog.read(1)).all()


def test_rasters_on_another_grid_are_resampled_on_request(tmp_path, log_lines):
    base = np.arange(1, 31 * 41 + 1, dtype=np.float32).reshape(31, 41)
    write_tif(tmp_path / "Au.tif", base)
    write_tif(tmp_path / "Cu.tif", base[:30, :40] * 2, transform=Affine(100, 0, 400000, 0, -100, 2710000))
    # Cu on a grid shifted by half a cell and one cell larger
    write_tif(tmp_path / "Pb.tif", np.ones((20, 20), np.float32), transform=Affine(150, 0, 400050, 0, -150, 2709950))
    out = tmp_path / "grid.zarr"
    with pytest.raises(InputError, match="Pb.tif: its grid differs"):
        import_rasters([tmp_path / "Au.tif", tmp_path / "Pb.tif"], out)
    import_rasters([tmp_path / "Au.tif", tmp_path / "Pb.tif"], out, resampling="nearest")
    lines = log_lines()
    assert lines[0] == "resampling Pb.tif onto Au.tif's grid (nearest)"
    assert lines[1].startswith("coverage: 1,271 cells hold data")
    c = open_grid(out)["concentration"].values
    assert c.shape == (2, 31, 41)
    assert np.nanmax(c[1]) == 1.0 and np.isnan(c[1, -1, -1])  # outside Pb's extent: no data
    # --like: the reference grid is another raster
    out2 = tmp_path / "grid2.zarr"
    import_rasters([tmp_path / "Au.tif"], out2, like=tmp_path / "Pb.tif", resampling="average")
    assert open_grid(out2)["concentration"].shape == (1, 20, 20)


def test_nodata_conventions(tmp_path):
    v = np.full((8, 8), 5.0, np.float32)
    v[0, 0] = -9999.0  # undeclared sentinel
    v[1, 1] = np.nan
    write_tif(tmp_path / "Au.tif", v, nodata=None)
    masked = np.full((8, 8), 7.0, np.float32)
    with rasterio.open(tmp_path / "Cu.tif", "w", driver="GTiff", width=8, height=8, count=1, dtype="float32",
                       crs="EPSG:32650", transform=Affine(100, 0, 400000, 0, -100, 2710000)) as dst:
        dst.write(masked, 1)
        mask = np.full((8, 8), 255, np.uint8)
        mask[2, 2] = 0  # a mask band, no nodata value
        dst.write_mask(mask)
    out = tmp_path / "g.zarr"
    import_rasters([tmp_path / "Au.tif", tmp_path / "Cu.tif"], out, nodata=-9999)
    c = open_grid(out)["concentration"].values
    assert np.isnan(c[0, 0, 0]) and np.isnan(c[0, 1, 1]) and np.isnan(c[1, 2, 2])
    assert np.isfinite(c).sum() == 128 - 3


@pytest.mark.parametrize(("policy", "expected"), [("nan", np.nan), ("half-min", 0.25), ("keep", 0.0)])
def test_nonpositive_values_are_reported_and_substituted_explicitly(tmp_path, policy, expected, log_lines):
    v = np.full((6, 6), 0.5, np.float32)
    v[3, 3] = 0.0
    write_tif(tmp_path / "Au.tif", v)
    out = tmp_path / "g.zarr"
    with pytest.raises(InputError, match=r"Au 1 \(min 0\).*--nonpositive"):
        import_rasters([tmp_path / "Au.tif"], out)
    assert not out.exists() and not partial_path(out).exists()
    import_rasters([tmp_path / "Au.tif"], out, nonpositive=policy)
    lines = log_lines()
    got = open_grid(out)["concentration"].values[0, 3, 3]
    assert (np.isnan(got) if np.isnan(expected) else got == expected)
    assert lines and lines[0].startswith("Au: 1 cells ≤ 0 (min 0)")
    assert open_grid(out).attrs["nonpositive_cells"] == {"Au": 1}


def test_a_reference_grid_over_max_cells_is_refused_before_anything_is_read(rasters, tmp_path):
    # issue 24: two sparse 100,000 x 100,000 rasters used to run until killed; the grid size is
    # checked from the header alone (here a limit below the test rasters' cell count)
    folder = rasters[0]
    tifs = [folder / "Idw_Au.tif", folder / "Cu_ppm.tif"]
    out = tmp_path / "g.zarr"
    with pytest.raises(InputError, match=r"50 x 30 = 1,500 cells, more than --max-cells 10"):
        import_rasters(tifs, out, max_cells=10)
    assert not out.exists() and not partial_path(out).exists()
    assert_user_error(cli("import-rasters", *tifs, "--out", out, "--max-cells", "10"), "--max-cells 10",
                      "Idw_Au.tif")
    assert not out.exists()


def test_import_from_s3_geotiffs_to_an_s3_store_equals_the_local_import(rasters, tmp_path, s3_bucket):
    import fsspec

    from geogan.stores.geometry import grid_spec
    from geogan.stores.remote import Remote

    d, _, _ = rasters
    names = ["Idw_Au.tif", "Cu_ppm.tif"]
    fs = fsspec.filesystem("s3")
    for name in names:
        fs.put_file(str(d / name), f"{s3_bucket[5:]}/maps/{name}")
    local = import_rasters([d / n for n in names], tmp_path / "grid.zarr", units={"Au": "ppb"}, tile=16)
    out = f"{s3_bucket}/grids/grid.zarr"
    assert import_rasters([f"{s3_bucket}/maps/{n}" for n in names], out, units={"Au": "ppb"}, tile=16) == out
    a, b = open_grid(local), open_grid(out)
    np.testing.assert_array_equal(a["concentration"].values, b["concentration"].values)
    assert a["element"].values.tolist() == b["element"].values.tolist() == ["Au", "Cu"]
    assert b.attrs["units"] == {"Au": "ppb", "Cu": "ppm"} and grid_spec(b).to_dict() == grid_spec(a).to_dict()
    assert b.attrs["source"]["path"] == [f"{s3_bucket}/maps/{n}" for n in names]  # the URLs, not the copies
    assert b.attrs["source"]["sha256"] == a.attrs["source"]["sha256"]
    assert not Remote(f"{out}.partial").exists()  # the work objects went with the commit
    # an existing store is refused without --overwrite; a raster missing from the bucket is named by its URL
    with pytest.raises(OutputExistsError, match="exists; pass --overwrite"):
        import_rasters([f"{s3_bucket}/maps/{n}" for n in names], out)
    assert_user_error(cli("import-rasters", f"{s3_bucket}/maps/Idw_Au.tif", f"{s3_bucket}/maps/Pb.tif", "--out",
                          f"{s3_bucket}/grids/other.zarr"), f"{s3_bucket}/maps/Pb.tif", "not found")
    assert not Remote(f"{s3_bucket}/grids/other.zarr").exists()
    res = cli("import-rasters", *[f"{s3_bucket}/maps/{n}" for n in names], "--out", out, "--overwrite",
              "--units", "Au=ppb", "--tile", "16")
    assert res.exit_code == 0, res.output
    assert out in res.stdout
    np.testing.assert_array_equal(open_grid(out)["concentration"].values, a["concentration"].values)
