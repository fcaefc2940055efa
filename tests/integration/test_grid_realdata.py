"""Grid the real surveys in ../shared/data and check the stores against an independent IDW."""

import numpy as np
import pyproj
import pytest
import rioxarray  # noqa: F401
import xarray as xr

from geogan.errors import GeoganWarning
from geogan.grid.stage import grid_survey
from geogan.stores.layout import decode_attrs
from geogan.survey.read import read_survey

from tests.helpers.data import shared_data
from tests.helpers.idw import brute_force_idw

pytestmark = [pytest.mark.realdata, pytest.mark.cluster, pytest.mark.slow]


def check_against_brute_force(store, survey, n_cells=60, seed=0):
    ds = xr.open_zarr(store, consolidated=False, decode_coords="all")
    ds.attrs = decode_attrs(ds.attrs)  # nested attributes are JSON strings in the store
    conc = ds["concentration"]
    p = ds.attrs["idw"]
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, ds.sizes["y"], n_cells)
    cols = rng.integers(0, ds.sizes["x"], n_cells)
    qx, qy = ds.x.values[cols], ds.y.values[rows]
    want = brute_force_idw(survey.x, survey.y, survey.values, qx, qy, p["neighbors"], p["power"],
                           p["max_distance_m"], p["space"])
    got = conc.values[:, rows, cols]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert ok.sum() > 0.3 * want.size
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5)
    return ds


def test_gtk_lapland_till_epsg3067_with_qualifier_columns(tmp_path):
    path = shared_data("gtk-lapland-till", "till_samples.csv")
    opts = dict(x="x_etrstm35fin", y="y_etrstm35fin", input_crs="EPSG:3067", elements=["Cu", "Ni", "Co", "Zr"])
    out = tmp_path / "gtk.zarr"
    with pytest.warns(GeoganWarning) as caught:  # the survey's warnings, raised by the grid stage
        res = grid_survey(path, out, crs="EPSG:3067", cell_size_m=1000, tile=64, workers=2, progress=False,
                          **opts)
    survey = read_survey(path, **opts)
    assert [str(w.message) for w in caught] == survey.warnings
    ds = check_against_brute_force(out, survey)
    assert pyproj.CRS(ds.rio.crs.to_wkt()).equals(pyproj.CRS("EPSG:3067"), ignore_axis_order=True)
    assert ds.attrs["units"] == {"Cu": "ppm", "Ni": "ppm", "Co": "ppm", "Zr": "ppm"}
    # the '<' qualifier columns were read as censored values
    assert ds.attrs["source"]["censored_fraction"]["Zr"] > 0.1
    # extent: ETRS-TM35FIN x 346,088-413,112, y 7,458,514-7,539,842, snapped to 1 km
    assert res.spec.bounds == (346000.0, 7458000.0, 414000.0, 7540000.0)
    # a cell holding a sample is within the local range of samples around it
    cu = ds["concentration"].sel(element="Cu")
    v = float(cu.sel(x=survey.x[0], y=survey.y[0], method="nearest").values)
    assert 0.5 * np.nanmin(survey.values[:, 0]) < v < np.nanmax(survey.values[:, 0])


def test_gswa_soil1_lonlat_to_mga50_with_sentinels_and_negative_dl(tmp_path):
    path = shared_data("gswa-soil1", "area6_soil_au.csv")
    opts = dict(elements=["Au", "Cu", "Pb", "Zn"], negative_is_bdl=True, missing=(-9999,))
    out = tmp_path / "soil1.zarr"
    with pytest.warns(GeoganWarning) as caught:
        grid_survey(path, out, crs="EPSG:28350", input_crs="EPSG:4283", cell_size_m=100, tile=128, workers=1,
                    progress=False, **opts)
    survey = read_survey(path, input_crs="EPSG:4283", **opts).to_crs("EPSG:28350")
    assert [str(w.message) for w in caught] == survey.warnings  # zeros in Cu, Pb read as missing
    ds = check_against_brute_force(out, survey)
    assert ds.rio.crs.to_epsg() == 28350
    assert ds.attrs["units"]["Au"] == "ppm"
    # MGA zone 50 eastings/northings around 119.56 E, 31.65 S
    assert 700_000 < float(ds.x.mean()) < 800_000 and 6_400_000 < float(ds.y.mean()) < 6_550_000
    assert ds.attrs["source"]["n_merged"] > 0  # the two reports duplicate sample locations
