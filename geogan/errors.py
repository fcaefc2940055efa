"""One error hierarchy for geogan.

Every error a user can cause derives from :class:`GeoganError`, so callers (the CLI,
notebooks, pipelines) can catch the library's errors as one. The message is built so that
``str(err)`` is the one line the CLI prints: ``<file>:<row>: <column>: <what>``.
"""

from __future__ import annotations

from os import PathLike


class GeoganError(Exception):
    """Root of all geogan errors.

    Parameters
    ----------
    message
        What went wrong and, where possible, what to do about it.
    path
        The file the problem is in, if any.
    row
        1-based data row (header excluded) in ``path``, if any.
    column
        Column or element name, if any.

    Raises
    ------
    GeoganError
        Not raised as itself: every stage raises one of its subclasses for a user mistake
        (:class:`InputError` and its subclasses :class:`SurveyError`, :class:`CRSError`,
        :class:`GridError`, :class:`OutputExistsError`, :class:`ConfigError`; and
        :class:`StoreError`, :class:`ModelError`, :class:`EvaluationError`), so catching
        ``GeoganError`` catches them all.

    Examples
    --------
    >>> from geogan.errors import GeoganError, SurveyError
    >>> err = SurveyError("not a number: 'abc'", path="till.csv", row=12, column="Cu_ppm")
    >>> str(err)
    "till.csv:12: column 'Cu_ppm': not a number: 'abc'"
    >>> from geogan import GridOptions
    >>> try:
    ...     GridOptions(cell_size_m=-1)
    ... except GeoganError as exc:
    ...     print(type(exc).__name__, "-", exc)
    GridError - cell_size_m must be > 0, got -1
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        super().__init__(self.format())

    def format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path if self.row is None else f"{self.path}:{self.row}")
        elif self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ": ".join(where)
        # one line, always: messages may quote user data containing newlines
        text = f"{prefix}: {self.message}" if prefix else self.message
        return " ".join(text.split())


class InputError(GeoganError):
    """A user-supplied input (file, option) is unusable."""


class SurveyError(InputError):
    """A survey table cannot be read or validated."""


class CRSError(InputError):
    """A coordinate reference system is missing, invalid or unsuitable."""


class GridError(InputError):
    """Grid parameters are invalid (cell size, bounds, tiling)."""


class StoreError(GeoganError):
    """A Zarr store is missing, not a geogan store, or incompatible."""


class OutputExistsError(InputError):
    """An output exists and ``overwrite`` was not given."""


class ModelError(GeoganError):
    """A model directory is missing, corrupt, unsafe or incompatible."""


class ConfigError(InputError):
    """A pipeline spec or option combination is invalid."""


class GeoganWarning(UserWarning):
    """A caveat about the user's data or options that does not stop the stage.

    Stages issue these through :func:`warnings.warn` (the CLI prints them as
    ``warning: …`` lines; notebooks show them as usual; ``warnings.filterwarnings`` can
    silence or escalate them). Progress and status lines go to the ``geogan`` logger instead.
    """


class EvaluationError(GeoganError):
    """Evaluation cannot be done as asked (e.g. area metrics in a geographic CRS)."""
