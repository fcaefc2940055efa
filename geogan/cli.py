"""The ``geogan`` command line: a thin shell over the Python API.

Each command parses its options into the stage's option objects (:mod:`geogan.options`;
the defaults shown are theirs), calls one library function and prints its summary.
User mistakes (any :class:`geogan.errors.GeoganError`, a file that cannot be opened, a path
too long, a full disk, a host that does not resolve)
print one line ``error: ...`` and exit 1; ``--debug`` shows the traceback instead. The
stages' status lines (the ``geogan`` logger) are printed unless ``--quiet``; their caveats
(:class:`geogan.errors.GeoganWarning`) are printed on stderr as ``warning: ...`` lines.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import socket
import warnings
from pathlib import Path
from typing import Annotated, Literal, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import typer  # noqa: E402

from geogan.errors import GeoganError, GeoganWarning, InputError  # noqa: E402
from geogan.choices import (ALAD_SCORES, DETECTORS, IDW_SPACES, NONPOSITIVE, RESAMPLING, SURVEY_FORMATS,  # noqa: E402
                            SYNTH_PRESETS, TRANSFORMS)
from geogan.grid.idw import IDWParams  # noqa: E402
from geogan.options import EvalOptions, GridOptions, ScoreOptions, SurveyOptions, TrainOptions  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Multivariate geochemical anomaly maps: grid → train → score → evaluate.")
_STATE = {"debug": False, "quiet": False}


def echo(msg: str = "") -> None:
    """A status line: silent under ``--quiet``, except warnings (errors are printed regardless)."""
    if msg.startswith("warning:"):
        typer.echo(msg, err=True)
    elif not _STATE["quiet"]:
        typer.echo(msg)


def _progress() -> bool:
    return not _STATE["quiet"]


def _default(cls, name: str):
    """The default of an option field: the CLI shows the library's, never a copy."""
    return cls.__dataclass_fields__[name].default


# Options with a fixed set of values (geogan.choices) are annotated ``Literal[set]``: ``--help``
# lists the values, and any other is refused before the command runs.


class _Console(logging.Handler):
    """Prints the ``geogan`` logger's records as plain lines (warnings and errors on stderr)."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(record.getMessage(), err=record.levelno >= logging.WARNING)


@contextlib.contextmanager
def _console():
    """Route the stages' log records and :class:`GeoganWarning` s to the terminal."""
    logger = logging.getLogger("geogan")
    handler = _Console()
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if _STATE["quiet"] else logging.INFO)
    logger.propagate = False
    show = warnings.showwarning

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, GeoganWarning):
            typer.echo(f"warning: {message}", err=True)
        else:
            show(message, category, filename, lineno, file, line)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", GeoganWarning)
            warnings.showwarning = show_warning
            yield
    finally:
        logger.removeHandler(handler)
        logger.level, logger.propagate = saved


#: operating-system errors that are the user's to fix (a path, a disk, a host name), not bugs
_USER_OS_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError, NotADirectoryError,
                   socket.gaierror)
_USER_ERRNOS = {errno.ENAMETOOLONG, errno.ENOSPC, errno.EROFS, errno.ELOOP, errno.EDQUOT, errno.ENOTEMPTY}


def _is_users(exc: OSError) -> bool:
    return isinstance(exc, _USER_OS_ERRORS) or exc.errno in _USER_ERRNOS


def _user_errors(fn):
    """Turn user mistakes into one line on stderr and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with _console():
                return fn(*args, **kwargs)
        except GeoganError as exc:
            if _STATE["debug"]:
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except OSError as exc:
            if _STATE["debug"] or not _is_users(exc):
                raise
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            typer.echo(f"error: {where}{exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
        except MemoryError as exc:
            if _STATE["debug"]:
                raise
            typer.echo(f"error: out of memory{f' ({exc})' if str(exc) else ''}; use a smaller grid, tile, sample "
                       f"or batch size, or a machine with more memory", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; rerun the same command to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _split(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    items = [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]
    return items or None


def _units_map(text: Optional[str]) -> Optional[dict[str, str]]:
    if not text:
        return None
    out = {}
    for item in _split(text) or []:
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise InputError(f"--units takes ELEMENT=UNIT pairs like Au=ppb,Cu=ppm; got {item!r}")
        out[key.strip()] = val.strip()
    return out


def _bounds(text: Optional[str]):
    if text is None:
        return None
    parts = _split(text) or []
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 4:
        raise InputError(f"--bounds takes xmin,ymin,xmax,ymax; got {text!r}")
    return vals


def _version(value: bool) -> None:
    if value:
        from geogan._version import __version__

        typer.echo(f"geogan {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors and warnings (no progress, no status lines).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print geogan's version and exit.")] = False,
):
    _STATE["debug"], _STATE["quiet"] = debug, quiet


# -- synth ---------------------------------------------------------------------------------------
@app.command()
@_user_errors
def synth(
    out: Annotated[Path, typer.Argument(help="Output directory (survey table, deposits.csv, truth.json).")],
    preset: Annotated[Literal[SYNTH_PRESETS], typer.Option(help="demo (~5,000 samples) or national (1.5 M samples, 39 elements).")] = "demo",
    samples: Annotated[Optional[int], typer.Option("--samples", help="Number of samples (default: the preset's).")] = None,
    elements: Annotated[Optional[str], typer.Option(help="Comma-separated element symbols (default: the preset's).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical files.")] = 0,
    format: Annotated[Optional[Literal[SURVEY_FORMATS]], typer.Option("--format", help="Survey file format (default: csv for demo, parquet for national).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output directory.")] = False,
):
    """Write a synthetic regional survey with known deposits (the embedded default)."""
    from geogan.synth import write_synthetic_survey

    res = write_synthetic_survey(out, preset, n_samples=samples, elements=_split(elements), seed=seed,
                                 fmt=format, overwrite=overwrite, progress=_progress())
    echo(res.describe())


# -- grid ----------------------------------------------------------------------------------------
@app.command()
@_user_errors
def grid(
    survey: Annotated[str, typer.Argument(help="Survey table: CSV, Parquet or GeoPackage (a path or an fsspec URL such as s3://bucket/survey.parquet).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Grid store to create (GRID.zarr).")],
    crs: Annotated[Optional[str], typer.Option(help="Grid CRS, projected in metres (e.g. EPSG:32650). Default: the survey's if projected.")] = None,
    input_crs: Annotated[Optional[str], typer.Option(help="CRS of the survey coordinates (default: from the file, EPSG:4326 for lon/lat columns).")] = None,
    x: Annotated[Optional[str], typer.Option("--x", help="X coordinate column (auto-detected).")] = None,
    y: Annotated[Optional[str], typer.Option("--y", help="Y coordinate column (auto-detected).")] = None,
    elements: Annotated[Optional[str], typer.Option(help="Comma-separated symbols, e.g. Au,Ag,W (default: all element columns).")] = None,
    units: Annotated[Optional[str], typer.Option(help="Units where column names carry none, e.g. Au=ppb,Cu=ppm.")] = None,
    cell_size: Annotated[float, typer.Option("--cell-size", help="Cell size in metres.")] = _default(GridOptions, "cell_size_m"),
    bounds: Annotated[Optional[str], typer.Option(help="xmin,ymin,xmax,ymax in the grid CRS (default: the samples' extent).")] = None,
    neighbors: Annotated[int, typer.Option(help="IDW: number of nearest samples per cell.")] = _default(IDWParams, "neighbors"),
    power: Annotated[float, typer.Option(help="IDW: weights are 1/d^power.")] = _default(IDWParams, "power"),
    max_distance: Annotated[Optional[float], typer.Option("--max-distance", help="Cells farther than this (m) from the nearest sample are NaN (default: 3 x median sample spacing).")] = None,
    space: Annotated[Literal[IDW_SPACES], typer.Option(help="IDW averaging: log (weighted geometric mean) or linear.")] = _default(IDWParams, "space"),
    bdl_factor: Annotated[float, typer.Option(help="Below-detection values become this x the detection limit.")] = _default(SurveyOptions, "bdl_factor"),
    negative_is_bdl: Annotated[bool, typer.Option("--negative-is-bdl", help="Negative values mean 'below |v|' (GSWA convention).")] = _default(SurveyOptions, "negative_is_bdl"),
    missing: Annotated[Optional[list[float]], typer.Option("--missing", help="Sentinel meaning missing (repeatable; default -9999).")] = None,
    level_by: Annotated[Optional[str], typer.Option("--level-by", help="Column naming batches (lab/campaign/report) to level to the overall median.")] = None,
    tile: Annotated[int, typer.Option(help="Tile edge in cells (the Zarr chunk).")] = _default(GridOptions, "tile"),
    allow_geographic: Annotated[bool, typer.Option("--allow-geographic", help="Allow a geographic grid CRS (cell size in degrees).")] = False,
    max_cells: Annotated[int, typer.Option("--max-cells", help="Refuse grids of more cells (guards against coordinates in the wrong unit).")] = _default(GridOptions, "max_cells"),
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address (default: DASK_SCHEDULER_ADDRESS or a LocalCluster).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="LocalCluster worker processes (default: one per core).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
):
    """Interpolate survey samples to an IDW grid store (Zarr v3), tile by tile on Dask."""
    from geogan.grid.stage import grid_survey
    from geogan.stores.store import describe, open_grid

    options = GridOptions(crs=crs, cell_size_m=cell_size, bounds=_bounds(bounds), tile=tile,
                          allow_geographic=allow_geographic, max_cells=max_cells, elements=_split(elements))
    reading = SurveyOptions(x=x, y=y, input_crs=input_crs, units=_units_map(units), bdl_factor=bdl_factor,
                            negative_is_bdl=negative_is_bdl, level_by=level_by,
                            missing=tuple(missing) if missing else _default(SurveyOptions, "missing"))
    interpolation = IDWParams(neighbors=neighbors, power=power, max_distance_m=max_distance, space=space)
    res = grid_survey(survey, out, options, survey_options=reading, idw_params=interpolation, scheduler=scheduler,
                      workers=workers, overwrite=overwrite, progress=_progress())
    echo(describe(open_grid(res.path), res.path))


@app.command()
@_user_errors
def info(store_path: Annotated[str, typer.Argument(metavar="STORE", help="A grid or scores store.")]):
    """Summarise a geogan store."""
    from geogan.stores.store import describe, open_store

    import zarr

    kind = "grid"
    try:
        kind = zarr.open_group(str(store_path), mode="r").attrs.get("geogan_kind", "grid")
    except Exception:
        pass  # open_store below gives the user-facing error
    ds = open_store(store_path, kind=kind)
    echo(describe(ds, store_path))
    if kind == "grid":
        from geogan.grid.coverage import coverage_of

        cov = coverage_of(ds)
        echo(cov.describe())
        for line in cov.warnings():
            echo(f"warning: {line}")


@app.command("import-rasters")
@_user_errors
def import_rasters_cmd(
    rasters: Annotated[list[Path], typer.Argument(help="Single-band GeoTIFFs, one per element.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Grid store to create.")],
    elements: Annotated[Optional[str], typer.Option(help="Comma-separated symbols in file order (default: from file names).")] = None,
    units: Annotated[Optional[str], typer.Option(help="Units per element, e.g. Au=ppb (default: ppm, or from the file name).")] = None,
    tile: Annotated[int, typer.Option(help="Tile edge in cells (the Zarr chunk).")] = 512,
    like: Annotated[Optional[Path], typer.Option(help="Reference grid raster (default: the first raster).")] = None,
    resample: Annotated[Optional[Literal[RESAMPLING]], typer.Option(help="Resample rasters on other grids onto the reference (default: refuse them).")] = None,
    nodata: Annotated[Optional[float], typer.Option(help="No-data value for files that declare none (e.g. -9999).")] = None,
    nonpositive: Annotated[Literal[NONPOSITIVE], typer.Option(help="What values <= 0 become (error: refuse them).")] = "error",
    max_cells: Annotated[int, typer.Option("--max-cells", help="Refuse reference grids of more cells.")] = _default(GridOptions, "max_cells"),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
):
    """Stack existing single-band element GeoTIFFs into a grid store (cells may be rectangular)."""
    from geogan.grid.rasters import import_rasters
    from geogan.stores.store import describe, open_grid

    path = import_rasters(rasters, out, elements=_split(elements), units=_units_map(units), tile=tile, like=like,
                          resampling=resample, nodata=nodata, nonpositive=nonpositive, max_cells=max_cells,
                          overwrite=overwrite)
    echo(describe(open_grid(path), path))


# -- train ---------------------------------------------------------------------------------------
@app.command()
@_user_errors
def train(
    grid_store: Annotated[str, typer.Argument(metavar="GRID.zarr", help="Grid store from 'geogan grid'.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to create.")],
    detector: Annotated[Literal[DETECTORS], typer.Option(help="The detector (an ensemble: --ensemble N).")] = _default(TrainOptions, "detector"),
    transform: Annotated[Optional[Literal[TRANSFORMS]], typer.Option(help="log (default), clr, ilr or none (then robust median/IQR scaling).")] = None,
    elements: Annotated[Optional[str], typer.Option(help="Comma-separated symbols (default: all in the grid).")] = None,
    sample: Annotated[int, typer.Option(help="Valid cells drawn at random for training + test.")] = _default(TrainOptions, "sample"),
    test_fraction: Annotated[float, typer.Option(help="Share of the sample held out for the test score.")] = _default(TrainOptions, "test_fraction"),
    steps: Annotated[Optional[int], typer.Option(help="Training length in optimiser steps (neural detectors; default 5000), rounded up to whole epochs of at least 50 steps.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Training length in epochs instead of --steps.")] = None,
    ensemble: Annotated[Optional[int], typer.Option(help="Train N models with seeds seed, seed+1000, ...; mean percentile + spread map (default: 5 for alad, else 1).")] = None,
    enrichment_only: Annotated[Optional[bool], typer.Option("--enrichment-only/--two-sided", help="Only enrichments count (values below the training median are set to it; the default except with ilr), or depletions too.", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Minibatch size (default 128).")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Adam learning rate (default 1e-4).")] = None,
    latent_dim: Annotated[Optional[int], typer.Option(help="Latent dimension (ALAD, VAE, autoencoder; default 64).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed on CPU → identical model).")] = _default(TrainOptions, "seed"),
    checkpoint_every: Annotated[Optional[int], typer.Option(help="Checkpoint every N epochs (default: ~10 per run; 0: none).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint in --out.")] = False,
    mixed_precision: Annotated[bool, typer.Option(help="float16 compute on GPU.")] = False,
    deposits: Annotated[Optional[str], typer.Option(help="Deposit points: adds a label-informed test AUC to the history (never used for selection).")] = None,
    score: Annotated[Optional[Literal[ALAD_SCORES]], typer.Option(help="ALAD score (auto, the default: latent on enrichment-only inputs, else l1).")] = None,
    target: Annotated[Optional[str], typer.Option(help="Target-aware map: the commodity element looked for (e.g. Au); its deposit type's pathfinders are the detector's elements.")] = None,
    deposit_type: Annotated[Optional[str], typer.Option(help="Target-aware map for a deposit type of the pathfinder catalogue (e.g. orogenic-au, porphyry-cu-mo-au; 'geogan pathfinders' lists them).")] = None,
    catalogue: Annotated[Optional[str], typer.Option(help="A TOML file of deposit types extending the built-in pathfinder catalogue.")] = None,
    alteration: Annotated[bool, typer.Option(help="Add the deposit type's alteration elements (K, Na, ...) to its suite.")] = _default(TrainOptions, "alteration"),
    matrix_correction: Annotated[Optional[bool], typer.Option("--matrix-correction/--no-matrix-correction", help="Correct the suite for the grid's matrix elements (robust regression). Default: on unless the deposit type has a host rock of its own (granite-related, magmatic sulphide, IOCG).", show_default=False)] = _default(TrainOptions, "matrix_correction"),
    target_weight: Annotated[float, typer.Option(help="The target element's share of a target-aware score.")] = _default(TrainOptions, "target_weight"),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model directory.")] = False,
):
    """Train an anomaly detector on a random sample of grid cells (target-aware with --target / --deposit-type)."""
    from geogan.training.stage import train_model

    options = TrainOptions(detector=detector, transform=transform or _default(TrainOptions, "transform"),
                           elements=_split(elements), sample=sample, test_fraction=test_fraction, steps=steps,
                           epochs=epochs, ensemble=ensemble, enrichment_only=enrichment_only, batch_size=batch_size,
                           learning_rate=lr, latent_dim=latent_dim, seed=seed, checkpoint_every=checkpoint_every,
                           mixed_precision=mixed_precision, params={"score": score} if score else None,
                           target=target, deposit_type=deposit_type, catalogue=catalogue, alteration=alteration,
                           matrix_correction=matrix_correction, target_weight=target_weight)
    res = train_model(grid_store, out, options, resume=resume, deposits=deposits, overwrite=overwrite,
                      progress=_progress())
    echo(str(res))


@app.command()
@_user_errors
def pathfinders(
    deposit_type: Annotated[Optional[str], typer.Argument(help="A deposit type to show in full (default: list them all).")] = None,
    catalogue: Annotated[Optional[str], typer.Option(help="A TOML file of deposit types extending the built-in catalogue.")] = None,
):
    """The pathfinder catalogue that --target and --deposit-type use: deposit types, suites, references."""
    from geogan.survey.pathfinders import describe

    echo(describe(deposit_type, catalogue_path=catalogue))


# -- score ---------------------------------------------------------------------------------------
@app.command()
@_user_errors
def score(
    grid_store: Annotated[str, typer.Argument(metavar="GRID.zarr", help="Grid store to score.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Model directory from 'geogan train'.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (scores.zarr, anomaly.tif, report/).")],
    deposits: Annotated[Optional[str], typer.Option(help="Known deposits (CSV/GeoPackage): also writes report/.")] = None,
    deposits_crs: Annotated[Optional[str], typer.Option(help="CRS of the deposit coordinates.")] = None,
    deposits_x: Annotated[Optional[str], typer.Option(help="Deposit x column (auto-detected).")] = None,
    deposits_y: Annotated[Optional[str], typer.Option(help="Deposit y column (auto-detected).")] = None,
    deposit_type: Annotated[Optional[str], typer.Option(help="Evaluate against the deposits of this type only: rows whose type column equals or contains it, any case (e.g. W-Sn).")] = None,
    deposit_type_column: Annotated[Optional[str], typer.Option(help="The deposit type column (default: deposit_type, type, commodity or commodities).")] = None,
    min_dist_km: Annotated[float, typer.Option(help="Negative-sampling AUC: negatives at least this far from deposits.")] = _default(EvalOptions, "min_dist_km"),
    runs: Annotated[int, typer.Option(help="Negative-sampling AUC draws.")] = _default(EvalOptions, "runs"),
    seed: Annotated[int, typer.Option(help="Seed of the negative sampling.")] = _default(EvalOptions, "seed"),
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address (default: DASK_SCHEDULER_ADDRESS or a LocalCluster).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="LocalCluster worker processes (default: one per core).")] = None,
    batch_size: Annotated[int, typer.Option(help="Cells per inference batch.")] = _default(ScoreOptions, "batch_size"),
    contributions: Annotated[bool, typer.Option("--contributions", help="Also write each element's contribution to every cell's score (contributions.zarr; one extra scoring pass per element) and list the top anomalies' driving elements in the report.")] = False,
    min_elements: Annotated[Optional[int], typer.Option("--min-elements", help="Also score cells holding at least K of the model's elements, imputing the others from them (writes elements_used; default: every element).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs.")] = False,
):
    """Score every cell tile by tile on Dask → scores.zarr + anomaly.tif (COG) [+ contributions.zarr] [+ report/]."""
    from geogan.scoring.stage import score_grid

    options = ScoreOptions(batch_size=batch_size, contributions=contributions, min_elements=min_elements)
    evaluation = EvalOptions(min_dist_km=min_dist_km, runs=runs, seed=seed)
    known = None
    if deposits is not None:
        from geogan.evaluation.deposits import read_deposits
        from geogan.stores.store import grid_spec, open_grid

        known = read_deposits(deposits, crs=grid_spec(open_grid(grid_store)).crs, x=deposits_x, y=deposits_y,
                              input_crs=deposits_crs, deposit_type=deposit_type,
                              deposit_type_column=deposit_type_column)
    res = score_grid(grid_store, model, out, options, deposits=known, evaluation=evaluation, scheduler=scheduler,
                     workers=workers, overwrite=overwrite, progress=_progress())
    echo(f"scored   {res.n_cells_scored:,} cells in {res.seconds:.1f} s")
    echo(f"scores   {res.scores}\nmap      {res.cog}" + (f" (QGIS style {res.qml.name})\npolygons {res.polygons}"
                                                         if res.qml else ""))
    if res.contributions:
        echo(f"contrib  {res.contributions}")
    if res.report:
        m = res.metrics or {}
        echo(f"report   {res.report / 'index.html'}")
        if "roc_auc" in m:
            alone = res.target_alone or {}
            echo(f"AUC (all cells) {m['roc_auc']:.3f}" + (f"; {alone['name']}: {alone['roc_auc']:.3f}"
                                                          if alone.get("roc_auc") is not None else ""))


# -- evaluate ------------------------------------------------------------------------------------
@app.command()
@_user_errors
def evaluate(
    scores: Annotated[list[Path], typer.Argument(help="anomaly.tif or scores.zarr; several (NAME=PATH) sit side by side.")],
    deposits: Annotated[str, typer.Option(help="Known deposits (CSV/GeoPackage).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report directory to create.")],
    deposits_crs: Annotated[Optional[str], typer.Option(help="CRS of the deposit coordinates.")] = None,
    deposits_x: Annotated[Optional[str], typer.Option(help="Deposit x column (auto-detected).")] = None,
    deposits_y: Annotated[Optional[str], typer.Option(help="Deposit y column (auto-detected).")] = None,
    deposit_type: Annotated[Optional[str], typer.Option(help="Evaluate against the deposits of this type only: rows whose type column equals or contains it, any case (e.g. W-Sn).")] = None,
    deposit_type_column: Annotated[Optional[str], typer.Option(help="The deposit type column (default: deposit_type, type, commodity or commodities).")] = None,
    min_dist_km: Annotated[float, typer.Option(help="Negative-sampling AUC: negatives at least this far from deposits.")] = _default(EvalOptions, "min_dist_km"),
    runs: Annotated[int, typer.Option(help="Negative-sampling AUC draws.")] = _default(EvalOptions, "runs"),
    seed: Annotated[int, typer.Option(help="Seed of the negative sampling.")] = _default(EvalOptions, "seed"),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing report directory.")] = False,
):
    """Evaluate anomaly maps against known deposits: ROC AUC, P-A plot, report."""
    from geogan.evaluation.stage import evaluate_many, score_label

    named = {}
    for k, p in enumerate(scores):
        name, sep, rest = str(p).partition("=")
        # a bare path is named by what the map says it is (a geogan COG's detector tag, a band
        # description), else by its folder
        name, path = (name, rest) if sep else (score_label(p) or Path(p).parent.name or f"map{k + 1}", str(p))
        if name in named:
            name = f"{name}-{k + 1}"
        named[name] = path
    results = evaluate_many(named, deposits, out, EvalOptions(min_dist_km=min_dist_km, runs=runs, seed=seed),
                            deposits_crs=deposits_crs, deposits_x=deposits_x, deposits_y=deposits_y,
                            deposit_type=deposit_type, deposit_type_column=deposit_type_column, overwrite=overwrite)
    for name, res in results.items():
        m = res.metrics
        echo(f"{name}: AUC (all cells) {m.get('roc_auc', float('nan')):.3f}")
    echo(f"report   {out / 'index.html'}")


# -- run -----------------------------------------------------------------------------------------
def _bundled_specs() -> list[str]:
    from geogan.pipeline import bundled_specs

    return bundled_specs()


@app.command()
@_user_errors
def run(
    spec: Annotated[str, typer.Argument(metavar="SPEC", help="A pipeline spec (.toml file), or the name of one shipped with geogan: " + ", ".join(_bundled_specs()) + " (`geogan run demo`).")],
    force: Annotated[bool, typer.Option(help="Rerun every stage even when up to date.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Let stages replace outputs this pipeline did not write itself (and break stale locks).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address for grid and score.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="LocalCluster worker processes.")] = None,
):
    """Run the chain synth/survey → grid → train → score → report from a TOML spec."""
    from geogan.pipeline import load_spec, run_pipeline

    overrides = {"cluster": {k: v for k, v in {"scheduler": scheduler, "workers": workers}.items() if v}}
    summary = run_pipeline(load_spec(spec, overrides=overrides), force=force, overwrite=overwrite,
                           progress=_progress())
    for name, d in summary["detectors"].items():
        auc = (d.get("metrics") or {}).get("roc_auc")
        where = f"map {d['cog']}" if "cog" in d else f"the grid's {d['element']} (beside the target-aware maps)"
        echo(f"{name:12s} {where}" + (f"  AUC {auc:.3f}" if auc is not None else ""))
    if "report" in summary:
        echo(f"report: {summary['report']}")


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
