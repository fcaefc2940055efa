"""What one option accepts: its kind, range or choices (:class:`Key`), and :func:`option`, which declares it.

What lives here: the value kinds an option may take (:data:`KINDS`: a test and what the
message says a value must be; :data:`CONVERT`: what a valid value is stored as), :class:`Key`
and :func:`option`, the dataclass field of an options class; the :class:`Options` base that
checks every field, and :func:`split_options`, which routes a stage's keyword shortcuts to
its option classes (both also importable from :mod:`geogan.options`). What does not: the
stages' option classes (:mod:`geogan.options`).

>>> Key("num", 0, 1).problem(2)
'must be ≤ 1'
>>> Key("bounds").problem([0, 0, 1])
'must be four numbers [xmin, ymin, xmax, ymax]'
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from geogan.errors import ConfigError, GeoganError

__all__ = ["KINDS", "CONVERT", "Key", "option", "Options", "split_options"]


@dataclass(frozen=True)
class Key:
    """What one option takes: a kind (see :data:`KINDS`), a range, or a set of choices.

    >>> Key("int", 1).problem(0)
    'must be ≥ 1'
    >>> Key("str", choices=("log", "linear")).problem("cubic")
    'must be one of log, linear'
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | None = None

    def problem(self, value) -> str | None:
        """Why ``value`` is not acceptable, or None."""
        ok, wanted = KINDS[self.kind]
        if not ok(value):
            return f"must be {wanted}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"must be {'>' if self.low_open else '≥'} {_bound(self.low)}"
        if self.high is not None and value > self.high:
            return f"must be ≤ {_bound(self.high)}"
        return None


def _bound(x: float) -> str:
    """A range bound as people write it: ``10,000``, ``0.5``."""
    return f"{int(x):,}" if float(x).is_integer() and abs(x) >= 1000 else f"{x:g}"


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _is_num(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)


#: Each kind: (test, what the message says it must be).
KINDS = {
    "int": (_is_int, "an integer"),
    "num": (_is_num, "a finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string"),
    "crs": (lambda v: (isinstance(v, str) and v.strip() != "") or _is_int(v) or hasattr(v, "to_wkt"),
            "a CRS string like \"EPSG:32650\""),
    "strs": (lambda v: isinstance(v, str) or (isinstance(v, (list, tuple)) and len(v) > 0
                                              and all(isinstance(e, str) for e in v)),
             "a list of strings"),
    "nums": (lambda v: isinstance(v, (list, tuple)) and all(_is_num(e) for e in v), "a list of numbers"),
    "bounds": (lambda v: isinstance(v, (list, tuple)) and len(v) == 4 and all(_is_num(e) for e in v),
               "four numbers [xmin, ymin, xmax, ymax]"),
    "units": (lambda v: isinstance(v, Mapping) and all(isinstance(e, str) for e in v.values()),
              "a table of element = \"unit\""),
    "table": (lambda v: isinstance(v, Mapping), "a table"),
}


CONVERT = {  # what a valid value is stored as (TOML gives lists; ints stand for floats)
    "int": int,
    "num": float,
    "nums": lambda v: tuple(float(e) for e in v),
    "bounds": lambda v: tuple(float(e) for e in v),
    "strs": lambda v: [v] if isinstance(v, str) else list(v),
    "units": dict,
    "table": dict,
}


def option(default: Any = None, kind: str = "str", *, low: float | None = None, high: float | None = None,
           low_open: bool = False, choices: tuple[str, ...] | None = None, nullable: bool | None = None):
    """A dataclass field of an :class:`Options` class: its default and what it accepts.

    ``None`` is accepted where the default is ``None`` (it means "the stage decides"), or
    where ``nullable`` says so.
    """
    nullable = default is None if nullable is None else nullable
    return dataclasses.field(default=default, metadata={"key": Key(kind, low, high, low_open, choices),
                                                        "nullable": nullable})


class Options:
    """Base of the option classes: checks every field in ``__post_init__``.

    Subclasses are frozen dataclasses whose fields come from :func:`option`; ``error`` is the
    :class:`~geogan.errors.GeoganError` raised for a bad value.
    """

    error: ClassVar[type[GeoganError]] = ConfigError

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata["nullable"]:
                continue
            key: Key = f.metadata["key"]
            problem = key.problem(value)
            if problem:
                raise self.error(f"{f.name} {problem}, got {value!r}")
            if key.kind in CONVERT:
                object.__setattr__(self, f.name, CONVERT[key.kind](value))

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The field names (the keys of this stage's pipeline spec section)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def pick(cls, values: dict, base=None, names: Mapping[str, str] | None = None):
        """Build an instance from ``base`` (or the defaults) updated with the fields in ``values``.

        The fields are removed from ``values`` (so what remains belongs to another class).
        ``names`` maps the keywords that stand for the fields to the fields' names (default:
        the field names themselves).
        """
        names = {k: k for k in cls.keys()} if names is None else names
        mine = {field: values.pop(keyword) for keyword, field in names.items() if keyword in values}
        if base is None:
            return cls(**mine)
        if not isinstance(base, cls):
            raise TypeError(f"expected a {cls.__name__}, got {type(base).__name__}")
        return dataclasses.replace(base, **mine) if mine else base

    def to_dict(self) -> dict:
        """The fields as plain values (JSON-able for the built-in kinds)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def split_options(function: str, values: dict, *given: tuple) -> tuple:
    """Route a stage's keyword shortcuts to its option classes.

    ``given`` pairs each option class with the instance passed (or None), and optionally the
    keywords that stand for its fields (``{keyword: field}``, see :meth:`Options.pick`); the
    keyword ``values`` override its fields. Returns the instances in the order given. A
    keyword no class takes is a :class:`TypeError`, as Python raises for a misspelt argument.

    >>> from geogan.options import DepositOptions, EvalOptions
    >>> split_options("f", {"runs": 5}, (EvalOptions, None))
    (EvalOptions(min_dist_km=5.0, runs=5, seed=0),)
    >>> split_options("f", {"deposits_x": "E"}, (DepositOptions, None, {"deposits_x": "x"}))[0].x
    'E'
    >>> split_options("f", {"rnus": 5}, (EvalOptions, None))
    Traceback (most recent call last):
    TypeError: f() got an unexpected keyword argument 'rnus'
    """
    values = dict(values)
    out = tuple(cls.pick(values, base, *names) for cls, base, *names in given)
    if values:
        raise TypeError(f"{function}() got an unexpected keyword argument {next(iter(values))!r}")
    return out
