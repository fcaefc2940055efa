"""Tests for geogan.survey.record: the Survey read_survey returns, reprojected and summarised."""

from __future__ import annotations

import numpy as np
import pytest

from geogan.errors import CRSError
from geogan.survey.read import read_survey
from geogan.survey.record import Survey
from tests.helpers.survey import grid_csv, write


def test_to_crs(tmp_path):
    path = write(tmp_path, "lon,lat,Au_ppb\n24.7236,67.8416,1\n24.7829,67.8741,2\n")
    survey = read_survey(path)
    projected = survey.to_crs("EPSG:3067")
    assert projected.crs.to_epsg() == 3067
    np.testing.assert_allclose(projected.x, [404203.1, 406827.1], atol=20)
    np.testing.assert_allclose(projected.y, [7526963.2, 7530497.8], atol=20)
    assert projected.values is survey.values
    unknown = read_survey(write(tmp_path, "x,y,Au_ppb\n1,1,1\n2,2,2\n", "u.csv"))
    assert unknown.to_crs("EPSG:3067") is unknown  # unknown CRS: taken to be the target
    with pytest.raises(CRSError, match="invalid target CRS"):
        survey.to_crs("not a crs")


def test_summary_and_repr(tmp_path):
    survey = read_survey(grid_csv(tmp_path, "Au_ppb", ["<1", "2", "", "4"]))
    text = survey.summary()
    assert "rows read: 4" in text and "Au" in text and "ppb" in text
    assert "censored  33.3%" in text and "missing  25.0%" in text  # 1 of 3 present; 1 of 4 rows
    assert isinstance(survey, Survey) and "n_samples=4" in repr(survey)
