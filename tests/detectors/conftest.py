"""Fixtures of the detector tests: planted-anomaly data and each registered detector fitted on it
with small settings (``tests.helpers.detectors``), once per session and only when a test asks
for that detector (test_registry.py asks for all of them; test_vae.py, test_baselines.py and
test_modelfile.py for a few)."""

import pytest

from tests.helpers.detectors import SMALL, planted


@pytest.fixture(scope="session")
def planted_data():
    """``(X_train, X_test, y_test)`` of :func:`tests.helpers.detectors.planted`."""
    return planted()


@pytest.fixture(scope="session")
def small_fitted(planted_data):
    """A mapping from registry name to that detector fitted on ``X_train`` with its
    ``tests.helpers.detectors.SMALL`` settings, each fitted the first time it is looked up."""
    from geogan.detectors import get_detector

    X_train, _, _ = planted_data

    class Fitted(dict):
        def __missing__(self, name):
            self[name] = get_detector(name, **SMALL[name]).fit(X_train)
            return self[name]

    return Fitted()
