import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path into ../shared/data; skips the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real survey data not available at {path} (../shared/data is absent)")
    return path


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


# a small complete grid store without gridding (fast): used by the train and reliability tests
ELEMENTS = ["Ag", "Bi", "Mo", "Sn", "W"]
TINY_ALAD = dict(encoder_units=[16, 8], generator_units=[8, 16], dxz_units=[8, 16], dxx_units=[16, 8],
                 dzz_units=[8, 4])


def make_grid(path, *, height=40, width=56, tile=16, seed=0):
    """A complete grid store (the layout of geogan.stores.store) with log-normal, correlated
    concentrations, a NaN corner (invalid cells), one element missing in a strip, and a
    W-Sn-Bi enrichment around two "deposits". Returns the path and the deposit cells."""
    import zarr

    from geogan.gridspec import GridSpec
    from geogan.stores.store import create_grid_store, write_region

    spec = GridSpec.from_bounds((500_000, 2_700_000, 500_000 + width * 500, 2_700_000 + height * 500),
                                crs="EPSG:32650", cell_size_m=500, tile=tile)
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(height, width))
    logc = np.stack([0.6 * shared + 0.5 * rng.normal(size=(height, width)) + k for k in range(len(ELEMENTS))])
    deposits = [(10, 12), (30, 40)]
    for r, c in deposits:
        logc[[1, 3, 4], r - 1:r + 2, c - 1:c + 2] += 2.5
    conc = np.exp(logc).astype(np.float32)
    conc[:, :6, :8] = np.nan
    conc[2, 20:22, :] = np.nan
    create_grid_store(path, spec, ELEMENTS, units={e: "ppm" for e in ELEMENTS}, attrs={"source": {"sha256": "test"}})
    write_region(path, "concentration", conc, (slice(None), slice(0, height), slice(0, width)))
    dist = np.where(np.isnan(conc[0]), np.nan, 100.0).astype(np.float32)
    write_region(path, "distance", dist, (slice(0, height), slice(0, width)))
    zarr.open_group(str(path), mode="r+").attrs.update(complete=True, created="2025-01-01T00:00:00+00:00")
    return path, spec, conc, deposits


# -- the command line as a user meets it (reliability and hostile-input tests) ----------------------
def cli(*args):
    """Run ``geogan ARGS`` in-process; returns click's Result (stdout and stderr apart)."""
    from typer.testing import CliRunner

    from geogan.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def assert_user_error(res, *expected: str) -> str:
    """Exit 1, exactly one stderr line ``error: ...`` containing each of ``expected``, no traceback."""
    assert isinstance(res.exception, SystemExit), f"unexpected exception: {res.exception!r}\n{res.output}"
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in res.output
    return lines[0]
