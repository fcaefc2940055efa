"""Tests of geogan.synth.elements: the element catalogue the generator models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from geogan.synth import ELEMENTS, FACTOR_NAMES, ElementSpec
from geogan.synth.elements import ELEMENT_INDEX
from tests.helpers.synth import RGNR_39


def test_the_catalogue_is_the_rgnr_39_keyed_by_symbol():
    assert list(ELEMENTS) == RGNR_39
    assert all(spec.symbol == symbol for symbol, spec in ELEMENTS.items())
    # each element's random-stream key is its catalogue position, whatever subset is drawn
    assert dict(ELEMENT_INDEX) == {symbol: i for i, symbol in enumerate(RGNR_39)}
    with pytest.raises(TypeError):
        ELEMENTS["Xx"] = ELEMENTS["W"]  # read-only
    with pytest.raises(TypeError):
        ELEMENT_INDEX["W"] = 0


def test_column_is_symbol_and_unit():
    assert ELEMENTS["W"].column == "W_ppm"
    assert ELEMENTS["Au"].column == "Au_ppb"
    assert ELEMENTS["Fe2O3"].column == "Fe2O3_pct"
    assert ElementSpec("Xx", "ppb", 1.0, 0.5, 0.1, (1.0, 0.0, 0.0, 0.0), 1.0, 1.0, 1.0, 0.1, 0.0).column == "Xx_ppb"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ELEMENTS["W"].median = 2.0


def test_units_follow_rgnr_reporting():
    units = {symbol: spec.unit for symbol, spec in ELEMENTS.items()}
    assert {s for s, u in units.items() if u == "ppb"} == {"Ag", "Au", "Cd", "Hg"}
    assert {s for s, u in units.items() if u == "pct"} == {"SiO2", "Al2O3", "Fe2O3", "K2O", "Na2O", "CaO", "MgO"}
    assert set(units.values()) == {"ppm", "ppb", "pct"}


@pytest.mark.parametrize("symbol", RGNR_39)
def test_every_spec_is_physically_plausible(symbol):
    spec = ELEMENTS[symbol]
    # a detection limit below the median: some censoring, never most of the values
    assert 0 < spec.detection_limit < spec.median
    assert 0 < spec.log_sd <= 1.0 and 0 < spec.analytical_rsd <= 0.2
    assert 0 <= spec.missing_fraction < 0.05
    assert spec.granite_factor > 0 and spec.mafic_factor > 0 and spec.halo_reach > 0
    assert len(spec.loadings) == len(FACTOR_NAMES) == 4 and np.linalg.norm(spec.loadings) > 0
    if spec.unit == "pct":  # oxides have a physical cap above their background
        assert spec.max_value is not None and spec.median < spec.max_value <= 100
    else:
        assert spec.max_value is None


def test_loadings_give_the_geochemical_affinities():
    felsic, femag = FACTOR_NAMES.index("felsic"), FACTOR_NAMES.index("ferromagnesian")
    assert FACTOR_NAMES == ("felsic", "ferromagnesian", "carbonate", "chalcophile")
    for symbol in ("K2O", "Th", "U", "La"):
        assert ELEMENTS[symbol].loadings[felsic] > 0.5, symbol
    for symbol in ("Cr", "Ni", "Co", "V", "Fe2O3"):
        assert ELEMENTS[symbol].loadings[femag] > 0.5 and ELEMENTS[symbol].loadings[felsic] < 0, symbol
    # granites raise W, Sn, Be; mafic bodies Cr, Ni
    assert all(ELEMENTS[s].granite_factor > 1.5 for s in ("W", "Sn", "Be"))
    assert all(ELEMENTS[s].mafic_factor > 2 and ELEMENTS[s].granite_factor < 1 for s in ("Cr", "Ni"))
