"""Tests for geogan.survey.read: read_survey as a whole, bad input refused with one clear error
each. The steps it runs are tested per module (elements, censoring, csvtable, tables,
coordinates, duplicates, levelling), the Survey it returns in test_record.py."""

from __future__ import annotations

import pytest

from geogan.errors import ConfigError, CRSError, GeoganError, SurveyError
from geogan.survey.read import read_survey
from tests.helpers.survey import grid_csv, write


@pytest.mark.parametrize(
    ("text", "kwargs", "pattern"),
    [
        ("", {}, r"survey.csv: survey file is empty"),
        ("x,y,Au_ppb\n", {}, r"survey.csv: survey file has a header but no rows"),
        ("east,north,Au_ppb\n0,0,1\n1,1,2\n", {"x": "E", "y": "N"}, r"survey.csv: column 'E': x column not found; columns are: 'east'"),
        ("a,b,Au_ppb\n0,0,1\n1,1,2\n", {}, r"survey.csv: no coordinate columns found"),
        ("x,y,Au_ppb\n0,0,1\n1,1,2\n", {"elements": ["Ag"]}, r"survey.csv: column 'Ag': element 'Ag' not found"),
        ("x,y,Au_ppb,Ag_ppm\n0,0,1,\n1,1,2,-9999\n", {"elements": ["Au", "Ag"]}, r"survey.csv: column 'Ag_ppm': element has no values"),
        ("x,y,Au_ppb\n0,0,1\n,1,2\n", {}, r"survey.csv:3: column 'x': coordinate is missing"),
        ("x,y,Au_ppb\n0,0,1\n1,abc,2\n", {}, r"survey.csv:3: column 'y': non-numeric value 'abc'"),
        ("x,y,Au_ppb\n5,5,1\n5,5,2\n", {}, r"survey.csv: all 2 samples are at one location"),
        ("x,y,Au_ppb\n0,0,1\n1,1,2\n2,2\n", {}, r"survey.csv:4: line has 2 fields but the header has 3; the file may be truncated"),
        ("x,y,Au_ppb,x\n0,0,1,0\n1,1,2,1\n", {}, r"survey.csv: column 'x': duplicated column name \(columns 1 and 4\)"),
        ("x;y;Au_ppb\n0;0;1\n", {"elements": ["Au"], "x": "x", "y": "q"}, r"column 'q': y column not found"),
    ],
)
def test_bad_input_errors(tmp_path, text, kwargs, pattern):
    path = write(tmp_path, text)
    with pytest.raises(SurveyError, match=pattern) as err:
        read_survey(path, **kwargs)
    assert "\n" not in str(err.value)


def test_unknown_extension_missing_file_and_bad_options(tmp_path):
    with pytest.raises(SurveyError, match=r"survey.xlsx: unknown file type '.xlsx'"):
        read_survey(write(tmp_path, "x", name="survey.xlsx"))
    with pytest.raises(SurveyError, match="file not found"):
        read_survey(tmp_path / "nope.csv")
    path = grid_csv(tmp_path, "Au_ppb", ["1", "2"])
    with pytest.raises(ConfigError, match="bdl_factor must be in"):
        read_survey(path, bdl_factor=0)
    with pytest.raises(ConfigError, match="give both x and y"):
        read_survey(path, x="x")
    with pytest.raises(CRSError, match="invalid input CRS 'EPSG:999999'"):
        read_survey(path, input_crs="EPSG:999999")


def test_all_errors_are_geogan_errors(tmp_path):
    path = grid_csv(tmp_path, "Au_ppb", ["1", "x"])
    with pytest.raises(GeoganError):
        read_survey(path)
