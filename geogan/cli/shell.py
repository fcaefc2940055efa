"""The ``geogan`` command line's app: its options, console, error handling and parsing helpers.

Each command parses its options into the stage's option objects (:mod:`geogan.options`;
the defaults shown are theirs), calls one library function and prints its summary.
User mistakes (any :class:`geogan.errors.GeoganError`, a file that cannot be opened, a path
too long, a full disk, a host that does not resolve)
print one line ``error: ...`` and exit 1; ``--debug`` shows the traceback instead. The
stages' status lines (the ``geogan`` logger) are printed unless ``--quiet``; their caveats
(:class:`geogan.errors.GeoganWarning`) are printed on stderr as ``warning: ...`` lines.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import socket
import warnings
from typing import Annotated, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import typer  # noqa: E402

from geogan.errors import GeoganError, GeoganWarning, InputError  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Multivariate geochemical anomaly maps: grid → train → score → evaluate.")
_STATE = {"debug": False, "quiet": False}


def echo(msg: str = "") -> None:
    """A status line: silent under ``--quiet``, except warnings (errors are printed regardless)."""
    if msg.startswith("warning:"):
        typer.echo(msg, err=True)
    elif not _STATE["quiet"]:
        typer.echo(msg)


def progress_on() -> bool:
    return not _STATE["quiet"]


def default_of(cls, name: str):
    """The default of an option field: the CLI shows the library's, never a copy."""
    return cls.__dataclass_fields__[name].default


def alad_default(name: str):
    """ALAD's default for one parameter (the neural detectors' training defaults in ``--help``)."""
    import inspect

    from geogan.detectors.alad import ALAD

    return inspect.signature(ALAD).parameters[name].default


def ensemble_default() -> str:
    from geogan.training.stage import DEFAULT_ENSEMBLE

    return ", ".join(f"{n} for {d}" for d, n in DEFAULT_ENSEMBLE.items())


def numbers_text(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


# Options with a fixed set of values (geogan.choices) are annotated ``Literal[set]``: ``--help``
# lists the values, and any other is refused before the command runs.


class _Console(logging.Handler):
    """Prints the ``geogan`` logger's records as plain lines (warnings and errors on stderr)."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(record.getMessage(), err=record.levelno >= logging.WARNING)


@contextlib.contextmanager
def _console():
    """Route the stages' log records and :class:`GeoganWarning` s to the terminal."""
    logger = logging.getLogger("geogan")
    handler = _Console()
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if _STATE["quiet"] else logging.INFO)
    logger.propagate = False
    show = warnings.showwarning

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, GeoganWarning):
            typer.echo(f"warning: {message}", err=True)
        else:
            show(message, category, filename, lineno, file, line)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", GeoganWarning)
            warnings.showwarning = show_warning
            yield
    finally:
        logger.removeHandler(handler)
        logger.level, logger.propagate = saved


#: operating-system errors that are the user's to fix (a path, a disk, a host name), not bugs
_USER_OS_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError, NotADirectoryError,
                   socket.gaierror)
_USER_ERRNOS = {errno.ENAMETOOLONG, errno.ENOSPC, errno.EROFS, errno.ELOOP, errno.EDQUOT, errno.ENOTEMPTY}


def _is_users(exc: OSError) -> bool:
    return isinstance(exc, _USER_OS_ERRORS) or exc.errno in _USER_ERRNOS


def user_errors(fn):
    """Turn user mistakes into one line on stderr and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with _console():
                return fn(*args, **kwargs)
        except GeoganError as exc:
            if _STATE["debug"]:
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except OSError as exc:
            if _STATE["debug"] or not _is_users(exc):
                raise
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            typer.echo(f"error: {where}{exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
        except MemoryError as exc:
            if _STATE["debug"]:
                raise
            typer.echo(f"error: out of memory{f' ({exc})' if str(exc) else ''}; use a smaller grid, tile, sample "
                       f"or batch size, or a machine with more memory", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; rerun the same command to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper


def split_list(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    items = [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]
    return items or None


def units_map(text: Optional[str]) -> Optional[dict[str, str]]:
    if not text:
        return None
    out = {}
    for item in split_list(text) or []:
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise InputError(f"--units takes ELEMENT=UNIT pairs like Au=ppb,Cu=ppm; got {item!r}")
        out[key.strip()] = val.strip()
    return out


def parse_bounds(text: Optional[str]):
    if text is None:
        return None
    parts = split_list(text) or []
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 4:
        raise InputError(f"--bounds takes xmin,ymin,xmax,ymax; got {text!r}")
    return vals


def _version(value: bool) -> None:
    if value:
        from geogan._version import __version__

        typer.echo(f"geogan {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors and warnings (no progress, no status lines).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print geogan's version and exit.")] = False,
):
    _STATE["debug"], _STATE["quiet"] = debug, quiet


def main() -> None:  # console-script entry point
    app()

