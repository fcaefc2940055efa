"""The commands that make the data: ``geogan synth``, ``grid``, ``info`` and ``import-rasters``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from geogan.choices import IDW_SPACES, NONPOSITIVE, RESAMPLING, SURVEY_FORMATS, SYNTH_PRESETS
from geogan.cli.shell import (app, default_of, echo, numbers_text, parse_bounds, progress_on, split_list, units_map,
                            user_errors)
from geogan.grid.idw import IDWParams
from geogan.options import GridOptions, SurveyOptions


# -- synth ---------------------------------------------------------------------------------------
@app.command()
@user_errors
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

    res = write_synthetic_survey(out, preset, n_samples=samples, elements=split_list(elements), seed=seed,
                                 fmt=format, overwrite=overwrite, progress=progress_on())
    echo(res.describe())


# -- grid ----------------------------------------------------------------------------------------
@app.command()
@user_errors
def grid(
    survey: Annotated[str, typer.Argument(help="Survey table: CSV, Parquet or GeoPackage (a path or an fsspec URL such as s3://bucket/survey.parquet).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Grid store to create (GRID.zarr; a path or an fsspec URL such as s3://bucket/grid.zarr).")],
    crs: Annotated[Optional[str], typer.Option(help="Grid CRS, projected in metres (e.g. EPSG:32650). Default: the survey's if projected.")] = None,
    input_crs: Annotated[Optional[str], typer.Option(help="CRS of the survey coordinates (default: from the file, EPSG:4326 for lon/lat columns).")] = None,
    x: Annotated[Optional[str], typer.Option("--x", help="X coordinate column (auto-detected).")] = None,
    y: Annotated[Optional[str], typer.Option("--y", help="Y coordinate column (auto-detected).")] = None,
    elements: Annotated[Optional[str], typer.Option(help="Comma-separated symbols, e.g. Au,Ag,W (default: all element columns).")] = None,
    units: Annotated[Optional[str], typer.Option(help="Units where column names carry none, e.g. Au=ppb,Cu=ppm.")] = None,
    cell_size: Annotated[float, typer.Option("--cell-size", help="Cell size in metres.")] = default_of(GridOptions, "cell_size_m"),
    bounds: Annotated[Optional[str], typer.Option(help="xmin,ymin,xmax,ymax in the grid CRS (default: the samples' extent).")] = None,
    neighbors: Annotated[int, typer.Option(help="IDW: number of nearest samples per cell.")] = default_of(IDWParams, "neighbors"),
    power: Annotated[float, typer.Option(help="IDW: weights are 1/d^power.")] = default_of(IDWParams, "power"),
    max_distance: Annotated[Optional[float], typer.Option("--max-distance", help="Cells farther than this (m) from the nearest sample are NaN (default: 3 x median sample spacing).")] = None,
    space: Annotated[Literal[IDW_SPACES], typer.Option(help="IDW averaging: log (weighted geometric mean) or linear.")] = default_of(IDWParams, "space"),
    bdl_factor: Annotated[float, typer.Option(help="Below-detection values become this x the detection limit.")] = default_of(SurveyOptions, "bdl_factor"),
    negative_is_bdl: Annotated[bool, typer.Option("--negative-is-bdl", help="Negative values mean 'below |v|' (GSWA convention).")] = default_of(SurveyOptions, "negative_is_bdl"),
    missing: Annotated[Optional[list[float]], typer.Option("--missing", help=f"Sentinel meaning missing (repeatable; default {numbers_text(default_of(SurveyOptions, 'missing'))}).")] = None,
    level_by: Annotated[Optional[str], typer.Option("--level-by", help="Column naming batches (lab/campaign/report) to level to the overall median.")] = None,
    tile: Annotated[int, typer.Option(help="Tile edge in cells (the Zarr chunk).")] = default_of(GridOptions, "tile"),
    allow_geographic: Annotated[bool, typer.Option("--allow-geographic", help="Allow a geographic grid CRS (cell size in degrees).")] = False,
    max_cells: Annotated[int, typer.Option("--max-cells", help="Refuse grids of more cells (guards against coordinates in the wrong unit).")] = default_of(GridOptions, "max_cells"),
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address (default: DASK_SCHEDULER_ADDRESS or a LocalCluster).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="LocalCluster worker processes (default: one per core).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
):
    """Interpolate survey samples to an IDW grid store (Zarr v3), tile by tile on Dask."""
    from geogan.grid.stage import grid_survey
    from geogan.stores.store import describe, open_grid

    options = GridOptions(crs=crs, cell_size_m=cell_size, bounds=parse_bounds(bounds), tile=tile,
                          allow_geographic=allow_geographic, max_cells=max_cells, elements=split_list(elements))
    reading = SurveyOptions(x=x, y=y, input_crs=input_crs, units=units_map(units), bdl_factor=bdl_factor,
                            negative_is_bdl=negative_is_bdl, level_by=level_by,
                            missing=tuple(missing) if missing else default_of(SurveyOptions, "missing"))
    interpolation = IDWParams(neighbors=neighbors, power=power, max_distance_m=max_distance, space=space)
    res = grid_survey(survey, out, options, survey_options=reading, idw_params=interpolation, scheduler=scheduler,
                      workers=workers, overwrite=overwrite, progress=progress_on())
    echo(describe(open_grid(res.path), res.path))


@app.command()
@user_errors
def info(store_path: Annotated[str, typer.Argument(metavar="STORE", help="A grid or scores store (a path or an fsspec URL such as s3://bucket/grid.zarr).")]):
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
@user_errors
def import_rasters_cmd(
    rasters: Annotated[list[str], typer.Argument(help="Single-band GeoTIFFs, one per element (paths or fsspec URLs such as s3://bucket/Cu_ppm.tif).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Grid store to create (a path or an fsspec URL such as s3://bucket/grid.zarr).")],
    elements: Annotated[Optional[str], typer.Option(help="Comma-separated symbols in file order (default: from file names).")] = None,
    units: Annotated[Optional[str], typer.Option(help="Units per element, e.g. Au=ppb (default: ppm, or from the file name).")] = None,
    tile: Annotated[int, typer.Option(help="Tile edge in cells (the Zarr chunk).")] = default_of(GridOptions, "tile"),
    like: Annotated[Optional[str], typer.Option(help="Reference grid raster (default: the first raster).")] = None,
    resample: Annotated[Optional[Literal[RESAMPLING]], typer.Option(help="Resample rasters on other grids onto the reference (default: refuse them).")] = None,
    nodata: Annotated[Optional[float], typer.Option(help="No-data value for files that declare none (e.g. -9999).")] = None,
    nonpositive: Annotated[Literal[NONPOSITIVE], typer.Option(help="What values <= 0 become (error: refuse them).")] = "error",
    max_cells: Annotated[int, typer.Option("--max-cells", help="Refuse reference grids of more cells.")] = default_of(GridOptions, "max_cells"),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
):
    """Stack existing single-band element GeoTIFFs into a grid store (cells may be rectangular)."""
    from geogan.grid.rasters import import_rasters
    from geogan.stores.store import describe, open_grid

    path = import_rasters(rasters, out, elements=split_list(elements), units=units_map(units), tile=tile, like=like,
                          resampling=resample, nodata=nodata, nonpositive=nonpositive, max_cells=max_cells,
                          overwrite=overwrite)
    echo(describe(open_grid(path), path))


