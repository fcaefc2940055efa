import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path into ../shared/data; skips the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real survey data not available at {path} (../shared/data is absent)")
    return path


@pytest.fixture(scope="session")
def dask_processes():
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1, as separate OS processes."""
    from geogan.cluster import ProcessCluster

    procs = ProcessCluster(n_workers=2)
    yield procs
    procs.close()
