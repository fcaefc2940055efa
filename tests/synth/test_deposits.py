"""Tests of geogan.synth.deposits: the deposit types and sizes of the synthetic world."""

from __future__ import annotations

import dataclasses

import pytest

from geogan.synth import DEPOSIT_MODELS, ELEMENTS, PRESETS, DepositModel
from geogan.synth.deposits import DEPOSIT_SIZES


def test_models_are_keyed_by_name_and_read_only():
    assert list(DEPOSIT_MODELS) == ["W-polymetallic", "Au-orogenic", "Pb-Zn-Ag", "Cu-Mo-porphyry", "Sb-Hg", "REE-Nb",
                                    "Ni-Cu-Co"]
    assert all(model.name == name for name, model in DEPOSIT_MODELS.items())
    with pytest.raises(TypeError):
        DEPOSIT_MODELS["Li-pegmatite"] = DEPOSIT_MODELS["REE-Nb"]
    with pytest.raises(TypeError):
        DEPOSIT_MODELS["W-polymetallic"].amplitudes["W"] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEPOSIT_MODELS["W-polymetallic"].p_mafic = 0.5
    assert DepositModel("x", {"W": 1.0}, p_granite_contact=0.2).p_mafic == 0.0


@pytest.mark.parametrize("name", list(DEPOSIT_MODELS))
def test_every_model_enriches_known_elements_with_valid_odds(name):
    model = DEPOSIT_MODELS[name]
    assert model.amplitudes and set(model.amplitudes) <= set(ELEMENTS)
    assert all(a > 0 for a in model.amplitudes.values())
    assert 0.0 <= model.p_granite_contact <= 1.0 and 0.0 <= model.p_mafic <= 1.0
    assert model.p_granite_contact + model.p_mafic <= 1.0


def test_each_model_is_led_by_its_commodity():
    leads = {"W-polymetallic": "W", "Au-orogenic": "Au", "Pb-Zn-Ag": "Pb", "Cu-Mo-porphyry": "Mo", "Sb-Hg": "Sb",
             "REE-Nb": "La", "Ni-Cu-Co": "Ni"}
    for name, lead in leads.items():
        amplitudes = DEPOSIT_MODELS[name].amplitudes
        assert amplitudes[lead] == max(amplitudes.values()), name
    # the magmatic sulphides sit in mafic bodies, the W deposits at granite contacts
    assert DEPOSIT_MODELS["Ni-Cu-Co"].p_mafic == 0.9 and DEPOSIT_MODELS["Ni-Cu-Co"].p_granite_contact == 0.0
    assert DEPOSIT_MODELS["W-polymetallic"].p_granite_contact == 0.8


def test_sizes_shrink_in_amplitude_and_radius():
    assert list(DEPOSIT_SIZES) == ["large", "medium", "small"]
    probabilities, amplitudes, radii = zip(*DEPOSIT_SIZES.values())
    assert sum(probabilities) == pytest.approx(1.0)
    assert amplitudes[0] == 1.0 and list(amplitudes) == sorted(amplitudes, reverse=True)
    assert list(radii) == sorted(radii, reverse=True)
    assert DEPOSIT_SIZES["small"][0] >= 0.5  # half the deposits are subtle


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_chooses_among_registered_models(preset):
    models = PRESETS[preset].deposit_models
    assert models and all(name in DEPOSIT_MODELS and weight > 0 for name, weight in models)
