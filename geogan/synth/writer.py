"""Writing a synthetic survey to disk: :func:`write_synthetic_survey`.

What lives here: :func:`write_synthetic_survey` and the :class:`SynthOutputs` it returns, and
the file formats it writes: the survey table as CSV (bare, like a laboratory's export) or
Parquet (one row group per generated chunk), ``deposits.csv`` and ``truth.json``, built in a
staging directory and moved into place only when complete. What does not: generating the
values (:mod:`geogan.synth.generator`), output checks and atomic replacement shared by every
stage (:mod:`geogan.stores.files`).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from geogan.stores.files import check_output, holds_output_lock, replace_path
from geogan.stores.ownership import foreign_entry, ownership, write_marker
from geogan.choices import SURVEY_FORMATS
from geogan.errors import ConfigError
from geogan.synth.generator import SynthGenerator
from geogan.synth.truth import deposits_table, truth_record
from geogan.synth.presets import (
    SynthPreset,
    resolve_elements,
    resolve_n_samples,
    resolve_preset,
    resolve_seed,
)

FORMATS = SURVEY_FORMATS  # the survey file formats synth writes
#: everything a synthetic survey directory holds (listed in its marker, geogan.stores.files.MARKER)
SYNTH_FILES = tuple(f"survey.{f}" for f in FORMATS) + ("deposits.csv", "truth.json")


@dataclass(frozen=True)
class SynthOutputs:
    """Paths written by :func:`write_synthetic_survey`.

    Each parameter is also an attribute of the same name; :meth:`describe` gives the lines
    ``geogan synth`` prints.

    Parameters
    ----------
    survey
        ``survey.csv`` or ``survey.parquet``.
    deposits
        ``deposits.csv``.
    truth
        ``truth.json``.
    crs
        CRS of the coordinates.
    n_samples
        Rows in the survey table.
    elements
        Element columns written.

    Raises
    ------
    OutputExistsError, ConfigError
        Not raised by the record, which checks nothing: :func:`write_synthetic_survey`, which
        makes it, raises them (see there).

    Examples
    --------
    >>> import os, tempfile
    >>> from geogan import write_synthetic_survey
    >>> out = write_synthetic_survey(os.path.join(tempfile.mkdtemp(), "synth"), n_samples=200,
    ...                              elements=["W", "Sn"], seed=1)
    >>> out.survey.name, out.n_samples, out.elements, out.crs
    ('survey.csv', 200, ('W_ppm', 'Sn_ppm'), 'EPSG:32650')
    >>> print(out.describe())  # doctest: +ELLIPSIS
    survey:   ...synth/survey.csv (200 samples, 2 elements)
    deposits: ...synth/deposits.csv
    truth:    ...synth/truth.json
    CRS:      EPSG:32650
    """

    survey: Path
    deposits: Path
    truth: Path
    crs: str
    n_samples: int
    elements: tuple[str, ...]

    def describe(self) -> str:
        """A few lines for the CLI to print."""
        return "\n".join([
            f"survey:   {self.survey} ({self.n_samples:,} samples, "
            f"{len(self.elements)} elements)",
            f"deposits: {self.deposits}",
            f"truth:    {self.truth}",
            f"CRS:      {self.crs}",
        ])


@holds_output_lock("out_dir")
def write_synthetic_survey(out_dir: str | os.PathLike, preset: str | SynthPreset = "demo", *,
                           n_samples: int | None = None,
                           elements: Sequence[str] | str | None = None, seed: int = 0,
                           fmt: str | None = None, overwrite: bool = False,
                           progress: bool = False) -> SynthOutputs:
    """Generate a synthetic survey and write it to ``out_dir``.

    Samples are generated and written in chunks (one Parquet row group each), so memory does
    not grow with ``n_samples``. Files are written into a temporary directory beside
    ``out_dir`` and renamed at the end: an interrupted run leaves nothing that looks complete.

    Parameters
    ----------
    out_dir
        Output directory; created. It may exist only if empty, unless ``overwrite``.
    preset, n_samples, elements, seed
        As in :func:`make_survey` (no sample limit here).
    fmt
        ``"csv"`` or ``"parquet"`` for the survey table; default the preset's (demo: csv,
        national: parquet).
    overwrite
        Replace an existing non-empty ``out_dir``.
    progress
        Show a progress bar over chunks (on stderr).

    Returns
    -------
    SynthOutputs
        Paths of ``survey.csv``/``survey.parquet``, ``deposits.csv`` and ``truth.json``,
        and the CRS of the coordinates.

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists and is not an empty directory, and ``overwrite`` is false.
    ConfigError
        Unknown preset, element or format; bad ``n_samples`` or ``seed``.

    Notes
    -----
    ``truth.json`` holds: ``preset``, ``seed``, ``crs``, ``extent``, ``n_samples``,
    ``n_field_duplicates``, ``elements`` (column, unit, detection limit, background,
    domain factors, realised censored and missing fractions), ``model`` (the formula and its
    parameters), ``domains`` (id, kind, centre, mean radius, outline harmonics) and
    ``halos`` (every halo, including undiscovered deposits with ``known: false``: centre,
    type, size, radius, azimuth, aspect, per-element peak amplitudes).

    Examples
    --------
    >>> import os, tempfile
    >>> out_dir = os.path.join(tempfile.mkdtemp(), "synth")
    >>> out = write_synthetic_survey(out_dir, "demo", n_samples=200, elements="W,Sn", seed=1)
    >>> sorted(p.name for p in out.survey.parent.iterdir() if not p.name.startswith("."))
    ['deposits.csv', 'survey.csv', 'truth.json']
    >>> write_synthetic_survey(out_dir, n_samples=200)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.OutputExistsError: ...synth exists; pass --overwrite to replace it
    >>> out = write_synthetic_survey(out_dir, n_samples=300, fmt="parquet", overwrite=True)
    >>> out.survey.name, out.n_samples
    ('survey.parquet', 300)
    """
    spec = resolve_preset(preset)
    n = resolve_n_samples(n_samples, spec)
    chosen = resolve_elements(elements, spec)
    seed = resolve_seed(seed)
    fmt = spec.fmt if fmt is None else str(fmt).lower()
    if fmt not in FORMATS:
        raise ConfigError(f"unknown survey format {fmt!r}; choose csv or parquet")
    out = Path(out_dir)
    check_output(out, overwrite=overwrite or _is_empty_dir(out), what="synthetic survey directory", kind="synth")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    # we hold the output's lock: a partial folder of geogan's beside it is a killed run's
    for stale in [*out.parent.glob(f".{glob.escape(out.name)}.partial-[0-9]*"), partial]:
        if not stale.name.rpartition("-")[2].isdigit():
            continue
        owned = ownership(stale) if stale.is_dir() and not stale.is_symlink() else None
        if owned is not None and owned[0] == "synth" and foreign_entry(stale, *owned) is None:
            shutil.rmtree(stale)
    partial.mkdir()
    survey_name = f"survey.{fmt}"
    write_marker(partial, "synth", [survey_name, *SYNTH_FILES[len(FORMATS):]])  # first: the folder is geogan's
    try:
        generator = SynthGenerator(spec, chosen, n, seed)
        _write_survey(generator, partial / survey_name, fmt, progress=progress)
        _write_csv(deposits_table(generator), partial / "deposits.csv")
        truth = truth_record(generator)
        (partial / "truth.json").write_text(json.dumps(truth, indent=1) + "\n",
                                            encoding="utf-8")
        # someone may have written meanwhile
        check_output(out, overwrite=overwrite or _is_empty_dir(out), what="synthetic survey directory", kind="synth")
        if out.is_symlink():  # replace the link, never delete what it points to
            out.unlink()
        replace_path(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return SynthOutputs(
        survey=out / survey_name,
        deposits=out / "deposits.csv",
        truth=out / "truth.json",
        crs=spec.crs,
        n_samples=n,
        elements=tuple(e.column for e in chosen),
    )


def _is_empty_dir(path: Path) -> bool:
    # an empty output directory (made beforehand, e.g. by mkdir) is filled without --overwrite
    return path.is_dir() and not any(path.iterdir())


def _write_survey(generator: SynthGenerator, path: Path, fmt: str, *, progress: bool) -> None:
    chunks = generator.chunks()
    if progress:
        chunks = _with_progress(chunks, generator.n_chunks, generator.n_samples)
    if fmt == "parquet":
        with pq.ParquetWriter(path, generator.schema, compression="zstd") as writer:
            for table in chunks:
                writer.write_table(table, row_group_size=max(len(table), 1))
        return
    with open(path, "wb") as sink:
        _write_csv_header(sink, generator.schema.names)
        with pa_csv.CSVWriter(sink, generator.schema, write_options=_CSV_OPTIONS) as writer:
            for table in chunks:
                writer.write_table(table)


# Arrow quotes every string and header when asked for "needed"; our strings never contain
# separators or quotes, so write them bare like a lab's CSV export (and the header by hand).
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def _write_csv_header(sink: Any, names: Sequence[str]) -> None:
    sink.write((",".join(names) + "\n").encode("utf-8"))


def _write_csv(table: pa.Table, path: Path) -> None:
    with open(path, "wb") as sink:
        _write_csv_header(sink, table.schema.names)
        pa_csv.write_csv(table, sink, write_options=_CSV_OPTIONS)


def _with_progress(chunks: Iterator[pa.Table], n_chunks: int, n_samples: int
                   ) -> Iterator[pa.Table]:
    from rich.progress import Progress  # only when asked: rich is slow to import

    with Progress(transient=True) as bar:
        task = bar.add_task(f"synth {n_samples:,} samples", total=n_chunks)
        for table in chunks:
            yield table
            bar.advance(task)
