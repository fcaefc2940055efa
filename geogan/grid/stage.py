"""The grid stage: survey points → IDW grids in a Zarr v3 store, tile by tile on Dask.

>>> from geogan.grid.stage import grid_survey                                # doctest: +SKIP
>>> result = grid_survey("survey.csv", "grid.zarr", crs="EPSG:32650")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from geogan.stores import store
from geogan.stores.files import check_disjoint, check_output, holds_output_lock
from geogan.cluster import check_workers, dask_client, run_tasks, worker_cached
from geogan.grid.coverage import Coverage, grid_coverage
from geogan.survey.coordinates import outside_area_of_use
from geogan.errors import CRSError, GeoganWarning, GridError
from geogan.gridspec import GridSpec, check_grid_crs
from geogan.grid.idw import IDWParams, SampleIndex, idw, median_spacing
from geogan.options import GridOptions, SurveyOptions, split_options
from geogan.stores.staging import Staging, partial_path
from geogan.stores.urls import is_url

SAMPLES_FILE = "samples.npz"
log = logging.getLogger(__name__)


@dataclass
class GridResult:
    """What :func:`grid_survey` made."""

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
        with np.load(samples_path, allow_pickle=False) as f:
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
    store.write_region(staging.store, "concentration", conc, (slice(None), rows, cols))
    store.write_region(staging.store, "distance", dist, (rows, cols))
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
        Path of the grid store to create.
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
    **shortcuts
        Any field of the three option classes by name (``cell_size_m=1000``,
        ``neighbors=8``, ``input_crs="EPSG:4326"``), overriding the objects given.

    Status lines go to the ``geogan`` logger; caveats about the survey or the grid's coverage
    are issued as :class:`~geogan.errors.GeoganWarning`.
    """
    options, survey_options, idw_params = split_options(
        "grid_survey", shortcuts, (GridOptions, options), (SurveyOptions, survey_options), (IDWParams, idw_params))
    g, so = options, survey_options
    from geogan.survey.read import read_survey

    t0 = time.perf_counter()
    check_workers(workers)
    survey_path = survey_path if is_url(survey_path) else Path(survey_path)
    check_disjoint([out, partial_path(out)], [survey_path], what="grid store")
    out = check_output(out, overwrite=overwrite, what="grid store", kind="grid")
    if g.crs is not None:  # a bad --crs is refused before the survey is read
        check_grid_crs(g.crs, allow_geographic=g.allow_geographic)
    survey = read_survey(survey_path, x=so.x, y=so.y, input_crs=so.input_crs, elements=g.elements, units=so.units,
                         bdl_factor=so.bdl_factor, negative_is_bdl=so.negative_is_bdl, missing=so.missing,
                         level_by=so.level_by)
    log.info(survey.summary())
    for w in survey.warnings:
        warnings.warn(w, GeoganWarning, stacklevel=3)
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
    far = outside_area_of_use(grid_crs, survey.x, survey.y)
    if far:
        warnings.warn(far, GeoganWarning, stacklevel=3)
    geometry = dict(crs=grid_crs, cell_size_m=g.cell_size_m, tile=g.tile, allow_geographic=g.allow_geographic,
                    max_cells=g.max_cells)
    if g.bounds is not None:
        spec = GridSpec.from_bounds(g.bounds, **geometry)
    else:
        spec = GridSpec.from_points(survey.x, survey.y, **geometry)
    params = idw_params
    if params.max_distance_m is None:
        spacing = median_spacing(survey.x, survey.y)
        params = replace(params, max_distance_m=3.0 * spacing)
        log.info(f"max distance {params.max_distance_m:,.0f} m (3 x median nearest-sample spacing {spacing:,.0f} m)")
    # validate here, before any output exists
    _check_values(survey, params)
    log.info(f"grid {spec.height} x {spec.width} = {spec.n_cells:,} cells of {spec.cell_size_m:g} m, "
             f"{spec.n_tiles} tiles of {spec.tile}, {len(survey.elements)} elements")

    run_params = {"survey_sha256": survey.source_sha256, "spec": spec.to_dict(), "idw": asdict(params),
                  "elements": survey.elements, "units": survey.units,
                  "survey_options": {"x": so.x, "y": so.y, "input_crs": str(so.input_crs), "bdl_factor": so.bdl_factor,
                                     "negative_is_bdl": so.negative_is_bdl, "missing": list(so.missing),
                                     "level_by": so.level_by}}
    token = hashlib.sha256(store.dumps(run_params).encode()).hexdigest()[:16]
    staging = Staging(out)
    resumed: set[tuple[int, int]] = set()
    if staging.exists():
        if (staging.params() or {}).get("token") == token and staging.created() and _readable(staging.store):
            resumed = staging.done()
            log.info(f"resuming {staging.root}: {len(resumed)} of {spec.n_tiles} tiles already done")
        else:
            log.info(f"removing {staging.root} left by an earlier run with other inputs or parameters")
            staging.remove()
    samples_path = staging.work / SAMPLES_FILE
    if not staging.exists():
        attrs = {
            "idw": asdict(params),
            "source": {"path": str(survey_path), "sha256": survey.source_sha256, "n_rows": survey.n_rows,
                       "n_samples": int(len(survey.x)), "n_merged": survey.n_merged,
                       "censored_fraction": survey.censored_fraction},
            "levelling": survey.levelling or {},
            "survey_options": run_params["survey_options"],
        }
        staging.start({"token": token, **run_params})
        np.savez(samples_path, x=survey.x, y=survey.y, values=survey.values, elements=np.array(survey.elements))
        store.create_grid_store(staging.store, spec, survey.elements, units=survey.units, attrs=attrs)
        staging.mark_created()
    pending = [t for t in spec.tiles() if t not in resumed]
    if pending:
        with dask_client(scheduler, workers=workers) as client:
            # task keys name this run (inputs, parameters, output), so runs sharing a cluster never mix
            run_id = hashlib.sha256(f"{token}:{Path(out).resolve()}".encode()).hexdigest()[:16]
            futures = [client.submit(grid_tile, str(out), str(samples_path), token, spec.to_dict(),
                                     asdict(params), i, j, key=f"geogan-grid-{run_id}-{i}-{j}")
                       for i, j in pending]
            run_tasks(client, futures, description="gridding tiles", progress=progress)
    missing_tiles = set(spec.tiles()) - staging.done()
    if missing_tiles:  # pragma: no cover - would mean a worker lied about its tile
        raise GridError(f"{len(missing_tiles)} tiles were not written; rerun to resume")
    cov = grid_coverage(xr.open_zarr(staging.store, consolidated=False))
    log.info(cov.describe())
    for line in cov.warnings():
        warnings.warn(line, GeoganWarning, stacklevel=3)
    staging.finalize(extra_attrs={"coverage": cov.to_dict()})
    seconds = time.perf_counter() - t0
    log.info(f"wrote {out} in {seconds:.1f} s")
    return GridResult(path=out, spec=spec, elements=list(survey.elements), idw=params,
                      n_samples=int(len(survey.x)), tiles_computed=len(pending), tiles_resumed=len(resumed),
                      seconds=seconds, coverage=cov)


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
