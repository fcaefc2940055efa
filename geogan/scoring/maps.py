"""The score folder's maps, from a finished ``scores.zarr``: ``anomaly.tif`` (a COG tagged with
what made it), ``elements_used.tif`` and ``spread.tif`` where the scores hold them, the QGIS
styles and the anomaly polygons (:mod:`geogan.evaluation.gis`).

Outputs of an earlier run (``--overwrite``) that would not describe the new map go: a spread
map after rescoring with a single model, an elements-used map without a minimum element count.

A score folder in object storage gets the same files: written into a local temporary folder,
then uploaded one object each (GDAL writes a COG locally; the bytes are the same).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geogan._version import __version__
from geogan.gridspec import GridSpec
from geogan.scoring.cog import export_cog
from geogan.stores.remote import Remote, is_remote, join, public_url
from geogan.stores.scores import (COG_NAME, POLYGONS_NAME, POLYGONS_QML_NAME, QML_NAME, SPREAD_COG_NAME,
                                  SPREAD_QML_NAME, USED_COG_NAME)

log = logging.getLogger(__name__)

__all__ = ["MAP_FILES", "ScoreMaps", "cog_tags", "detector_label", "export_maps"]


@dataclass
class ScoreMaps:
    """What :func:`export_maps` wrote (``None``: not written; URLs in object storage)."""

    cog: Path | str
    spread: Path | str | None
    qml: Path | str | None
    polygons: Path | str | None
    class_breaks: dict | None


#: the files :func:`export_maps` may write in a score folder
MAP_FILES = (USED_COG_NAME, COG_NAME, SPREAD_COG_NAME, SPREAD_QML_NAME, QML_NAME, POLYGONS_NAME, POLYGONS_QML_NAME)


def detector_label(model) -> str:
    """The detector a model is, as users name it: an ensemble's member detector (``alad`` for
    ALAD's seed ensemble), else the detector."""
    if model.is_ensemble:
        return str(getattr(model.detector, "detector", None) or model.detector_name)
    return model.detector_name


def cog_tags(model, model_dir: str, model_token: str, run_key: dict, *, label: str) -> dict[str, str]:
    """What the COGs say about themselves (GDAL tags, shown by QGIS and ``gdalinfo``; read by
    :func:`geogan.evaluation.scorefiles.open_scores`): the detector and score, the model's transform and
    elements, the model dir and its token, the grid and its creation time. No timestamp of
    its own, so a rerun writes the same bytes."""
    tags = {"name": label, "detector": detector_label(model), "score": model.score_name,
            "transform": str(getattr(model.transform, "kind", "")), "elements": ",".join(model.elements),
            "geogan_version": __version__, "model": public_url(model_dir) if is_remote(model_dir) else model_dir,
            "model_token": model_token,
            "grid": str(run_key["grid"]), "grid_created": str(run_key.get("grid_created") or "")}
    if model.is_ensemble:
        tags["ensemble_members"] = str(getattr(model.detector, "n_members", ""))
    if model.target is not None:
        tags["target"] = model.target.target
        tags["deposit_type"] = str(model.target.info.get("deposit_type") or "")
        tags["target_score"] = model.target.describe()
    return tags


def _elements_used(scores_ds, spec: GridSpec, model, out_dir: Path, tags: dict) -> None:
    used_cog = out_dir / USED_COG_NAME
    if "elements_used" not in scores_ds:
        used_cog.unlink(missing_ok=True)  # from an earlier run with --min-elements (--overwrite): stale now
        return
    used = scores_ds["elements_used"]
    counts = np.bincount(np.asarray(used.values).ravel(), minlength=len(model.elements) + 1)[1:]
    log.info("elements used per scored cell: " + ", ".join(f"{k + 1}: {c:,}" for k, c in enumerate(counts) if c))
    export_cog(used.where(used > 0).astype(np.float32).assign_attrs(grid=spec.to_dict()), used_cog,
               overwrite=True, description="elements of the model each scored cell holds (the rest imputed)",
               tags={**tags, "variable": "elements_used"})  # geogan's tags: --overwrite may replace it


def _spread(scores_ds, spec: GridSpec, out_dir: Path, tags: dict) -> Path | None:
    from geogan.evaluation.gis import write_spread_qml

    spread_cog = out_dir / SPREAD_COG_NAME
    if "spread" not in scores_ds:  # from an earlier ensemble's run (--overwrite): they would not describe this map
        for stale in (spread_cog, out_dir / SPREAD_QML_NAME):
            stale.unlink(missing_ok=True)
        return None
    export_cog(scores_ds["spread"].assign_attrs(grid=spec.to_dict()), spread_cog, overwrite=True,
               description=f"{tags['name']} ensemble spread (standard deviation of the members' "
                           f"percentiles, percentage points)", tags={**tags, "variable": "spread"})
    spread = np.asarray(scores_ds["spread"][::4, ::4].values)  # every 16th cell sets the ramp's top
    write_spread_qml(out_dir / SPREAD_QML_NAME, vmax=float(np.nanpercentile(spread, 99)) if np.isfinite(spread).any()
                     else 1.0)
    log.info(f"wrote {spread_cog} (the ensemble members' disagreement, percentage points) and its QGIS style")
    return spread_cog


def export_maps(scores_ds, spec: GridSpec, model, out_dir: Path | str, tags: dict, *, deposits=None) -> ScoreMaps:
    """Write the score folder's maps from ``scores_ds`` (an opened ``scores.zarr``): the COGs
    with ``tags``, the QGIS styles, and the polygons of cells ≥ P95 and ≥ P99 with the
    ``deposits`` inside each. ``out_dir`` may be a prefix in object storage (a URL): the maps
    are written locally, then uploaded (:func:`_upload_maps`)."""
    if is_remote(out_dir):
        with tempfile.TemporaryDirectory(prefix="geogan-maps-") as tmp:
            return _upload_maps(_export_maps(scores_ds, spec, model, Path(tmp), tags, deposits=deposits), Path(tmp),
                                str(out_dir))
    return _export_maps(scores_ds, spec, model, Path(out_dir), tags, deposits=deposits)


def _upload_maps(maps: ScoreMaps, local: Path, url: str) -> ScoreMaps:
    """Upload the maps written into ``local`` to the score folder ``url``, one object each; a
    map of an earlier run this one did not write (a spread map, an elements-used map) is
    deleted from there, as it would be from a local folder. Returns ``maps`` with URLs."""
    for name in MAP_FILES:
        target = Remote(join(url, name))
        if (local / name).is_file():
            target.fs.put_file(str(local / name), target.key)
        else:
            target.remove()
    log.info(f"uploaded the maps to {public_url(url)}: " + ", ".join(n for n in MAP_FILES if (local / n).is_file()))

    def there(path):
        return None if path is None else join(url, Path(path).name)

    return ScoreMaps(cog=there(maps.cog), spread=there(maps.spread), qml=there(maps.qml),
                     polygons=there(maps.polygons), class_breaks=maps.class_breaks)


def _export_maps(scores_ds, spec: GridSpec, model, out_dir: Path, tags: dict, *, deposits=None) -> ScoreMaps:
    from geogan.evaluation.gis import export_classes, write_polygons_qml

    _elements_used(scores_ds, spec, model, out_dir, tags)
    cog_path, t_cog = out_dir / COG_NAME, time.perf_counter()
    export_cog(scores_ds["anomaly"].assign_attrs(grid=spec.to_dict()), cog_path, overwrite=True,
               description=f"{tags['name']} anomaly score ({model.score_name}; higher = more anomalous)",
               tags={**tags, "variable": "anomaly"})
    log.info(f"wrote {cog_path} in {time.perf_counter() - t_cog:.1f} s")
    spread = _spread(scores_ds, spec, out_dir, tags)
    qml_path, polygons_path = out_dir / QML_NAME, out_dir / POLYGONS_NAME
    breaks = export_classes(scores_ds["anomaly"], qml_path, polygons_path, deposits=deposits)
    if breaks is None:
        qml_path = polygons_path = None
        log.info("no cell could be scored: no anomaly.qml or anomaly_polygons.gpkg")
    else:
        write_polygons_qml(out_dir / POLYGONS_QML_NAME)
        log.info(f"wrote {qml_path} (QGIS style: the report's percentile classes) and {polygons_path} "
                 f"(cells ≥ P95, ≥ P99, with its outline style)")
    return ScoreMaps(cog=cog_path, spread=spread, qml=qml_path, polygons=polygons_path, class_breaks=breaks)
