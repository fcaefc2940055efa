"""pytest hooks for the whole repository: the doctests of ``geogan/`` get their markers here
(a doctest takes no decorator), so that ``-m "not slow"`` leaves them out whether pytest
collects ``tests/``, ``geogan/`` or both. Fixtures live in ``tests/conftest.py``."""

import pytest

#: doctests that run TensorFlow (they import it, or train a network): marked ``tf`` and
#: ``slow`` (the first one a run meets pays TensorFlow's import, ~5 s on two cores)
TF_DOCTESTS = ("geogan.detectors.alad", "geogan.detectors.aladnet", "geogan.detectors.stacked",
               "geogan.detectors.stackednet", "geogan.detectors.vae")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name in TF_DOCTESTS:
            item.add_marker(pytest.mark.tf)
            item.add_marker(pytest.mark.slow)
