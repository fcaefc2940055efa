"""Tests for geogan.choices: the fixed value sets the CLI lists are the stages' own."""


def test_the_choice_sets_are_the_stages_own():
    from rasterio.enums import Resampling

    from geogan import choices
    from geogan.detectors.registry import DETECTORS
    from geogan.synth.presets import PRESETS

    assert tuple(d for d in DETECTORS if d != "ensemble") == choices.DETECTORS
    assert tuple(PRESETS) == choices.SYNTH_PRESETS
    assert all(hasattr(Resampling, name) for name in choices.RESAMPLING)
