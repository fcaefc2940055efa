"""One run of the score stage, step by step: inputs checked against each other, outputs
claimed, the staged stores resumed or created, the tiles scored on the cluster, the stores
moved into place (:class:`ScoreRun`; :func:`geogan.scoring.stage.score_grid` calls the steps).

Each tile is one task that reads the tile's chunk (all elements) from the grid store, scores
it and writes it into the scores store, on the worker (:mod:`geogan.scoring.inference`): only
a count comes back. Finished tiles are recorded in a manifest so a rerun after a crash
resumes; the stores appear under their final names only when complete.

A score directory in object storage (an ``s3://`` URL, a prefix) takes the same steps: the
stores are built in place and committed by their metadata (:class:`~geogan.stores.staging.Staging`),
``contributions.zarr`` beside ``scores.zarr`` (:func:`~geogan.stores.scores.contributions_stage`),
the marker is an object, and the maps are written locally and uploaded
(:func:`geogan.scoring.maps.export_maps`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from geogan.cluster import dask_client, run_tasks
from geogan.errors import InputError, ModelError, OutputExistsError, StoreError
from geogan.evaluation.deposits import Deposits, read_deposits
from geogan.options import DepositOptions, ScoreOptions
from geogan.scoring.inference import model_token, score_tile
from geogan.stores import geometry, layout, store
from geogan.stores.files import check_disjoint, replace_path
from geogan.stores.ownership import check_replaceable, write_marker
from geogan.stores.remote import Remote, is_remote, join, public_url
from geogan.stores.remoteowner import check_remote_replaceable
from geogan.stores.scores import (
    COG_NAME, CONTRIBUTIONS_STORE, FOLDERS, OUTPUT_KINDS, POLYGONS_NAME, POLYGONS_QML_NAME, QML_NAME, REPORT_DIR,
    SCORE_OUTPUTS, SCORES_STORE, SPREAD_COG_NAME, SPREAD_QML_NAME, USED_COG_NAME, contributions_stage,
    create_contributions_store, create_scores_store, run_key_of,
)
from geogan.stores.staging import Staging

log = logging.getLogger(__name__)

__all__ = ["ScoreRun"]


def _exists(path) -> bool:
    """Whether an output stands at ``path``. In object storage a store geogan is still building
    in place (its metadata not yet complete) is not one: the run resumes or restarts it, as it
    does a local staging folder."""
    if not is_remote(path):
        return path.exists()
    loc = Remote(path)
    if not loc.exists():
        return False
    attrs = (loc.read_json("zarr.json") or {}).get("attributes") or {}
    return not (isinstance(attrs.get("geogan_kind"), str) and not attrs.get("complete"))


def _check_replaceable(path, *, what: str, kind: str | None) -> None:
    """:func:`~geogan.stores.ownership.check_replaceable`, or its twin for an object-storage URL."""
    if is_remote(path):
        check_remote_replaceable(path, what=what, kind=kind)
    else:
        check_replaceable(path, what=what, kind=kind)


def _mark(out_dir: Path | str, *names: str) -> None:
    """List ``names`` in the score directory's marker, just before they are written: what
    geogan writes there, and only that (a folder's name with a trailing ``/``)."""
    write_marker(out_dir, "score", [f"{n}/" if n in FOLDERS else n for n in names])


def _finalize_contributions(staged: Path | str, final: Path | str, run_key: dict) -> None:
    """Mark the staged contributions store complete and move it to ``final`` (already there
    when a previous run stopped between this move and the scores store's). In object storage
    it was built at ``final``: marking it complete is its commit."""
    if is_remote(final):
        if run_key_of(final) != run_key:
            raise StoreError(f"{public_url(final)} is missing or from another run; rerun with --overwrite")
        layout.finalize_metadata(final, {"complete": True, "created": layout.now_iso()})
    elif staged.exists():
        layout.finalize_metadata(staged, {"complete": True, "created": layout.now_iso()})
        replace_path(staged, final)
    elif run_key_of(final) != run_key:
        raise StoreError(f"{final} is missing or from another run; rerun with --overwrite")


def _refuse_if_nothing_scored(staging: Staging, model, min_elements: int | None, grid_path, *,
                              contributions: bool) -> None:
    """A run that scored no cell is a user error (every cell lacks an element the model reads),
    not an all-NaN map: the staging folder goes, whatever the output held before stays (in
    object storage, the stores built in place go with it)."""
    import xarray as xr

    staged = xr.open_zarr(staging.store, consolidated=False)["anomaly"]
    if bool(staged.notnull().any().compute()):
        return
    staging.remove()
    if staging.remote and contributions:
        Remote(contributions_stage(staging)).remove()
    need = (f"at least {min_elements} of" if min_elements is not None else "every one of")
    raise InputError(f"no cell could be scored: none holds {need} the model's elements "
                     f"({', '.join(model.elements)}); check the grid's elements (geogan info), or lower "
                     f"--min-elements", path=grid_path)


class ScoreRun:
    """One call of :func:`~geogan.scoring.stage.score_grid`: its inputs checked against each
    other when built (no output is made before), then each step of the run."""

    def __init__(self, grid_path, model_dir, out_dir, options: ScoreOptions, deposits,
                 deposit_options: DepositOptions | None = None):
        from geogan.training.model import load_model

        self.remote = is_remote(out_dir)  # a prefix in object storage: its outputs are URLs
        self.grid_path, self.out_dir = grid_path, str(out_dir).rstrip("/") if self.remote else Path(out_dir)
        deposits_path = deposits.path if isinstance(deposits, Deposits) else deposits
        check_disjoint([self.out_dir], [grid_path, model_dir, deposits_path], what="score directory")
        if Remote(self.out_dir).isfile("") if self.remote else (self.out_dir.exists() and not self.out_dir.is_dir()):
            raise OutputExistsError(f"{self._shown(self.out_dir)} is a file; the score output is a directory: choose "
                                    f"another --out")
        self.scores_path, self.report_path = self.path_of(SCORES_STORE), self.path_of(REPORT_DIR)
        self.contrib_path = self.path_of(CONTRIBUTIONS_STORE)
        if deposits is not None:  # the report is replaced whole: refuse now, not after scoring, if a user keeps files in it
            from geogan.evaluation.report import check_report_dir

            check_report_dir(self.report_path, overwrite=True)
        self.ds = store.open_grid(grid_path)
        self.spec = geometry.grid_spec(self.ds)
        self.model_dir = layout.location(model_dir)  # a URL's: without credentials (workers read the env's)
        # validates the model dir before any output is created, without starting TensorFlow here
        self.model = load_model(self.model_dir, networks=False)
        self.element_index = self._element_index()
        self.batch_size, self.contributions = int(options.batch_size), bool(options.contributions)
        self.model.check_min_elements(options.min_elements)
        least = options.min_elements
        self.min_elements = least if least is not None and least < len(self.model.elements) else None  # None: all
        if self.contributions:
            from geogan.scoring.contributions import check_supported

            check_supported(self.model)  # an ilr model fails now, before any output is created
        self.deposits = self._deposits(deposits, deposit_options)
        self.token = model_token(self.model_dir)
        self.staging = Staging(self.scores_path)
        self.contrib_stage = contributions_stage(self.staging)
        self.run_key = {"grid": layout.location(grid_path), "grid_created": self.ds.attrs.get("created"),
                        "model": self.model_dir, "model_token": self.token}
        if self.contributions:  # absent when off: run keys (and reuse of earlier outputs) stay as before
            self.run_key["contributions"] = True
        if self.min_elements is not None:
            self.run_key["min_elements"] = int(self.min_elements)

    def path_of(self, name: str) -> Path | str:
        """The path of ``name`` in the score directory (a URL in object storage)."""
        return join(self.out_dir, name) if self.remote else self.out_dir / name

    def _shown(self, path) -> Path | str:
        """``path`` as messages show it (a URL without credentials)."""
        return public_url(str(path)) if self.remote else path

    def _element_index(self) -> list[int]:
        """Where the model's elements lie in the grid, which must hold them in the same units."""
        grid_elements, model = self.ds["element"].values.tolist(), self.model
        missing = [e for e in model.elements if e not in grid_elements]
        if missing:
            raise ModelError(f"the model was trained on elements {', '.join(model.elements)} but the grid "
                             f"{self.grid_path} lacks {', '.join(missing)}", path=self.model_dir)
        grid_units, model_units = store.units_of(self.ds), model.config.get("units") or {}
        wrong = [e for e in model.elements if model_units.get(e) and grid_units.get(e) and model_units[e] != grid_units[e]]
        if wrong:
            raise ModelError("element units differ between model and grid: " + ", ".join(
                f"{e} {model_units[e]} vs {grid_units[e]}" for e in wrong), path=self.model_dir)
        return [grid_elements.index(e) for e in model.elements]

    def _deposits(self, deposits, options: DepositOptions | None) -> Deposits | None:
        """The deposits on the grid's CRS (a file read as ``options`` says). A bad deposits file,
        or one with no point inside the grid, fails now, not after the whole grid is scored
        (extent only: a zero-stride stand-in for the values reads nothing)."""
        if deposits is None:
            return None
        from geogan.evaluation.locate import deposits_on_grid

        spec = self.spec
        deps = (deposits.to_crs(spec.crs) if isinstance(deposits, Deposits)
                else read_deposits(deposits, crs=spec.crs, options=options))
        deposits_on_grid(self.ds["distance"], deps, values=np.broadcast_to(np.float32(0), spec.shape))
        return deps

    def claim(self, *, overwrite: bool) -> None:
        """Refuse outputs of another run (without ``overwrite``) and what geogan did not write.
        A finished scores.zarr from this same grid and model is reused (resume after a crash in
        the COG export or the report)."""
        out, key = self.out_dir, self.run_key
        done = _exists(self.scores_path) and not overwrite and run_key_of(self.scores_path) == key
        self.scores_done = done and (not self.contributions or (_exists(self.contrib_path)
                                                                and run_key_of(self.contrib_path) == key))
        # (anomaly.qml and anomaly_polygons.gpkg go with anomaly.tif: rewritten whenever it is)
        blocking = [p for p in (self.path_of(COG_NAME), self.path_of(SPREAD_COG_NAME), self.report_path) if _exists(p)]
        if _exists(self.contrib_path) and run_key_of(self.contrib_path) != key:
            blocking.append(self.contrib_path)
        if _exists(self.scores_path) and not self.scores_done:
            blocking.insert(0, self.scores_path)
        if blocking and not overwrite:
            raise OutputExistsError(f"{self._shown(blocking[0])} exists; pass --overwrite to replace the outputs in "
                                    f"{self._shown(out)}")
        for output in SCORE_OUTPUTS:  # geogan's own outputs only, even with --overwrite
            _check_replaceable(self.path_of(output), what=output, kind=OUTPUT_KINDS.get(output))
        if not self.remote:  # (a prefix in object storage needs no folder)
            out.mkdir(parents=True, exist_ok=True)

    def stage(self) -> list[tuple[int, int]]:
        """Resume the staged stores of an interrupted run, or create them; the tiles left to score."""
        resumed: set[tuple[int, int]] = set()
        if self.scores_done:
            log.info(f"reusing {self.scores_path} (same grid and model)")
            return []
        if self.staging.exists():
            if self.staging.params() == self.run_key and self.staging.created():
                resumed = self.staging.done()
                log.info(f"resuming {self.staging.root}: {len(resumed)} of {self.spec.n_tiles} tiles already done")
            else:
                self.staging.remove()
        if not self.staging.exists():
            self._create_stores()
        pending = [t for t in self.spec.tiles() if t not in resumed]
        log.info(f"scoring {self.spec.n_cells:,} cells in {len(pending)} tiles with {self.model.detector_name} "
                 f"(score {self.model.score_name})")
        return pending

    def _create_stores(self) -> None:
        model = self.model
        source = public_url(str(self.grid_path)) if is_remote(self.grid_path) else str(self.grid_path)
        attrs = {"run_key": self.run_key, "grid_source": source,
                 "model": {"dir": self.model_dir, "detector": model.detector_name, "score": model.score_name,
                           "elements": model.elements}}
        if model.target is not None:
            attrs["target"] = {"element": model.target.target, "deposit_type": model.target.info.get("deposit_type"),
                               "suite": model.target.info.get("suite"), "description": model.target.describe()}
        self.staging.start(self.run_key)
        if self.contributions:  # created first: a scores store in the staging folder implies this one
            if self.remote:  # built in place: an earlier run's store there goes first
                Remote(self.contrib_stage).remove()
            create_contributions_store(self.contrib_stage, self.spec, model.elements, attrs)
        create_scores_store(self.staging.store, self.spec, attrs, spread=model.is_ensemble,
                            elements_used=self.min_elements is not None)
        self.staging.mark_created()

    def score_tiles(self, pending, *, scheduler: str | None, workers: int | None, progress: bool) -> None:
        """One task per tile on the cluster; each writes its tile on the worker."""
        # task keys name this run (grid, model, output), so two runs sharing a cluster never mix
        out = layout.location(self.scores_path)
        run_id = hashlib.sha256(layout.dumps({**self.run_key, "out": out}).encode()).hexdigest()[:16]
        with dask_client(scheduler, workers=workers) as client:
            if not scheduler and not os.environ.get("DASK_SCHEDULER_ADDRESS"):
                client.run(os.environ.__setitem__, "GEOGAN_TF_THREADS", "1")
            futures = [client.submit(score_tile, self.run_key["grid"], self.ds.attrs.get("created"),
                                     str(self.scores_path), self.spec.to_dict(), i, j, model_dir=self.model_dir,
                                     model_token=self.token, element_index=self.element_index,
                                     batch_size=self.batch_size, contributions=self.contributions,
                                     spread=self.model.is_ensemble, min_elements=self.min_elements,
                                     key=f"geogan-score-{run_id}-{i}-{j}")
                       for i, j in pending]
            run_tasks(client, futures, description="scoring tiles", progress=progress)

    def finish(self) -> None:
        """Move the finished stores into place, and list what the folder will hold."""
        if not self.scores_done:
            _refuse_if_nothing_scored(self.staging, self.model, self.min_elements, self.grid_path,
                                      contributions=self.contributions)
            if self.contributions:
                _finalize_contributions(self.contrib_stage, self.contrib_path, self.run_key)
            elif self.remote:  # from an earlier run with contributions (--overwrite): stale now
                Remote(self.contrib_path).remove()
            elif os.path.lexists(self.contrib_path):  # from an earlier run with contributions (--overwrite): stale now
                import shutil

                if self.contrib_path.is_symlink():  # the link goes, never what it points to
                    self.contrib_path.unlink()
                else:
                    shutil.rmtree(self.contrib_path)
            self.staging.finalize()
        self.mark_outputs()  # before they are written

    def mark_outputs(self) -> None:
        """List in the score folder's marker what this run writes there."""
        _mark(self.out_dir, SCORES_STORE, COG_NAME, QML_NAME, POLYGONS_NAME, POLYGONS_QML_NAME,
              *([CONTRIBUTIONS_STORE] if self.contributions else []),
              *([USED_COG_NAME] if self.min_elements is not None else []),
              *([SPREAD_COG_NAME, SPREAD_QML_NAME] if self.model.is_ensemble else []),
              *([REPORT_DIR] if self.deposits is not None else []))

    def seal(self) -> None:
        """Once the maps and the report are written: in object storage, the score folder's
        marker object is written again, the folder's last write (a local marker, written before
        the maps as there, is left as it is)."""
        if self.remote:
            self.mark_outputs()

    def count_scored(self, scores_ds) -> int:
        """The cells scored, logged against the grid's cells with data."""
        from geogan.grid.coverage import coverage_attr

        n_scored = int(scores_ds["anomaly"].notnull().sum().compute())
        cov = coverage_attr(self.ds)
        if cov is not None and cov.n_data:
            log.info(f"scored {n_scored:,} cells: {100 * n_scored / cov.n_data:.1f} % of the grid's {cov.n_data:,} "
                     f"cells with data" + ("" if self.min_elements is not None or n_scored >= cov.n_data else
                                           " (cells missing one of the model's elements are not scored: see "
                                           "--min-elements)"))
        return n_scored
