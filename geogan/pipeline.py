"""``geogan run SPEC.toml``: the whole chain from one declarative spec.

A spec names the survey (a file, or a ``synth`` preset), the grid, one or more detectors to
train, and the score/evaluate settings. Stages whose outputs exist and were made from the
same settings and inputs are skipped (a stage's stamp is a hash of its settings and of its
inputs' stamps, kept in ``<output>/run-state.json``). Paths in a spec are resolved relative
to the spec file; specs are data only (nothing in them is executed).

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
from contextlib import contextmanager
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


def load_spec(path: str | os.PathLike, *, overrides: dict | None = None) -> PipelineSpec:
    """Read and validate a pipeline spec (TOML)."""
    path = Path(path).resolve()
    if path.is_dir():
        raise ConfigError("is a directory, not a pipeline spec (a .toml file)", path=path)
    if not path.is_file():
        raise ConfigError("pipeline spec not found" if not path.exists() else "not a regular file: a pipeline spec "
                          "is a .toml file", path=path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a valid TOML file ({exc})", path=path) from None
    unknown = sorted(set(raw) - SECTIONS - {"cluster"})
    if unknown:
        raise ConfigError(f"unknown section(s) {', '.join(unknown)}; allowed: {', '.join(sorted(SECTIONS))}, cluster",
                          path=path)
    base = path.parent

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


def _run(spec: PipelineSpec, state: _State, survey_input, *, force: bool, progress: bool) -> dict:
    from geogan.evaluation.deposits import read_deposits
    from geogan.evaluation.stage import evaluate_scores, open_scores
    from geogan.grid.stage import grid_survey
    from geogan.evaluation.report import write_report
    from geogan.scoring.stage import element_alone, score_grid
    from geogan.stores.scores import SCORES_STORE
    from geogan.training.stage import train_model

    out = spec.output
    sv = spec.survey
    cluster = {"scheduler": spec.cluster.get("scheduler"), "workers": spec.cluster.get("workers")}
    seconds: dict[str, float] = {}

    @contextmanager
    def timer(stage: str):
        t0 = time.perf_counter()
        yield
        seconds[stage] = round(time.perf_counter() - t0, 1)
        log.info(f"== {stage} done in {seconds[stage]:.1f} s")

    # survey ------------------------------------------------------------------------------------
    if "synth" in sv:
        from geogan.synth import write_synthetic_survey

        synth_dir = out / "survey"
        synth_args = {"preset": sv["synth"], "seed": sv.get("seed", 0), "samples": sv.get("samples"),
                      "elements": sv.get("elements"), "format": sv.get("format")}
        stamp = _stamp("synth", synth_args)
        if force or not state.fresh("synth", stamp, synth_dir):
            log.info(f"== synth: {sv['synth']} preset → {synth_dir}")
            with timer("synth"):
                write_synthetic_survey(synth_dir, sv["synth"], n_samples=sv.get("samples"),
                                       elements=sv.get("elements"), seed=sv.get("seed", 0), fmt=sv.get("format"),
                                       overwrite=True, progress=progress)
            state.record("synth", stamp)
        else:
            log.info(f"== synth: up to date ({synth_dir})")
        truth = json.loads((synth_dir / "truth.json").read_text())
        survey_path = next(p for p in synth_dir.iterdir() if p.stem == "survey")
        deposits_path = sv.get("deposits") or str(synth_dir / "deposits.csv")
        survey_crs = truth["crs"]
        survey_stamp = stamp
    else:
        survey_path, survey_stamp = survey_input
        deposits_path = sv.get("deposits")
        survey_crs = sv.get("input_crs")

    # grid --------------------------------------------------------------------------------------
    g = spec.grid
    grid_path = out / "grid.zarr"
    grid_args = {k: v for k, v in sv.items() if k in SurveyOptions.keys()}
    grid_args.update({k: v for k, v in g.items()})
    grid_args.setdefault("crs", survey_crs)
    if "synth" in sv:
        grid_args.setdefault("input_crs", survey_crs)
    stamp_grid = _stamp("grid", survey_stamp, grid_args)
    if force or not state.fresh("grid", stamp_grid, grid_path):
        log.info(f"== grid → {grid_path}")
        with timer("grid"):
            grid_survey(survey_path, grid_path, overwrite=True, progress=progress, **cluster, **grid_args)
        state.record("grid", stamp_grid)
    else:
        log.info(f"== grid: up to date ({grid_path})")

    # train + score per detector ------------------------------------------------------------------
    results, scores, summary = [], {}, {"output": str(out), "detectors": {}, "seconds": seconds}
    tops: dict[str, list] = {}  # top anomalies per detector, with [score] contributions = true
    deposits = None
    if deposits_path:
        from geogan.stores.store import grid_spec, open_grid

        deposits = read_deposits(deposits_path, crs=grid_spec(open_grid(grid_path)).crs,
                                 x=sv.get("deposits_x"), y=sv.get("deposits_y"), input_crs=sv.get("deposits_crs")
                                 or ("synth" in sv and survey_crs) or None,
                                 deposit_type=spec.score.get("deposit_type"))
    sc = spec.score
    score_kw = {k: v for k, v in sc.items() if k in ScoreOptions.keys()}
    evaluation = EvalOptions.pick(dict(sc))
    for name, table in spec.train.items():
        model_dir = out / "models" / name
        t = dict(table)
        detector = t.pop("detector")
        params = t.pop("params", None)
        targeted = t.get("target") is not None or t.get("deposit_type") is not None
        stamp_train = _stamp("train", stamp_grid, detector, t, params,
                             catalogue_digest(t.get("catalogue")) if targeted else None)
        if force or not state.fresh(f"train.{name}", stamp_train, model_dir):
            log.info(f"== train {name} ({detector}) → {model_dir}")
            with timer(f"train.{name}"):
                try:
                    train_model(grid_path, model_dir, TrainOptions(**table), overwrite=True, progress=progress)
                except InputError as exc:  # a setting that does not fit the data (n_components > elements)
                    if exc.path is not None or isinstance(exc, OutputExistsError):
                        raise
                    raise ConfigError(f"[train.{name}]: {exc.message}", path=spec.path) from None
            state.record(f"train.{name}", stamp_train)
        else:
            log.info(f"== train {name}: up to date ({model_dir})")
        score_dir = out / "scores" / name
        stamp_score = _stamp("score", stamp_train, sc, deposits_path)
        res = None
        score_outputs = [score_dir / SCORES_STORE]
        if sc.get("contributions"):
            score_outputs.append(score_dir / "contributions.zarr")
        if force or not state.fresh(f"score.{name}", stamp_score, *score_outputs):
            log.info(f"== score {name} → {score_dir}")
            with timer(f"score.{name}"):
                scored = score_grid(grid_path, model_dir, score_dir, ScoreOptions(**score_kw), deposits=deposits,
                                    evaluation=evaluation, name=name, overwrite=True, progress=progress, **cluster)
            res = scored.evaluation
            state.record(f"score.{name}", stamp_score)
        else:
            log.info(f"== score {name}: up to date ({score_dir})")
        summary["detectors"][name] = {"model": str(model_dir), "cog": str(score_dir / "anomaly.tif")}
        target = _target_of(model_dir)
        if target:
            summary["detectors"][name]["target"] = target
        if deposits is not None:
            da = open_scores(score_dir / SCORES_STORE)
            if res is None:  # the score stage was up to date: evaluate its scores again
                res = evaluate_scores(da, deposits, evaluation=evaluation, name=name)
            results.append(res)
            scores[name] = da
            if sc.get("contributions"):
                from geogan.evaluation.drivers import read_top_anomalies

                tops[res.name] = read_top_anomalies(score_dir)  # keyed like the results
            summary["detectors"][name]["metrics"] = res.metrics
    if results:
        for element in sorted({d["target"]["element"] for d in summary["detectors"].values() if "target" in d}):
            from geogan.stores.store import open_grid

            # a target-aware map is judged beside its target element's own map
            da = element_alone(open_grid(grid_path), element)
            res = evaluate_scores(da, deposits, evaluation=evaluation, name=f"{element} alone")
            results.append(res)
            scores[res.name] = da
            summary["detectors"][res.name] = {"metrics": res.metrics, "element": element}
        report_dir = out / "report"
        with timer("report"):
            write_report(report_dir, results, scores=scores, deposits=deposits,
                         title=f"geogan report: {spec.path.name}", overwrite=True, top_anomalies=tops or None)
        summary["report"] = str(report_dir / "index.html")
        log.info(f"== report: {report_dir / 'index.html'}")
    return summary
