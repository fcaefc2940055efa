"""The survey's concentration matrix: one column per chosen element, censored, empty ones dropped.

What lives here: :func:`concentration_matrix` (each chosen element column censored by
:func:`geogan.survey.censoring.element_values` into a ``(n_rows, n_elements)`` float64 matrix; an
element without any value is dropped with a warning when the elements were detected and
refused when they were asked for; per-element censored and missing fractions; a warning for
an element that is below detection everywhere). What must not: which column holds which
element (:mod:`geogan.survey.elements`), parsing and censoring one column (:mod:`geogan.survey.censoring`),
levelling and merging the rows (:mod:`geogan.survey.levelling`, :mod:`geogan.survey.duplicates`), the
survey record (:mod:`geogan.survey.read`, which imports this module, never the reverse). Notes go
to the caller's ``warnings`` list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from geogan.survey.censoring import ElementOptions, element_values
from geogan.errors import SurveyError

if TYPE_CHECKING:
    from geogan.survey.tables import Table

__all__ = ["concentration_matrix"]


def concentration_matrix(
    table: Table,
    options: ElementOptions,
    chosen: dict[str, tuple[str, str]],
    qualifiers: dict[str, str],
    arrays: dict[str, pa.Array],
    *,
    n_rows: int,
    warnings: list[str],
) -> tuple[np.ndarray, list[str], dict[str, float], dict[str, float]]:
    """The censored values of the chosen element columns, one matrix column per element.

    Parameters
    ----------
    table
        The survey table, for :attr:`~geogan.survey.tables.Table.decimal_comma` and the errors.
    options
        What to read (:class:`geogan.survey.censoring.ElementOptions`); ``options.elements is None``
        (every element column detected) lets an element without any value be dropped.
    chosen, qualifiers
        Symbol -> (column, unit) and symbol -> qualifier column, from
        :class:`geogan.survey.elements.ElementColumns`.
    arrays
        The columns read (:meth:`geogan.survey.tables.Table.columns`).
    n_rows
        Data rows in the table.
    warnings
        Notes about what was done are appended to it.

    Returns
    -------
    values, symbols, censored_fraction, missing_fraction
        ``(n_rows, len(symbols))`` float64 (NaN = missing); the symbols kept, in the order
        of ``chosen``; per symbol, the fraction of present values below detection and the
        fraction of rows without a value.

    Raises
    ------
    SurveyError
        An element asked for has no value, or no element column has any.
    """
    symbols = list(chosen)
    values = np.empty((n_rows, len(symbols)), dtype=np.float64)
    censored_fraction, missing_fraction = {}, {}
    keep, empty = [], []
    for j, symbol in enumerate(symbols):
        column, _unit = chosen[symbol]
        v, cens = element_values(
            table, options, symbol, column, arrays[column], qualifiers.get(symbol), arrays,
            warnings=warnings,
        )
        present = ~np.isnan(v)
        if not present.any():
            if options.elements is None:
                empty.append(column)
                continue
            raise SurveyError(
                "element has no values (every cell empty or a missing sentinel); "
                "leave it out of elements",
                path=table.path,
                column=column,
            )
        values[:, j] = v
        keep.append(j)
        censored_fraction[symbol] = float(cens.sum() / present.sum())
        missing_fraction[symbol] = float(1.0 - present.mean())
        if cens[present].all():
            warnings.append(f"{symbol} ({column}): every value is below detection, so it cannot tell "
                            f"samples apart; consider leaving it out (--elements)")
    if empty:
        warnings.append(
            f"{len(empty)} element column(s) without any value left out: {', '.join(empty)}"
        )
    if not keep:
        raise SurveyError(
            "no element column has any value; check the file or name elements explicitly",
            path=table.path,
        )
    if len(keep) < len(symbols):
        values = values[:, keep]
        symbols = [symbols[j] for j in keep]
    return values, symbols, censored_fraction, missing_fraction
