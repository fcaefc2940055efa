"""``geogan run SPEC.toml``: the whole chain from one declarative spec.

A spec names the survey (a file, or a ``synth`` preset), the grid, one or more detectors to
train, and the score/evaluate settings. Stages whose outputs exist and were made from the
same settings and inputs are skipped (a stage's stamp is a hash of its settings and of its
inputs' stamps, kept in ``<output>/run-state.json``). Paths in a spec are resolved relative
to the spec file, or to the working directory for the specs shipped with geogan
(``geogan run demo``, :func:`bundled_specs`); specs are data only (nothing in them is executed).

Layout of the output directory::

    survey/            (synth presets only) survey table, deposits.csv, truth.json
    grid.zarr
    models/<name>/     one model dir per [train.<name>] table
    scores/<name>/     scores.zarr + anomaly.tif (+ report/ of that detector)
    report/            all detectors side by side: index.html, map.png, roc.png, pa.png, metrics.json
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
import tomllib
from importlib import resources
from dataclasses import dataclass, field
from pathlib import Path

from geogan.stores.files import check_disjoint, file_sha256, output_lock
from geogan.stores.ownership import check_replaceable, geotiff_is_ours, ownership, small_json, write_file, write_marker
from geogan.errors import ConfigError, GeoganError, InputError, OutputExistsError
from geogan.grid.idw import IDWParams
from geogan.options import (EvalOptions, GridOptions, Key, Options, ScoreOptions, SurveyOptions, TrainOptions)
from geogan.survey.pathfinders import catalogue_digest
from geogan.stores.urls import filesystem, is_url

SECTIONS = {"output", "survey", "grid", "train", "score"}
log = logging.getLogger(__name__)


#: Keys of a spec section that are not stage options: where the survey comes from (a file, or a
#: ``synth`` preset with its seed, size, elements and format), the deposits file, the cluster.
_SPEC_KEYS: dict[str, dict[str, Key]] = {
    "output": {"dir": Key("str")},
    "survey": {"path": Key("str"), "synth": Key("str"), "seed": Key("int", 0), "samples": Key("int", 1),
               "elements": Key("strs"), "format": Key("str", choices=("csv", "parquet")), "deposits": Key("str"),
               "deposits_crs": Key("crs"), "deposits_x": Key("str"), "deposits_y": Key("str")},
    "grid": {},
    "train": {},
    "score": {"deposit_type": Key("str")},
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
    """A parsed, validated pipeline spec; all paths absolute."""

    path: Path
    output: Path
    survey: dict
    grid: dict
    train: dict[str, dict]
    score: dict = field(default_factory=dict)
    cluster: dict = field(default_factory=dict)


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
    geogan (:func:`bundled_specs`; its relative paths start from the working directory)."""
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
    return PipelineSpec(path=path, output=Path(resolve(out["dir"])), survey=survey, grid=grid, train=train,
                        score=score, cluster=cluster)


def _target_of(model_dir: Path) -> dict | None:
    """What a trained model looks for (its config's target section), for the summary and report."""
    try:
        target = json.loads((model_dir / "config.json").read_text()).get("target")
    except (OSError, ValueError):
        return None
    if not isinstance(target, dict):
        return None
    info = target.get("info") or {}
    return {"element": target.get("target"), "deposit_type": info.get("deposit_type"), "suite": info.get("suite"),
            "predictors": target.get("predictors"), "weight": target.get("weight")}


def _stamp(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class _State:
    """``run-state.json``: each finished stage's stamp, and the paths this pipeline owns.

    A path is owned once the pipeline has claimed it (before its stage first writes it), so
    a rerun may replace it; anything else already in the output directory is the user's and
    is only replaced with ``overwrite``.
    """

    def __init__(self, out: Path):
        self.out = out
        self.file = out / "run-state.json"
        if os.path.lexists(self.file) and not self.file.is_file():
            raise ConfigError("is not a file; remove it to start afresh", path=self.file)
        try:
            self.data = json.loads(self.file.read_text()) if self.file.is_file() else {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the pipeline state ({exc}); remove it to start afresh",
                              path=self.file) from None
        if not isinstance(self.data, dict):
            raise ConfigError("not a geogan pipeline state; remove it to start afresh", path=self.file)
        if self.data and "owned" not in self.data:  # written before ownership was recorded: its stages'
            stages = {"synth": "survey", "grid": "grid.zarr"}  # outputs, and the report they fed, are ours
            owned = [stages.get(k) or k.replace("train.", "models/").replace("score.", "scores/")
                     for k in self.data if k in stages or k.startswith(("train.", "score."))]
            self.data["owned"] = owned + (["report"] if any(k.startswith("score.") for k in self.data) else [])
        owned = self.data.get("owned", [])
        if not isinstance(owned, list) or not all(isinstance(o, str) for o in owned):
            raise ConfigError(f"'owned' must be a list of paths, got {json.dumps(owned)[:60]}; remove the file to "
                              f"start afresh", path=self.file)

    def fresh(self, stage: str, stamp: str, *outputs: Path) -> bool:
        return self.data.get(stage) == stamp and all(p.exists() for p in outputs)

    def claim(self, outputs: list[tuple[str, Path]], *, overwrite: bool) -> None:
        """Make each ``(stage, path)`` output the pipeline's to replace, or refuse (claiming none).

        An output this pipeline did not write needs ``overwrite``; with or without it, only an
        output carrying geogan's marker is replaced, and never one holding files of the
        user's (:func:`geogan.stores.files.check_replaceable`)."""
        owned = self.data.get("owned", [])
        new = []
        for stage, path in outputs:
            rel = path.relative_to(self.out).as_posix()
            if os.path.lexists(path) and path.resolve() != self.out.resolve() / rel:
                raise OutputExistsError(f"{path} is (or lies under) a symbolic link; geogan run writes its outputs "
                                        f"inside {self.out} itself: remove the link", path=None)
            if rel in owned:
                _adopt(stage, path, self.out)
            elif path.exists() and not overwrite:
                raise OutputExistsError(f"{path} exists and was not written by this pipeline (it is not in "
                                        f"{self.file.name}); move it away, or pass --overwrite to let the run "
                                        f"replace it")
            for replaced, kind in _replaced_by(stage, path):
                check_replaceable(replaced, what=f"{replaced.relative_to(self.out).as_posix()} (the {stage} output)",
                                  kind=kind)
            if rel not in owned:
                new.append(rel)
        if new:
            self.data["owned"] = owned + new
            self._save()

    def record(self, stage: str, stamp: str) -> None:
        self.data[stage] = stamp
        self._save()

    def _save(self) -> None:
        write_file(self.file, json.dumps(self.data, indent=2, sort_keys=True))


def run_pipeline(spec: PipelineSpec | str | os.PathLike, *, force: bool = False, overwrite: bool = False,
                 progress: bool = True) -> dict:
    """Run (or bring up to date) every stage of a pipeline spec.

    Every ``[train.<name>]`` table is validated before any stage runs. A run replaces only
    what it wrote itself (the paths ``run-state.json`` lists); an existing ``survey/``,
    ``grid.zarr``, ``models/<name>``, ``scores/<name>`` or ``report/`` it did not write is
    refused unless ``overwrite``. An output directory that is, contains or lies inside an
    input (survey, deposits) is refused. One run at a time holds the output directory
    (``<output>/run.lock``; ``overwrite`` breaks a stale one).

    Returns a summary dict: ``output``, ``detectors`` (model, COG and metrics per detector),
    ``report`` (when deposits are known) and ``seconds`` (wall time of each stage that ran).
    Each stage's start and end are logged (``geogan`` logger); the stages' caveats are
    :class:`~geogan.errors.GeoganWarning`.
    """
    from geogan.training.stage import check_train_options

    if not isinstance(spec, PipelineSpec):
        spec = load_spec(spec)
    out = spec.output
    for name, table in spec.train.items():  # every table valid before any stage runs
        try:
            check_train_options(TrainOptions(**table))
        except GeoganError as exc:
            raise ConfigError(f"[train.{name}]: {exc}", path=spec.path) from None
    inputs = [spec.survey.get("path"), spec.survey.get("deposits")]
    check_disjoint([out], [p for p in inputs if p], what="[output] dir")
    # the spec and its catalogues are inputs too: no stage may replace the folder they lie in
    catalogues = [t["catalogue"] for t in spec.train.values() if t.get("catalogue")]
    check_disjoint([p for _, p in _outputs(spec)], [spec.path, *catalogues], what="pipeline output")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"[output] dir {out} is a file, not a directory", path=spec.path)
    survey_input = _survey_input(spec)
    out.mkdir(parents=True, exist_ok=True)
    with output_lock(out, lock=out / "run.lock"):
        state = _State(out)
        state.claim(_outputs(spec), overwrite=overwrite)  # all refusals before any stage runs
        return _run(spec, state, survey_input, force=force, progress=progress)


#: the kind of output each stage replaces (geogan.stores.files.check_replaceable)
_KINDS = {"synth": "synth", "grid": "grid", "train": "model", "report": "report"}


def _replaced_by(stage: str, path: Path) -> list[tuple[Path, str | None]]:
    """What a stage replaces, and its kind: its output, or, for a score directory, each of
    its outputs."""
    from geogan.stores.scores import OUTPUT_KINDS, SCORE_OUTPUTS

    if stage.startswith("score."):
        return [(path / name, OUTPUT_KINDS.get(name)) for name in SCORE_OUTPUTS]
    return [(path, _KINDS[stage.partition(".")[0]])]


def _adopt(stage: str, path: Path, out: Path) -> None:
    """Mark a folder this pipeline wrote before geogan marked its folders (``run-state.json``
    says it owns it, and the folder itself shows it: a report's ``metrics.json`` names a geogan
    version, a survey's ``truth.json`` its preset, a score folder's map carries geogan's tags).
    Nothing is marked in a folder without that evidence, or reached through a link: it stays
    the user's, and the check that follows refuses it."""
    from geogan.evaluation.report import REPORT_FILES
    from geogan.stores.scores import COG_NAME, FOLDERS, SCORE_OUTPUTS
    from geogan.synth.writer import SYNTH_FILES

    kind = stage.partition(".")[0]
    evidence = {"report": lambda: "geogan_version" in (small_json(path / "metrics.json") or {}),
                "synth": lambda: {"preset", "halos"} <= set(small_json(path / "truth.json") or {}),
                "score": lambda: (path / COG_NAME).is_file() and geotiff_is_ours(path / COG_NAME)}.get(kind)
    known = {"synth": SYNTH_FILES, "report": REPORT_FILES, "score": SCORE_OUTPUTS}.get(kind, ())
    if evidence is None or not path.is_dir() or path.resolve() != out.resolve() / path.relative_to(out) or \
            ownership(path) is not None or not evidence():
        return
    write_marker(path, kind, [f"{n}/" if n in FOLDERS else n for n in known if (path / n).exists()])
    if kind == "score":  # its report, from the same geogan
        _adopt("report", path / "report", out)


def _outputs(spec: PipelineSpec) -> list[tuple[str, Path]]:
    """Each stage of ``spec`` and the path it replaces (see the module docstring's layout)."""
    out = spec.output
    stages = [("synth", out / "survey")] if "synth" in spec.survey else []
    stages.append(("grid", out / "grid.zarr"))
    for name in spec.train:
        stages += [(f"train.{name}", out / "models" / name), (f"score.{name}", out / "scores" / name)]
    if "synth" in spec.survey or spec.survey.get("deposits"):
        stages.append(("report", out / "report"))
    return stages


def _survey_input(spec: PipelineSpec) -> tuple[str | Path, str] | None:
    """The survey file a spec reads (none for a synthetic one) and the stamp of its content,
    checked before the run writes anything: a missing or unreachable survey leaves nothing."""
    sv = spec.survey
    if "synth" in sv:
        return None
    if is_url(sv["path"]):  # the object's size and modification time or ETag stand for its bytes
        survey_path = sv["path"]
        try:
            fs, remote = filesystem(survey_path)
            info = fs.info(remote)
        except FileNotFoundError:
            raise ConfigError("survey file not found", path=survey_path) from None
        except OSError as exc:  # DNS, network, permissions: not a missing file
            raise ConfigError(f"cannot reach the survey file ({exc})", path=survey_path) from None
        return survey_path, _stamp(survey_path, {k: info.get(k) for k in ("size", "mtime", "ETag", "etag", "md5Hash")})
    survey_path = Path(sv["path"])
    if not survey_path.is_file():
        raise ConfigError("survey file not found" if not survey_path.exists() else "the survey is not a file",
                          path=survey_path)
    return survey_path, file_sha256(survey_path)


def _resolved(values: dict, *classes: type[Options]) -> dict:
    """What a section's ``values`` resolve to, every option class's defaults included (what a
    stage's stamp hashes: writing a default out explicitly does not rerun the stage)."""
    values = dict(values)
    resolved = {cls.__name__: cls.pick(values).to_dict() for cls in classes}
    return {**resolved, "other": values}  # keys no option class takes (a grid CRS from the survey)


def _train_settings(table: dict) -> dict:
    """A ``[train.<name>]`` table resolved: its options, with the detector's parameters as the
    detector resolves them (its defaults filled in) in place of the shortcuts that feed them."""
    from geogan.training.stage import check_train_options

    options = TrainOptions(**table)
    det, ensemble, enrichment_only = check_train_options(options)
    shortcuts = {"steps", "epochs", "batch_size", "learning_rate", "latent_dim", "mixed_precision", "params",
                 "ensemble", "enrichment_only"}
    fixed = {k: v for k, v in options.to_dict().items() if k not in shortcuts}
    return {**fixed, "ensemble": ensemble, "enrichment_only": enrichment_only, "params": det.get_params()}


class _Runner:
    """One run of a spec: each stage a step, skipped when its stamp (a hash of its resolved
    settings and of its inputs' stamps) matches ``run-state.json`` and its outputs exist."""

    def __init__(self, spec: PipelineSpec, state: _State, *, force: bool, progress: bool):
        self.spec, self.state, self.force, self.progress = spec, state, force, progress
        self.out = spec.output
        self.cluster = {"scheduler": spec.cluster.get("scheduler"), "workers": spec.cluster.get("workers")}
        self.evaluation = EvalOptions.pick(dict(spec.score))
        self.summary: dict = {"output": str(self.out), "detectors": {}, "seconds": {}}
        self.results: list = []  # evaluation results, in report order
        self.scores: dict = {}  # the score grids the report draws, by name
        self.tops: dict[str, list] = {}  # top anomalies per detector, with [score] contributions = true

    def stage(self, name: str, stamp: str, *outputs: Path, describe: str, action) -> bool:
        """Run ``action`` unless stage ``name`` is up to date; record its stamp. True if it ran."""
        if not self.force and self.state.fresh(name, stamp, *outputs):
            log.info(f"== {name}: up to date ({outputs[0]})")
            return False
        log.info(f"== {name}{describe}")
        t0 = time.perf_counter()
        action()
        seconds = self.summary["seconds"][name] = round(time.perf_counter() - t0, 1)
        log.info(f"== {name} done in {seconds:.1f} s")
        self.state.record(name, stamp)
        return True

    def survey(self, survey_input) -> None:
        """The survey table (a synthetic preset written first), its deposits and its CRS."""
        sv = self.spec.survey
        if "synth" not in sv:
            (self.survey_path, self.survey_stamp), self.survey_crs = survey_input, sv.get("input_crs")
            self.deposits_path = sv.get("deposits")
            return
        from geogan.synth import write_synthetic_survey

        synth_dir = self.out / "survey"
        args = {"preset": sv["synth"], "seed": sv.get("seed", 0), "samples": sv.get("samples"),
                "elements": sv.get("elements"), "format": sv.get("format")}
        self.survey_stamp = _stamp("synth", args)
        self.stage("synth", self.survey_stamp, synth_dir, describe=f": {sv['synth']} preset → {synth_dir}",
                   action=lambda: write_synthetic_survey(synth_dir, sv["synth"], n_samples=args["samples"],
                                                         elements=args["elements"], seed=args["seed"],
                                                         fmt=args["format"], overwrite=True, progress=self.progress))
        self.survey_crs = json.loads((synth_dir / "truth.json").read_text())["crs"]
        self.survey_path = next(p for p in synth_dir.iterdir() if p.stem == "survey")
        self.deposits_path = sv.get("deposits") or str(synth_dir / "deposits.csv")

    def grid(self) -> None:
        from geogan.grid.stage import grid_survey

        sv = self.spec.survey
        self.grid_path = self.out / "grid.zarr"
        args = {k: v for k, v in sv.items() if k in SurveyOptions.keys()}
        args.update(self.spec.grid)
        args.setdefault("crs", self.survey_crs)
        if "synth" in sv:
            args.setdefault("input_crs", self.survey_crs)
        self.grid_stamp = _stamp("grid", self.survey_stamp, _resolved(args, SurveyOptions, GridOptions, IDWParams))
        self.stage("grid", self.grid_stamp, self.grid_path, describe=f" → {self.grid_path}",
                   action=lambda: grid_survey(self.survey_path, self.grid_path, overwrite=True,
                                              progress=self.progress, **self.cluster, **args))

    def deposits(self):
        """The known deposits on the grid's CRS, or ``None`` when the spec names none."""
        if not self.deposits_path:
            return None
        from geogan.evaluation.deposits import read_deposits
        from geogan.stores.store import grid_spec, open_grid

        sv = self.spec.survey
        return read_deposits(self.deposits_path, crs=grid_spec(open_grid(self.grid_path)).crs, x=sv.get("deposits_x"),
                             y=sv.get("deposits_y"), deposit_type=self.spec.score.get("deposit_type"),
                             input_crs=sv.get("deposits_crs") or ("synth" in sv and self.survey_crs) or None)

    def train(self, name: str, table: dict) -> tuple[Path, str]:
        from geogan.training.stage import train_model

        model_dir = self.out / "models" / name
        targeted = table.get("target") is not None or table.get("deposit_type") is not None
        stamp = _stamp("train", self.grid_stamp, _train_settings(table),
                       catalogue_digest(table.get("catalogue")) if targeted else None)

        def action():
            try:
                train_model(self.grid_path, model_dir, TrainOptions(**table), overwrite=True, progress=self.progress)
            except InputError as exc:  # a setting that does not fit the data (n_components > elements)
                if exc.path is not None or isinstance(exc, OutputExistsError):
                    raise
                raise ConfigError(f"[train.{name}]: {exc.message}", path=self.spec.path) from None

        self.stage(f"train.{name}", stamp, model_dir, describe=f" ({table['detector']}) → {model_dir}", action=action)
        return model_dir, stamp

    def score(self, name: str, model_dir: Path, train_stamp: str, deposits) -> None:
        from geogan.scoring.stage import score_grid
        from geogan.stores.scores import CONTRIBUTIONS_STORE, SCORES_STORE

        sc, score_dir, scored = self.spec.score, self.out / "scores" / name, {}
        stamp = _stamp("score", train_stamp, _resolved(sc, ScoreOptions, EvalOptions), self.deposits_path)
        outputs = [score_dir / SCORES_STORE] + ([score_dir / CONTRIBUTIONS_STORE] if sc.get("contributions") else [])
        options = ScoreOptions.pick(dict(sc))
        self.stage(f"score.{name}", stamp, *outputs, describe=f" → {score_dir}", action=lambda: scored.update(
            result=score_grid(self.grid_path, model_dir, score_dir, options, deposits=deposits,
                              evaluation=self.evaluation, name=name, overwrite=True, progress=self.progress,
                              **self.cluster)))
        entry = self.summary["detectors"][name] = {"model": str(model_dir), "cog": str(score_dir / "anomaly.tif")}
        if target := _target_of(model_dir):
            entry["target"] = target
        if deposits is not None:
            self.judge(name, score_dir, deposits, scored["result"].evaluation if scored else None)

    def judge(self, name: str, score_dir: Path, deposits, result) -> None:
        """One detector's evaluation for the side-by-side report (again, when its score stage
        was up to date)."""
        from geogan.evaluation.stage import evaluate_scores, open_scores
        from geogan.stores.scores import SCORES_STORE

        grid = open_scores(score_dir / SCORES_STORE)
        result = result or evaluate_scores(grid, deposits, evaluation=self.evaluation, name=name)
        self.results.append(result)
        self.scores[name] = grid
        if self.spec.score.get("contributions"):
            from geogan.evaluation.drivers import read_top_anomalies

            self.tops[result.name] = read_top_anomalies(score_dir)  # keyed like the results
        self.summary["detectors"][name]["metrics"] = result.metrics

    def targets_alone(self, deposits) -> None:
        """Each target element's own map, judged beside the target-aware maps."""
        from geogan.evaluation.stage import evaluate_scores
        from geogan.scoring.stage import element_alone
        from geogan.stores.store import open_grid

        targets = {d["target"]["element"] for d in self.summary["detectors"].values() if "target" in d}
        for element in sorted(targets):
            grid = element_alone(open_grid(self.grid_path), element)
            result = evaluate_scores(grid, deposits, evaluation=self.evaluation, name=f"{element} alone")
            self.results.append(result)
            self.scores[result.name] = grid
            self.summary["detectors"][result.name] = {"metrics": result.metrics, "element": element}

    def report(self, deposits) -> None:
        from geogan.evaluation.report import write_report

        report_dir = self.out / "report"
        t0 = time.perf_counter()
        write_report(report_dir, self.results, scores=self.scores, deposits=deposits, overwrite=True,
                     title=f"geogan report: {self.spec.path.name}", top_anomalies=self.tops or None)
        self.summary["seconds"]["report"] = round(time.perf_counter() - t0, 1)
        self.summary["report"] = str(report_dir / "index.html")
        log.info(f"== report: {report_dir / 'index.html'}")


def _run(spec: PipelineSpec, state: _State, survey_input, *, force: bool, progress: bool) -> dict:
    """The stages in order: survey → grid → (train → score) per detector → report."""
    run = _Runner(spec, state, force=force, progress=progress)
    run.survey(survey_input)
    run.grid()
    deposits = run.deposits()
    for name, table in spec.train.items():
        model_dir, stamp = run.train(name, table)
        run.score(name, model_dir, stamp, deposits)
    if run.results:
        run.targets_alone(deposits)
        run.report(deposits)
    return run.summary
