"""Read and validate survey point tables into a :class:`~geogan.survey.record.Survey`.

A survey table holds one row per sample: two coordinate columns (or a point geometry) and
one column per element, named with its unit (``Au_ppb``, ``W_ppm``, ``Fe2O3_pct``).
:func:`read_survey` turns such a table into a :class:`~geogan.survey.record.Survey`:
float64 coordinates, a ``(n_samples, n_elements)`` value matrix with below-detection values
substituted and missing values as NaN, plus a record of what was done (censoring, levelling,
merging of samples at identical coordinates) so that the grid store can carry it as
provenance.

What lives here: :func:`read_survey` and the orchestration of its steps
(open the table, pick coordinate, element, qualifier and batch columns, read them in one
pass, censor, level, merge samples at identical coordinates). What must not: the
:class:`~geogan.survey.record.Survey` record itself (:mod:`geogan.survey.record`), file formats
(:mod:`geogan.survey.tables`), coordinate detection and CRS checks (:mod:`geogan.survey.coordinates`; both
shared with the deposits), which column holds which element (:mod:`geogan.survey.elements`),
below-detection values and the value matrix (:mod:`geogan.survey.censoring`,
:mod:`geogan.survey.concentrations`), batch levelling (:mod:`geogan.survey.levelling`), merging samples
at identical coordinates (:mod:`geogan.survey.duplicates`).

The reader is strict: anything it cannot interpret (a non-numeric cell, a malformed
``<`` value, a negative concentration, coordinates outside the input CRS, mixed units
for one element) raises :class:`geogan.errors.SurveyError` naming the file, the row and
the column, and saying what to do. Rows are reported as *line numbers in the file* for
CSV (the header is line 1, so an editor jumps straight to the line) and as 1-based data
rows (features) for Parquet and vector files.

All parsing is vectorised over whole columns with pyarrow compute kernels and numpy, so
a national compilation (1.5 M rows x 39 elements) reads in well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from os import PathLike

import numpy as np

from geogan.survey import levelling
from geogan.options import SurveyOptions
from geogan.survey.censoring import ElementOptions
from geogan.survey.concentrations import concentration_matrix
from geogan.survey.coordinates import as_crs, coordinate_columns, read_coordinates
from geogan.survey.duplicates import merge_colocated
from geogan.survey.elements import ElementColumns
from geogan.errors import SurveyError
from geogan.survey.record import Survey
from geogan.survey.tables import Table, TableRole, open_table

__all__ = ["read_survey"]

_ROLE = TableRole("survey", "sample", SurveyError, xy_option="x= and y= (--x/--y)", crs_option="--input-crs")


# --------------------------------------------------------------------------------------
# public entry point


def read_survey(
    path: str | PathLike,
    *,
    x: str | None = None,
    y: str | None = None,
    input_crs=None,
    elements: Sequence[str] | str | None = None,
    units: Mapping[str, str] | str | None = None,
    bdl_factor: float = SurveyOptions.bdl_factor,
    negative_is_bdl: bool = SurveyOptions.negative_is_bdl,
    missing: Iterable[float] | float | None = SurveyOptions.missing,
    level_by: str | None = None,
    merge_duplicates: bool = True,
) -> Survey:
    """Read and validate a survey table.

    Parameters
    ----------
    path
        ``.csv`` / ``.txt`` / ``.tsv`` (delimiter ``, ; tab |`` and encoding UTF-8,
        UTF-8 with BOM, UTF-16 with BOM or Latin-1 detected), ``.parquet`` / ``.pq``, or
        a vector file such as ``.gpkg`` (first layer; point geometry gives the
        coordinates). A local path or an fsspec URL (``s3://bucket/survey.parquet``; see
        :mod:`geogan.stores.urls`). Read by :func:`geogan.survey.tables.open_table`.
    x, y
        Coordinate column names. Default: detected (case-insensitive) from ``x``/``y``,
        ``x_*``/``y_*`` (e.g. ``x_etrstm35fin``), ``easting``/``northing``, then
        ``lon``/``lat``/``longitude``/``latitude``; projected columns win over lon/lat.
    input_crs
        CRS of the coordinates (``"EPSG:3067"``). Default: the vector layer's CRS,
        EPSG:4326 for lon/lat columns, otherwise unknown (``Survey.crs is None``).
    elements
        Element symbols (``["Au", "Ag", "W"]`` or ``"Au,Ag,W"``); ``Au`` matches
        ``Au_ppb``, ``Au_ppm_511`` etc. but never an oxide such as ``AuO``; an oxide is
        asked for by its formula (``Fe2O3``). An exact column name (``Au_ppb``) picks
        that column. Default: every column named like an element with a unit; those
        without any value are then dropped with a warning.
    units
        Symbol -> unit for columns whose names carry none (``{"Au": "ppb"}`` lets a bare
        ``Au`` column match), or to choose between columns with different units.
        ``"Au=ppb,Ag=ppm"`` is accepted too.
    bdl_factor
        Below-detection values become ``bdl_factor`` x detection limit (0 < f <= 1).
    negative_is_bdl
        Negative numbers mean "below detection limit ``|v|``" (GSWA export convention).
        Without it a negative concentration is an error.
    missing
        Sentinel numbers meaning "no value" (any number of them). Empty cells and
        ``NA``/``NaN``/``-`` are always missing.
    level_by
        Column identifying batches (laboratory, campaign, report): each batch is scaled
        multiplicatively, per element, so that its median equals the overall median.
        Batches with fewer than 5 values of an element are left unscaled (recorded).
    merge_duplicates
        Average samples at identical coordinates (per element, over present values).

    Returns
    -------
    Survey

    Raises
    ------
    SurveyError
        The file cannot be read or a cell cannot be interpreted; the message names the
        file, the row (CSV: line number in the file, header = line 1; Parquet and
        vector files: 1-based data row) and the column.
    CRSError
        ``input_crs`` is invalid.
    ConfigError
        An option is invalid (``bdl_factor``, an unknown unit in ``units``).

    Notes
    -----
    Below-detection values are recognised as text ``<0.5`` (detection limit 0.5),
    a qualifier column holding ``<`` next to the element column (GTK:
    ``Zr_511P_T`` qualifies ``Zr_ppm_511``; the element column then holds the detection
    limit), and negative numbers with ``negative_is_bdl``. Where the detection limit is
    unknown (qualifier ``<`` with a value <= 0 or none, or ``<0``) the smallest detected
    unflagged value of that element stands in for it, with a warning. A bare 0 is read
    as missing (not a measurement; GSWA exports write 0 for "not analysed"), with a
    warning. ``>v`` (over range) keeps ``v``; other qualifier flags (GTK's ``!``) keep
    the value; both are counted in the warnings.

    Examples
    --------
    >>> survey = read_survey("till.csv", elements=["Cu", "Zr"])  # doctest: +SKIP
    >>> print(survey.summary())  # doctest: +SKIP

    A small table written here:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "till.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("x,y,Cu_ppm,Zr_ppm\\n400000,7000000,12,<5\\n400500,7000000,15,140\\n")
    >>> survey = read_survey(path, input_crs="EPSG:3067", elements="Cu,Zr")
    >>> survey  # doctest: +ELLIPSIS
    Survey('...till.csv', n_samples=2, n_rows=2, elements=['Cu', 'Zr'], crs='EPSG:3067')
    >>> survey.values.tolist()
    [[12.0, 2.5], [15.0, 140.0]]
    >>> read_survey(path, elements=["Au"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.SurveyError: ...till.csv: column 'Au': element 'Au' not found: no column like Au_ppm / Au_ppb / ...
    """
    options = ElementOptions.build(
        elements=elements,
        units=units,
        bdl_factor=bdl_factor,
        negative_is_bdl=negative_is_bdl,
        missing=missing,
    )
    crs_given = None if input_crs is None else as_crs(input_crs, what="input CRS", path=path)
    with open_table(path, role=_ROLE) as table:  # a URL is read from a temporary local copy
        return _read(
            table,
            x=x,
            y=y,
            input_crs=crs_given,
            options=options,
            level_by=level_by,
            merge_duplicates=merge_duplicates,
        )


# --------------------------------------------------------------------------------------
# the reader


def _read(table: Table, *, x, y, input_crs, options: ElementOptions, level_by, merge_duplicates) -> Survey:
    warnings: list[str] = []
    table.check_names()
    coords = coordinate_columns(table, x, y)
    if level_by is not None:
        level_by = table.find_column(level_by, what="level_by")
    used = set(c for c in coords if c is not None)
    elements = ElementColumns(table, elements=options.elements, units=options.units, warnings=warnings)
    element_candidates = elements.element_candidates(exclude=used | {level_by})
    qualifier_candidates = elements.qualifier_candidates(element_candidates, exclude=used | {level_by})
    batch_candidates = [] if level_by else levelling.batch_candidates(table.names, exclude=used)
    wanted = list(dict.fromkeys(
        [c for c in coords if c is not None]
        + ([level_by] if level_by else [])
        + batch_candidates
        + [c for cols in element_candidates.values() for c in cols]
        + qualifier_candidates
    ))
    arrays = table.columns(wanted)
    n_rows = table.require_rows()

    x, y, crs = read_coordinates(table, coords, arrays, input_crs=input_crs)
    warnings.extend(table.notes)
    if crs is None and (np.abs(x) <= 180).all() and (np.abs(y) <= 90).all():
        names = coords if coords[0] is not None else ("<geometry x>", "<geometry y>")
        warnings.append(
            f"coordinates {names[0]!r}/{names[1]!r} all lie within ±180/±90 and no input CRS "
            "is known: if they are degrees, pass input_crs (e.g. EPSG:4326, or the survey's "
            "datum such as GDA94 EPSG:4283)"
        )
    chosen = elements.choose_element_columns(element_candidates, arrays)
    qualifiers = elements.pair_qualifiers(chosen, qualifier_candidates, arrays)

    values, symbols, censored_fraction, missing_fraction = concentration_matrix(
        table, options, chosen, qualifiers, arrays, n_rows=n_rows, warnings=warnings
    )

    record = None
    if level_by is not None:
        record = levelling.level(values, symbols, level_by, arrays[level_by], warnings)
    else:
        levelling.warn_batches(values, symbols, batch_candidates, arrays, warnings)

    x, y, values, n_merged = merge_colocated(x, y, values, merge=merge_duplicates, path=table.path)

    return Survey(
        path=table.source,
        x=x,
        y=y,
        crs=crs,
        elements=symbols,
        units={s: chosen[s][1] for s in symbols},
        columns={s: chosen[s][0] for s in symbols},
        values=values,
        censored_fraction=censored_fraction,
        n_rows=n_rows,
        n_merged=n_merged,
        levelling=record,
        source_sha256=table.sha256,
        warnings=warnings,
        x_column=coords[0] or "<geometry>",
        y_column=coords[1] or "<geometry>",
        missing_fraction=missing_fraction,
    )
