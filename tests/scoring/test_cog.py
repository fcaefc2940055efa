"""Tests for geogan.scoring.cog: a (y, x) DataArray written as a Cloud-Optimized GeoTIFF and read
back with rasterio (layout, tiles, overviews, nodata, CRS, band description, tags), and the
outputs it refuses or leaves behind."""

import numpy as np
import pytest
import rasterio
import xarray as xr

from geogan.errors import OutputExistsError, StoreError
from geogan.gridspec import GridSpec
from geogan.scoring.cog import export_cog, overview_resampling


def grid_array(height, width, *, seed=0, cell=100.0, tile=16, crs="EPSG:32650"):
    """A float32 ``(y, x)`` array on a grid of ``height`` × ``width`` cells carrying its
    ``attrs["grid"]``, with a NaN block in its north-west corner."""
    spec = GridSpec.from_bounds((500_000, 2_700_000, 500_000 + width * cell, 2_700_000 + height * cell),
                                crs=crs, cell_size_m=cell, tile=tile)
    values = np.random.default_rng(seed).gamma(2.0, size=(height, width)).astype(np.float32)
    values[:5, :7] = np.nan
    da = xr.DataArray(values, dims=("y", "x"), coords={"y": spec.y_coords(), "x": spec.x_coords()},
                      attrs={"grid": spec.to_dict()})
    return da, spec


def test_the_cog_holds_the_values_on_the_grid_with_its_crs_nodata_and_tiles(tmp_path):
    da, spec = grid_array(40, 56)
    path = export_cog(da, tmp_path / "a.tif")
    assert path == tmp_path / "a.tif"
    with rasterio.open(path) as src:
        assert src.driver == "GTiff" and src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert (src.count, src.height, src.width, src.dtypes[0]) == (1, 40, 56, "float32")
        assert src.profile["tiled"] and src.block_shapes[0] == (512, 512)
        assert src.compression.name.lower() == "deflate"
        assert src.crs.to_epsg() == 32650 and src.transform == spec.transform
        assert np.isnan(src.nodata)
        assert src.overviews(1) == []  # 40 × 56 cells fit in one 512 block: no overview needed
        data = src.read(1)
    np.testing.assert_array_equal(data, da.values)  # NaN where NaN, every other value exact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]  # no temporary file left


def test_band_description_tags_and_a_numeric_nodata(tmp_path):
    da, _ = grid_array(20, 20)
    path = export_cog(da.fillna(-1.0).assign_attrs(da.attrs), tmp_path / "a.tif", nodata=-1.0,
                      description="pca anomaly score", tags={"detector": "pca", "members": 3})
    with rasterio.open(path) as src:
        assert src.nodata == -1.0
        assert src.descriptions == ("pca anomaly score",)
        tags = src.tags()
        assert tags["detector"] == "pca" and tags["members"] == "3"  # tags are written as strings
        masked = src.read(1, masked=True)
    assert masked.mask.sum() == 35 and masked.mask[:5, :7].all()  # the NaN block, as nodata


def test_a_larger_grid_is_written_band_by_band_with_overviews_of_real_values(tmp_path):
    da, _ = grid_array(300, 200)
    # three bands of 128 rows (the last one partial); overviews until the grid fits in one block
    path = export_cog(da, tmp_path / "big.tif", blocksize=128)
    with rasterio.open(path) as src:
        assert src.block_shapes[0] == (128, 128) and src.overviews(1) == [2, 4]
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        full = src.read(1)
        ov = src.read(1, out_shape=(150, 100))
    np.testing.assert_array_equal(full, da.values)
    blocks = full.reshape(150, 2, 100, 2).transpose(0, 2, 1, 3).reshape(150, 100, 4)
    finite = np.isfinite(ov)
    assert finite.mean() > 0.9
    # every overview cell is one of the four cells it covers (MAX or NEAREST: never an average)
    assert all(v in blk for v, blk in zip(ov[finite], blocks[finite]))
    if overview_resampling() == "MAX":
        np.testing.assert_array_equal(ov[finite], np.nanmax(blocks[finite], axis=1))


def test_overview_resampling_is_max_from_gdal_3_11_and_nearest_before():
    major, minor = (int(p) for p in rasterio.__gdal_version__.split(".")[:2])
    assert overview_resampling() == ("MAX" if (major, minor) >= (3, 11) else "NEAREST")
    assert overview_resampling() is overview_resampling()  # probed once


def test_an_array_without_its_grid_description_is_refused(tmp_path):
    da, _ = grid_array(16, 16)
    with pytest.raises(StoreError, match=r"the array carries no grid description \(attrs\['grid'\]\)"):
        export_cog(da.drop_attrs(), tmp_path / "a.tif")
    assert not any(tmp_path.iterdir())


def test_an_array_that_disagrees_with_its_grid_description_is_refused(tmp_path):
    da, _ = grid_array(40, 16)
    with pytest.raises(StoreError, match=r"the array is \{'y': 30, 'x': 16\}, but its grid description is 40 rows"):
        export_cog(da.isel(y=slice(0, 30)), tmp_path / "a.tif")  # rasterio would stretch 30 rows over 40
    with pytest.raises(StoreError, match="dims y, x"):
        export_cog(da.transpose("x", "y"), tmp_path / "a.tif")
    assert not any(tmp_path.iterdir())


def test_an_existing_output_is_refused_without_overwrite_and_replaced_with_it(tmp_path):
    da, _ = grid_array(16, 16)
    path = export_cog(da, tmp_path / "a.tif", tags={"geogan_version": "test"})
    with pytest.raises(OutputExistsError, match=r"a.tif exists; pass --overwrite to replace it"):
        export_cog(da * 2, path)
    export_cog((da * 2).assign_attrs(da.attrs), path, overwrite=True, tags={"geogan_version": "test"})
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(1), da.values * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]


def test_overwrite_never_replaces_a_geotiff_geogan_did_not_write(tmp_path):
    da, _ = grid_array(16, 16)
    path = export_cog(da, tmp_path / "mine.tif")  # no geogan_version tag: a user's map
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="GeoTIFF exists and geogan did not write it"):
        export_cog(da * 2, path, overwrite=True)
    assert path.read_bytes() == before


def test_rio_cogeo_validates_it(tmp_path):
    cogeo = pytest.importorskip("rio_cogeo.cogeo", reason="rio-cogeo is not installed")
    da, _ = grid_array(300, 200)
    valid, errors, _warnings = cogeo.cog_validate(str(export_cog(da, tmp_path / "big.tif", blocksize=128)))
    assert valid and errors == []
