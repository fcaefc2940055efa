"""The grid stage: survey points → IDW grids in a Zarr v3 store, tile by tile on Dask.

>>> from geogan.grid.stage import grid_survey                                # doctest: +SKIP
>>> result = grid_survey("survey.csv", "grid.zarr", crs="EPSG:32650")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from geogan.stores import layout
from geogan.stores.files import check_disjoint, check_output, holds_output_lock
from geogan.cluster import check_workers, dask_client, run_tasks, worker_cached
from geogan.grid.coverage import Coverage, grid_coverage
from geogan.survey.coordinates import outside_area_of_use
from geogan.errors import CRSError, GeoganWarning, GridError
from geogan.gridspec import GridSpec, check_grid_crs
from geogan.grid.idw import IDWParams, SampleIndex, idw, median_spacing
from geogan.options import GridOptions, SurveyOptions, split_options
from geogan.stores.remote import is_remote, public_url
from geogan.stores.staging import Staging
from geogan.stores.urls import is_url

SAMPLES_FILE = "samples.npz"
log = logging.getLogger(__name__)


@dataclass
class GridResult:
    """What :func:`grid_survey` made.

    Each parameter is also an attribute of the same name.

    Parameters
    ----------
    path
        The grid store written.
    spec
        The grid: CRS, cell size, extent, tiling.
    elements
        The element symbols gridded, in the store's order.
    idw
        The interpolation parameters used (``max_distance_m`` resolved).
    n_samples
        Samples gridded (after merging samples at identical coordinates).
    tiles_computed, tiles_resumed
        Tiles computed by this run, and tiles taken from an interrupted earlier run.
    seconds
        Wall time of the run.
    coverage
        Which cells hold which elements (:class:`geogan.grid.coverage.Coverage`).

    Raises
    ------
    GeoganError
        Not raised by the record, which checks nothing: :func:`grid_survey`, which returns it,
        raises the errors listed there.

    Examples
    --------
    >>> import dataclasses
    >>> [f.name for f in dataclasses.fields(GridResult)][:5]
    ['path', 'spec', 'elements', 'idw', 'n_samples']
    >>> result = grid_survey("survey.csv", "grid.zarr", crs="EPSG:32650")  # doctest: +SKIP
    >>> result.spec.shape, result.tiles_computed, result.coverage.describe()  # doctest: +SKIP
    """

    path: Path
    spec: GridSpec
    elements: list[str]
    idw: IDWParams
    n_samples: int
    tiles_computed: int
    tiles_resumed: int
    seconds: float
    coverage: Coverage | None = None


def _load_index(samples_path: str, token: str, space: str) -> SampleIndex:
    def build():
        source = samples_path
        if is_url(samples_path):  # in object storage, beside the store: read whole, once per worker
            import fsspec

            with fsspec.open(samples_path, "rb") as f:
                source = io.BytesIO(f.read())
        with np.load(source, allow_pickle=False) as f:
            return SampleIndex(f["x"], f["y"], f["values"], space=space, elements=list(f["elements"]))
    return worker_cached(("idw-index", samples_path, token, space), build)


def grid_tile(out: str, samples_path: str, token: str, spec_dict: dict, params_dict: dict,
              i: int, j: int) -> tuple[int, int, int]:
    """Compute tile ``(i, j)`` and write it into the store by region (runs on a worker).

    The KD-trees are built once per worker process from the samples file beside the store.
    Returns ``(i, j, n_valid_cells)``.
    """
    spec = GridSpec.from_dict(spec_dict)
    params = IDWParams(**params_dict)
    index = _load_index(samples_path, token, params.space)
    rows, cols = spec.tile_slices(i, j)
    qx, qy = np.meshgrid(spec.x_coords(cols.start, cols.stop), spec.y_coords(rows.start, rows.stop))
    shape = qx.shape
    conc, dist = idw(index, qx.ravel(), qy.ravel(), params, return_distance=True)
    conc = conc.reshape((index.n_elements,) + shape)
    dist = dist.astype(np.float32).reshape(shape)
    staging = Staging(out)
    layout.write_region(staging.store, "concentration", conc, (slice(None), rows, cols))
    layout.write_region(staging.store, "distance", dist, (rows, cols))
    staging.mark(i, j)
    return i, j, int(np.isfinite(conc).all(axis=0).sum())


@holds_output_lock("out")
def grid_survey(
    survey_path: str | os.PathLike,
    out: str | os.PathLike,
    options: GridOptions | None = None,
    *,
    survey_options: SurveyOptions | None = None,
    idw_params: IDWParams | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **shortcuts,
) -> GridResult:
    """Grid a survey table into a Zarr v3 store with IDW, tile by tile on Dask.

    Reruns of the same command after a crash resume from the finished tiles of
    ``<out>.partial``; the store appears at ``out`` only when complete.

    Parameters
    ----------
    survey_path
        CSV, Parquet or GeoPackage (see :func:`geogan.survey.read.read_survey`).
    out
        Path or fsspec URL of the grid store to create (``grid.zarr``, ``s3://bucket/grid.zarr``:
        built in place there, resumable, committed by its metadata written last).
    options, survey_options, idw_params
        The grid's geometry (:class:`~geogan.options.GridOptions`: CRS, cell size, bounds,
        tile, elements, ...), how to read the survey (:class:`~geogan.options.SurveyOptions`)
        and the interpolation (:class:`~geogan.grid.idw.IDWParams`; ``max_distance_m`` defaults to
        3 × the median nearest-sample spacing). Defaults: the classes' defaults.
    scheduler, workers
        Dask scheduler address, or LocalCluster worker processes (see :mod:`geogan.cluster`).
    overwrite
        Replace an existing store, and break a stale lock (``<out>.lock``) left by a dead run.
        One process at a time writes a store; a second one is refused while the first runs.
    progress
        Show a progress bar over the tiles.
    **shortcuts
        Any field of the three option classes by name (``cell_size_m=1000``,
        ``neighbors=8``, ``input_crs="EPSG:4326"``), overriding the objects given.

    Status lines go to the ``geogan`` logger; caveats about the survey or the grid's coverage
    are issued as :class:`~geogan.errors.GeoganWarning`.

    Returns
    -------
    GridResult
        The store's path, the grid, the elements, the IDW parameters used, the sample and
        tile counts, the wall time and the coverage.

    Raises
    ------
    GridError
        A grid option out of range (checked before anything is read), an element without
        values or with values ≤ 0 in log space, a grid of more than ``max_cells`` cells.
    CRSError
        No grid CRS given and the survey's is unknown or not projected; an invalid or
        geographic grid CRS (without ``allow_geographic``); samples that cannot be put in it.
    SurveyError
        The survey cannot be read (see :func:`geogan.survey.read.read_survey`).
    ConfigError
        A survey option out of range (``bdl_factor``, ``units``).
    OutputExistsError
        ``out`` exists and ``overwrite`` is false, another process is writing it, or it is,
        holds or lies inside the survey.
    InputError
        ``workers`` is not a whole number from 1 to 4096, or the Dask workers or scheduler
        cannot be reached.

    Examples
    --------
    Gridding starts a Dask cluster (local worker processes by default):

    >>> import os, tempfile
    >>> from geogan import grid_survey, write_synthetic_survey
    >>> d = tempfile.mkdtemp()
    >>> synth = write_synthetic_survey(os.path.join(d, "synth"), n_samples=500, elements="W,Sn")
    >>> result = grid_survey(synth.survey, os.path.join(d, "grid.zarr"), crs=synth.crs,
    ...                      cell_size_m=2000, tile=32, workers=2)  # doctest: +SKIP
    >>> result.spec.shape, result.elements  # doctest: +SKIP
    ((50, 50), ['W', 'Sn'])

    Bad options and a missing CRS are refused before any work starts:

    >>> grid_survey(synth.survey, os.path.join(d, "grid.zarr"), cell_size_m=0)
    Traceback (most recent call last):
    geogan.errors.GridError: cell_size_m must be > 0, got 0
    >>> grid_survey(synth.survey, os.path.join(d, "grid.zarr"))  # the CSV names no CRS
    Traceback (most recent call last):
    geogan.errors.CRSError: give the grid CRS with --crs (a projected CRS in metres, e.g. a UTM zone)
    """
    options, survey_options, idw_params = split_options(
        "grid_survey", shortcuts, (GridOptions, options), (SurveyOptions, survey_options), (IDWParams, idw_params))
    g, so = options, survey_options
    from geogan.survey.read import read_survey

    t0 = time.perf_counter()
    check_workers(workers)
    survey_path = survey_path if is_url(survey_path) else Path(survey_path)
    check_disjoint([out, Staging(out).root], [survey_path], what="grid store")
    out = check_output(out, overwrite=overwrite, what="grid store", kind="grid")
    if g.crs is not None:  # a bad --crs is refused before the survey is read
        check_grid_crs(g.crs, allow_geographic=g.allow_geographic)
    survey = read_survey(survey_path, x=so.x, y=so.y, input_crs=so.input_crs, elements=g.elements, units=so.units,
                         bdl_factor=so.bdl_factor, negative_is_bdl=so.negative_is_bdl, missing=so.missing,
                         level_by=so.level_by)
    log.info(survey.summary())
    for w in survey.warnings:
        warnings.warn(w, GeoganWarning, stacklevel=3)
    grid_crs, survey = _to_grid_crs(survey, g)
    far = outside_area_of_use(grid_crs, survey.x, survey.y)
    if far:
        warnings.warn(far, GeoganWarning, stacklevel=3)
    spec = _grid_spec(survey, g, grid_crs)
    params = _with_max_distance(idw_params, survey)
    # validate here, before any output exists
    _check_values(survey, params)
    log.info(f"grid {spec.height} x {spec.width} = {spec.n_cells:,} cells of {spec.cell_size_m:g} m, "
             f"{spec.n_tiles} tiles of {spec.tile}, {len(survey.elements)} elements")

    run_params = _run_params(survey, spec, params, so)
    token = hashlib.sha256(layout.dumps(run_params).encode()).hexdigest()[:16]
    staging, resumed = _open_staging(out, token, spec)
    samples_path = staging.work_file(SAMPLES_FILE)
    if not staging.exists():
        _start_staging(staging, survey_path, survey, spec, params, run_params, token)
    pending = [t for t in spec.tiles() if t not in resumed]
    if pending:
        _grid_tiles(out, samples_path, token, spec, params, pending, scheduler=scheduler, workers=workers,
                    progress=progress)
    missing_tiles = set(spec.tiles()) - staging.done()
    if missing_tiles:  # pragma: no cover - would mean a worker lied about its tile
        raise GridError(f"{len(missing_tiles)} tiles were not written; rerun to resume")
    cov = grid_coverage(xr.open_zarr(staging.store, consolidated=False))
    log.info(cov.describe())
    for line in cov.warnings():
        warnings.warn(line, GeoganWarning, stacklevel=3)
    staging.finalize(extra_attrs={"coverage": cov.to_dict()})
    seconds = time.perf_counter() - t0
    log.info(f"wrote {_shown(out)} in {seconds:.1f} s")
    return GridResult(path=out, spec=spec, elements=list(survey.elements), idw=params,
                      n_samples=int(len(survey.x)), tiles_computed=len(pending), tiles_resumed=len(resumed),
                      seconds=seconds, coverage=cov)


# -- the steps of grid_survey --------------------------------------------------------------------------
def _to_grid_crs(survey, g: GridOptions) -> tuple:
    """The grid CRS (``g.crs``, else the survey's when projected), checked, and the survey in it
    (a survey without a CRS is taken to be in it already)."""
    crs = g.crs
    if crs is None:
        if survey.crs is None or not survey.crs.is_projected:
            raise CRSError("give the grid CRS with --crs (a projected CRS in metres, e.g. a UTM zone)")
        crs = survey.crs
    grid_crs = check_grid_crs(crs, allow_geographic=g.allow_geographic)
    if survey.crs is None:
        log.info("note: the survey has no CRS (no --input-crs); its coordinates are taken as grid CRS coordinates")
    else:
        survey = survey.to_crs(grid_crs)
    return grid_crs, survey


def _grid_spec(survey, g: GridOptions, grid_crs) -> GridSpec:
    """The grid over ``g.bounds``, else over the samples' extent snapped outward to cells."""
    geometry = dict(crs=grid_crs, cell_size_m=g.cell_size_m, tile=g.tile, allow_geographic=g.allow_geographic,
                    max_cells=g.max_cells)
    if g.bounds is not None:
        return GridSpec.from_bounds(g.bounds, **geometry)
    return GridSpec.from_points(survey.x, survey.y, **geometry)


def _with_max_distance(params: IDWParams, survey) -> IDWParams:
    """``params`` with the default search distance (3 x the median nearest-sample spacing) when none is given."""
    if params.max_distance_m is None:
        spacing = median_spacing(survey.x, survey.y)
        params = replace(params, max_distance_m=3.0 * spacing)
        log.info(f"max distance {params.max_distance_m:,.0f} m (3 x median nearest-sample spacing {spacing:,.0f} m)")
    return params


def _run_params(survey, spec: GridSpec, params: IDWParams, so: SurveyOptions) -> dict:
    """What the grid depends on (the survey's bytes, the grid, IDW and survey options): its
    digest names the run, so a staged store resumes only under the same inputs."""
    return {"survey_sha256": survey.source_sha256, "spec": spec.to_dict(), "idw": asdict(params),
            "elements": survey.elements, "units": survey.units,
            "survey_options": {"x": so.x, "y": so.y, "input_crs": str(so.input_crs), "bdl_factor": so.bdl_factor,
                               "negative_is_bdl": so.negative_is_bdl, "missing": list(so.missing),
                               "level_by": so.level_by}}


def _open_staging(out, token: str, spec: GridSpec) -> tuple[Staging, set[tuple[int, int]]]:
    """The staging folder of ``out`` and the tiles an earlier run with the same ``token`` left
    done (a staged store from other inputs is removed)."""
    staging = Staging(out)
    resumed: set[tuple[int, int]] = set()
    if staging.exists():
        if (staging.params() or {}).get("token") == token and staging.created() and _readable(staging.store):
            resumed = staging.done()
            log.info(f"resuming {_shown(staging.root)}: {len(resumed)} of {spec.n_tiles} tiles already done")
        else:
            log.info(f"removing {_shown(staging.root)} left by an earlier run with other inputs or parameters")
            staging.remove()
    return staging, resumed


def _start_staging(staging: Staging, survey_path, survey, spec: GridSpec, params: IDWParams, run_params: dict,
                   token: str) -> None:
    """Start a fresh staging folder: the samples for the workers and the empty grid store."""
    attrs = {
        "idw": asdict(params),
        "source": {"path": str(survey_path), "sha256": survey.source_sha256, "n_rows": survey.n_rows,
                   "n_samples": int(len(survey.x)), "n_merged": survey.n_merged,
                   "censored_fraction": survey.censored_fraction},
        "levelling": survey.levelling or {},
        "survey_options": run_params["survey_options"],
    }
    staging.start({"token": token, **run_params})
    samples = io.BytesIO()
    np.savez(samples, x=survey.x, y=survey.y, values=survey.values, elements=np.array(survey.elements))
    staging.write_work_file(SAMPLES_FILE, samples.getvalue())
    layout.create_grid_store(staging.store, spec, survey.elements, units=survey.units, attrs=attrs)
    staging.mark_created()


def _grid_tiles(out, samples_path: Path, token: str, spec: GridSpec, params: IDWParams, pending: list, *,
                scheduler: str | None, workers: int | None, progress: bool) -> None:
    """Grid the ``pending`` tiles on a Dask cluster (:func:`grid_tile` on the workers)."""
    with dask_client(scheduler, workers=workers) as client:
        # task keys name this run (inputs, parameters, output), so runs sharing a cluster never mix
        run_id = hashlib.sha256(f"{token}:{layout.location(out)}".encode()).hexdigest()[:16]
        futures = [client.submit(grid_tile, str(out), str(samples_path), token, spec.to_dict(),
                                 asdict(params), i, j, key=f"geogan-grid-{run_id}-{i}-{j}")
                   for i, j in pending]
        run_tasks(client, futures, description="gridding tiles", progress=progress)


def _shown(path) -> str | Path:
    """``path`` as a status line may show it: a URL without any ``user:secret@`` part."""
    return public_url(str(path)) if is_remote(path) else path


def _readable(path: Path) -> bool:
    """Whether a staged store's metadata can be opened (a killed writer may leave it torn)."""
    try:
        zarr.open_group(str(path), mode="r")["concentration"]
        return True
    except Exception:  # whatever the failure, the staged store cannot be resumed: start afresh
        return False


def _check_values(survey, params: IDWParams) -> None:
    """Fail before writing anything when an element cannot be gridded."""
    values = survey.values
    for j, el in enumerate(survey.elements):
        col = values[:, j]
        present = ~np.isnan(col)
        if not present.any():
            raise GridError(f"element {el} has no values to interpolate", path=survey.path)
        if params.space == "log" and (col[present] <= 0).any():
            raise GridError(f"element {el} has {int((col[present] <= 0).sum())} values <= 0, which log-space "
                            "IDW cannot average; use --space linear", path=survey.path)
