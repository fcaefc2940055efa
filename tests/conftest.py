"""Fixtures shared by every test package (no helpers: those are in ``tests.helpers``; the hook that
marks the doctests is in the repository's top-level ``conftest.py``).

Fixtures that build something costly once per session live here when test modules in more
than one folder use them: the demo survey gridded, trained (ALAD) and scored
(``demo_models``, ``demo_scores``: the score stage's tests and the kill -9 tests) and a small
survey gridded on a LocalCluster (``small_survey``, ``local_grid``: the grid stage's tests and
the kill -9 tests); moto's S3 server on 127.0.0.1 and a fresh bucket on it (``s3_server``,
``s3_bucket``: every test of outputs in object storage).
"""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def log_lines(caplog):
    """The status lines the stages log on the ``geogan`` logger during the test.

    ``log_lines()`` returns them (oldest first); ``log_lines.clear()`` forgets them.
    """
    import logging

    caplog.set_level(logging.INFO, logger="geogan")

    class Lines:
        def __call__(self) -> list[str]:
            return [r.getMessage() for r in caplog.records if r.name.startswith("geogan")]

        def clear(self) -> None:
            caplog.clear()

    return Lines()


@pytest.fixture(scope="session")
def dask_processes():
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1, as separate OS processes."""
    from geogan.cluster import ProcessCluster

    procs = ProcessCluster(n_workers=2)
    yield procs
    procs.close()


# -- object storage: moto's S3 server (tests/stores, tests/integration/test_object_storage.py) --------
@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1 for the session, this process's environment pointing at it
    (``AWS_ENDPOINT_URL``, dummy credentials; restored afterwards). Skips without moto or s3fs."""
    from tests.helpers.s3 import MotoS3, environment, missing_reason

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = MotoS3()
    with environment(server.env):
        yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A new empty bucket on :func:`s3_server`: ``s3://<name>``."""
    return s3_server.new_bucket()


# -- the score stage on the demo survey (tests/scoring/test_stage.py, tests/integration) ------------
@pytest.fixture(scope="session")
def demo_models(tmp_path_factory):
    """The synthetic demo survey gridded (500 m) and an ALAD (the default seed ensemble, one
    epoch) trained on it: ``(root, synth)``, the grid at ``root / "grid.zarr"``, the model at
    ``root / "alad"``."""
    from geogan.grid.stage import grid_survey
    from geogan.synth import write_synthetic_survey
    from geogan.training.stage import train_model

    root = tmp_path_factory.mktemp("score")
    synth = write_synthetic_survey(root / "survey", "demo", seed=0)
    grid_survey(synth.survey, root / "grid.zarr", crs=synth.crs, input_crs=synth.crs, cell_size_m=500, tile=64,
                workers=2, progress=False)
    train_model(root / "grid.zarr", root / "alad", detector="alad", sample=4000, epochs=1, seed=0,
                progress=False)
    return root, synth


@pytest.fixture(scope="session")
def demo_scores(demo_models):
    """:func:`demo_models`' grid scored with its ALAD, evaluated against the demo's deposits
    (``root / "out"``): the score stage's result."""
    from geogan.scoring.stage import score_grid

    root, synth = demo_models
    return score_grid(root / "grid.zarr", root / "alad", root / "out", deposits=synth.deposits,
                      runs=5, workers=2, progress=False)


# -- the grid stage on a small survey (tests/grid/test_stage.py, tests/integration) -----------------
@pytest.fixture(scope="session")
def small_survey(tmp_path_factory):
    """400 samples of W (20 censored), Sn and Au (20 missing): ``(path, DataFrame)``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 400
    x = rng.uniform(400_000, 420_000, n)
    y = rng.uniform(2_700_000, 2_715_000, n)
    w = rng.lognormal(1.0, 0.8, n)
    sn = rng.lognormal(2.0, 0.5, n)
    au = rng.lognormal(0.5, 1.0, n)
    df = pd.DataFrame({"sample_id": np.arange(n), "x": x, "y": y, "W_ppm": w.round(4), "Sn_ppm": sn.round(4),
                       "Au_ppb": au.round(4)})
    df["W_ppm"] = df["W_ppm"].astype(object)
    df.loc[:19, "W_ppm"] = "<0.4"  # censored: becomes 0.2 with the default factor
    df.loc[20:39, "Au_ppb"] = np.nan  # Au has its own sample set
    path = tmp_path_factory.mktemp("survey") / "survey.csv"
    df.to_csv(path, index=False)
    return path, df


@pytest.fixture(scope="session")
def local_grid(small_survey, tmp_path_factory):
    """:func:`small_survey` gridded at 500 m in tiles of 16 on a two-worker LocalCluster."""
    from geogan.grid.stage import grid_survey

    path, _ = small_survey
    out = tmp_path_factory.mktemp("grid") / "grid.zarr"
    res = grid_survey(path, out, crs="EPSG:32650", elements=["W", "Sn", "Au"], cell_size_m=500, tile=16,
                      workers=2, progress=False)
    return res
