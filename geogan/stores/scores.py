"""The score folder's layout: the names of what ``geogan score`` writes, and its two Zarr
stores, created empty for tile writes and opened with checks.

- ``scores.zarr``: ``anomaly(y, x)``, with ``spread`` for an ensemble and ``elements_used``
  with a minimum element count;
- ``contributions.zarr``: ``contribution(element, y, x)`` (``geogan score --contributions``).

The score stage writes them; evaluation, the pipeline and the contribution readers take the
names and openers from here, so they depend on the layout, not on the score stage.
"""

from __future__ import annotations

import os

import numpy as np

from geogan._version import __version__
from geogan.gridspec import GridSpec
from geogan.stores import layout, store
from geogan.stores.remote import join

__all__ = ["SCORES_STORE", "CONTRIBUTIONS_STORE", "COG_NAME", "SPREAD_COG_NAME", "USED_COG_NAME", "QML_NAME",
           "SPREAD_QML_NAME", "POLYGONS_NAME", "POLYGONS_QML_NAME", "REPORT_DIR", "SCORE_OUTPUTS", "FOLDERS",
           "OUTPUT_KINDS", "contributions_stage", "create_scores_store", "create_contributions_store",
           "open_scores_store", "open_contributions_store", "run_key_of"]

SCORES_STORE = "scores.zarr"
CONTRIBUTIONS_STORE = "contributions.zarr"
COG_NAME = "anomaly.tif"
SPREAD_COG_NAME = "spread.tif"  # ensembles only
USED_COG_NAME = "elements_used.tif"  # with min_elements only
QML_NAME = "anomaly.qml"  # QGIS style of anomaly.tif (geogan.evaluation.gis.write_qml)
SPREAD_QML_NAME = "spread.qml"  # QGIS style of spread.tif (geogan.evaluation.gis.write_spread_qml)
POLYGONS_NAME = "anomaly_polygons.gpkg"  # cells ≥ P95 / ≥ P99 as polygons (geogan.evaluation.gis.anomaly_polygons)
POLYGONS_QML_NAME = "anomaly_polygons.qml"  # their QGIS style (geogan.evaluation.gis.write_polygons_qml)
REPORT_DIR = "report"
#: everything geogan writes in a score directory (listed in its marker, geogan.stores.files.MARKER);
#: the rest of the directory is the user's
SCORE_OUTPUTS = (SCORES_STORE, CONTRIBUTIONS_STORE, COG_NAME, SPREAD_COG_NAME, USED_COG_NAME, QML_NAME, SPREAD_QML_NAME,
                 POLYGONS_NAME, POLYGONS_QML_NAME, REPORT_DIR)
#: the outputs among them that are folders
FOLDERS = (SCORES_STORE, CONTRIBUTIONS_STORE, REPORT_DIR)
#: the kind of each folder among them (geogan.stores.ownership): --overwrite never puts one kind in another's place
OUTPUT_KINDS = {SCORES_STORE: "scores", CONTRIBUTIONS_STORE: "contributions", REPORT_DIR: "report"}


def _create(path, spec: GridSpec, ds, *, kind: str, attrs: dict, chunks: dict[str, tuple], fill: dict) -> None:
    """Write the empty store ``ds`` (dask-backed, nothing computed): CRS and transform, the
    caller's ``attrs``, geogan's kind/version/grid attributes, and one chunk per tile."""
    names = list(ds.data_vars)
    ds = ds.rio.write_crs(spec.crs).rio.write_transform(spec.transform)
    ds.attrs.update(attrs)
    ds.attrs.update(geogan_kind=kind, geogan_version=__version__, geogan_store_version=layout.STORE_VERSION,
                    grid=spec.to_dict(), complete=False, **{layout.ALL_CHUNKS_WRITTEN: names})  # every tile writes them
    # explicit encoding replaces rioxarray's grid_mapping link: keep it, so plain xarray finds the CRS
    enc = {n: {"chunks": chunks[n], "compressors": layout.COMPRESSORS, "fill_value": fill.get(n, np.nan),
               "grid_mapping": ds[n].encoding.get("grid_mapping", "spatial_ref")} for n in names}
    ds.to_zarr(path, mode="w", compute=False, zarr_format=3, consolidated=False, encoding=enc)


def create_scores_store(path, spec: GridSpec, attrs: dict, *, spread: bool = False,
                        elements_used: bool = False) -> None:
    """An empty ``scores.zarr`` at ``path``: ``anomaly`` (and ``spread``, ``elements_used``)
    on ``spec``'s cells, chunked by tile, all NaN (``elements_used``: 0) until tiles are written."""
    import dask.array as da
    import xarray as xr

    rows, cols = spec.chunks
    names = ("anomaly", "spread") if spread else ("anomaly",)
    ds = xr.Dataset({n: (("y", "x"), da.full(spec.shape, np.nan, dtype=np.float32, chunks=(rows, cols)))
                     for n in names}, coords={"y": spec.y_coords(), "x": spec.x_coords()})
    if elements_used:
        ds["elements_used"] = (("y", "x"), da.zeros(spec.shape, dtype=np.uint8, chunks=(rows, cols)))
        ds["elements_used"].attrs.update(long_name="model elements the cell holds (the rest imputed; 0: unscored)")
    ds["anomaly"].attrs.update(long_name="anomaly score (higher = more anomalous)")
    if spread:
        ds["spread"].attrs.update(long_name="standard deviation of the ensemble members' percentiles",
                                  units="percentage points")
    _create(path, spec, ds, kind="scores", attrs=attrs, chunks={n: (spec.tile, spec.tile) for n in ds.data_vars},
            fill={"elements_used": 0})


def create_contributions_store(path, spec: GridSpec, elements: list[str], attrs: dict) -> None:
    """An empty ``contributions.zarr``: ``contribution(element, y, x)`` (chunks: all elements ×
    tile × tile), same coordinates and CRS as the scores store."""
    import dask.array as da
    import xarray as xr

    rows, cols = spec.chunks
    data = da.full((len(elements),) + spec.shape, np.nan, dtype=np.float32, chunks=((len(elements),), rows, cols))
    ds = xr.Dataset({"contribution": (("element", "y", "x"), data)},
                    coords={"element": np.array(elements, dtype=object), "y": spec.y_coords(), "x": spec.x_coords()})
    ds["contribution"].attrs.update(
        long_name="signed occlusion contribution of each element to the anomaly score",
        description="max(score - score with the element's feature at the training median, 0) * sign of the "
                    "element's standardised deviation: positive = enrichment drives the score, "
                    "negative = depletion does, 0 = the element does not raise it")
    _create(path, spec, ds, kind="contributions", attrs=attrs,
            chunks={"contribution": (len(elements), spec.tile, spec.tile)}, fill={})


def open_scores_store(path: str | os.PathLike):
    """Open ``scores.zarr`` as a Dataset (validated: a complete store of kind ``scores``).

    Parameters
    ----------
    path
        The ``scores.zarr`` of a score directory (``geogan score``): a local path or an
        fsspec URL.

    Returns
    -------
    xarray.Dataset
        ``anomaly(y, x)`` (higher = more anomalous; NaN: not scored), with ``spread(y, x)``
        for an ensemble and ``elements_used(y, x)`` with a minimum element count; the CRS on
        ``spatial_ref``.

    Raises
    ------
    StoreError
        Not a complete geogan scores store (see :func:`geogan.stores.store.open_store`): a
        missing path, another kind of store (a grid store), an incomplete or damaged one.

    Examples
    --------
    Scores come from :func:`geogan.scoring.stage.score_grid`, which needs a trained model
    and a Dask cluster:

    >>> ds = open_scores_store("scores/scores.zarr")  # doctest: +SKIP
    >>> ds["anomaly"].dims  # doctest: +SKIP
    ('y', 'x')

    A grid store is refused:

    >>> import tempfile
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> grid = example_grid(d, ["Cu"])
    >>> open_scores_store(grid)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.StoreError: ...grid.zarr is a geogan grid store, expected a scores store
    """
    return store.open_store(path, kind="scores")


def open_contributions_store(path: str | os.PathLike):
    """Open ``contributions.zarr`` as a Dataset (validated): ``contribution(element, y, x)``.

    Parameters
    ----------
    path
        The ``contributions.zarr`` of a score directory (``geogan score --contributions``): a
        local path or an fsspec URL.

    Returns
    -------
    xarray.Dataset
        ``contribution(element, y, x)``: each element's signed contribution to the cell's
        score (positive: enrichment drives it, negative: depletion does, 0: the element does
        not raise it), on the scores' cells and CRS.

    Raises
    ------
    StoreError
        Not a complete geogan contributions store (see :func:`geogan.stores.store.open_store`):
        a missing path, another kind of store, an incomplete or damaged one.

    Examples
    --------
    Contributions come from :func:`geogan.scoring.stage.score_grid` with ``contributions=True``:

    >>> ds = open_contributions_store("scores/contributions.zarr")  # doctest: +SKIP
    >>> ds["contribution"].dims  # doctest: +SKIP
    ('element', 'y', 'x')

    A grid store is refused:

    >>> import tempfile
    >>> from geogan.synth.examples import example_grid
    >>> d = tempfile.mkdtemp()
    >>> grid = example_grid(d, ["Cu"])
    >>> open_contributions_store(grid)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.StoreError: ...grid.zarr is a geogan grid store, expected a contributions store
    """
    return store.open_store(path, kind="contributions")


def contributions_stage(staging):
    """Where a score run builds ``contributions.zarr`` beside the scores store that ``staging``
    (a :class:`~geogan.stores.staging.Staging`) builds: inside its staging folder, moved into
    place just before ``scores.zarr``; in object storage, which has no rename, in place beside
    ``scores.zarr`` (its URL), committed just before it."""
    if staging.remote:
        return join(staging.final.rpartition("/")[0], CONTRIBUTIONS_STORE)
    return staging.root / CONTRIBUTIONS_STORE


def run_key_of(path) -> dict | None:
    """The ``run_key`` a score run recorded in the store at ``path``; ``None`` when the store
    is unreadable or holds none."""
    try:
        import zarr

        attrs = layout.decode_attrs(zarr.open_group(str(path), mode="r").attrs.asdict())
        return dict(attrs.get("run_key") or {}) or None
    except Exception:
        return None
