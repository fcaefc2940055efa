"""Below-detection values: element options, cell parsing and censoring of element columns.

What lives here: the element options (:class:`ElementOptions`: elements, units,
``bdl_factor``, ``negative_is_bdl``, missing sentinels), cell parsing (:func:`parse_numbers`:
numbers, ``<v`` / ``>v`` text, null tokens, decimal commas) and :func:`element_values`, which
censors one element column's values (``<DL`` text or a ``<`` flag, negative-as-BDL, missing
sentinels, a bare 0 read as missing, unknown detection limits, ``bdl_factor`` x detection
limit). What must not: which column holds which element and unit (:mod:`geogan.survey.elements`),
opening files and coordinates (:mod:`geogan.survey.tables`, :mod:`geogan.survey.coordinates`, which import
this module, never the reverse), batch levelling (:mod:`geogan.survey.levelling`), the survey record
(:mod:`geogan.survey.read`).

All parsing is vectorised over whole columns with pyarrow compute kernels and numpy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from geogan.survey.elements import UNITS, normalise_symbol
from geogan.errors import ConfigError

if TYPE_CHECKING:
    from geogan.survey.tables import Table

__all__ = ["ElementOptions", "ParsedNumbers", "element_values", "parse_numbers"]

_NUMBER_RE = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"

# cell contents that mean "no value" (compared case-insensitively after stripping)
_NULL_TOKENS = ["", "na", "n/a", "n.a.", "nan", "-nan", "null", "none", "#n/a", "-", "--"]


# --------------------------------------------------------------------------------------
# options


@dataclass
class ElementOptions:
    """What to read from the element columns, validated (see :func:`geogan.survey.read.read_survey`).

    Attributes
    ----------
    elements
        Requested symbols or exact column names; ``None`` for every element column.
    units
        Symbol -> canonical unit, for columns whose names carry none.
    bdl_factor
        Below-detection values become ``bdl_factor`` x detection limit (0 < f <= 1).
    negative_is_bdl
        Negative numbers mean "below detection limit ``|v|``".
    missing
        Sentinel numbers meaning "no value".
    """

    elements: list[str] | None
    units: dict[str, str]
    bdl_factor: float
    negative_is_bdl: bool
    missing: tuple[float, ...]

    @classmethod
    def build(cls, *, elements, units, bdl_factor, negative_is_bdl, missing) -> ElementOptions:
        """Validate user options (lists or ``"Au,Ag"`` / ``"Au=ppb"`` text).

        >>> ElementOptions.build(elements="Au,W", units="Au=ppb", bdl_factor=0.5,
        ...                      negative_is_bdl=False, missing=-9999).units
        {'Au': 'ppb'}

        Raises
        ------
        ConfigError
            An empty element list, an unknown unit, ``bdl_factor`` outside (0, 1], a
            non-numeric sentinel.
        """
        if isinstance(elements, str):
            elements = [e for e in re.split(r"[,\s]+", elements) if e]
        if elements is not None:
            elements = [str(e).strip() for e in elements]
            if not elements:
                raise ConfigError("elements is empty; give at least one element or None for all")
        if isinstance(units, str):
            pairs = [p for p in re.split(r"[,\s]+", units) if p]
            parsed = {}
            for pair in pairs:
                key, value = _split_pair(pair)
                parsed[key] = value
            units = parsed
        canonical = {}
        for key, value in (units or {}).items():
            unit = UNITS.get(str(value).strip().lower())
            if unit is None:
                raise ConfigError(
                    f"unknown unit {value!r} for {key!r} in units; use one of "
                    + ", ".join(sorted(set(UNITS)))
                )
            canonical[normalise_symbol(str(key).strip())] = unit
        try:
            bdl_factor = float(bdl_factor)
        except (TypeError, ValueError):
            raise ConfigError(f"bdl_factor must be a number, got {bdl_factor!r}") from None
        if not 0 < bdl_factor <= 1:
            raise ConfigError(
                f"bdl_factor must be in (0, 1] (the fraction of the detection limit that "
                f"replaces a below-detection value), got {bdl_factor}"
            )
        if missing is None:
            missing = ()
        elif isinstance(missing, (int, float, str)):
            missing = (missing,)
        try:
            missing = tuple(float(m) for m in missing)
        except (TypeError, ValueError):
            raise ConfigError(f"missing sentinels must be numbers, got {missing!r}") from None
        return cls(elements, canonical, bdl_factor, bool(negative_is_bdl), missing)


def _split_pair(pair: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep:
        key, sep, value = pair.partition(":")
    if not sep or not key or not value:
        raise ConfigError(f"units entry {pair!r} must look like 'Au=ppb'")
    return key, value


# --------------------------------------------------------------------------------------
# cell parsing (vectorised)


@dataclass
class ParsedNumbers:
    """A column parsed by :func:`parse_numbers`."""

    value: np.ndarray  # float64, NaN = no number
    below: np.ndarray  # bool: written as '<v' (value = v)
    above: np.ndarray  # bool: written as '>v' (value = v)


def _np_bool(array) -> np.ndarray:
    return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def parse_numbers(
    array: pa.Array,
    *,
    decimal_comma: bool,
    allow_qualified: bool,
    fail: Callable[[int, str], None],
) -> ParsedNumbers:
    """Parse one column to float64, recognising ``<v`` and ``>v`` text.

    Cells such as ``NA``, ``-`` or empty are no value (NaN); with ``decimal_comma``,
    ``0,5`` reads as 0.5. Without ``allow_qualified`` (coordinates) ``<v`` and ``>v`` are
    refused. ``fail(index, message)`` raises the error for the first uninterpretable cell.

    >>> parsed = parse_numbers(pa.array(["1.5", "<0.5", "NA"]), decimal_comma=False,
    ...                        allow_qualified=True, fail=None)
    >>> parsed.value.tolist(), parsed.below.tolist()
    ([1.5, 0.5, nan], [False, True, False])
    """
    n = len(array)
    no = np.zeros(n, dtype=bool)
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        # numbers need no parsing; chunked arrays are concatenated once, by to_numpy
        value = pc.cast(array, pa.float64()).fill_null(math.nan).to_numpy()
        value = np.array(value, dtype=np.float64, copy=True)
        _check_finite(value, array, fail)
        return ParsedNumbers(value, no, no.copy())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    kind = array.type
    if pa.types.is_null(kind):
        return ParsedNumbers(np.full(n, math.nan), no, no.copy())
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        fail(0, f"column has type {kind}, expected numbers")
    text = pc.utf8_trim_whitespace(array)
    if decimal_comma:
        text = pc.replace_substring(text, pattern=",", replacement=".")
    is_null = _np_bool(pc.is_in(pc.utf8_lower(text), value_set=pa.array(_NULL_TOKENS)))
    is_null |= ~_np_bool(pc.is_valid(text))
    nulls = pa.array(is_null)
    cleaned = pc.if_else(nulls, pa.scalar(None, pa.string()), text)
    try:
        # fast path: a plain numeric column needs nothing else
        value = pc.cast(cleaned, pa.float64()).fill_null(math.nan).to_numpy(zero_copy_only=False)
        value = np.array(value, dtype=np.float64, copy=True)
        _check_finite(value, text, fail)
        return ParsedNumbers(value, no, no.copy())
    except pa.ArrowInvalid:
        pass
    below = _np_bool(pc.starts_with(text, pattern="<")) & ~is_null
    above = _np_bool(pc.starts_with(text, pattern=">")) & ~is_null
    plain = ~(is_null | below | above)
    value = np.full(n, math.nan)
    number_re = f"^{_NUMBER_RE}$"
    if plain.any():
        subset = text.filter(pa.array(plain))
        try:
            value[plain] = pc.cast(subset, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            ok = _np_bool(pc.match_substring_regex(subset, pattern=number_re))
            i = int(np.flatnonzero(plain)[_first_false(ok)])
            _fail_text(fail, i, text[i].as_py(), allow_qualified)
    for mask, sign in ((below, "<"), (above, ">")):
        if not mask.any():
            continue
        if not allow_qualified:
            i = int(np.flatnonzero(mask)[0])
            _fail_text(fail, i, text[i].as_py(), allow_qualified)
        subset = pc.replace_substring_regex(
            text.filter(pa.array(mask)), pattern=rf"^{sign}=?\s*", replacement=""
        )
        try:
            parsed = pc.cast(subset, pa.float64()).to_numpy(zero_copy_only=False)
            ok = np.isfinite(parsed)
        except pa.ArrowInvalid:
            ok = _np_bool(pc.match_substring_regex(subset, pattern=number_re))
            ok[_first_false(ok)] = False  # the cast refused something: report it
        if not ok.all():
            i = int(np.flatnonzero(mask)[_first_false(ok)])
            raw = text[i].as_py()
            what = "below-detection" if sign == "<" else "over-range"
            fail(
                i,
                f"malformed {what} value {raw!r}; write it as '{sign}number' (e.g. "
                f"'{sign}0.5') or leave the cell empty if there is no value",
            )
        value[mask] = parsed
    _check_finite(value, text, fail)
    return ParsedNumbers(value, below, above)


def _first_false(ok: np.ndarray) -> int:
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if bad.size else 0


def _fail_text(fail, index: int, raw: str, allow_qualified: bool) -> None:
    hint = ""
    if "\n" in raw or "\r" in raw:
        hint = " (a quoted value runs over several lines: is a quote unbalanced?)"
    shown = raw if len(raw) <= 40 else raw[:37] + "..."
    expected = (
        "a number, '<DL' for below detection, or an empty cell for no value"
        if allow_qualified
        else "a number"  # coordinates: neither censored nor missing
    )
    fail(index, f"non-numeric value {shown!r}{hint}; expected {expected}")


def _check_finite(value: np.ndarray, source, fail) -> None:
    bad = np.isinf(value)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        fail(i, f"infinite value {source[i].as_py()!r}; expected a finite number")


# --------------------------------------------------------------------------------------
# censoring one element column


def element_values(
    table: Table,
    options: ElementOptions,
    symbol: str,
    column: str,
    array: pa.Array,
    qualifier: str | None,
    arrays: dict[str, pa.Array],
    *,
    warnings: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """One element's float64 values (NaN = missing, censored ones already ``bdl_factor`` x
    the limit) and the boolean mask of below-detection values.

    ``column`` (read as ``array``) is the element's column and ``qualifier`` its flag column
    in ``arrays`` (:class:`geogan.survey.elements.ElementColumns` picks both); notes about what was
    done (unknown detection limits, zeros read as missing, flags) are appended to ``warnings``.
    """
    parsed = parse_numbers(
        array,
        decimal_comma=table.decimal_comma,
        allow_qualified=True,
        fail=table.failer(column),
    )
    v = parsed.value
    censored = parsed.below.copy()
    sentinel = np.isin(v, options.missing) & ~censored & ~parsed.above
    v[sentinel] = math.nan
    notes = []
    unknown_dl = censored & ~(v > 0)  # '<0' text
    flagged = np.zeros(len(v), dtype=bool)
    if qualifier is not None:
        flags = pc.utf8_trim_whitespace(arrays[qualifier])
        q_below = _np_bool(pc.match_substring(flags, pattern="<"))
        q_above = _np_bool(pc.match_substring(flags, pattern=">")) & ~q_below
        q_other = _np_bool(pc.greater(pc.utf8_length(flags), 0)) & ~q_below & ~q_above
        flagged = q_above | q_other
        # the value next to a '<' flag is the detection limit; <= 0 or none: unknown
        censored |= q_below
        unknown_dl |= q_below & ~(v > 0) & ~(options.negative_is_bdl & (v < 0))
        if q_above.any():
            notes.append(f"{int(q_above.sum())} flagged '>' in {qualifier!r} (over range; value kept)")
        if q_other.any():
            tokens = sorted(set(flags.filter(pa.array(q_other)).to_pylist()))
            notes.append(
                f"{int(q_other.sum())} flagged {', '.join(repr(t) for t in tokens)} in "
                f"{qualifier!r} (meaning unknown; values used as given)"
            )
    if parsed.above.any():
        notes.append(f"{int(parsed.above.sum())} written as '>v' (over range; v used)")
    negative = (v < 0) & ~unknown_dl
    if negative.any():
        if options.negative_is_bdl:
            censored |= negative
            v[negative] = -v[negative]
        else:
            raise table.error(
                f"negative concentration {float(v[np.flatnonzero(negative)[0]])!r}; if negative "
                "numbers mean 'below detection limit |v|' (GSWA convention), use "
                "--negative-is-bdl (negative_is_bdl=True); otherwise fix the value",
                index=int(np.flatnonzero(negative)[0]),
                column=column,
            )
    zero = (v == 0) & ~censored
    if zero.any():
        # 0 is not a measured concentration. In the GSWA exports it marks elements
        # not analysed (whole suites are 0 in the same rows), so it is no value; a
        # below-detection result needs evidence: '<' text, a '<' flag, a negative
        v[zero] = math.nan
        notes.append(
            f"{int(zero.sum())} value(s) of exactly 0 read as missing (write '<DL' or flag "
            "them '<' if 0 means below detection)"
        )
    if unknown_dl.any():
        # stand-in limit: the smallest plain detected value; values carrying another
        # flag (GTK's '!') reach far lower and would drag the stand-in down
        detected = v[~censored & (v > 0) & ~flagged]
        if not detected.size:
            detected = v[~censored & (v > 0)]
        if detected.size:
            dl = float(detected.min())
            v[unknown_dl] = dl
            notes.append(
                f"detection limit unknown for {int(unknown_dl.sum())} below-detection "
                f"value(s) (flag '<' with value <= 0 or none, or '<0'): used the smallest "
                f"detected value {dl:.4g} as the limit"
            )
        else:
            v[unknown_dl] = math.nan
            censored &= ~unknown_dl
            notes.append(
                f"{int(unknown_dl.sum())} below-detection value(s) without a usable limit and "
                "no detected value to estimate one; treated as missing"
            )
    v[censored] *= options.bdl_factor
    if notes:
        warnings.append(f"{symbol} ({column}): " + "; ".join(notes))
    return v, censored
