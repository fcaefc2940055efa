"""The CSV opener behind :func:`geogan.survey.tables.open_table`: a delimited text file read as columns.

What lives here: :func:`open_csv` (encoding detection: UTF-8, UTF-8 with BOM, UTF-16 with
BOM, else Latin-1; the file's SHA-256 in the same pass; the delimiter sniffed from
``, ; tab |``; decimal commas; lazy, cached column reads as pyarrow string arrays; ragged
lines; data-row index -> line number in the file) and :class:`CsvColumns`, the plain pieces
it returns. What must not: the :class:`geogan.survey.tables.Table` built from those pieces, the
other formats and the dispatch by suffix (:mod:`geogan.survey.tables`, which imports this module,
never the reverse), parsing the text into numbers (:mod:`geogan.survey.censoring`).

Rows are reported as *line numbers in the file* (the header is line 1, so an editor jumps
straight to the line).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from geogan.errors import InputError

__all__ = ["CsvColumns", "open_csv"]

_CSV_NULL_VALUES = ["", "NA", "N/A", "n/a", "NaN", "nan", "-nan", "NULL", "null", "#N/A", "-", "--"]
_DELIMITERS = (",", ";", "\t", "|")


class _Role(Protocol):
    # what :class:`geogan.survey.tables.TableRole` gives: the names in messages and the error class
    what: str
    item: str
    error: type[InputError]


@dataclass
class CsvColumns:
    """What :func:`open_csv` found: the pieces :class:`geogan.survey.tables.Table` is built from.

    Attributes
    ----------
    raw_names
        Column names as written in the header, file order.
    sha256
        Of the file's bytes.
    read_columns
        Raw names -> pyarrow string arrays (empty cells and ``NA``-like text are null); one
        pass over the file for all the names asked for, cached.
    n_rows
        Number of data rows (blank lines do not count).
    row_of
        0-based data-row index -> line number in the file (header = line 1).
    notes
        What the reader noticed (Latin-1 guessed, decimal commas), for warnings.
    decimal_comma
        Numbers are written with decimal commas (``0,5``).
    """

    raw_names: list[str]
    sha256: str
    read_columns: Callable[[list[str]], dict[str, pa.Array]]
    n_rows: Callable[[], int]
    row_of: Callable[[int], int]
    notes: list[str]
    decimal_comma: bool


def open_csv(path: Path, role: _Role) -> CsvColumns:
    """Open the delimited text file ``path``: a header line, then one data row per record.

    ``role`` (a :class:`geogan.survey.tables.TableRole`) names the table in messages and gives
    the error class.

    Raises
    ------
    InputError
        (``role.error``) The file is empty or blank, not valid UTF-16, has no detectable
        delimiter, cannot be parsed, or has a line with a field count other than the header's.
    """
    encoding, py_encoding, sha256, size, bad_offset = _scan_bytes(path)
    notes = []
    if size == 0:
        raise role.error(
            f"{role.what} file is empty; expected a header line and one row per {role.item}", path=path
        )
    if bad_offset is not None:
        if py_encoding == "utf-16":
            raise role.error(f"not valid UTF-16 at byte {bad_offset}; save the file as UTF-8", path=path)
        encoding = py_encoding = "latin-1"
        notes.append(
            f"file is not valid UTF-8 (byte offset {bad_offset}); read as Latin-1 — "
            "save it as UTF-8 if names or text look wrong"
        )

    sample = _read_sample(path, py_encoding)
    if not sample.strip():
        raise role.error("file holds only blank lines; expected a header and data rows", path=path)
    delimiter = _sniff_delimiter(sample, path, role)
    rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
    raw_names = rows[0]
    decimal_comma = delimiter != "," and _looks_decimal_comma(rows[1:50])
    if decimal_comma:
        notes.append("decimal commas detected (e.g. '0,5'); read as decimal points")
    read_columns, n_rows = _column_reader(path, role, encoding, py_encoding, delimiter, raw_names)
    return CsvColumns(
        raw_names=raw_names,
        sha256=sha256,
        read_columns=read_columns,
        n_rows=n_rows,
        row_of=_row_finder(path, py_encoding, delimiter),
        notes=notes,
        decimal_comma=decimal_comma,
    )


def _scan_bytes(path: Path) -> tuple[str, str, str, int, int | None]:
    """One pass over the file's bytes: its encoding (from a byte-order mark, else UTF-8) as
    pyarrow and Python name it, its SHA-256, its size, and the offset of the first byte that
    does not decode (``None`` when all do)."""
    # one pass: hash the bytes and check they decode as UTF-8 (streaming, so a large
    # file is never held in memory twice)
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head.startswith(codecs.BOM_UTF8):
            encoding, py_encoding = "utf-8", "utf-8-sig"
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = py_encoding = "utf-16"
        else:
            encoding = py_encoding = "utf-8"
        decoder = codecs.getincrementaldecoder(py_encoding)()
        bad_offset = None
        while chunk := f.read(1 << 23):
            digest.update(chunk)
            if bad_offset is None:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as err:
                    bad_offset = size + err.start
            size += len(chunk)
        if bad_offset is None:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                bad_offset = size
    return encoding, py_encoding, digest.hexdigest(), size, bad_offset


def _read_sample(path: Path, py_encoding: str) -> str:
    """The file's first 64 KiB of text, a partial last line dropped, to sniff the delimiter from."""
    with open(path, encoding=py_encoding, newline="") as f:
        sample = f.read(1 << 16)
        truncated_sample = bool(f.read(1))
    if truncated_sample:
        # the sample ends mid-line: drop the partial last line before sniffing
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        sample = sample[: cut + 1] if cut > 0 else sample
    return sample


def _column_reader(path: Path, role: _Role, encoding: str, py_encoding: str, delimiter: str,
                   raw_names: list[str]) -> tuple[Callable[[list[str]], dict[str, pa.Array]], Callable[[], int]]:
    """``read_columns(names)`` and ``n_rows()`` of :class:`CsvColumns`: each column parsed
    once, on first request, and kept."""
    cache: dict[str, pa.Array] = {}

    def read_columns(columns: list[str]) -> dict[str, pa.Array]:
        wanted = [c for c in dict.fromkeys(columns) if c not in cache]
        if wanted or not cache:
            table = _read_csv_table(path, role, encoding, py_encoding, delimiter, raw_names, wanted)
            for name in wanted:
                cache[name] = table.column(name)
            cache.setdefault("\0n_rows", pa.array([table.num_rows]))
        return {c: cache[c] for c in columns}

    def n_rows() -> int:
        read_columns([])
        return int(cache["\0n_rows"][0].as_py())

    return read_columns, n_rows


def _row_finder(path: Path, py_encoding: str, delimiter: str) -> Callable[[int], int]:
    """``row_of(index)`` of :class:`CsvColumns`: the file line of a data row, each looked up once."""
    line_cache: dict[int, int] = {}

    def row_of(index: int) -> int:
        if index not in line_cache:
            line_cache[index] = _csv_line_of_row(path, py_encoding, delimiter, index)
        return line_cache[index]

    return row_of


def _sniff_delimiter(sample: str, path: Path, role: _Role) -> str:
    best, best_fields = None, 1
    for delimiter in _DELIMITERS:
        counts = [len(r) for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
        if not counts or counts[0] < 2:
            continue
        # every full line of the sample should have the header's field count; the
        # last one may be a truncated line, which the reader reports later
        consistent = all(c == counts[0] for c in counts[:-1]) if len(counts) > 1 else True
        score = counts[0] if consistent else 1 + counts[0] / 1000
        if score > best_fields:
            best, best_fields = delimiter, score
    if best is None:
        first = sample.splitlines()[0][:80]
        raise role.error(
            f"cannot detect the delimiter: the header {first!r} splits into one column with "
            "',', ';', tab and '|'; save the table with one of those delimiters",
            path=path,
            row=1,
        )
    return best


def _looks_decimal_comma(rows: list[list[str]]) -> bool:
    comma = dot = 0
    for row in rows:
        for cell in row:
            cell = cell.strip()
            if re.fullmatch(r"[+-<]?\d+,\d+", cell):
                comma += 1
            elif re.fullmatch(r"[+-<]?\d*\.\d+", cell):
                dot += 1
    return comma > 0 and dot == 0


def _read_csv_table(path, role, encoding, py_encoding, delimiter, raw_names, columns) -> pa.Table:
    import pyarrow.csv as pacsv

    invalid = []

    def on_invalid(row) -> str:
        if not invalid:
            invalid.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=encoding, use_threads=True),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                # everything as text: a column is parsed once, by our rules, and a
                # '<0.5' a million rows down cannot break pyarrow's type inference
                column_types={c: pa.string() for c in columns},
                include_columns=columns or [raw_names[0]],
                strings_can_be_null=True,
                null_values=_CSV_NULL_VALUES,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise role.error(f"cannot parse the CSV: {err}", path=path) from None
    if invalid:
        line, fields = _csv_find_ragged_line(path, py_encoding, delimiter, len(raw_names))
        where = {"row": line} if line is not None else {}
        got = fields if fields is not None else invalid[0].actual_columns
        raise role.error(
            f"line has {got} fields but the header has {len(raw_names)}; the file may be "
            "truncated or a value may contain an unquoted delimiter",
            path=path,
            **where,
        )
    return table


def _csv_find_ragged_line(path, py_encoding, delimiter, n_fields) -> tuple[int | None, int | None]:
    with open(path, encoding=py_encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        next(reader, None)
        start = reader.line_num + 1
        for record in reader:
            if record and len(record) != n_fields:
                return start, len(record)
            start = reader.line_num + 1
    return None, None


def _csv_line_of_row(path, py_encoding, delimiter, index) -> int:
    # error path only: walk the file to turn a data-row index into the line an editor
    # shows (blank lines and quoted newlines make it differ from index + 2)
    with open(path, encoding=py_encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        next(reader, None)
        i = 0
        start = reader.line_num + 1  # a record starts on the line after the previous one
        for record in reader:
            if record:
                if i == index:
                    return start
                i += 1
            start = reader.line_num + 1
    return index + 2
