"""``geogan run SPEC``: the whole chain from one declarative spec, stage by stage.

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

The output directory may be a prefix in object storage (``[output] dir = "s3://bucket/run"``),
with the same layout, state and lock (:mod:`geogan.pipeline.location`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

from geogan.errors import ConfigError, GeoganError, InputError, OutputExistsError
from geogan.grid.idw import IDWParams
from geogan.options import (DepositOptions, EvalOptions, GridOptions, Options, ScoreOptions, SurveyOptions,
                            TrainOptions)
from geogan.pipeline.location import (Output, check_output_dir, child, read_json, run_lock, shown, synth_files,
                                      write_synth)
from geogan.pipeline.spec import PipelineSpec, load_spec
from geogan.pipeline.state import RunState, pipeline_outputs, stage_stamp
from geogan.stores.files import check_disjoint, file_sha256
from geogan.stores.remote import is_remote
from geogan.stores.urls import filesystem, is_url
from geogan.survey.pathfinders import catalogue_digest

log = logging.getLogger(__name__)

__all__ = ["run_pipeline"]


def run_pipeline(spec: PipelineSpec | str | os.PathLike, *, force: bool = False, overwrite: bool = False,
                 progress: bool = True) -> dict:
    """Run (or bring up to date) every stage of a pipeline spec.

    Every ``[train.<name>]`` table is validated before any stage runs. A run replaces only
    what it wrote itself (the paths ``run-state.json`` lists); an existing ``survey/``,
    ``grid.zarr``, ``models/<name>``, ``scores/<name>`` or ``report/`` it did not write is
    refused unless ``overwrite``. An output directory that is, contains or lies inside an
    input (survey, deposits) is refused. One run at a time holds the output directory
    (``<output>/run.lock``; ``overwrite`` breaks a stale one). The output directory may be
    an object-storage URL (``s3://bucket/run``): the same layout, state file and lock, as
    objects; the summary shows URLs without credentials.

    Returns a summary dict: ``output``, ``detectors`` (model, COG and metrics per detector),
    ``report`` (when deposits are known) and ``seconds`` (wall time of each stage that ran).
    Each stage's start and end are logged (``geogan`` logger); the stages' caveats are
    :class:`~geogan.errors.GeoganWarning`.

    Parameters
    ----------
    spec
        A :class:`PipelineSpec`, or a spec file or shipped spec's name (read by :func:`load_spec`).
    force
        Rerun every stage, even those whose outputs are up to date.
    overwrite
        Replace outputs this pipeline did not write, and break a stale lock.
    progress
        Show the stages' progress bars.

    Returns
    -------
    dict
        The summary described above.

    Raises
    ------
    ConfigError
        An invalid spec or ``[train.<name>]`` table (all checked before any stage runs); an
        ``[output] dir`` that is a file; a missing survey file; an unreadable
        ``run-state.json``.
    OutputExistsError
        An output this pipeline did not write, without ``overwrite``; an output under a
        symbolic link; an output directory that is, holds or lies inside an input; another
        run holding the output directory.
    GeoganError
        Whatever a stage raises (:class:`~geogan.errors.SurveyError`,
        :class:`~geogan.errors.GridError`, :class:`~geogan.errors.CRSError`,
        :class:`~geogan.errors.StoreError`, :class:`~geogan.errors.ModelError`,
        :class:`~geogan.errors.EvaluationError`, ...).

    Examples
    --------
    A whole run grids, trains and scores on Dask (``make demo`` runs the demo spec):

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
    >>> summary = run_pipeline(path)  # doctest: +SKIP
    >>> sorted(summary["detectors"])  # doctest: +SKIP
    ['maha']

    Every ``[train.<name>]`` table is checked before any stage runs:

    >>> with open(path, "a") as f:
    ...     _ = f.write('[train.gan]\\ndetector = "gan"\\n')
    >>> run_pipeline(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ConfigError: ...small.toml: [train.gan]: unknown detector 'gan'; choose one of alad, vae, ...
    >>> os.listdir(d)  # nothing written
    ['small.toml']
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
    check_disjoint([p for _, p in pipeline_outputs(spec)], [spec.path, *catalogues], what="pipeline output")
    check_output_dir(out, spec.path)
    survey_input = _survey_input(spec)
    with run_lock(out):
        state = RunState(out)
        state.claim(pipeline_outputs(spec), overwrite=overwrite)  # all refusals before any stage runs
        return _run(spec, state, survey_input, force=force, progress=progress)


def _target_of(model_dir: Output) -> dict | None:
    """What a trained model looks for (its config's target section), for the summary and report."""
    target = (read_json(model_dir, "config.json") or {}).get("target")
    if not isinstance(target, dict):
        return None
    info = target.get("info") or {}
    return {"element": target.get("target"), "deposit_type": info.get("deposit_type"), "suite": info.get("suite"),
            "predictors": target.get("predictors"), "weight": target.get("weight")}


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
        identity = {k: info.get(k) for k in ("size", "mtime", "ETag", "etag", "md5Hash")}
        return survey_path, stage_stamp(shown(survey_path), identity)
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

    def __init__(self, spec: PipelineSpec, state: RunState, *, force: bool, progress: bool):
        self.spec, self.state, self.force, self.progress = spec, state, force, progress
        self.out = spec.output
        self.cluster = {"scheduler": spec.cluster.get("scheduler"), "workers": spec.cluster.get("workers")}
        self.evaluation = EvalOptions.pick(dict(spec.score))
        self.deposit_options = spec.deposit_options()  # the survey's CRS filled in for a synthetic one
        self.summary: dict = {"output": shown(self.out), "detectors": {}, "seconds": {}}
        self.results: list = []  # evaluation results, in report order
        self.scores: dict = {}  # the score grids the report draws, by name
        self.tops: dict[str, list] = {}  # top anomalies per detector, with [score] contributions = true

    def stage(self, name: str, stamp: str, *outputs: Output, describe: str, action):
        """Run ``action`` unless stage ``name`` is up to date; record its stamp. Returns what
        ``action`` returned, or ``None`` when the stage was up to date. In object storage,
        where a stage rewrites its output in place, its stamp is dropped while it runs."""
        if not self.force and self.state.fresh(name, stamp, *outputs):
            log.info(f"== {name}: up to date ({shown(outputs[0])})")
            return None
        log.info(f"== {name}{describe}")
        if is_remote(self.out):
            self.state.forget(name)
        t0 = time.perf_counter()
        result = action()
        seconds = self.summary["seconds"][name] = round(time.perf_counter() - t0, 1)
        log.info(f"== {name} done in {seconds:.1f} s")
        self.state.record(name, stamp)
        return result

    def survey(self, survey_input) -> None:
        """The survey table (a synthetic preset written first), its deposits and its CRS."""
        sv = self.spec.survey
        if "synth" not in sv:
            (self.survey_path, self.survey_stamp), self.survey_crs = survey_input, sv.get("input_crs")
            self.deposits_path = sv.get("deposits")
            return
        synth_dir = child(self.out, "survey")
        args = {"preset": sv["synth"], "seed": sv.get("seed", 0), "samples": sv.get("samples"),
                "elements": sv.get("elements"), "format": sv.get("format")}
        self.survey_stamp = stage_stamp("synth", args)
        self.stage("synth", self.survey_stamp, synth_dir, describe=f": {sv['synth']} preset → {shown(synth_dir)}",
                   action=lambda: write_synth(synth_dir, sv["synth"], seed=args["seed"], samples=args["samples"],
                                              elements=args["elements"], fmt=args["format"], progress=self.progress))
        self.survey_crs, self.survey_path, deposits = synth_files(synth_dir)
        self.deposits_path = sv.get("deposits") or deposits

    def grid(self) -> None:
        from geogan.grid.stage import grid_survey

        sv = self.spec.survey
        self.grid_path = child(self.out, "grid.zarr")
        args = {k: v for k, v in sv.items() if k in SurveyOptions.keys()}
        args.update(self.spec.grid)
        args.setdefault("crs", self.survey_crs)
        if "synth" in sv:
            args.setdefault("input_crs", self.survey_crs)
        self.grid_stamp = stage_stamp("grid", self.survey_stamp, _resolved(args, SurveyOptions, GridOptions, IDWParams))
        self.stage("grid", self.grid_stamp, self.grid_path, describe=f" → {shown(self.grid_path)}",
                   action=lambda: grid_survey(self.survey_path, self.grid_path, overwrite=True,
                                              progress=self.progress, **self.cluster, **args))

    def deposits(self):
        """The known deposits on the grid's CRS, or ``None`` when the spec names none."""
        if not self.deposits_path:
            return None
        from geogan.evaluation.deposits import read_deposits
        from geogan.stores.geometry import grid_spec
        from geogan.stores.store import open_grid

        if self.deposit_options.input_crs is None and "synth" in self.spec.survey:
            self.deposit_options = dataclasses.replace(self.deposit_options, input_crs=self.survey_crs)
        return read_deposits(self.deposits_path, crs=grid_spec(open_grid(self.grid_path)).crs,
                             options=self.deposit_options)

    def train(self, name: str, table: dict) -> tuple[Output, str]:
        from geogan.training.stage import train_model

        model_dir = child(self.out, "models", name)
        targeted = table.get("target") is not None or table.get("deposit_type") is not None
        stamp = stage_stamp("train", self.grid_stamp, _train_settings(table),
                       catalogue_digest(table.get("catalogue")) if targeted else None)

        def action():
            try:
                train_model(self.grid_path, model_dir, TrainOptions(**table), overwrite=True, progress=self.progress)
            except InputError as exc:  # a setting that does not fit the data (n_components > elements)
                if exc.path is not None or isinstance(exc, OutputExistsError):
                    raise
                raise ConfigError(f"[train.{name}]: {exc.message}", path=self.spec.path) from None

        self.stage(f"train.{name}", stamp, model_dir, describe=f" ({table['detector']}) → {shown(model_dir)}",
                   action=action)
        return model_dir, stamp

    def score(self, name: str, model_dir: Output, train_stamp: str, deposits) -> None:
        from geogan.scoring.stage import score_grid
        from geogan.stores.scores import CONTRIBUTIONS_STORE, SCORES_STORE

        sc, score_dir = self.spec.score, child(self.out, "scores", name)
        settings = _resolved({k: v for k, v in sc.items() if k not in DepositOptions.keywords},
                             ScoreOptions, EvalOptions)
        if self.deposits_path:  # the deposits, as read: their file and the resolved DepositOptions
            settings["DepositOptions"] = self.deposit_options.to_dict()
        deposits_path = shown(self.deposits_path) if self.deposits_path else self.deposits_path
        stamp = stage_stamp("score", train_stamp, settings, deposits_path)
        outputs = [child(score_dir, SCORES_STORE)] + ([child(score_dir, CONTRIBUTIONS_STORE)]
                                                      if sc.get("contributions") else [])
        options = ScoreOptions.pick(dict(sc))
        scored = self.stage(f"score.{name}", stamp, *outputs, describe=f" → {shown(score_dir)}",
                            action=lambda: score_grid(self.grid_path, model_dir, score_dir, options, deposits=deposits,
                                                      evaluation=self.evaluation, name=name, overwrite=True,
                                                      progress=self.progress, **self.cluster))
        entry = self.summary["detectors"][name] = {"model": shown(model_dir),
                                                   "cog": shown(child(score_dir, "anomaly.tif"))}
        if target := _target_of(model_dir):
            entry["target"] = target
        if deposits is not None:
            self.judge(name, score_dir, deposits, scored.evaluation if scored is not None else None)

    def judge(self, name: str, score_dir: Output, deposits, result) -> None:
        """One detector's evaluation for the side-by-side report (again, when its score stage
        was up to date)."""
        from geogan.evaluation.scorefiles import open_scores
        from geogan.evaluation.single import evaluate_scores
        from geogan.stores.scores import SCORES_STORE

        grid = open_scores(child(score_dir, SCORES_STORE))
        result = result or evaluate_scores(grid, deposits, evaluation=self.evaluation, name=name)
        self.results.append(result)
        self.scores[name] = grid
        if self.spec.score.get("contributions"):
            from geogan.evaluation.drivers import read_top_anomalies

            self.tops[result.name] = read_top_anomalies(score_dir)  # keyed like the results
        self.summary["detectors"][name]["metrics"] = result.metrics

    def targets_alone(self, deposits) -> None:
        """Each target element's own map, judged beside the target-aware maps."""
        from geogan.evaluation.single import evaluate_scores
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

        report_dir = child(self.out, "report")
        t0 = time.perf_counter()
        write_report(report_dir, self.results, scores=self.scores, deposits=deposits, overwrite=True,
                     title=f"geogan report: {self.spec.path.name}", top_anomalies=self.tops or None)
        self.summary["seconds"]["report"] = round(time.perf_counter() - t0, 1)
        self.summary["report"] = shown(child(report_dir, "index.html"))
        log.info(f"== report: {self.summary['report']}")


def _run(spec: PipelineSpec, state: RunState, survey_input, *, force: bool, progress: bool) -> dict:
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
