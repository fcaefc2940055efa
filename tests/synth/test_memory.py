"""Tests of geogan.synth.memory: make_survey, the in-memory front door, and the SynthSurvey it returns."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from geogan.errors import ConfigError
from geogan.synth import PRESETS, SynthSurvey, make_survey
from tests.helpers.synth import element_columns


def test_make_survey_returns_the_tables_and_the_truth():
    survey = make_survey("demo", n_samples=300, elements=["W", "Fe2O3"], seed=2)
    assert isinstance(survey, SynthSurvey)
    assert isinstance(survey.table, pd.DataFrame) and isinstance(survey.deposits, pd.DataFrame)
    assert list(survey.table.columns) == ["sample_id", "x", "y", "W_ppm", "Fe2O3_pct", "lab"]
    assert len(survey.table) == 300 and survey.table["sample_id"].is_unique
    assert survey.table["x"].dtype == float and survey.table["Fe2O3_pct"].dtype == float  # never censored
    assert list(survey.deposits.columns) == ["deposit_id", "x", "y", "type", "size", "setting"]
    assert len(survey.deposits) == PRESETS["demo"].n_deposits
    assert survey.crs == survey.truth["crs"] == "EPSG:32650"
    assert (survey.truth["n_samples"], survey.truth["seed"]) == (300, 2)
    json.dumps(survey.truth)
    with pytest.raises(dataclasses.FrozenInstanceError):
        survey.truth = {}


def test_the_truth_counts_every_chunk_of_the_table():
    # chunks of 128 samples: 3 chunks, each from its own streams, concatenated in order
    preset = dataclasses.replace(PRESETS["demo"], name="chunked", chunk_samples=128)
    survey = make_survey(preset, n_samples=300, elements="W,Ag", seed=0)
    assert survey.truth["preset"] == "chunked"
    assert survey.table["sample_id"].tolist() == sorted(survey.table["sample_id"]) and len(survey.table) == 300
    for e in survey.truth["elements"]:
        censored = survey.table[e["column"]].astype("str").str.startswith("<").mean()
        assert e["censored_fraction"] == pytest.approx(censored, abs=1e-6)
    assert survey.truth["elements"][0]["censored_fraction"] > 0  # W: some censoring to count


def test_elements_may_be_symbols_columns_or_one_string():
    for elements in (["Sn", "W"], ["sn_ppm", "W_ppm", "w"], " Sn , W "):
        survey = make_survey("demo", n_samples=50, elements=elements, seed=0)
        assert element_columns(survey.table) == ["Sn_ppm", "W_ppm"], elements
    # the default: the preset's elements
    assert len(element_columns(make_survey("demo", n_samples=50).table)) == len(PRESETS["demo"].elements)


def test_a_preset_object_is_used_as_given():
    plain = dataclasses.replace(PRESETS["demo"], name="plain", n_deposits=4, n_hidden_deposits=1, lab_sheets=0)
    survey = make_survey(plain, n_samples=100, elements=["W"])
    assert len(survey.deposits) == 4 and len(survey.truth["halos"]) == 5
    assert "lab" not in survey.table.columns and survey.truth["preset"] == "plain"


@pytest.mark.parametrize("kwargs", [{"n_samples": 1_000_001}, {"preset": "national"}])
def test_more_than_a_million_samples_are_refused_before_generating(kwargs):
    # the national preset's default is 1.5 M samples: a file-streaming job
    with pytest.raises(ConfigError, match="too many to hold in memory here; use write_synthetic_survey"):
        make_survey(**kwargs)
