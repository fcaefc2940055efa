"""Tests for geogan.errors: one hierarchy under GeoganError, and the one line each error prints
(``<file>:<row>: column '<column>': <what>``). The CLI's exit code for them: tests/cli/test_shell.py."""

import inspect
import pickle
import warnings
from pathlib import Path

import pytest

from geogan import errors
from geogan.errors import (CRSError, ConfigError, EvaluationError, GeoganError, GeoganWarning, GridError, InputError,
                           ModelError, OutputExistsError, StoreError, SurveyError)

#: every error class and the class it derives from
PARENTS = {InputError: GeoganError, SurveyError: InputError, CRSError: InputError, GridError: InputError,
           OutputExistsError: InputError, ConfigError: InputError, StoreError: GeoganError, ModelError: GeoganError,
           EvaluationError: GeoganError}


def test_every_error_of_the_module_is_a_geogan_error_with_its_documented_parent():
    defined = {obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, Exception) and obj.__module__ == errors.__name__}
    assert defined - {GeoganError, GeoganWarning} == set(PARENTS)  # a new error must be placed here too
    for cls, parent in PARENTS.items():
        assert cls.__bases__ == (parent,), cls.__name__
        assert issubclass(cls, GeoganError) and issubclass(cls, Exception)
    # the stores, models and evaluation are not the user's inputs: catching InputError leaves them
    assert not any(issubclass(cls, InputError) for cls in (StoreError, ModelError, EvaluationError))


def test_geogan_warning_is_a_warning_not_an_error():
    assert issubclass(GeoganWarning, UserWarning) and not issubclass(GeoganWarning, GeoganError)
    with pytest.warns(GeoganWarning, match="constant"):
        warnings.warn("W is constant", GeoganWarning)


@pytest.mark.parametrize("cls", list(PARENTS))
def test_catching_geogan_error_catches_each_of_them(cls):
    with pytest.raises(GeoganError, match="went wrong") as err:
        raise cls("went wrong", path="a.csv")
    assert type(err.value) is cls


@pytest.mark.parametrize(("kwargs", "text"), [
    ({}, "not a number"),
    ({"path": "till.csv"}, "till.csv: not a number"),
    ({"path": "till.csv", "row": 12}, "till.csv:12: not a number"),
    ({"path": "till.csv", "row": 12, "column": "Cu_ppm"}, "till.csv:12: column 'Cu_ppm': not a number"),
    ({"path": "till.csv", "column": "Cu_ppm"}, "till.csv: column 'Cu_ppm': not a number"),
    ({"row": 3}, "row 3: not a number"),
    ({"row": 3, "column": "Cu"}, "row 3: column 'Cu': not a number"),
    ({"column": "Cu"}, "column 'Cu': not a number"),
    ({"path": Path("data") / "till.csv", "row": 0}, "data/till.csv:0: not a number"),
], ids=["bare", "path", "path-row", "path-row-column", "path-column", "row", "row-column", "column", "pathlike"])
def test_the_message_names_the_file_row_and_column_that_are_given(kwargs, text):
    err = SurveyError("not a number", **kwargs)
    assert str(err) == err.format() == text
    assert err.message == "not a number" and err.row == kwargs.get("row") and err.column == kwargs.get("column")
    assert err.path == (None if "path" not in kwargs else str(kwargs["path"]))  # a PathLike is kept as text


def test_the_message_is_always_one_line():
    err = InputError("non-numeric value 'a\nb'  in\tthe   cell", path="x.csv", row=2, column="W\nppm")
    assert str(err) == "x.csv:2: column 'W\\nppm': non-numeric value 'a b' in the cell"
    assert "\n" not in str(err) and err.message == "non-numeric value 'a\nb'  in\tthe   cell"


def test_an_error_sent_between_processes_keeps_its_type_and_line():
    """Dask pickles an error raised on a worker: the client must raise the same line."""
    err = StoreError("tile row 0, col 1 cannot be read", path="grid.zarr")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is StoreError and str(back) == "grid.zarr: tile row 0, col 1 cannot be read"
