"""Utilities shared by the test modules: plain functions and constants, imported explicitly
(``from tests.helpers.grids import make_grid``). Fixtures live in the ``conftest.py`` files and
may call these; no test module imports from a ``conftest.py``.

- :mod:`tests.helpers.data`: the repository root and ``../shared/data`` (``shared_data`` skips
  a test when it is absent);
- :mod:`tests.helpers.cli`: ``geogan`` in-process (``cli``) and the one-line user error check;
- :mod:`tests.helpers.grids`: a small complete grid store without gridding (``make_grid``);
- :mod:`tests.helpers.scores`: small score grids and deposit coordinates on them;
- :mod:`tests.helpers.survey`: survey CSV files written for the survey readers;
- :mod:`tests.helpers.idw`: an independent brute-force IDW;
- :mod:`tests.helpers.detectors`: planted-anomaly data and small settings per detector;
- :mod:`tests.helpers.synth`: reading the synthetic surveys' tables;
- :mod:`tests.helpers.s3`: moto's S3 server on 127.0.0.1, fresh buckets, and a scheduler and
  workers as separate processes in empty directories of their own (``IsolatedCluster``).
"""
