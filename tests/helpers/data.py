"""Where the tests find the repository's files and the real surveys (``../shared/data``)."""

from __future__ import annotations

from pathlib import Path

import pytest

#: the repository root (``tests/`` lies directly under it)
REPO = Path(__file__).resolve().parents[2]
#: the read-only real surveys beside the repository; absent on most machines
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path into ../shared/data; skips the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real survey data not available at {path} (../shared/data is absent)")
    return path
