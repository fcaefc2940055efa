"""Tests for geogan.survey.csvtable: delimiters, decimal commas, encodings and line numbers."""

from __future__ import annotations

import numpy as np
import pytest

from geogan.errors import SurveyError
from geogan.survey.read import read_survey
from tests.helpers.survey import write


def test_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path):
    path = write(tmp_path, 'x,y,note,Au_ppb\n0,0,"two\nlines",1\n\n1,1,ok,abc\n')
    with pytest.raises(SurveyError, match=r"survey.csv:5: column 'Au_ppb': non-numeric value 'abc'"):
        read_survey(path, elements=["Au"])


def test_semicolon_delimiter_and_decimal_comma(tmp_path):
    path = write(tmp_path, "x;y;Au_ppb;Cu_ppm\n0;0;<0,5;1,5\n1;1;2;2,5\n")
    survey = read_survey(path)
    np.testing.assert_allclose(survey.values, [[0.25, 1.5], [2, 2.5]])
    assert any("decimal comma" in w for w in survey.warnings)


@pytest.mark.parametrize("delimiter", ["\t", "|"])
def test_other_delimiters(tmp_path, delimiter):
    text = "\n".join(delimiter.join(r) for r in [["x", "y", "Au_ppb"], ["0", "0", "1.5"], ["1", "1", "2"]])
    survey = read_survey(write(tmp_path, text + "\n"))
    np.testing.assert_allclose(survey.values[:, 0], [1.5, 2])


def test_latin1_and_bom_encodings(tmp_path):
    latin = write(tmp_path, "x,y,Näyte,Au_ppb\n0,0,Jyväskylä,1\n1,1,Äänekoski,2\n", encoding="latin-1")
    survey = read_survey(latin)
    assert any("Latin-1" in w for w in survey.warnings)
    np.testing.assert_allclose(survey.values[:, 0], [1, 2])
    bom = write(tmp_path, "x,y,Au_ppb\n0,0,1\n1,1,2\n", name="bom.csv", encoding="utf-8-sig")
    assert read_survey(bom).x_column == "x"
