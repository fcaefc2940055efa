"""The in-memory front door of the synthetic-survey generator: :func:`make_survey`.

What lives here: :func:`make_survey` and the :class:`SynthSurvey` it returns (tables as
pandas DataFrames, the truth as a dict). What does not: writing files
(:mod:`geogan.synth.writer`), the generator itself (:mod:`geogan.synth.generator`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

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


@dataclass(frozen=True)
class SynthSurvey:
    """An in-memory synthetic survey, made by :func:`make_survey`.

    Each parameter is also an attribute of the same name; :attr:`crs` is ``truth["crs"]``.

    Parameters
    ----------
    table
        The survey as written: ``sample_id``, ``x``, ``y`` (metres of ``truth["crs"]``) and
        one ``<symbol>_<unit>`` column per element; censorable columns are text holding
        numbers and ``"<DL"``, missing cells are NaN.
    deposits
        Known deposits: ``deposit_id, x, y, type, size, setting``.
    truth
        Everything the generator used (see :func:`write_synthetic_survey`).

    Raises
    ------
    ConfigError
        Not raised by the record, which checks nothing: :func:`make_survey`, which makes it,
        raises it for an unknown preset or element, a bad ``n_samples`` or ``seed``, or too
        many samples.

    Examples
    --------
    >>> from geogan import make_survey
    >>> survey = make_survey("demo", n_samples=200, elements=["W", "Sn"], seed=3)
    >>> survey.crs, survey.table.shape
    ('EPSG:32650', (200, 6))
    >>> list(survey.deposits.columns)
    ['deposit_id', 'x', 'y', 'type', 'size', 'setting']
    """

    table: pd.DataFrame
    deposits: pd.DataFrame
    truth: dict[str, Any]

    @property
    def crs(self) -> str:
        """CRS of ``x``/``y``, e.g. ``"EPSG:32650"``."""
        return self.truth["crs"]


def make_survey(preset: str | SynthPreset = "demo", *, n_samples: int | None = None,
                elements: Sequence[str] | str | None = None, seed: int = 0) -> SynthSurvey:
    """Generate a synthetic survey in memory.

    Parameters
    ----------
    preset
        ``"demo"``, ``"national"`` (see :data:`PRESETS`) or a :class:`SynthPreset`.
    n_samples
        Number of samples; default the preset's. In memory this is limited to 1,000,000:
        use :func:`write_synthetic_survey` for the full national preset.
    elements
        Element symbols (``["W", "Sn"]``, column names such as ``"W_ppm"`` also work, or one
        comma-separated string); default the preset's. Values of an element do not depend on
        which other elements are chosen.
    seed
        Seed of every random draw; the same seed gives the same survey.

    Returns
    -------
    SynthSurvey
        ``.table`` (as it would be written), ``.deposits`` (known deposits), ``.truth``.

    Raises
    ------
    ConfigError
        Unknown preset or element, bad ``n_samples`` or ``seed``, or too many samples.

    Examples
    --------
    >>> from geogan import make_survey
    >>> survey = make_survey("demo", n_samples=200, elements="W,Sn", seed=3)
    >>> list(survey.table.columns)
    ['sample_id', 'x', 'y', 'W_ppm', 'Sn_ppm', 'lab']
    >>> len(survey.deposits), survey.truth["n_samples"]
    (20, 200)
    >>> make_survey("demo", elements=["Xx"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ConfigError: unknown element 'Xx'; the generator knows Ag As Au ...
    """
    spec = resolve_preset(preset)
    n = resolve_n_samples(n_samples, spec)
    if n > 1_000_000:
        raise ConfigError(
            f"{n:,} samples is too many to hold in memory here; use "
            "write_synthetic_survey (geogan synth) which streams them to disk"
        )
    generator = SynthGenerator(spec, resolve_elements(elements, spec), n, resolve_seed(seed))
    table = pa.concat_tables(list(generator.chunks()))
    return SynthSurvey(
        table=table.to_pandas(),
        deposits=deposits_table(generator).to_pandas(),
        truth=truth_record(generator),
    )

