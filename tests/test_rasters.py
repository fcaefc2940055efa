"""geogan import-rasters: existing element GeoTIFFs into a grid store."""

import numpy as np
import pytest
import rasterio
from affine import Affine

from geogan.errors import InputError
from geogan.rasters import element_from_filename, import_rasters
from geogan.store import open_grid, partial_path


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
    with pytest.raises(InputError, match="transform differs from Idw_Au.tif"):
        import_rasters([d / "Idw_Au.tif", d / "Pb.tif"], out)
    with pytest.raises(InputError, match="crs differs"):
        import_rasters([d / "Idw_Au.tif", d / "Zn.tif"], out)
    with pytest.raises(InputError, match="given twice"):
        import_rasters([d / "Idw_Au.tif", d / "Idw_Au.tif"], out)
    assert not out.exists() and not partial_path(out).exists()
