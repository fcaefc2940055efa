"""Tests for geogan.evaluation.deposits: deposit files (CSV, GeoPackage) read through the point
tables, coordinates, CRS and a deposit-type selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import pytest

from geogan.errors import ConfigError, CRSError, InputError
from geogan.evaluation.deposits import read_deposits
from geogan.options import DepositOptions
from tests.helpers.scores import CRS, cell_xy


def test_read_deposits_csv_variants(tmp_path):
    x, y = cell_xy(np.array([1, 2]), np.array([3, 4]))
    p = tmp_path / "d.csv"
    pd.DataFrame({"deposit_id": ["a", "b"], "Easting": x, "NORTHING": y}).to_csv(p, index=False)
    d = read_deposits(p, crs=CRS)
    np.testing.assert_allclose(d.x, x)
    assert d.source_crs_assumed and d.ids.tolist() == ["a", "b"] and list(d.attributes.columns) == ["deposit_id"]

    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    p2 = tmp_path / "d2.csv"
    p2.write_text("name;Latitude;Longitude\nA;{};{}\nB;{};{}\n".format(lat[0], lon[0], lat[1], lon[1]))
    d2 = read_deposits(p2, crs=CRS)
    np.testing.assert_allclose(d2.x, x, atol=1e-3)
    np.testing.assert_allclose(d2.y, y, atol=1e-3)
    assert d2.source_crs.to_epsg() == 4326 and not d2.source_crs_assumed

    p3 = tmp_path / "d3.csv"
    pd.DataFrame({"E": x, "N": y}).to_csv(p3, index=False)
    d3 = read_deposits(p3, crs="EPSG:4326", x="e", y="n", input_crs=CRS)
    np.testing.assert_allclose(d3.x, lon)


def test_read_deposits_geopackage(tmp_path):
    pyogrio = pytest.importorskip("pyogrio")
    shapely = pytest.importorskip("shapely")
    x, y = cell_xy(np.array([1, 2]), np.array([3, 4]))
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    p = tmp_path / "d.gpkg"
    pyogrio.raw.write(
        p, geometry=shapely.to_wkb(shapely.points(lon, lat)), field_data=[np.array(["a", "b"], dtype=object)],
        fields=["name"], crs="EPSG:4326", geometry_type="Point", driver="GPKG",
    )
    d = read_deposits(p, crs=CRS)
    np.testing.assert_allclose(d.x, x, atol=1e-3)
    np.testing.assert_allclose(d.y, y, atol=1e-3)
    assert d.ids.tolist() == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (None, InputError, r"missing\.csv: deposit file not found"),
        ("", InputError, r"deposit file is empty"),
        ("x,y\n", InputError, r"header but no rows"),
        ("a,b\n1,2\n", InputError, r"no coordinate columns found"),
        ("id,x,y\n1,400000,2800000\n2,4x,2800000\n", InputError, r"d\.csv:3: column 'x': non-numeric value '4x'"),
        ("id,x,y\n1,400000,\n", InputError, r"d\.csv:2: column 'y': coordinate is missing"),
        ("lon,lat\n115,26\n115,96\n", CRSError, r"d\.csv:3: column 'lat': coordinate 96\.0 is outside the range of EPSG:4326"),
        ("x,y\n115.1,26.2\n", CRSError, r"d\.csv:2: column 'y': .*outside the range of EPSG:3067 .*look like degrees.*EPSG:4326"),
    ],
)
def test_read_deposits_errors(tmp_path, content, error, match):
    p = tmp_path / ("missing.csv" if content is None else "d.csv")
    if content is not None:
        p.write_text(content)
    with pytest.raises(error, match=match) as info:
        read_deposits(p, crs=CRS, input_crs="EPSG:3067" if "115.1" in (content or "") else None)
    assert "\n" not in str(info.value)


def test_read_deposits_selects_a_deposit_type(tmp_path):
    x, y = cell_xy(np.arange(4), np.arange(4))
    p = tmp_path / "d.csv"
    pd.DataFrame({"name": list("abcd"), "Type": ["W-Sn skarn", "Au orogenic", "w-sn greisen", "Cu porphyry"],
                  "commodity": ["W", "Au", "Sn", "Cu"], "x": x, "y": y}).to_csv(p, index=False)
    d = read_deposits(p, crs=CRS, deposit_type="W-Sn")  # 'Type' found before 'commodity'; any case, contains
    assert d.ids.tolist() == ["a", "c"] and d.selection == "Type contains 'W-Sn' (2 of 4 rows)"
    np.testing.assert_allclose(d.x, x[[0, 2]])
    assert read_deposits(p, crs=CRS, deposit_type="au", deposit_type_column="COMMODITY").ids.tolist() == ["b"]
    assert read_deposits(p, crs=CRS).selection is None and len(read_deposits(p, crs=CRS)) == 4
    with pytest.raises(InputError, match=r"column 'Type': no deposit of type 'Mo'; the types present are: "
                                         r"'Au orogenic', 'Cu porphyry', 'W-Sn skarn', 'w-sn greisen'"):
        read_deposits(p, crs=CRS, deposit_type="Mo")
    with pytest.raises(InputError, match=r"column 'kind': deposit type column not found"):
        read_deposits(p, crs=CRS, deposit_type="W", deposit_type_column="kind")
    with pytest.raises(ConfigError, match="deposit_type_column names the column that deposit_type selects by; "
                                          "give deposit_type too"):
        read_deposits(p, crs=CRS, deposit_type_column="type")


def test_read_deposits_named_column_missing(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("x,y\n400000,2800000\n")
    with pytest.raises(InputError, match=r"column 'east': x column not found"):
        read_deposits(p, crs=CRS, x="east", y="y")


def test_unknown_deposit_type_or_missing_type_column_is_refused(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("x,y\n400000,2800000\n")
    with pytest.raises(InputError, match="no deposit type column.*--deposit-type-column"):
        read_deposits(csv, crs=CRS, deposit_type="W-Sn")


def test_read_deposits_takes_a_deposit_options_object_like_its_keywords(tmp_path):
    x, y = cell_xy(np.arange(3), np.arange(3))
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    p = tmp_path / "d.csv"
    pd.DataFrame({"name": list("abc"), "kind": ["W-Sn skarn", "Au", "w-sn vein"], "E": lon, "N": lat}).to_csv(
        p, index=False)
    how = DepositOptions(x="E", y="N", input_crs="EPSG:4326", deposit_type="W-Sn", deposit_type_column="kind")
    by_object = read_deposits(p, crs=CRS, options=how)
    by_keywords = read_deposits(p, crs=CRS, x="E", y="N", input_crs="EPSG:4326", deposit_type="W-Sn",
                                deposit_type_column="kind")
    assert by_object.ids.tolist() == by_keywords.ids.tolist() == ["a", "c"]
    np.testing.assert_allclose(by_object.x, x[[0, 2]], atol=1e-3)
    np.testing.assert_array_equal(by_object.x, by_keywords.x)
    assert by_object.selection == by_keywords.selection == "kind contains 'W-Sn' (2 of 3 rows)"
    # both: the keywords override the object's fields, the others stay
    assert read_deposits(p, crs=CRS, options=how, deposit_type="Au").ids.tolist() == ["b"]


def test_read_deposits_refuses_bad_options_before_reading_the_file(tmp_path):
    missing = tmp_path / "missing.csv"  # never opened: the options are checked first
    with pytest.raises(ConfigError, match="deposit_type must be a non-empty string, got ''"):
        read_deposits(missing, crs=CRS, deposit_type="")
    with pytest.raises(ConfigError, match="x must be a non-empty string, got 3"):
        read_deposits(missing, crs=CRS, options=DepositOptions(), x=3)
    with pytest.raises(TypeError, match=r"read_deposits\(\) got an unexpected keyword argument 'deposits_x'"):
        read_deposits(missing, crs=CRS, deposits_x="E")  # evaluate's keyword, not read_deposits'
    with pytest.raises(TypeError, match="expected a DepositOptions, got dict"):
        read_deposits(missing, crs=CRS, options={"x": "E"})
