"""Tests for geogan.survey.censoring: cell text to numbers (below detection, sentinels,
missing codes, qualifier columns), as read_survey applies it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geogan.errors import SurveyError
from geogan.survey.read import read_survey
from tests.helpers.survey import grid_csv, write


@pytest.mark.parametrize(
    ("cells", "kwargs", "expected", "censored"),
    [
        # text '<DL' -> factor x DL
        (["<0.5", "2", "4"], {}, [0.25, 2, 4], 1 / 3),
        (["< 0.5", "2", "4"], {"bdl_factor": 1.0}, [0.5, 2, 4], 1 / 3),
        # sentinels and empties are missing, not censored
        (["-9999", "2", ""], {}, [math.nan, 2, math.nan], 0.0),
        (["-999", "2", "-1"], {"missing": (-999, -1)}, [math.nan, 2, math.nan], 0.0),
        (["NA", " 3 ", "n/a"], {}, [math.nan, 3, math.nan], 0.0),
        # negative numbers mean 'below |v|' only when asked
        (["-0.5", "2", "-9999"], {"negative_is_bdl": True}, [0.25, 2, math.nan], 0.5),
        # over range keeps the number
        ([">100", "2", "4"], {}, [100, 2, 4], 0.0),
        # '<0' = below an unknown limit: the smallest detected value stands in
        (["<0", "2", "4"], {}, [1.0, 2, 4], 1 / 3),
        # a bare 0 is not a measurement (GSWA: not analysed): missing
        (["0", "2", "4"], {}, [math.nan, 2, 4], 0.0),
    ],
)
def test_bdl_parsing_table(tmp_path, cells, kwargs, expected, censored):
    survey = read_survey(grid_csv(tmp_path, "Au_ppb", cells), elements=["Au"], **kwargs)
    np.testing.assert_allclose(survey.values[:, 0], expected)
    assert survey.censored_fraction["Au"] == pytest.approx(censored)


def test_qualifier_column_marks_censored_values(tmp_path):
    # GTK style: the value next to '<' is the detection limit; 0 = limit unknown; '!' kept
    path = write(
        tmp_path,
        "x,y,Zr_ppm_511,Zr_511P_T,Cu_ppm_511,Cu_511P_T\n"
        "0,0,0.5,<,10,\n"
        "1,1,0.0,<,11,!\n"
        "2,2,3.0,,12,\n"
        "3,3,0.2,!,13,\n"
        "4,4,5.0,,14,\n",
    )
    survey = read_survey(path, elements=["Zr", "Cu"])
    # the unknown limit is the smallest *unflagged* detected value (3.0), not the '!' 0.2
    np.testing.assert_allclose(survey.values[:, 0], [0.25, 1.5, 3.0, 0.2, 5.0])
    np.testing.assert_allclose(survey.values[:, 1], [10, 11, 12, 13, 14])
    assert survey.censored_fraction == {"Zr": pytest.approx(0.4), "Cu": 0.0}
    text = " ".join(survey.warnings)
    assert "Zr_511P_T" in text and "'!'" in text and "smallest detected value 3" in text


def test_qualifier_column_named_like_an_element_is_not_one(tmp_path):
    path = write(tmp_path, "x,y,Au_ppb,Au_ppb_Q\n0,0,1,<\n1,1,4,\n2,2,6,\n")
    survey = read_survey(path, elements=["Au"])
    assert survey.columns == {"Au": "Au_ppb"}
    np.testing.assert_allclose(survey.values[:, 0], [0.5, 4, 6])


def test_negative_without_flag_is_an_error_suggesting_it(tmp_path):
    path = grid_csv(tmp_path, "Au_ppb", ["1", "-0.5", "2"])
    with pytest.raises(SurveyError) as err:
        read_survey(path, elements=["Au"])
    assert str(err.value).startswith(f"{path}:3: column 'Au_ppb': negative concentration")
    assert "--negative-is-bdl" in str(err.value)


@pytest.mark.parametrize("cell", ["<", "<<1", "<abc", "< ", "<1e999"])
def test_malformed_below_detection_values(tmp_path, cell):
    path = grid_csv(tmp_path, "Au_ppb", ["1", "2", cell])
    with pytest.raises(SurveyError) as err:
        read_survey(path, elements=["Au"])
    # line 4: header is line 1, third data row
    assert str(err.value).startswith(f"{path}:4: column 'Au_ppb': malformed below-detection value")


@pytest.mark.parametrize("cell", ["abc", "1.2.3", "1,5", "n.d.", "inf"])
def test_non_numeric_text_names_line_and_column(tmp_path, cell):
    path = grid_csv(tmp_path, "Au_ppb", ["1", f'"{cell}"', "2"])
    with pytest.raises(SurveyError) as err:
        read_survey(path, elements=["Au"])
    assert str(err.value).startswith(f"{path}:3: column 'Au_ppb':")
    assert ("infinite" if cell == "inf" else repr(cell)) in str(err.value)


def test_missing_sentinel_is_not_applied_to_projected_coordinates(tmp_path):
    from geogan.survey.read import read_survey as _read

    path = tmp_path / "albers.csv"
    path.write_text("x,y,W_ppm\n-9999,5000,1\n10000,-9999,-9999\n20000,0,3\n")
    s = _read(path, input_crs="ESRI:102025")
    assert s.x.tolist() == [-9999.0, 10000.0, 20000.0]
    assert np.isnan(s.values[1, 0]) and s.values[2, 0] == 3.0
