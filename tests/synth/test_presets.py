"""Tests for geogan.synth.presets: the presets' worlds and the option checks."""

from __future__ import annotations

import re

import pyproj
import pytest

from geogan import synth
from geogan.errors import ConfigError
from geogan.synth import NATIONAL_ELEMENTS, PRESETS, make_survey
from tests.helpers.synth import RGNR_39


def test_national_preset_is_rgnr_sized():
    national = PRESETS["national"]
    assert national.n_samples == 1_500_000
    assert list(national.elements) == RGNR_39 == list(NATIONAL_ELEMENTS)
    xmin, ymin, xmax, ymax = national.extent_m
    assert xmax - xmin == pytest.approx(3_100_000) and ymax - ymin == pytest.approx(3_100_000)
    assert 37e6 < national.grid_cells(500.0) < 39e6
    assert 2_000 <= national.n_deposits <= 5_000
    assert national.fmt == "parquet"
    assert pyproj.CRS.from_user_input(national.crs).is_projected


def test_demo_preset_is_a_district():
    demo = PRESETS["demo"]
    assert demo.n_samples == 5_000
    assert demo.crs == "EPSG:32650"
    assert demo.extent_m == (400_000.0, 2_700_000.0, 500_000.0, 2_800_000.0)
    assert 10 <= len(demo.elements) <= 16
    assert set(demo.elements) >= {"W", "Sn", "Mo", "Bi", "Ag"}
    assert any(synth.ELEMENTS[s].unit == "pct" for s in demo.elements)
    assert 15 <= demo.n_deposits <= 25
    assert demo.fmt == "csv"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "regional"}, "unknown synthetic preset 'regional'"),
        ({"elements": ["W", "Xx"]}, "unknown element 'Xx'"),
        ({"elements": []}, "no elements selected"),
        ({"n_samples": 0}, "n_samples must be from 1 to 100,000,000"),
        ({"seed": -1}, "seed must be an integer from 0 to 2,147,483,647"),
    ],
)
def test_bad_options_raise_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_survey(**kwargs)
