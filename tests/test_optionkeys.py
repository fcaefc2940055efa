"""Tests for geogan.optionkeys: what one option accepts (:class:`Key`: its kind, range, choices and
the words of the problem), what a valid value is stored as (CONVERT), :func:`option`, and the
checks of the :class:`Options` base on a class of the test's own. The stages' option classes,
``pick`` and ``split_options``: tests/test_options.py."""

import dataclasses
import math
from types import MappingProxyType

import numpy as np
import pyproj
import pytest

from geogan.errors import ConfigError, GridError
from geogan.optionkeys import CONVERT, KINDS, Key, Options, option


@pytest.mark.parametrize(("kind", "good", "bad"), [
    ("int", [0, -3, np.int64(7)], [True, np.bool_(True), 1.0, "1", None]),
    ("num", [0, 2.5, -1e300, np.float32(0.5), np.int32(3)], [math.nan, math.inf, -math.inf, False, "1.0", None]),
    ("bool", [True, False], [1, 0, np.bool_(True), "true"]),
    ("str", ["log", " x "], ["", "   ", 3, None]),
    ("crs", ["EPSG:32650", 4326, pyproj.CRS("EPSG:4326")], ["", " ", 4326.0, True, None]),
    ("strs", ["Au", ["Au", "W"], ("Au",)], [[], ["Au", 3], 3, None]),
    ("nums", [[], [1, 2.5], (0,)], [[1, "2"], [math.nan], "1,2", 3]),
    ("bounds", [[0, 0, 1, 1], (0.5, 1, 2, 3)], [[0, 0, 1], [0, 0, 1, 1, 2], [0, 0, 1, math.inf], "0,0,1,1"]),
    ("units", [{"Au": "ppb"}, {}, MappingProxyType({"W": "ppm"})], [{"Au": 1}, [("Au", "ppb")], "Au=ppb"]),
    ("table", [{}, {"a": 1}, MappingProxyType({})], [[], "a=1", None]),
])
def test_each_kind_accepts_its_values_and_names_what_it_wants(kind, good, bad):
    key = Key(kind)
    _, wanted = KINDS[kind]
    for value in good:
        assert key.problem(value) is None, value
    for value in bad:
        assert key.problem(value) == f"must be {wanted}", value


def test_the_words_of_each_kind():
    assert {kind: wanted for kind, (_, wanted) in KINDS.items()} == {
        "int": "an integer", "num": "a finite number", "bool": "true or false", "str": "a non-empty string",
        "crs": 'a CRS string like "EPSG:32650"', "strs": "a list of strings", "nums": "a list of numbers",
        "bounds": "four numbers [xmin, ymin, xmax, ymax]", "units": 'a table of element = "unit"',
        "table": "a table"}


def test_a_range_includes_its_bounds_unless_the_low_one_is_open():
    key = Key("num", 1, 5)
    assert [key.problem(v) for v in (1, 5, 3.3)] == [None, None, None]
    assert key.problem(0.999) == "must be ≥ 1" and key.problem(5.001) == "must be ≤ 5"
    open_low = Key("num", 0, 1, low_open=True)
    assert open_low.problem(0) == "must be > 0" and open_low.problem(1e-9) is None and open_low.problem(1) is None
    assert Key("int", high=3).problem(-10**9) is None  # no lower bound


def test_the_kind_is_checked_before_the_range_and_the_choices():
    assert Key("int", 1).problem(0.5) == "must be an integer"
    assert Key("str", choices=("log", "clr")).problem(3) == "must be a non-empty string"
    assert Key("str", choices=("log", "clr")).problem("ilr") == "must be one of log, clr"
    assert Key("str", choices=("log", "clr")).problem("clr") is None


@pytest.mark.parametrize(("key", "value", "problem"), [
    (Key("int", 10_000), 5, "must be ≥ 10,000"),
    (Key("int", high=1_048_576), 2_000_000, "must be ≤ 1,048,576"),
    (Key("num", -2000.0), -2001, "must be ≥ -2,000"),
    (Key("num", 0.5), 0.1, "must be ≥ 0.5"),
    (Key("num", 999.0), 1, "must be ≥ 999"),
    (Key("num", high=0.001), 1, "must be ≤ 0.001"),
    (Key("num", high=1e-7), 1, "must be ≤ 1e-07"),
    (Key("num", 1500.5), 1, "must be ≥ 1500.5"),
], ids=["thousands", "million", "negative", "half", "below-1000", "small", "tiny", "fraction"])
def test_bounds_are_written_as_people_write_them(key, value, problem):
    assert key.problem(value) == problem


def test_valid_values_are_stored_in_one_type_per_kind():
    assert set(CONVERT) <= set(KINDS)
    assert type(CONVERT["int"](np.int64(3))) is int and CONVERT["int"](np.int64(3)) == 3
    assert type(CONVERT["num"](2)) is float and CONVERT["num"](np.float32(0.5)) == 0.5
    assert CONVERT["nums"]([1, np.float32(2.5)]) == (1.0, 2.5) and CONVERT["nums"]([]) == ()
    assert CONVERT["bounds"]([0, 0, 1000, 1000]) == (0.0, 0.0, 1000.0, 1000.0)
    assert CONVERT["strs"]("Au") == ["Au"] and CONVERT["strs"](("Au", "W")) == ["Au", "W"]
    proxy = MappingProxyType({"Au": "ppb"})
    assert type(CONVERT["units"](proxy)) is dict and CONVERT["units"](proxy) == {"Au": "ppb"}
    assert type(CONVERT["table"](MappingProxyType({}))) is dict
    assert not set(CONVERT) & {"bool", "str", "crs"}  # kept as given


def test_option_declares_a_field_with_its_key_and_whether_none_is_allowed():
    @dataclasses.dataclass(frozen=True)
    class Opts:
        runs: int = option(20, "int", low=1)
        crs: str | None = option(None, "crs")
        limit: int | None = option(10, "int", low=1, nullable=True)
        mode: str = option("log", choices=("log", "clr"))
        fraction: float = option(0.5, "num", low=0, high=1, low_open=True)

    fields = {f.name: f for f in dataclasses.fields(Opts)}
    assert Opts() == Opts(runs=20, crs=None, limit=10, mode="log", fraction=0.5)
    assert fields["runs"].metadata["key"] == Key("int", 1) and fields["runs"].metadata["nullable"] is False
    assert fields["crs"].metadata["nullable"] is True  # a None default means "the stage decides"
    assert fields["limit"].metadata["nullable"] is True  # said explicitly
    assert fields["mode"].metadata["key"] == Key("str", choices=("log", "clr"))
    assert fields["fraction"].metadata["key"].problem(0) == "must be > 0"
    with pytest.raises(TypeError):  # the metadata is read-only
        fields["runs"].metadata["key"] = Key("num")


@dataclasses.dataclass(frozen=True)
class Tiles(Options):
    """An options class of the test's own."""

    error = GridError
    tile: int = option(512, "int", low=1)
    bounds: tuple | None = option(None, "bounds")
    names: list | None = option(None, "strs")


def test_the_options_base_checks_every_field_raises_its_error_and_stores_converted_values():
    assert Tiles() == Tiles(tile=512, bounds=None, names=None)  # None is accepted where it is the default
    made = Tiles(tile=np.int64(16), bounds=[0, 0, 10, 10], names="Au")
    assert type(made.tile) is int and made.bounds == (0.0, 0.0, 10.0, 10.0) and made.names == ["Au"]
    with pytest.raises(GridError, match=r"^tile must be ≥ 1, got 0$"):
        Tiles(tile=0)
    with pytest.raises(GridError, match=r"^tile must be an integer, got None$"):  # not nullable: its default is 512
        Tiles(tile=None)
    with pytest.raises(GridError, match=r"^bounds must be four numbers \[xmin, ymin, xmax, ymax\], got \[0, 1\]$"):
        Tiles(bounds=[0, 1])
    assert Options.error is ConfigError  # the error of a class that names none
    assert Tiles.keys() == ("tile", "bounds", "names")
    assert made.to_dict() == {"tile": 16, "bounds": (0.0, 0.0, 10.0, 10.0), "names": ["Au"]}
