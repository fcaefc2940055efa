"""The score stage: tile-wise inference on Dask → ``scores.zarr`` + ``anomaly.tif`` (COG) + report.

Each tile is one task that reads the tile's chunk (all elements) from the grid store, scores
it and writes it into the scores store, on the worker: only a count comes back, so a worker
holds one tile at a time however large the grid. The model is loaded once per worker
process from the model dir path, never shipped in the graph (what runs on the workers is
:mod:`geogan.scoring.inference`). Finished tiles are recorded in a manifest so a rerun after a crash
resumes; outputs appear under their final names only when complete.

What lives here: the stage's orchestration (validating model and grid against each other,
the scores/contributions stores, resuming, the COGs, the QGIS style and polygons, handing
the scores to :func:`geogan.evaluation.stage.evaluate`). What does not: the per-tile inference
(:mod:`geogan.scoring.inference`), the metrics (:mod:`geogan.evaluation.metrics`), the COG writer
(:mod:`geogan.scoring.cog`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geogan._version import __version__
from geogan.stores import store
from geogan.cluster import check_workers, dask_client, run_tasks
from geogan.scoring.cog import export_cog
from geogan.stores.files import check_disjoint, holds_output_lock, replace_path
from geogan.stores.ownership import check_replaceable, write_marker
from geogan.evaluation.deposits import Deposits, read_deposits
from geogan.errors import InputError, ModelError, OutputExistsError, StoreError
from geogan.scoring.inference import model_token, score_tile
from geogan.stores.scores import (
    COG_NAME, CONTRIBUTIONS_STORE, FOLDERS, POLYGONS_NAME, POLYGONS_QML_NAME, QML_NAME, REPORT_DIR, SCORES_STORE,
    OUTPUT_KINDS, SCORE_OUTPUTS, SPREAD_COG_NAME, SPREAD_QML_NAME, USED_COG_NAME, create_contributions_store,
    create_scores_store, open_scores_store, run_key_of,
)
from geogan.options import EvalOptions, ScoreOptions, split_options
from geogan.stores.staging import Staging

log = logging.getLogger(__name__)


def _mark(out_dir: Path, *names: str) -> None:
    """List ``names`` in the score directory's marker, just before they are written: what
    geogan writes there, and only that (a folder's name with a trailing ``/``)."""
    write_marker(out_dir, "score", [f"{n}/" if n in FOLDERS else n for n in names])


@dataclass
class ScoreResult:
    out_dir: Path
    scores: Path
    cog: Path
    report: Path | None
    n_cells_scored: int
    seconds: float
    metrics: dict | None = None
    evaluation: object | None = None  # geogan.evaluation.metrics.EvaluationResult when deposits were given
    contributions: Path | None = None  # contributions.zarr, with contributions=True
    top_anomalies: list | None = None  # geogan.evaluation.drivers.top_anomalies rows, with contributions=True
    spread: Path | None = None  # spread.tif, for an ensemble model
    qml: Path | None = None  # anomaly.qml, the QGIS style of anomaly.tif
    polygons: Path | None = None  # anomaly_polygons.gpkg
    class_breaks: dict | None = None  # {"P50": score, …, "P99": score} of the valid cells
    target_alone: dict | None = None  # a target-aware model's target element evaluated alone (its metrics)


def _finalize_contributions(staged: Path, final: Path, run_key: dict) -> None:
    """Mark the staged contributions store complete and move it to ``final`` (already there
    when a previous run stopped between this move and the scores store's)."""
    if staged.exists():
        store.finalize_metadata(staged, {"complete": True, "created": store.now_iso()})
        replace_path(staged, final)
    elif run_key_of(final) != run_key:
        raise StoreError(f"{final} is missing or from another run; rerun with --overwrite")


def _cog_tags(model, model_dir: str, model_token: str, run_key: dict, *, label: str) -> dict[str, str]:
    """What the COGs say about themselves (GDAL tags, shown by QGIS and ``gdalinfo``; read by
    :func:`geogan.evaluation.stage.open_scores`): the detector and score, the model's transform and
    elements, the model dir and its token, the grid and its creation time. No timestamp of
    its own, so a rerun writes the same bytes."""
    tags = {"name": label, "detector": _detector_label(model), "score": model.score_name,
            "transform": str(getattr(model.transform, "kind", "")), "elements": ",".join(model.elements),
            "geogan_version": __version__, "model": model_dir, "model_token": model_token,
            "grid": str(run_key["grid"]), "grid_created": str(run_key.get("grid_created") or "")}
    if model.is_ensemble:
        tags["ensemble_members"] = str(getattr(model.detector, "n_members", ""))
    if model.target is not None:
        tags["target"] = model.target.target
        tags["deposit_type"] = str(model.target.info.get("deposit_type") or "")
        tags["target_score"] = model.target.describe()
    return tags


def _detector_label(model) -> str:
    """The detector a model is, as users name it: an ensemble's member detector (``alad`` for
    ALAD's seed ensemble), else the detector."""
    if model.is_ensemble:
        return str(getattr(model.detector, "detector", None) or model.detector_name)
    return model.detector_name


def element_alone(ds, element: str):
    """A grid's ``element`` as a map to evaluate beside a target-aware one (named ``<element> alone``)."""
    da = ds["concentration"].sel(element=element).drop_vars("element", errors="ignore")
    da.attrs = {"score": f"{element} concentration", "detector": f"{element} alone"}
    return da


def _evaluate(scores_path: Path, ds, model, deps, report_path: Path, evaluation: EvalOptions, *, name: str, top):
    """The report of a score stage: the map alone, or for a target-aware model the map beside
    its target element's own grid (what the map adds over the element alone, side by side).
    Returns the map's result and the target element's (None for a plain model)."""
    from geogan.evaluation.stage import evaluate, evaluate_many

    if model.target is None:
        return evaluate(scores_path, deps, report_path, evaluation=evaluation, overwrite=True, name=name,
                        **({"top_anomalies": top} if top else {})), None
    target = model.target.target
    element = element_alone(ds, target)
    kind = model.target.info.get("deposit_type")
    title = (f"target-aware map ({target}" + (f", {kind}" if kind else "") + f") beside {target} alone")
    alone = f"{target} alone" if name != f"{target} alone" else f"{target} concentration"
    results = evaluate_many({name: scores_path, alone: element}, deps, report_path, evaluation,
                            overwrite=True, title=title, top_anomalies={name: top} if top else None)
    return results[name], results[alone]


def _refuse_if_nothing_scored(staging: Staging, model, min_elements: int | None, grid_path) -> None:
    """A run that scored no cell is a user error (every cell lacks an element the model reads),
    not an all-NaN map: the staging folder goes, whatever the output held before stays."""
    import xarray as xr

    staged = xr.open_zarr(staging.store, consolidated=False)["anomaly"]
    if bool(staged.notnull().any().compute()):
        return
    staging.remove()
    need = (f"at least {min_elements} of" if min_elements is not None else "every one of")
    raise InputError(f"no cell could be scored: none holds {need} the model's elements "
                     f"({', '.join(model.elements)}); check the grid's elements (geogan info), or lower "
                     f"--min-elements", path=grid_path)


@holds_output_lock("out_dir")
def score_grid(
    grid_path: str | os.PathLike,
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: ScoreOptions | None = None,
    *,
    deposits: Deposits | str | os.PathLike | None = None,
    evaluation: EvalOptions | None = None,
    name: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **shortcuts,
) -> ScoreResult:
    """Score every valid cell of a grid store with a trained model.

    Writes ``out_dir/scores.zarr`` (``anomaly(y, x)``), ``out_dir/anomaly.tif`` (COG) and,
    with ``deposits``, ``out_dir/report/`` (see :func:`geogan.evaluation.stage.evaluate`), evaluated
    as ``evaluation`` says (:class:`~geogan.options.EvalOptions`: ``min_dist_km``, ``runs``,
    ``seed``); ``name`` labels the detector there (default: the model's detector).
    ``deposits`` is a :class:`~geogan.evaluation.deposits.Deposits` (see
    :func:`geogan.evaluation.deposits.read_deposits` for columns, CRS and deposit type) or a deposit
    file read with the defaults (columns detected, the grid CRS unless the file says otherwise).
    ``options`` (:class:`~geogan.options.ScoreOptions`) holds ``batch_size``,
    ``contributions`` and ``min_elements``; any field of it or of ``evaluation`` may also be
    given by name (``runs=5``, ``contributions=True``).

    Always also written beside the COG, from the scores read once: ``anomaly.qml`` (a QGIS
    style drawing ``anomaly.tif`` in the report's percentile classes) and
    ``anomaly_polygons.gpkg`` (the connected regions of cells ≥ P95 and ≥ P99, with area,
    highest score and the deposits inside); see :mod:`geogan.evaluation.gis`. The COGs carry a band
    description and tags naming the detector, score, transform, elements, geogan version,
    model and grid.
    With ``contributions`` each tile also writes the per-element contributions of its cells
    (:func:`geogan.scoring.contributions.element_contributions`; ``n_elements`` extra scoring passes)
    into ``out_dir/contributions.zarr`` (``contribution(element, y, x)``), and the report
    lists the top 10 anomalies with their driving elements. That store is built inside the
    scores store's staging folder (``scores.zarr.partial/contributions.zarr``), shares its
    done-manifest, and is moved into place just before ``scores.zarr``.
    With ``min_elements`` a cell missing some of the model's elements is still scored when
    it holds at least that many, the missing ones imputed from the present ones
    (:mod:`geogan.training.impute`); ``scores.zarr`` then holds ``elements_used(y, x)`` (uint8, 0 where
    unscored) and ``elements_used.tif`` maps it. Contributions are given for cells with every
    element only.
    Rerunning after a crash resumes from the finished tiles.
    """
    from geogan.grid.coverage import coverage_attr
    from geogan.training.model import load_model

    options, evaluation = split_options("score_grid", shortcuts, (ScoreOptions, options), (EvalOptions, evaluation))
    batch_size, contributions, min_elements = options.batch_size, options.contributions, options.min_elements
    t0 = time.perf_counter()
    check_workers(workers)
    out_dir = Path(out_dir)
    deposits_path = deposits.path if isinstance(deposits, Deposits) else deposits
    check_disjoint([out_dir], [grid_path, model_dir, deposits_path], what="score directory")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir} is a file; the score output is a directory: choose another --out")
    scores_path, cog_path, report_path = out_dir / SCORES_STORE, out_dir / COG_NAME, out_dir / REPORT_DIR
    if deposits is not None:  # the report is replaced whole: refuse now, not after scoring, if a user keeps files in it
        from geogan.evaluation.report import check_report_dir

        check_report_dir(report_path, overwrite=True)
    ds = store.open_grid(grid_path)
    spec = store.grid_spec(ds)
    model_dir = str(Path(model_dir).resolve())
    # validates the model dir before any output is created, without starting TensorFlow here
    model = load_model(model_dir, networks=False)
    grid_elements = ds["element"].values.tolist()
    missing = [e for e in model.elements if e not in grid_elements]
    if missing:
        raise ModelError(f"the model was trained on elements {', '.join(model.elements)} but the grid "
                         f"{grid_path} lacks {', '.join(missing)}", path=model_dir)
    grid_units = store.units_of(ds)
    model_units = model.config.get("units") or {}
    wrong = [e for e in model.elements if model_units.get(e) and grid_units.get(e) and model_units[e] != grid_units[e]]
    if wrong:
        raise ModelError("element units differ between model and grid: " + ", ".join(
            f"{e} {model_units[e]} vs {grid_units[e]}" for e in wrong), path=model_dir)
    element_index = [grid_elements.index(e) for e in model.elements]
    model.check_min_elements(min_elements)
    if min_elements is not None and min_elements >= len(model.elements):
        min_elements = None  # every element: the default
    if contributions:
        from geogan.scoring.contributions import check_supported

        check_supported(model)  # an ilr model fails now, before any output is created
    deps = None
    if deposits is not None:
        from geogan.evaluation.locate import deposits_on_grid

        # a bad deposits file, or one with no point inside the grid, fails now, not after the
        # whole grid is scored (extent only: a zero-stride stand-in for the values reads nothing)
        deps = deposits.to_crs(spec.crs) if isinstance(deposits, Deposits) else read_deposits(deposits, crs=spec.crs)
        deposits_on_grid(ds["distance"], deps, values=np.broadcast_to(np.float32(0), spec.shape))
    token = model_token(model_dir)
    staging = Staging(scores_path)
    run_key = {"grid": store.location(grid_path), "grid_created": ds.attrs.get("created"),
               "model": model_dir, "model_token": token}
    if contributions:  # absent when off: run keys (and reuse of earlier outputs) stay as before
        run_key["contributions"] = True
    if min_elements is not None:
        run_key["min_elements"] = int(min_elements)
    contrib_path, contrib_stage = out_dir / CONTRIBUTIONS_STORE, staging.root / CONTRIBUTIONS_STORE
    # a finished scores.zarr from this same grid and model is reused (resume after a crash
    # in the COG export or the report); anything else already there needs --overwrite
    scores_done = scores_path.exists() and not overwrite and run_key_of(scores_path) == run_key
    if contributions:
        scores_done = scores_done and run_key_of(contrib_path) == run_key
    # (anomaly.qml and anomaly_polygons.gpkg go with anomaly.tif: rewritten whenever it is)
    blocking = [p for p in (cog_path, out_dir / SPREAD_COG_NAME, report_path) if p.exists()]
    if contrib_path.exists() and run_key_of(contrib_path) != run_key:
        blocking.append(contrib_path)
    if scores_path.exists() and not scores_done:
        blocking.insert(0, scores_path)
    if blocking and not overwrite:
        raise OutputExistsError(f"{blocking[0]} exists; pass --overwrite to replace the outputs in {out_dir}")
    for output in SCORE_OUTPUTS:  # geogan's own outputs only, even with --overwrite
        check_replaceable(out_dir / output, what=output, kind=OUTPUT_KINDS.get(output))
    out_dir.mkdir(parents=True, exist_ok=True)
    resumed: set[tuple[int, int]] = set()
    if scores_done:
        log.info(f"reusing {scores_path} (same grid and model)")
    elif staging.exists():
        if staging.params() == run_key and staging.created():
            resumed = staging.done()
            log.info(f"resuming {staging.root}: {len(resumed)} of {spec.n_tiles} tiles already done")
        else:
            staging.remove()
    if not scores_done and not staging.exists():
        attrs = {"run_key": run_key, "model": {"dir": model_dir, "detector": model.detector_name, "score": model.score_name,
                           "elements": model.elements},
                 "grid_source": str(grid_path)}
        if model.target is not None:
            attrs["target"] = {"element": model.target.target, "deposit_type": model.target.info.get("deposit_type"),
                               "suite": model.target.info.get("suite"), "description": model.target.describe()}
        staging.start(run_key)
        if contributions:  # created first: a scores store in the staging folder implies this one
            create_contributions_store(contrib_stage, spec, model.elements, attrs)
        create_scores_store(staging.store, spec, attrs, spread=model.is_ensemble,
                             elements_used=min_elements is not None)
        staging.mark_created()
    pending = [] if scores_done else [t for t in spec.tiles() if t not in resumed]
    log.info(f"scoring {spec.n_cells:,} cells in {len(pending)} tiles with {model.detector_name} "
         f"(score {model.score_name})")
    if pending:
        # task keys name this run (grid, model, output), so two runs sharing a cluster never mix
        run_id = hashlib.sha256(store.dumps({**run_key, "out": str(scores_path.resolve())}).encode()).hexdigest()[:16]
        with dask_client(scheduler, workers=workers) as client:
            if not scheduler and not os.environ.get("DASK_SCHEDULER_ADDRESS"):
                client.run(os.environ.__setitem__, "GEOGAN_TF_THREADS", "1")
            futures = [client.submit(score_tile, run_key["grid"], ds.attrs.get("created"), str(scores_path),
                                     spec.to_dict(), i, j, model_dir=model_dir, model_token=token,
                                     element_index=element_index, batch_size=int(batch_size),
                                     contributions=bool(contributions), spread=model.is_ensemble,
                                     min_elements=min_elements, key=f"geogan-score-{run_id}-{i}-{j}")
                       for i, j in pending]
            run_tasks(client, futures, description="scoring tiles", progress=progress)
    if not scores_done:
        _refuse_if_nothing_scored(staging, model, min_elements, grid_path)
        if contributions:
            _finalize_contributions(contrib_stage, contrib_path, run_key)
        elif os.path.lexists(contrib_path):  # from an earlier run with contributions (--overwrite): stale now
            import shutil

            if contrib_path.is_symlink():  # the link goes, never what it points to
                contrib_path.unlink()
            else:
                shutil.rmtree(contrib_path)
        staging.finalize()
    _mark(out_dir, SCORES_STORE, COG_NAME, QML_NAME, POLYGONS_NAME, POLYGONS_QML_NAME,
          *([CONTRIBUTIONS_STORE] if contributions else []), *([USED_COG_NAME] if min_elements is not None else []),
          *([SPREAD_COG_NAME, SPREAD_QML_NAME] if model.is_ensemble else []),
          *([REPORT_DIR] if deposits is not None else []))  # before they are written
    scores_ds = open_scores_store(scores_path)
    n_scored = int(scores_ds["anomaly"].notnull().sum().compute())
    cov = coverage_attr(ds)
    if cov is not None and cov.n_data:
        log.info(f"scored {n_scored:,} cells: {100 * n_scored / cov.n_data:.1f} % of the grid's {cov.n_data:,} cells with "
             f"data" + ("" if min_elements is not None or n_scored >= cov.n_data else
                        " (cells missing one of the model's elements are not scored: see --min-elements)"))
    used_cog = out_dir / USED_COG_NAME
    if "elements_used" in scores_ds:
        used = scores_ds["elements_used"]
        counts = np.bincount(np.asarray(used.values).ravel(), minlength=len(model.elements) + 1)[1:]
        log.info("elements used per scored cell: " + ", ".join(
            f"{k + 1}: {c:,}" for k, c in enumerate(counts) if c))
        export_cog(used.where(used > 0).astype(np.float32).assign_attrs(grid=spec.to_dict()), used_cog,
                   overwrite=True, description="elements of the model each scored cell holds (the rest "
                                               "imputed)", tags={"variable": "elements_used"})
    elif used_cog.exists():  # from an earlier run with --min-elements (--overwrite): stale now
        used_cog.unlink()
    t_cog = time.perf_counter()
    tags = _cog_tags(model, model_dir, token, run_key, label=name or _detector_label(model))
    export_cog(scores_ds["anomaly"].assign_attrs(grid=spec.to_dict()), cog_path, overwrite=True,
               description=f"{tags['name']} anomaly score ({model.score_name}; higher = more anomalous)",
               tags={**tags, "variable": "anomaly"})
    log.info(f"wrote {cog_path} in {time.perf_counter() - t_cog:.1f} s")
    from geogan.evaluation.gis import export_classes, write_polygons_qml, write_spread_qml

    spread_cog = out_dir / SPREAD_COG_NAME
    if "spread" in scores_ds:
        export_cog(scores_ds["spread"].assign_attrs(grid=spec.to_dict()), spread_cog, overwrite=True,
                   description=f"{tags['name']} ensemble spread (standard deviation of the members' "
                               f"percentiles, percentage points)",
                   tags={**tags, "variable": "spread"})
        spread = np.asarray(scores_ds["spread"][::4, ::4].values)  # every 16th cell sets the ramp's top
        write_spread_qml(out_dir / SPREAD_QML_NAME,
                         vmax=float(np.nanpercentile(spread, 99)) if np.isfinite(spread).any() else 1.0)
        log.info(f"wrote {spread_cog} (the ensemble members' disagreement, percentage points) and its QGIS style")
    else:  # from an earlier ensemble's run (--overwrite): they would not describe this map
        for stale in (spread_cog, out_dir / SPREAD_QML_NAME):
            stale.unlink(missing_ok=True)

    qml_path, polygons_path = out_dir / QML_NAME, out_dir / POLYGONS_NAME
    breaks = export_classes(scores_ds["anomaly"], qml_path, polygons_path, deposits=deps)
    if breaks is None:
        qml_path = polygons_path = None
        log.info("no cell could be scored: no anomaly.qml or anomaly_polygons.gpkg")
    else:
        write_polygons_qml(out_dir / POLYGONS_QML_NAME)
        log.info(f"wrote {qml_path} (QGIS style: the report's percentile classes) and {polygons_path} "
             f"(cells ≥ P95, ≥ P99, with its outline style)")
    metrics = result = report = top = alone = None
    if contributions:
        from geogan.evaluation.drivers import read_top_anomalies

        top = read_top_anomalies(out_dir, n=10)
    if deposits is not None:
        result, alone = _evaluate(scores_path, ds, model, deps, report_path, evaluation,
                                  name=name or _detector_label(model), top=top if contributions else None)
        metrics = result.metrics
        report = report_path
    seconds = time.perf_counter() - t0
    return ScoreResult(out_dir=out_dir, scores=scores_path, cog=cog_path, report=report,
                       n_cells_scored=n_scored, seconds=seconds, metrics=metrics, evaluation=result,
                       contributions=contrib_path if contributions else None, top_anomalies=top,
                       spread=spread_cog if "spread" in scores_ds else None, qml=qml_path, polygons=polygons_path,
                       class_breaks=breaks, target_alone=None if alone is None else {"name": alone.name,
                                                                                     **alone.metrics})
