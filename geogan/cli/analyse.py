"""The commands that make and judge maps: ``geogan train``, ``pathfinders``, ``score``, ``evaluate`` and ``run``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from geogan.choices import ALAD_SCORES, DETECTORS, TRANSFORMS
from geogan.cli.shell import (alad_default, app, default_of, echo, ensemble_default, progress_on,
                            split_list, user_errors)
from geogan.options import DepositOptions, EvalOptions, ScoreOptions, TrainOptions
from geogan.pipeline.spec import bundled_specs


# -- the options train, score and evaluate share: which deposits (train: only how to read them),
# and the negative-sampling protocol ------------------------------------------------------------
DepositsCRS = Annotated[Optional[str], typer.Option(help="CRS of the deposit coordinates (default: the file's; "
                                                         "EPSG:4326 for lon/lat columns; else the grid's).")]
DepositsX = Annotated[Optional[str], typer.Option(help="Deposit x column (auto-detected).")]
DepositsY = Annotated[Optional[str], typer.Option(help="Deposit y column (auto-detected).")]
DepositType = Annotated[Optional[str], typer.Option(help="Evaluate against the deposits of this type only: rows whose "
                                                         "type column equals or contains it, any case (e.g. W-Sn).")]
DepositTypeColumn = Annotated[Optional[str], typer.Option(help="The deposit type column (default: deposit_type, type, "
                                                               "commodity or commodities).")]
MinDistKm = Annotated[float, typer.Option(help="Negative-sampling AUC: negatives at least this far from deposits.")]
Runs = Annotated[int, typer.Option(help="Negative-sampling AUC draws.")]
EvalSeed = Annotated[int, typer.Option(help="Seed of the negative sampling.")]


def _deposit_options(**flags) -> DepositOptions:
    """The :class:`~geogan.options.DepositOptions` of the ``--deposits-*`` and ``--deposit-type*`` flags."""
    return DepositOptions.pick(flags, names=DepositOptions.keywords)


# -- train ---------------------------------------------------------------------------------------
@app.command()
@user_errors
def train(
    grid_store: Annotated[str, typer.Argument(metavar="GRID.zarr", help="Grid store from 'geogan grid'.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Model directory to create (a path or an fsspec URL such as s3://bucket/models/alad).")],
    detector: Annotated[Literal[DETECTORS], typer.Option(help="The detector (an ensemble: --ensemble N).")] = default_of(TrainOptions, "detector"),
    transform: Annotated[Optional[Literal[TRANSFORMS]], typer.Option(help="log (default), clr, ilr or none (then robust median/IQR scaling).")] = None,
    elements: Annotated[Optional[str], typer.Option(help="Comma-separated symbols (default: all in the grid).")] = None,
    sample: Annotated[int, typer.Option(help="Valid cells drawn at random for training + test.")] = default_of(TrainOptions, "sample"),
    test_fraction: Annotated[float, typer.Option(help="Share of the sample held out for the test score.")] = default_of(TrainOptions, "test_fraction"),
    steps: Annotated[Optional[int], typer.Option(help=f"Training length in optimiser steps (neural detectors; default {alad_default('steps')}), rounded up to whole epochs of at least 50 steps.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Training length in epochs instead of --steps.")] = None,
    ensemble: Annotated[Optional[int], typer.Option(help=f"Train N models with seeds seed, seed+1000, ...; mean percentile + spread map (default: {ensemble_default()}, else 1).")] = None,
    enrichment_only: Annotated[Optional[bool], typer.Option("--enrichment-only/--two-sided", help="Only enrichments count (values below the training median are set to it; the default except with ilr), or depletions too.", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help=f"Minibatch size (default {alad_default('batch_size')}).")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help=f"Adam learning rate (default {alad_default('learning_rate'):g}).")] = None,
    latent_dim: Annotated[Optional[int], typer.Option(help=f"Latent dimension (ALAD, VAE, autoencoder; default {alad_default('latent_dim')}).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed on CPU → identical model).")] = default_of(TrainOptions, "seed"),
    checkpoint_every: Annotated[Optional[int], typer.Option(help="Checkpoint every N epochs (default: ~10 per run; 0: none).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint in --out.")] = False,
    mixed_precision: Annotated[bool, typer.Option(help="float16 compute on GPU.")] = False,
    deposits: Annotated[Optional[str], typer.Option(help="Deposit points: adds a label-informed test AUC to the history (never used for selection).")] = None,
    deposits_crs: DepositsCRS = default_of(DepositOptions, "input_crs"),
    deposits_x: DepositsX = default_of(DepositOptions, "x"),
    deposits_y: DepositsY = default_of(DepositOptions, "y"),
    score: Annotated[Optional[Literal[ALAD_SCORES]], typer.Option(help="ALAD score (auto, the default: latent on enrichment-only inputs, else l1).")] = None,
    target: Annotated[Optional[str], typer.Option(help="Target-aware map: the commodity element looked for (e.g. Au); its deposit type's pathfinders are the detector's elements.")] = None,
    deposit_type: Annotated[Optional[str], typer.Option(help="Target-aware map for a deposit type of the pathfinder catalogue (e.g. orogenic-au, porphyry-cu-mo-au; 'geogan pathfinders' lists them).")] = None,
    catalogue: Annotated[Optional[str], typer.Option(help="A TOML file of deposit types extending the built-in pathfinder catalogue.")] = None,
    alteration: Annotated[bool, typer.Option(help="Add the deposit type's alteration elements (K, Na, ...) to its suite.")] = default_of(TrainOptions, "alteration"),
    matrix_correction: Annotated[Optional[bool], typer.Option("--matrix-correction/--no-matrix-correction", help="Correct the suite for the grid's matrix elements (robust regression). Default: on unless the deposit type has a host rock of its own (granite-related, magmatic sulphide, IOCG).", show_default=False)] = default_of(TrainOptions, "matrix_correction"),
    target_weight: Annotated[float, typer.Option(help="The target element's share of a target-aware score.")] = default_of(TrainOptions, "target_weight"),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model directory.")] = False,
):
    """Train an anomaly detector on a random sample of grid cells (target-aware with --target / --deposit-type)."""
    from geogan.training.stage import train_model

    options = TrainOptions(detector=detector, transform=transform or default_of(TrainOptions, "transform"),
                           elements=split_list(elements), sample=sample, test_fraction=test_fraction, steps=steps,
                           epochs=epochs, ensemble=ensemble, enrichment_only=enrichment_only, batch_size=batch_size,
                           learning_rate=lr, latent_dim=latent_dim, seed=seed, checkpoint_every=checkpoint_every,
                           mixed_precision=mixed_precision, params={"score": score} if score else None,
                           target=target, deposit_type=deposit_type, catalogue=catalogue, alteration=alteration,
                           matrix_correction=matrix_correction, target_weight=target_weight)
    how = _deposit_options(deposits_crs=deposits_crs, deposits_x=deposits_x, deposits_y=deposits_y)
    res = train_model(grid_store, out, options, resume=resume, deposits=deposits, deposit_options=how,
                      overwrite=overwrite, progress=progress_on())
    echo(str(res))


@app.command()
@user_errors
def pathfinders(
    deposit_type: Annotated[Optional[str], typer.Argument(help="A deposit type to show in full (default: list them all).")] = None,
    catalogue: Annotated[Optional[str], typer.Option(help="A TOML file of deposit types extending the built-in catalogue.")] = None,
):
    """The pathfinder catalogue that --target and --deposit-type use: deposit types, suites, references."""
    from geogan.survey.pathfinders import describe

    echo(describe(deposit_type, catalogue_path=catalogue))


# -- score ---------------------------------------------------------------------------------------
def _name(path) -> str:
    """The last name of a path or URL (``anomaly.qml``)."""
    return str(path).rstrip("/").rpartition("/")[2]


def _within(folder, name: str):
    """``name`` inside ``folder``, a local path or a URL (shown without credentials)."""
    from geogan.stores.remote import is_remote, join, public_url

    return public_url(join(str(folder), name)) if is_remote(folder) else Path(folder) / name


@app.command()
@user_errors
def score(
    grid_store: Annotated[str, typer.Argument(metavar="GRID.zarr", help="Grid store to score.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model directory from 'geogan train' (a path or an fsspec URL).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output directory (scores.zarr, anomaly.tif, report/): a path or an fsspec URL such as s3://bucket/scores/alad.")],
    deposits: Annotated[Optional[str], typer.Option(help="Known deposits (CSV/GeoPackage): also writes report/.")] = None,
    deposits_crs: DepositsCRS = default_of(DepositOptions, "input_crs"),
    deposits_x: DepositsX = default_of(DepositOptions, "x"),
    deposits_y: DepositsY = default_of(DepositOptions, "y"),
    deposit_type: DepositType = default_of(DepositOptions, "deposit_type"),
    deposit_type_column: DepositTypeColumn = default_of(DepositOptions, "deposit_type_column"),
    min_dist_km: MinDistKm = default_of(EvalOptions, "min_dist_km"),
    runs: Runs = default_of(EvalOptions, "runs"),
    seed: EvalSeed = default_of(EvalOptions, "seed"),
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address (default: DASK_SCHEDULER_ADDRESS or a LocalCluster).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="LocalCluster worker processes (default: one per core).")] = None,
    batch_size: Annotated[int, typer.Option(help="Cells per inference batch.")] = default_of(ScoreOptions, "batch_size"),
    contributions: Annotated[bool, typer.Option("--contributions", help="Also write each element's contribution to every cell's score (contributions.zarr; one extra scoring pass per element) and list the top anomalies' driving elements in the report.")] = False,
    min_elements: Annotated[Optional[int], typer.Option("--min-elements", help="Also score cells holding at least K of the model's elements, imputing the others from them (writes elements_used; default: every element).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs.")] = False,
):
    """Score every cell tile by tile on Dask → scores.zarr + anomaly.tif (COG) [+ contributions.zarr] [+ report/]."""
    from geogan.scoring.stage import score_grid

    options = ScoreOptions(batch_size=batch_size, contributions=contributions, min_elements=min_elements)
    evaluation = EvalOptions(min_dist_km=min_dist_km, runs=runs, seed=seed)
    how = _deposit_options(deposits_crs=deposits_crs, deposits_x=deposits_x, deposits_y=deposits_y,
                           deposit_type=deposit_type, deposit_type_column=deposit_type_column)
    known = None
    if deposits is not None:
        from geogan.evaluation.deposits import read_deposits
        from geogan.stores.geometry import grid_spec
        from geogan.stores.store import open_grid

        known = read_deposits(deposits, crs=grid_spec(open_grid(grid_store)).crs, options=how)
    res = score_grid(grid_store, model, out, options, deposits=known, evaluation=evaluation, scheduler=scheduler,
                     workers=workers, overwrite=overwrite, progress=progress_on())
    echo(f"scored   {res.n_cells_scored:,} cells in {res.seconds:.1f} s")
    echo(f"scores   {res.scores}\nmap      {res.cog}" + (f" (QGIS style {_name(res.qml)})\npolygons {res.polygons}"
                                                         if res.qml else ""))
    if res.contributions:
        echo(f"contrib  {res.contributions}")
    if res.report:
        m = res.metrics or {}
        echo(f"report   {_within(res.report, 'index.html')}")
        if "roc_auc" in m:
            alone = res.target_alone or {}
            echo(f"AUC (all cells) {m['roc_auc']:.3f}" + (f"; {alone['name']}: {alone['roc_auc']:.3f}"
                                                          if alone.get("roc_auc") is not None else ""))


# -- evaluate ------------------------------------------------------------------------------------
@app.command()
@user_errors
def evaluate(
    scores: Annotated[list[str], typer.Argument(help="anomaly.tif or scores.zarr (paths or fsspec URLs); several (NAME=PATH) sit side by side.")],
    deposits: Annotated[str, typer.Option(help="Known deposits (CSV/GeoPackage).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Report directory to create (a path or an fsspec URL such as s3://bucket/report).")],
    deposits_crs: DepositsCRS = default_of(DepositOptions, "input_crs"),
    deposits_x: DepositsX = default_of(DepositOptions, "x"),
    deposits_y: DepositsY = default_of(DepositOptions, "y"),
    deposit_type: DepositType = default_of(DepositOptions, "deposit_type"),
    deposit_type_column: DepositTypeColumn = default_of(DepositOptions, "deposit_type_column"),
    min_dist_km: MinDistKm = default_of(EvalOptions, "min_dist_km"),
    runs: Runs = default_of(EvalOptions, "runs"),
    seed: EvalSeed = default_of(EvalOptions, "seed"),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing report directory.")] = False,
):
    """Evaluate anomaly maps against known deposits: ROC AUC, P-A plot, report."""
    from geogan.evaluation.scorefiles import score_label
    from geogan.evaluation.stage import evaluate_many

    how = _deposit_options(deposits_crs=deposits_crs, deposits_x=deposits_x, deposits_y=deposits_y,
                           deposit_type=deposit_type, deposit_type_column=deposit_type_column)
    from geogan.stores.urls import is_url

    named = {}
    for k, arg in enumerate(scores):
        name, sep, rest = arg.partition("=")
        path = rest if sep and not is_url(arg) else arg
        path = path if is_url(path) else str(Path(path))  # a local path as the Path it always was
        # a bare path is named by what the map says it is (a geogan COG's detector tag, a band
        # description), else by its folder
        name = name if sep and not is_url(arg) else (score_label(path) or Path(path).parent.name or f"map{k + 1}")
        if name in named:
            name = f"{name}-{k + 1}"
        named[name] = path
    results = evaluate_many(named, deposits, out, EvalOptions(min_dist_km=min_dist_km, runs=runs, seed=seed),
                            deposit_options=how, overwrite=overwrite)
    for name, res in results.items():
        m = res.metrics
        echo(f"{name}: AUC (all cells) {m.get('roc_auc', float('nan')):.3f}")
    echo(f"report   {_within(out, 'index.html')}")


# -- run -----------------------------------------------------------------------------------------
@app.command()
@user_errors
def run(
    spec: Annotated[str, typer.Argument(metavar="SPEC", help="A pipeline spec (.toml file), or the name of one shipped with geogan: " + ", ".join(bundled_specs()) + " (`geogan run demo`).")],
    force: Annotated[bool, typer.Option(help="Rerun every stage even when up to date.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Let stages replace outputs this pipeline did not write itself (and break stale locks).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address for grid and score.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="LocalCluster worker processes.")] = None,
):
    """Run the chain synth/survey → grid → train → score → report from a TOML spec."""
    from geogan.pipeline import load_spec, run_pipeline

    overrides = {"cluster": {k: v for k, v in {"scheduler": scheduler, "workers": workers}.items() if v is not None}}
    summary = run_pipeline(load_spec(spec, overrides=overrides), force=force, overwrite=overwrite,
                           progress=progress_on())
    for name, d in summary["detectors"].items():
        auc = (d.get("metrics") or {}).get("roc_auc")
        where = f"map {d['cog']}" if "cog" in d else f"the grid's {d['element']} (beside the target-aware maps)"
        echo(f"{name:12s} {where}" + (f"  AUC {auc:.3f}" if auc is not None else ""))
    if "report" in summary:
        echo(f"report: {summary['report']}")


