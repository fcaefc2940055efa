"""The command line as a user meets it (reliability and hostile-input tests)."""

from __future__ import annotations


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
