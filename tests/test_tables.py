"""Tests for geogan.survey.tables and geogan.survey.coordinates: surveys and deposits read points alike."""

from __future__ import annotations

import numpy as np
import pytest

from geogan.survey.coordinates import coordinate_columns
from geogan.evaluation.deposits import read_deposits
from geogan.errors import GeoganWarning, InputError, SurveyError
from geogan.survey.read import read_survey
from geogan.survey.tables import TableRole, open_table


def test_deposits_detect_x_etrstm35fin_columns_like_surveys(tmp_path):
    # GTK exports carry x_etrstm35fin / y_etrstm35fin next to lon/lat: the projected pair wins
    path = tmp_path / "deposits.csv"
    path.write_text(
        "name,lon,lat,x_etrstm35fin,y_etrstm35fin\n"
        "Vähäjoki,25.279,66.111,422241.0,7333402.0\nMäkärärova,26.861,68.190,494220.0,7564110.0\n",
        encoding="utf-8",
    )
    deposits = read_deposits(path, crs="EPSG:3067", input_crs="EPSG:3067")
    assert deposits.x.tolist() == [422241.0, 494220.0]
    assert deposits.y.tolist() == [7333402.0, 7564110.0]
    assert deposits.source_crs.to_epsg() == 3067 and not deposits.source_crs_assumed
    assert list(deposits.attributes.columns) == ["name", "lon", "lat"]
    assert deposits.ids.tolist() == ["Vähäjoki", "Mäkärärova"]
    # without lon/lat or a CRS the grid's is assumed, as before
    only = tmp_path / "only.csv"
    only.write_text("X_ETRSTM35FIN;Y_ETRSTM35FIN\n422241;7333402\n")
    assert read_deposits(only, crs="EPSG:3067").x.tolist() == [422241.0]


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
