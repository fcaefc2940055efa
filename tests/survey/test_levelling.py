"""Tests for geogan.survey.levelling: batch (lab, campaign) levelling to the overall median."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from geogan.errors import SurveyError
from geogan.survey.read import read_survey
from tests.helpers.survey import grid_csv, write


def _batch_survey(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    lines = ["x,y,lab,Cu_ppm,Zn_ppm"]
    for i in range(30):
        lab = "A" if i < 15 else "B"
        cu = rng.lognormal(3, 0.3) * (10 if lab == "B" else 1)
        zn = rng.lognormal(4, 0.3)
        lines.append(f"{i},{i % 7},{lab},{cu:.4f},{zn:.4f}")
    lines += ["100,100,C,500,50", "101,101,C,600,60"]  # a batch too small to level
    return write(tmp_path, "\n".join(lines) + "\n")


def test_levelling_scales_batch_medians_to_the_overall_median(tmp_path):
    path = _batch_survey(tmp_path)
    raw = read_survey(path, merge_duplicates=False)
    levelled = read_survey(path, level_by="lab", merge_duplicates=False)
    record = levelled.levelling
    assert record["column"] == "lab"
    cu = record["elements"]["Cu"]
    overall = float(np.median(raw.values[:, 0]))
    assert cu["overall_median"] == pytest.approx(overall)
    for lab, rows in (("A", slice(0, 15)), ("B", slice(15, 30))):
        assert cu["batches"][lab]["median_before"] == pytest.approx(np.median(raw.values[rows, 0]))
        assert cu["batches"][lab]["median_after"] == pytest.approx(overall)
        assert np.median(levelled.values[rows, 0]) == pytest.approx(overall)
    for lab, rows in (("A", slice(0, 15)), ("B", slice(15, 30))):  # each batch scaled onto the overall median
        assert cu["batches"][lab]["factor"] == pytest.approx(overall / np.median(raw.values[rows, 0]))
    assert cu["batches"]["A"]["factor"] > 1 > cu["batches"]["B"]["factor"]
    # the two-sample batch is left alone and reported
    assert cu["batches"]["C"]["factor"] is None and cu["batches"]["C"]["n"] == 2
    np.testing.assert_allclose(levelled.values[30:, 0], [500, 600])
    assert any("left unscaled" in w and "C" in w for w in levelled.warnings)
    json.dumps(record)  # JSON-able for the store's attrs
    assert "levelling by 'lab'" in levelled.summary()


def test_batch_medians_warning_without_level_by(tmp_path):
    survey = read_survey(_batch_survey(tmp_path))
    [warning] = [w for w in survey.warnings if "batch medians" in w]
    assert "'lab'" in warning and "Cu" in warning and "Zn" not in warning
    assert "level_by='lab'" in warning


def test_level_by_column_must_exist(tmp_path):
    with pytest.raises(SurveyError, match="column 'lab': level_by column not found"):
        read_survey(grid_csv(tmp_path, "Au_ppb", ["1", "2"]), level_by="lab")
