"""Tests for geogan.survey.tables: any point table (CSV, Parquet, vector files); surveys and
deposits read points alike."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geogan.errors import GeoganWarning, InputError, SurveyError
from geogan.evaluation.deposits import read_deposits
from geogan.survey.coordinates import coordinate_columns
from geogan.survey.read import read_survey
from geogan.survey.tables import TableRole, open_table


def test_surveys_and_deposits_sniff_a_semicolon_file_alike(tmp_path):
    # semicolons, decimal commas and Latin-1 text: one reader, one result
    path = tmp_path / "points.csv"
    path.write_bytes(
        "x;y;site;Au_ppb\n400000,5;7500000,25;Kittilä;1,5\n401000,5;7501000,75;Sodankylä;<0,5\n".encode("latin-1")
    )
    survey = read_survey(path, input_crs="EPSG:3067")
    with pytest.warns(GeoganWarning) as caught:
        deposits = read_deposits(path, crs="EPSG:3067", input_crs="EPSG:3067")
    notes = [str(w.message) for w in caught]
    assert any("read as Latin-1" in n for n in notes) and any("decimal commas" in n for n in notes)
    assert all(any(n.endswith(w) for n in notes) for w in survey.warnings)
    np.testing.assert_array_equal(deposits.x, survey.x)
    np.testing.assert_array_equal(deposits.y, survey.y)
    assert survey.x.tolist() == [400000.5, 401000.5] and survey.values[:, 0].tolist() == [1.5, 0.25]
    assert deposits.attributes["site"].tolist() == ["Kittilä", "Sodankylä"]
    assert deposits.attributes["Au_ppb"].tolist() == ["1,5", "<0,5"]


def test_surveys_and_deposits_report_the_same_line(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text('x,y,note,Au_ppb\n0,0,"two\nlines",1\n\n1,abc,ok,2\n')
    with pytest.raises(SurveyError, match=r"points\.csv:5: column 'y': non-numeric value 'abc'"):
        read_survey(path)
    with pytest.raises(InputError, match=r"points\.csv:5: column 'y': non-numeric value 'abc'") as err:
        read_deposits(path, crs="EPSG:32650")
    assert not isinstance(err.value, SurveyError)


def test_open_table_reads_columns_lazily_and_locates_rows(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text(" x \ty\tname\n1\t2\ta\n\n3\t4\tb\n")
    with open_table(path, role=TableRole("test", "row")) as table:
        assert table.kind == "csv" and table.names == ["x", "y", "name"] and table.raw_names[0] == " x "
        assert coordinate_columns(table, None, None) == ("x", "y")
        assert table.columns(["name"])["name"].to_pylist() == ["a", "b"]
        assert table.require_rows() == 2 and table.row_of(1) == 4
    (tmp_path / "t.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match=r"t\.xlsx: unknown file type '\.xlsx'; test tables must be"), \
            open_table(tmp_path / "t.xlsx", role=TableRole("test", "row")):
        pass


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "survey.parquet"
    table = pa.table(
        {
            "easting": [400000.0, 400500.0, 401000.0],
            "northing": [7500000.0, 7500000.0, 7500500.0],
            "Au_ppb": pa.array(["<1", "3", None]),
            "Cu_ppm": [10.0, -9999.0, 12.0],
            "W_ppm": pa.array([1, 2, 3], pa.int32()),
        }
    )
    pq.write_table(table, path)
    survey = read_survey(path, input_crs="EPSG:3067")
    assert survey.elements == ["Au", "Cu", "W"]
    np.testing.assert_allclose(survey.values, [[0.5, 10, 1], [3, math.nan, 2], [math.nan, 12, 3]])
    assert survey.crs.to_epsg() == 3067
    # Parquet rows are 1-based data rows
    pq.write_table(table.set_column(2, "Au_ppb", pa.array(["1", "bad", None])), path)
    with pytest.raises(SurveyError, match=r"survey.parquet:2: column 'Au_ppb': non-numeric value 'bad'"):
        read_survey(path)


def test_geopackage_round_trip(tmp_path):
    pyogrio = pytest.importorskip("pyogrio")
    shapely = pytest.importorskip("shapely")
    path = tmp_path / "survey.gpkg"
    points = shapely.points(np.array([[404203.1, 7526963.2], [406827.1, 7530497.8], [406536.2, 7536878.2]]))
    pyogrio.raw.write(
        path,
        geometry=shapely.to_wkb(points),
        field_data=[np.array([27600.0, 14100.0, 9000.0]), np.array(["<0.5", "1.2", "0.9"], dtype=object)],
        fields=["Al_ppm_511", "Th_ppm_511"],
        crs="EPSG:3067",
        geometry_type="Point",
        driver="GPKG",
    )
    survey = read_survey(path)
    assert survey.crs.to_epsg() == 3067
    assert survey.x_column == "<geometry>"
    np.testing.assert_allclose(survey.x, [404203.1, 406827.1, 406536.2])
    np.testing.assert_allclose(survey.values[:, 1], [0.25, 1.2, 0.9])
    assert survey.censored_fraction["Th"] == pytest.approx(1 / 3)
    assert len(survey.source_sha256) == 64
