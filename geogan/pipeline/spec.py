"""Pipeline specs: the TOML a ``geogan run`` reads, its schema, and the specs shipped with geogan.

A spec names the survey (a file, or a ``synth`` preset), the grid, one or more detectors to
train, and the score/evaluate settings. Every key is checked against the stages' option
classes before any stage runs. Paths in a spec are resolved relative to the spec file, or
to the working directory for the specs shipped with geogan (``geogan run demo``,
:func:`bundled_specs`); URLs (``s3://bucket/run``, a survey in object storage) stay URLs.
Specs are data only (nothing in them is executed).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from geogan.errors import ConfigError
from geogan.grid.idw import IDWParams
from geogan.optionkeys import Key
from geogan.options import (DepositOptions, EvalOptions, GridOptions, Options, ScoreOptions, SurveyOptions,
                            TrainOptions)
from geogan.pipeline.location import Output, output_location
from geogan.stores.urls import is_url

__all__ = ["PipelineSpec", "SCHEMA", "bundled_specs", "load_spec"]

SECTIONS = {"output", "survey", "grid", "train", "score"}


#: The :class:`~geogan.options.DepositOptions` keys of each section, by their keywords: how the
#: deposits file is read in ``[survey]``, which deposits are kept in ``[score]``.
DEPOSIT_KEYS = {"survey": ("deposits_crs", "deposits_x", "deposits_y"),
                "score": ("deposit_type", "deposit_type_column")}


def _deposit_keys(section: str) -> dict[str, Key]:
    fields = {f.name: f.metadata["key"] for f in dataclasses.fields(DepositOptions)}
    return {k: fields[DepositOptions.keywords[k]] for k in DEPOSIT_KEYS[section]}


#: Keys of a spec section that are not stage options: where the survey comes from (a file, or a
#: ``synth`` preset with its seed, size, elements and format), the deposits file and how it is
#: read (:class:`~geogan.options.DepositOptions`, by its keywords), the cluster.
_SPEC_KEYS: dict[str, dict[str, Key]] = {
    "output": {"dir": Key("str")},
    "survey": {"path": Key("str"), "synth": Key("str"), "seed": Key("int", 0), "samples": Key("int", 1),
               "elements": Key("strs"), "format": Key("str", choices=("csv", "parquet")), "deposits": Key("str"),
               **_deposit_keys("survey")},
    "grid": {},
    "train": {},
    "score": _deposit_keys("score"),
    "cluster": {"scheduler": Key("str"), "workers": Key("int", 1)},
}
#: The option classes whose fields a section takes (its keys: :meth:`Options.keys`).
_SECTION_OPTIONS: dict[str, tuple[type[Options], ...]] = {
    "survey": (SurveyOptions,), "grid": (GridOptions, IDWParams), "train": (TrainOptions,),
    "score": (ScoreOptions, EvalOptions),
}


def _schema() -> dict[str, dict[str, Key]]:
    schema = {section: dict(keys) for section, keys in _SPEC_KEYS.items()}
    for section, classes in _SECTION_OPTIONS.items():
        for cls in classes:
            schema[section].update({f.name: f.metadata["key"] for f in dataclasses.fields(cls)})
    return schema


#: Every key a spec section takes, with its type and range, checked before any stage runs.
SCHEMA: dict[str, dict[str, Key]] = _schema()
#: ``[train.<name>]`` names become directory names: plain identifiers only.
TABLE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class PipelineSpec:
    """A parsed, validated pipeline spec; all paths absolute.

    Made by :func:`load_spec`; each parameter is also an attribute of the same name. The
    section tables keep the spec's keys (the option classes' field names, see
    :mod:`geogan.options`).

    Parameters
    ----------
    path
        The spec file.
    output
        The output directory (``[output] dir``): a resolved :class:`~pathlib.Path`, or an
        object-storage URL kept as its string (``s3://bucket/run``; see
        :mod:`geogan.pipeline.location`).
    survey
        The ``[survey]`` table: ``path`` (resolved) or ``synth``, deposits, survey options.
    grid
        The ``[grid]`` table: grid and IDW options.
    train
        ``{name: table}`` of the ``[train.<name>]`` tables.
    score
        The ``[score]`` table: score and evaluation options, the deposit type to keep.
    cluster
        The ``[cluster]`` table: ``scheduler``, ``workers``.

    Raises
    ------
    ConfigError
        Not raised by the record, which checks nothing: :func:`load_spec`, which makes it,
        raises it for an invalid spec.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> path = os.path.join(d, "small.toml")
    >>> with open(path, "w") as f:
    ...     _ = f.write('''
    ... [output]
    ... dir = "out"
    ... [survey]
    ... synth = "demo"
    ... samples = 500
    ... [grid]
    ... cell_size_m = 2000
    ... [train.maha]
    ... detector = "mahalanobis"
    ... sample = 1000
    ... ''')
    >>> spec = load_spec(path)
    >>> spec.output.name, spec.survey, list(spec.train)
    ('out', {'synth': 'demo', 'samples': 500}, ['maha'])
    """

    path: Path
    output: Output
    survey: dict
    grid: dict
    train: dict[str, dict]
    score: dict = field(default_factory=dict)
    cluster: dict = field(default_factory=dict)

    def deposit_options(self) -> DepositOptions:
        """How the deposits file is read: the deposit keys of ``[survey]`` and ``[score]``
        (:data:`DEPOSIT_KEYS`) as a :class:`~geogan.options.DepositOptions`."""
        return DepositOptions.pick({**self.survey, **self.score}, names=DepositOptions.keywords)


def _check_keys(table, section: str, where: str, path: Path) -> None:
    """Refuse unknown keys and values of the wrong type or range in one spec table."""
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}] must be a table", path=path)
    allowed = SCHEMA[section]
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in [{where}]; allowed: {', '.join(sorted(allowed))}",
                          path=path)
    for key, value in table.items():
        problem = allowed[key].problem(value)
        if problem:
            raise ConfigError(f"[{where}] {key} {problem}, got {value!r}", path=path)


def bundled_specs() -> list[str]:
    """The names of the pipeline specs shipped with geogan (``geogan run demo``).

    >>> bundled_specs()
    ['demo', 'national']
    """
    folder = resources.files("geogan").joinpath("pipelines")
    return sorted(p.name[:-len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def _spec_file(spec: str | os.PathLike) -> tuple[Path, Path]:
    """The spec's file and the folder its relative paths start from: a file's own folder, or the
    working directory for a spec shipped with geogan (named without a path, e.g. ``demo``)."""
    path = Path(spec)
    name = path.name[:-len(".toml")] if path.name.endswith(".toml") else path.name
    if not path.exists() and str(spec) in (name, f"{name}.toml") and name in bundled_specs():
        return Path(str(resources.files("geogan").joinpath("pipelines", f"{name}.toml"))), Path.cwd()
    return path.resolve(), path.resolve().parent


def load_spec(path: str | os.PathLike, *, overrides: dict | None = None) -> PipelineSpec:
    """Read and validate a pipeline spec (TOML): a file, or the name of a spec shipped with
    geogan (:func:`bundled_specs`; its relative paths start from the working directory).

    Every key of every section is checked (name, type, range) before any stage runs; the
    relative paths of a spec file start from the file's folder.

    Parameters
    ----------
    path
        The spec: a ``.toml`` file, or the name of a spec shipped with geogan (``"demo"``).
    overrides
        ``{section: {key: value}}`` replacing values of the ``grid``, ``score``, ``cluster``
        or ``survey`` sections (``geogan run``'s options).

    Returns
    -------
    PipelineSpec
        The spec, all paths absolute.

    Raises
    ------
    ConfigError
        The file is missing, a directory or not valid TOML; an unknown section or key, a value
        of the wrong type or out of range; no ``[output] dir``; not exactly one of ``[survey]
        path`` and ``synth``; no ``[train.<name>]`` table, one without ``detector`` or with a
        name that cannot be a directory name; ``deposit_type_column`` without ``deposit_type``.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> path = os.path.join(d, "small.toml")
    >>> with open(path, "w") as f:
    ...     _ = f.write('''
    ... [output]
    ... dir = "out"
    ... [survey]
    ... synth = "demo"
    ... samples = 500
    ... [grid]
    ... cell_size_m = 2000
    ... [train.maha]
    ... detector = "mahalanobis"
    ... sample = 1000
    ... ''')
    >>> spec = load_spec(path, overrides={"cluster": {"workers": 2}})
    >>> spec.grid, spec.train["maha"], spec.cluster
    ({'cell_size_m': 2000}, {'detector': 'mahalanobis', 'sample': 1000}, {'workers': 2})
    >>> with open(path, "a") as f:
    ...     _ = f.write("[grid2]\\n")
    >>> load_spec(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ConfigError: ...small.toml: unknown section(s) grid2; allowed: grid, output, score, survey, ...
    """
    path, base = _spec_file(path)
    if path.is_dir():
        raise ConfigError("is a directory, not a pipeline spec (a .toml file)", path=path)
    if not path.is_file():
        raise ConfigError(f"pipeline spec not found (shipped with geogan: {', '.join(bundled_specs())})"
                          if not path.exists() else "not a regular file: a pipeline spec is a .toml file", path=path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a valid TOML file ({exc})", path=path) from None
    unknown = sorted(set(raw) - SECTIONS - {"cluster"})
    if unknown:
        raise ConfigError(f"unknown section(s) {', '.join(unknown)}; allowed: {', '.join(sorted(SECTIONS))}, cluster",
                          path=path)

    def resolve(p):
        return str((base / p).resolve()) if p is not None else None

    out = raw.get("output", {})
    _check_keys(out, "output", "output", path)
    if "dir" not in out:
        raise ConfigError("[output] needs dir = \"...\" (relative to the spec)", path=path)
    _check_keys(raw.get("survey", {}), "survey", "survey", path)
    survey = dict(raw.get("survey", {}))
    if ("path" in survey) == ("synth" in survey):
        raise ConfigError("[survey] needs exactly one of path = \"survey.csv\" or synth = \"demo\"", path=path)
    for key in ("path", "deposits"):
        if survey.get(key) is not None and not is_url(survey[key]):
            survey[key] = resolve(survey[key])
    _check_keys(raw.get("grid", {}), "grid", "grid", path)
    grid = dict(raw.get("grid", {}))
    train = raw.get("train", {})
    if not isinstance(train, dict) or not train or not all(isinstance(v, dict) for v in train.values()):
        raise ConfigError("[train.<name>] tables are needed, e.g. [train.alad] detector = \"alad\"", path=path)
    for name, table in train.items():
        if not TABLE_NAME.fullmatch(name):
            raise ConfigError(f"[train.{name!r}]: a table name becomes a directory name under {out['dir']}/models "
                              f"and scores, so it must be 1 to 64 letters, digits, _ or - only", path=path)
        _check_keys(table, "train", f"train.{name}", path)
        if "detector" not in table:
            raise ConfigError(f"[train.{name}] needs detector = \"...\"", path=path)
        if isinstance(table.get("catalogue"), str):  # a pathfinder catalogue file, relative to the spec
            table["catalogue"] = resolve(table["catalogue"])
    _check_keys(raw.get("score", {}), "score", "score", path)
    score = dict(raw.get("score", {}))
    _check_keys(raw.get("cluster", {}), "cluster", "cluster", path)
    cluster = dict(raw.get("cluster", {}))
    for section, values in (overrides or {}).items():
        {"grid": grid, "score": score, "cluster": cluster, "survey": survey}[section].update(values)
    try:
        output = output_location(out["dir"], base)
    except ConfigError as exc:
        raise ConfigError(exc.message, path=path) from None
    spec = PipelineSpec(path=path, output=output, survey=survey, grid=grid, train=train, score=score,
                        cluster=cluster)
    try:  # the deposit keys together (a type column needs a type)
        spec.deposit_options()
    except ConfigError as exc:
        raise ConfigError(f"[score] {exc.message}", path=path) from None
    return spec
