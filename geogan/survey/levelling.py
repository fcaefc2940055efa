"""Batch levelling: scale each laboratory / campaign so that its median matches the survey's.

What lives here: :func:`batch_candidates` (columns that look like batch identifiers),
:func:`level` (per element, each batch scaled multiplicatively to the overall median; a
JSON-able record of what was done), :func:`warn_batches` (without levelling: a warning when
batch medians differ more than :data:`BATCH_RATIO_WARN` x) and :func:`describe_levelling`
(the record as summary lines). What must not: reading or censoring the values
(:mod:`geogan.survey.censoring`), the survey record (:mod:`geogan.survey.read`). Notes go to the caller's
``warnings`` list.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["MIN_BATCH_VALUES", "BATCH_RATIO_WARN", "batch_candidates", "level", "warn_batches",
           "describe_levelling"]


_BATCH_NAME_RE = re.compile(
    r"wamex|batch|lab|campaign|survey|project|report|job|year|company|contractor", re.I
)
#: Batches with fewer present values than this are neither levelled nor compared.
MIN_BATCH_VALUES = 5
#: Batch-median ratio above which an unlevelled survey gets a warning.
BATCH_RATIO_WARN = 3.0


def batch_candidates(names: list[str], *, exclude) -> list[str]:
    """Columns named like batch identifiers (lab, batch, survey, report, year, ...), leaving out ``exclude``.

    >>> batch_candidates(["x", "y", "lab", "Au_ppb", "report_no"], exclude={"x", "y"})
    ['lab', 'report_no']
    """
    return [n for n in names if n and n not in exclude and _BATCH_NAME_RE.search(n)]


def level(values: np.ndarray, symbols: list[str], column: str, array, warnings: list[str]) -> dict:
    """Scale each batch of ``column`` (``array``), per element, to the overall median, in place.

    Parameters
    ----------
    values
        ``(n_rows, n_elements)`` float64, NaN = missing; scaled in place.
    symbols
        Element symbols, one per column of ``values``.
    column, array
        The batch column's name and its values (any type; empty and null are one batch).
    warnings
        Batches left unscaled (fewer than :data:`MIN_BATCH_VALUES` values, median not
        positive) are reported here.

    Returns
    -------
    dict
        JSON-able: ``{"column", "min_values", "elements": {symbol: {"overall_median",
        "batches": {label: {"n", "median_before", "factor", "median_after", "note"}}}}}``.
    """
    codes, labels = _batch_codes(array)
    counts, medians = _batch_medians(values, codes)
    record = {"column": column, "min_values": MIN_BATCH_VALUES, "elements": {}}
    for j, symbol in enumerate(symbols):
        v = values[:, j]
        overall = float(np.nanmedian(v))
        batches = {}
        factors = np.ones(len(labels))
        for b, label in enumerate(labels):
            n = int(counts[b, j])
            if n == 0:
                continue
            before = float(medians[b, j])
            entry = {"n": n, "median_before": before, "factor": None, "median_after": before, "note": ""}
            if n < MIN_BATCH_VALUES:
                entry["note"] = f"fewer than {MIN_BATCH_VALUES} values"
            elif not (before > 0 and overall > 0):
                entry["note"] = "median is not positive"
            else:
                factors[b] = overall / before
                entry["factor"] = float(factors[b])
            batches[label] = entry
        values[:, j] = v * factors[codes]
        record["elements"][symbol] = {"overall_median": overall, "batches": batches}
        unscaled = [f"{k} ({e['note']})" for k, e in batches.items() if e["factor"] is None]
        if unscaled:
            warnings.append(
                f"levelling {symbol} by {column!r}: batch(es) left unscaled: {', '.join(unscaled)}"
            )
    # medians after scaling, measured rather than assumed
    _, after = _batch_medians(values, codes)
    for j, symbol in enumerate(symbols):
        for b, label in enumerate(labels):
            entry = record["elements"][symbol]["batches"].get(label)
            if entry is not None:
                entry["median_after"] = float(after[b, j])
    return record

def warn_batches(values: np.ndarray, symbols: list[str], candidates: list[str], arrays, warnings: list[str]) -> None:
    """Warn (into ``warnings``) about each candidate batch column whose batch medians differ
    more than :data:`BATCH_RATIO_WARN` x for some element, suggesting ``level_by``."""
    for column in candidates:
        array = arrays[column]
        try:
            n_distinct = pc.count_distinct(array).as_py()
        except pa.ArrowNotImplementedError:
            continue
        if not 2 <= n_distinct <= 50:
            continue
        codes, labels = _batch_codes(array)
        counts, medians = _batch_medians(values, codes)
        flagged = []
        for j, symbol in enumerate(symbols):
            usable = {
                labels[b]: float(medians[b, j])
                for b in range(len(labels))
                if counts[b, j] >= MIN_BATCH_VALUES and medians[b, j] > 0
            }
            if len(usable) < 2:
                continue
            hi = max(usable, key=usable.get)
            lo = min(usable, key=usable.get)
            ratio = usable[hi] / usable[lo]
            if ratio > BATCH_RATIO_WARN:
                flagged.append(
                    f"{symbol} {ratio:.1f}x ({hi}: {usable[hi]:.3g} vs {lo}: {usable[lo]:.3g})"
                )
        if flagged:
            warnings.append(
                f"batch medians differ more than {BATCH_RATIO_WARN:g}x between values of "
                f"column {column!r} for " + ", ".join(flagged) + "; if these are different "
                f"laboratories or campaigns, level them with level_by={column!r} "
                f"(--level-by {column})"
            )



def _batch_codes(array: pa.Array) -> tuple[np.ndarray, list[str]]:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    text = pc.cast(array, pa.string()) if not pa.types.is_string(array.type) else array
    text = pc.fill_null(pc.utf8_trim_whitespace(text), "(missing)")
    text = pc.if_else(pc.equal(text, ""), "(missing)", text)
    encoded = pc.dictionary_encode(text)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    labels = [str(v) for v in encoded.dictionary.to_pylist()]
    return codes, labels


def _batch_medians(values: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per batch and element: (count of present values, median), each ``(n_batches, k)``.

    One stable sort by batch, then each batch is a contiguous slice: O(n) per element.
    """
    n_batches = int(codes.max()) + 1 if len(codes) else 0
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_batches + 1))
    counts = np.zeros((n_batches, values.shape[1]), dtype=np.int64)
    medians = np.full((n_batches, values.shape[1]), math.nan)
    for j in range(values.shape[1]):
        v = values[order, j]
        for b in range(n_batches):
            chunk = v[bounds[b] : bounds[b + 1]]
            chunk = chunk[~np.isnan(chunk)]
            counts[b, j] = chunk.size
            if chunk.size:
                medians[b, j] = float(np.median(chunk))
    return counts, medians



def describe_levelling(record: dict) -> list[str]:
    """Summary lines for a :func:`level` record: batch medians before -> after, per element."""
    lines = [f"  levelling by {record['column']!r} (batch medians before -> after):"]
    for element, entry in record["elements"].items():
        parts = []
        for batch, b in entry["batches"].items():
            if b["factor"] is None:
                parts.append(f"{batch}: n={b['n']} {_fmt(b['median_before'])} unscaled ({b['note']})")
            else:
                parts.append(
                    f"{batch}: n={b['n']} {_fmt(b['median_before'])} x{b['factor']:.3g}"
                    f" -> {_fmt(b['median_after'])}"
                )
        lines.append(f"    {element}: overall {_fmt(entry['overall_median'])}; " + "; ".join(parts))
    return lines


def _fmt(value) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"
