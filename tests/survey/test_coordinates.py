"""Tests for geogan.survey.coordinates: which columns hold coordinates, their CRS and range
checks (surveys and deposits alike)."""

from __future__ import annotations

import numpy as np
import pytest

from geogan.errors import CRSError
from geogan.evaluation.deposits import read_deposits
from geogan.survey.read import read_survey
from tests.helpers.survey import write


@pytest.mark.parametrize(
    ("text", "kwargs", "pattern"),
    [
        ("lon,lat,Au_ppb\n24.1,60.1,1\n24.2,95.0,2\n", {}, r"survey.csv:3: column 'lat': coordinate 95.0 is outside the range of EPSG:4326"),
        ("x,y,Au_ppb\n400000,7500000,1\n1e12,7500000,2\n", {"input_crs": "EPSG:3067"}, r"survey.csv:3: column 'x': coordinate 1000000000000.0 is outside the range of EPSG:3067"),
        # degrees given as metres
        ("x,y,Au_ppb\n24.1,60.1,1\n24.2,60.2,2\n", {"input_crs": "EPSG:3067"}, r"survey.csv:2: column 'y': coordinate 60.1 is outside"),
    ],
)
def test_coordinates_out_of_range_for_the_input_crs(tmp_path, text, kwargs, pattern):
    with pytest.raises(CRSError, match=pattern):
        read_survey(write(tmp_path, text), **kwargs)


def test_coordinate_detection_prefers_projected_columns(tmp_path):
    path = write(
        tmp_path,
        "lon,lat,x_etrstm35fin,y_etrstm35fin,Easting_kk,Au_ppb\n"
        "24.7,67.8,404203.1,7526963.2,3404337,1\n24.8,67.9,406827.1,7530497.8,3406962,2\n",
    )
    survey = read_survey(path, input_crs="EPSG:3067")
    assert (survey.x_column, survey.y_column) == ("x_etrstm35fin", "y_etrstm35fin")
    np.testing.assert_allclose(survey.x, [404203.1, 406827.1])
    # lon/lat alone: EPSG:4326 is assumed
    lonlat = write(tmp_path, "Longitude,Latitude,Au_ppb\n24.7,67.8,1\n24.8,67.9,2\n", "ll.csv")
    survey = read_survey(lonlat)
    assert survey.crs.to_epsg() == 4326
    # x/y without a CRS: unknown, and a warning when they look like degrees
    plain = write(tmp_path, "X,Y,Au_ppb\n119.5,-31.6,1\n119.6,-31.7,2\n", "xy.csv")
    survey = read_survey(plain)
    assert survey.crs is None and any("within ±180/±90" in w for w in survey.warnings)


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
