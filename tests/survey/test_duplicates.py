"""Tests for geogan.survey.duplicates: co-located samples merged."""

from __future__ import annotations

import math

import numpy as np

from geogan.survey.read import read_survey
from tests.helpers.survey import write


def test_duplicate_coordinates_are_averaged_over_present_values(tmp_path):
    path = write(
        tmp_path,
        "x,y,Au_ppb,Cu_ppm\n"
        "0,0,1,10\n"
        "5,5,2,\n"
        "0,0,3,\n"
        "0,0,,40\n"
        "9,9,<2,7\n",
    )
    survey = read_survey(path)
    assert survey.n_rows == 5 and survey.n_merged == 2 and survey.n_samples == 3
    np.testing.assert_array_equal(survey.x, [0, 5, 9])  # order of first appearance
    np.testing.assert_allclose(survey.values, [[2, 25], [2, math.nan], [1, 7]])
    assert "2 rows merged" in survey.summary()
    unmerged = read_survey(path, merge_duplicates=False)
    assert unmerged.n_samples == 5 and unmerged.n_merged == 0
