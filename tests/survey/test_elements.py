"""Tests for geogan.survey.elements: column names to elements and units, as read_survey applies them."""

from __future__ import annotations

import numpy as np
import pytest

from geogan.errors import ConfigError, SurveyError
from geogan.survey.elements import parse_column_name
from geogan.survey.read import read_survey
from tests.helpers.survey import write


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Au_ppb", ("Au", "ppb", "")),
        ("Ag_ppm", ("Ag", "ppm", "")),
        ("Cu_ppm_511", ("Cu", "ppm", "_511")),
        ("K_ppm_511P", ("K", "ppm", "_511P")),
        ("Fe2O3_pct", ("Fe2O3", "pct", "")),
        ("SiO2_wt%", ("SiO2", "pct", "")),
        ("Fe %", ("Fe", "pct", "")),
        ("Au (ppb)", ("Au", "ppb", "")),
        ("S_percent", ("S", "pct", "")),
        ("Ca_PCT", ("Ca", "pct", "")),
        ("AU_PPB", ("Au", "ppb", "")),
        ("W_ppt", ("W", "ppt", "")),
        ("WO3_ppm", ("WO3", "ppm", "")),
        ("Au", ("Au", None, "")),
        ("Zr_511P_T", None),
        ("OBJECTID_x", None),
        ("x_etrstm35fin", None),
    ],
)
def test_parse_column_name(name, expected):
    assert parse_column_name(name) == expected


def test_elements_matched_by_symbol_with_units_from_suffix(tmp_path):
    path = write(
        tmp_path,
        "x,y,Au_ppb,Ag_ppm,W_ppm,WO3_ppm,Fe2O3_pct\n0,0,5,0.1,2,3,4.5\n1,1,6,0.2,3,4,5.5\n",
    )
    survey = read_survey(path, elements=["Au", "Ag", "W", "Fe2O3"])
    assert survey.elements == ["Au", "Ag", "W", "Fe2O3"]
    assert survey.units == {"Au": "ppb", "Ag": "ppm", "W": "ppm", "Fe2O3": "pct"}
    # the oxide column is not the element
    assert survey.columns["W"] == "W_ppm"
    np.testing.assert_array_equal(survey.values[:, 2], [2, 3])


def test_elements_as_comma_string_and_all_by_default(tmp_path):
    path = write(tmp_path, "x,y,Au_ppb,W_ppm,WO3_ppm,sample\n0,0,5,2,3,a\n1,1,6,3,4,b\n")
    assert read_survey(path, elements="Au, W").elements == ["Au", "W"]
    # None: element symbols with a unit; oxides and other columns are not elements
    assert read_survey(path).elements == ["Au", "W"]


def test_oxide_is_not_the_element(tmp_path):
    path = write(tmp_path, "x,y,WO3_ppm,Sn_ppm\n0,0,3,1\n1,1,4,2\n")
    with pytest.raises(SurveyError) as err:
        read_survey(path, elements=["W"])
    message = str(err.value)
    assert "survey.csv" in message and "'W' not found" in message and "WO3_ppm" in message


def test_units_map_for_bare_columns(tmp_path):
    path = write(tmp_path, "x,y,Au,Cu\n0,0,5,20\n1,1,6,30\n")
    survey = read_survey(path, elements=["Au", "Cu"], units={"Au": "ppb", "Cu": "mg/kg"})
    assert survey.units == {"Au": "ppb", "Cu": "ppm"}
    assert read_survey(path, elements=["Au"], units="Au=ppb").units == {"Au": "ppb"}
    with pytest.raises(SurveyError, match=r"survey.csv: column 'Au': .*no unit.*units="):
        read_survey(path, elements=["Au"])
    with pytest.raises(ConfigError, match="unknown unit 'furlong'"):
        read_survey(path, elements=["Au"], units={"Au": "furlong"})


def test_mixed_units_error_names_both_columns_unless_disambiguated(tmp_path):
    path = write(tmp_path, "x,y,Au_ppm,Au_ppb\n0,0,0.005,5\n1,1,0.006,6\n")
    with pytest.raises(SurveyError) as err:
        read_survey(path, elements=["Au"])
    message = str(err.value)
    assert "mixed units" in message and "Au_ppm" in message and "Au_ppb" in message
    assert "survey.csv" in message
    # no silent conversion: the user picks one, by unit or by column name
    by_unit = read_survey(path, elements=["Au"], units={"Au": "ppb"})
    assert by_unit.columns == {"Au": "Au_ppb"} and by_unit.units == {"Au": "ppb"}
    by_name = read_survey(path, elements=["Au_ppm"])
    assert by_name.elements == ["Au"] and by_name.columns == {"Au": "Au_ppm"}


def test_several_columns_same_unit_is_an_error(tmp_path):
    path = write(tmp_path, "x,y,Au_ppb_FA,Au_ppb_AR\n0,0,5,4\n1,1,6,5\n")
    with pytest.raises(SurveyError, match=r"several columns for Au.*Au_ppb_FA.*Au_ppb_AR"):
        read_survey(path, elements=["Au"])
    assert read_survey(path, elements=["Au_ppb_FA"]).columns == {"Au": "Au_ppb_FA"}


def test_default_elements_take_an_oxide_only_when_its_metal_has_no_column(tmp_path):
    from geogan.survey.read import read_survey as _read

    path = tmp_path / "ox.csv"
    path.write_text("x,y,Fe_ppm,Fe2O3_pct,K2O_pct,SiO2_pct,W_ppm\n0,0,1,2,3,4,5\n10,0,2,3,4,5,6\n")
    s = _read(path)
    assert s.elements == ["Fe", "K2O", "SiO2", "W"]
    assert s.units["K2O"] == "pct"
