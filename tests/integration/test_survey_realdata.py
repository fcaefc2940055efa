"""Read the real surveys in ../shared/data (skipped when absent)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geogan.survey.read import read_survey
from tests.helpers.data import shared_data


@pytest.mark.realdata
def test_real_gtk_lapland_till_qualifier_columns():
    path = shared_data("gtk-lapland-till", "till_samples.csv")
    survey = read_survey(path, input_crs="EPSG:3067")
    assert (survey.x_column, survey.y_column) == ("x_etrstm35fin", "y_etrstm35fin")
    assert survey.n_rows == 1112 and len(survey.elements) == 22
    assert set(survey.units.values()) == {"ppm"}
    # the elements whose qualifier columns hold '<' have censored values, the rest none
    for element in ("Co", "K", "Th", "Zr"):
        assert survey.censored_fraction[element] > 0
    # Zr: 166 '<' flags with value 0 (limit unknown); 16 bare zeros flagged '!' are missing
    assert survey.censored_fraction["Zr"] == pytest.approx(166 / 1096)
    assert survey.missing_fraction["Zr"] == pytest.approx(16 / 1112)
    assert survey.censored_fraction["Al"] == 0
    present = survey.values[np.isfinite(survey.values)]
    assert (present > 0).all()
    assert 346_000 < survey.x.min() < survey.x.max() < 414_000


@pytest.mark.realdata
def test_real_gswa_soil1_sentinels_negative_dl_and_levelling():
    path = shared_data("gswa-soil1", "area6_soil_au.csv")
    survey = read_survey(
        path, input_crs="EPSG:4283", negative_is_bdl=True, missing=(-9999,), level_by="WAMEX_A_NO"
    )
    # soil1 carries values for only a few of its 123 element columns
    assert survey.elements == ["Ag", "Au", "Co", "Cu", "Ni", "Pb", "Pd", "Zn"]
    assert survey.units["Pd"] == "ppb"
    # two reports repeat the same samples at the same places
    assert survey.n_rows == 2734 and survey.n_merged == 1469
    au = survey.levelling["elements"]["Au"]["batches"]
    assert au["102294"]["factor"] is None and au["102294"]["n"] == 2
    assert au["82539"]["factor"] == pytest.approx(1.0)
    json.dumps(survey.levelling)
    # no '<' and no negatives in soil1; its zeros (Cu, Pb, Pd: whole suites in the same
    # rows) are 'not analysed' and read as missing
    assert set(survey.censored_fraction.values()) == {0.0}
    assert survey.missing_fraction["Cu"] > 0.3
    assert (survey.values[np.isfinite(survey.values)] > 0).all()
    projected = survey.to_crs("EPSG:28350")
    assert 700_000 < projected.x.mean() < 800_000
