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

import hashlib
import json
import os
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from geogan.errors import ConfigError
from geogan.urls import filesystem, is_url

SECTIONS = {"output", "survey", "grid", "train", "score"}
SURVEY_KEYS = {"path", "synth", "seed", "samples", "elements", "format", "deposits", "deposits_crs", "deposits_x",
               "deposits_y", "input_crs", "x", "y", "units", "bdl_factor", "negative_is_bdl", "missing",
               "level_by"}
GRID_KEYS = {"crs", "cell_size_m", "bounds", "neighbors", "power", "max_distance_m", "space", "tile",
             "allow_geographic", "elements"}
TRAIN_KEYS = {"detector", "transform", "elements", "sample", "test_fraction", "steps", "epochs", "ensemble",
              "enrichment_only", "batch_size",
              "learning_rate", "latent_dim", "seed", "checkpoint_every", "mixed_precision", "params"}
SCORE_KEYS = {"min_dist_km", "runs", "batch_size", "seed", "contributions"}
CLUSTER_KEYS = {"scheduler", "workers"}


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


def _check_keys(table: dict, allowed: set[str], where: str, path: Path) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in [{where}]; allowed: {', '.join(sorted(allowed))}",
                          path=path)


def load_spec(path: str | os.PathLike, *, overrides: dict | None = None) -> PipelineSpec:
    """Read and validate a pipeline spec (TOML)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError("pipeline spec not found", path=path)
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
    _check_keys(out, {"dir"}, "output", path)
    if "dir" not in out:
        raise ConfigError("[output] needs dir = \"...\" (relative to the spec)", path=path)
    survey = dict(raw.get("survey", {}))
    _check_keys(survey, SURVEY_KEYS, "survey", path)
    if ("path" in survey) == ("synth" in survey):
        raise ConfigError("[survey] needs exactly one of path = \"survey.csv\" or synth = \"demo\"", path=path)
    for key in ("path", "deposits"):
        if survey.get(key) is not None and not is_url(survey[key]):
            survey[key] = resolve(survey[key])
    grid = dict(raw.get("grid", {}))
    _check_keys(grid, GRID_KEYS, "grid", path)
    train = raw.get("train", {})
    if not isinstance(train, dict) or not train or not all(isinstance(v, dict) for v in train.values()):
        raise ConfigError("[train.<name>] tables are needed, e.g. [train.alad] detector = \"alad\"", path=path)
    for name, table in train.items():
        _check_keys(table, TRAIN_KEYS, f"train.{name}", path)
        if "detector" not in table:
            raise ConfigError(f"[train.{name}] needs detector = \"...\"", path=path)
    score = dict(raw.get("score", {}))
    _check_keys(score, SCORE_KEYS, "score", path)
    if not isinstance(score.get("contributions", False), bool):
        raise ConfigError("[score] contributions must be true or false", path=path)
    cluster = dict(raw.get("cluster", {}))
    _check_keys(cluster, CLUSTER_KEYS, "cluster", path)
    for section, values in (overrides or {}).items():
        {"grid": grid, "score": score, "cluster": cluster, "survey": survey}[section].update(values)
    return PipelineSpec(path=path, output=Path(resolve(out["dir"])), survey=survey, grid=grid, train=train,
                        score=score, cluster=cluster)


def _stamp(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class _State:
    def __init__(self, out: Path):
        self.file = out / "run-state.json"
        self.data = json.loads(self.file.read_text()) if self.file.is_file() else {}

    def fresh(self, stage: str, stamp: str, *outputs: Path) -> bool:
        return self.data.get(stage) == stamp and all(p.exists() for p in outputs)

    def record(self, stage: str, stamp: str) -> None:
        self.data[stage] = stamp
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True))
        os.replace(tmp, self.file)


def run_pipeline(spec: PipelineSpec | str | os.PathLike, *, force: bool = False, progress: bool = True,
                 echo=print) -> dict:
    """Run (or bring up to date) every stage of a pipeline spec.

    Returns a summary dict: ``output``, ``detectors`` (model, COG and metrics per detector),
    ``report`` (when deposits are known) and ``seconds`` (wall time of each stage that ran).
    """
    from geogan.evaluate import evaluate_scores, open_scores, read_deposits
    from geogan.grid import grid_survey
    from geogan.report import write_report
    from geogan.score import SCORES_STORE, score_grid
    from geogan.train import train_model

    if not isinstance(spec, PipelineSpec):
        spec = load_spec(spec)
    out = spec.output
    out.mkdir(parents=True, exist_ok=True)
    state = _State(out)
    sv = spec.survey
    cluster = {"scheduler": spec.cluster.get("scheduler"), "workers": spec.cluster.get("workers")}
    seconds: dict[str, float] = {}

    @contextmanager
    def timer(stage: str):
        t0 = time.perf_counter()
        yield
        seconds[stage] = round(time.perf_counter() - t0, 1)
        echo(f"== {stage} done in {seconds[stage]:.1f} s")

    # survey ------------------------------------------------------------------------------------
    if "synth" in sv:
        from geogan.synth import write_synthetic_survey

        synth_dir = out / "survey"
        synth_args = {"preset": sv["synth"], "seed": sv.get("seed", 0), "samples": sv.get("samples"),
                      "elements": sv.get("elements"), "format": sv.get("format")}
        stamp = _stamp("synth", synth_args)
        if force or not state.fresh("synth", stamp, synth_dir):
            echo(f"== synth: {sv['synth']} preset → {synth_dir}")
            with timer("synth"):
                write_synthetic_survey(synth_dir, sv["synth"], n_samples=sv.get("samples"),
                                       elements=sv.get("elements"), seed=sv.get("seed", 0), fmt=sv.get("format"),
                                       overwrite=True, progress=progress)
            state.record("synth", stamp)
        else:
            echo(f"== synth: up to date ({synth_dir})")
        truth = json.loads((synth_dir / "truth.json").read_text())
        survey_path = next(p for p in synth_dir.iterdir() if p.stem == "survey")
        deposits_path = sv.get("deposits") or str(synth_dir / "deposits.csv")
        survey_crs = truth["crs"]
        survey_stamp = stamp
    else:
        if is_url(sv["path"]):  # the object's size and modification time or ETag stand for its bytes
            survey_path = sv["path"]
            fs, remote = filesystem(survey_path)
            try:
                info = fs.info(remote)
            except (FileNotFoundError, OSError):
                raise ConfigError("survey file not found", path=survey_path) from None
            survey_stamp = _stamp(survey_path, {k: info.get(k) for k in ("size", "mtime", "ETag", "etag", "md5Hash")})
        else:
            survey_path = Path(sv["path"])
            if not survey_path.is_file():
                raise ConfigError("survey file not found", path=survey_path)
            from geogan.store import sha256_file

            survey_stamp = sha256_file(survey_path)
        deposits_path = sv.get("deposits")
        survey_crs = sv.get("input_crs")

    # grid --------------------------------------------------------------------------------------
    g = spec.grid
    grid_path = out / "grid.zarr"
    grid_args = {k: v for k, v in sv.items() if k in {"input_crs", "x", "y", "units", "bdl_factor", "negative_is_bdl",
                                                      "missing", "level_by"}}
    grid_args.update({k: v for k, v in g.items()})
    grid_args.setdefault("crs", survey_crs)
    if "synth" in sv:
        grid_args.setdefault("input_crs", survey_crs)
    stamp_grid = _stamp("grid", survey_stamp, grid_args)
    if force or not state.fresh("grid", stamp_grid, grid_path):
        echo(f"== grid → {grid_path}")
        kw = dict(grid_args)
        if "missing" in kw:
            kw["missing"] = tuple(kw["missing"])
        if "bounds" in kw:
            kw["bounds"] = tuple(kw["bounds"])
        with timer("grid"):
            grid_survey(survey_path, grid_path, overwrite=True, progress=progress, echo=echo, **cluster, **kw)
        state.record("grid", stamp_grid)
    else:
        echo(f"== grid: up to date ({grid_path})")

    # train + score per detector ------------------------------------------------------------------
    results, scores, summary = [], {}, {"output": str(out), "detectors": {}, "seconds": seconds}
    tops: dict[str, list] = {}  # top anomalies per detector, with [score] contributions = true
    deposits = None
    if deposits_path:
        from geogan.store import grid_spec, open_grid

        deposits = read_deposits(deposits_path, crs=grid_spec(open_grid(grid_path)).crs,
                                 x=sv.get("deposits_x"), y=sv.get("deposits_y"), input_crs=sv.get("deposits_crs")
                                 or ("synth" in sv and survey_crs) or None)
    sc = spec.score
    for name, table in spec.train.items():
        model_dir = out / "models" / name
        t = dict(table)
        detector = t.pop("detector")
        params = t.pop("params", None)
        stamp_train = _stamp("train", stamp_grid, detector, t, params)
        if force or not state.fresh(f"train.{name}", stamp_train, model_dir):
            echo(f"== train {name} ({detector}) → {model_dir}")
            with timer(f"train.{name}"):
                train_model(grid_path, model_dir, detector=detector, detector_params=params, overwrite=True,
                            progress=progress, **t)
            state.record(f"train.{name}", stamp_train)
        else:
            echo(f"== train {name}: up to date ({model_dir})")
        score_dir = out / "scores" / name
        stamp_score = _stamp("score", stamp_train, sc, deposits_path)
        res = None
        score_outputs = [score_dir / SCORES_STORE]
        if sc.get("contributions"):
            score_outputs.append(score_dir / "contributions.zarr")
        if force or not state.fresh(f"score.{name}", stamp_score, *score_outputs):
            echo(f"== score {name} → {score_dir}")
            with timer(f"score.{name}"):
                scored = score_grid(grid_path, model_dir, score_dir, deposits=deposits_path,
                                    deposits_crs=sv.get("deposits_crs") or ("synth" in sv and survey_crs) or None,
                                    deposits_x=sv.get("deposits_x"), deposits_y=sv.get("deposits_y"),
                                    min_dist_km=sc.get("min_dist_km", 5.0), runs=sc.get("runs", 20),
                                    seed=sc.get("seed", 0), name=name, batch_size=sc.get("batch_size", 16384),
                                    contributions=sc.get("contributions", False), overwrite=True, progress=progress,
                                    echo=echo, **cluster)
            res = scored.evaluation
            state.record(f"score.{name}", stamp_score)
        else:
            echo(f"== score {name}: up to date ({score_dir})")
        summary["detectors"][name] = {"model": str(model_dir), "cog": str(score_dir / "anomaly.tif")}
        if deposits is not None:
            da = open_scores(score_dir / SCORES_STORE)
            if res is None:  # the score stage was up to date: evaluate its scores again
                res = evaluate_scores(da, deposits, min_dist_km=sc.get("min_dist_km", 5.0), runs=sc.get("runs", 20),
                                      seed=sc.get("seed", 0), name=name)
            results.append(res)
            scores[name] = da
            if sc.get("contributions"):
                from geogan.contributions import read_top_anomalies

                tops[res.name] = read_top_anomalies(score_dir)  # keyed like the results
            summary["detectors"][name]["metrics"] = res.metrics
    if results:
        report_dir = out / "report"
        with timer("report"):
            write_report(report_dir, results, scores=scores, deposits=deposits,
                         title=f"geogan report: {spec.path.name}", overwrite=True, top_anomalies=tops or None)
        summary["report"] = str(report_dir / "index.html")
        echo(f"== report: {report_dir / 'index.html'}")
    return summary
