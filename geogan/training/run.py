"""The work folder of a train run: run key, checkpoints, resume, history.

A model directory is built in ``<model_dir>.partial/`` (:func:`geogan.stores.staging.partial_path`; for
a model in object storage, a local folder named by its URL: :func:`geogan.training.outputs.model_paths`)::

    model_dir.partial/
      run.json           the run key: grid, detector, parameters, sample, seed, ... (a resume
                         must match it); removed when the model is complete
      checkpoints/       epoch_0010/ ... (or member_00/epoch_0010/ ... in an ensemble)
      members/           00/ ... finished ensemble members, 00.history.json ... the history so far

What lives here: the run key (:func:`make_run_key`), checking an unfinished run before it
is resumed or replaced (:func:`check_work_folder`), starting the folder
(:func:`start_work_folder`), fitting detectors with checkpoints and finished members and
resuming them (:class:`Fitter`), the history and the clean-up once the model files are
written (:func:`finish_work_folder`), and the TensorFlow threading of a CPU run
(:func:`tune_cpu_threads`). What does not: the train stage itself, sampling and the model
directory's contents (:mod:`geogan.training.stage`), the detectors' own checkpoint files
(:mod:`geogan.detectors`).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geogan.stores.ownership import MODEL_ENTRIES, foreign_entry, ownership, small_json
from geogan._tf import tensorflow
from geogan.detectors.base import Detector
from geogan.detectors.modelfile import CONFIG_NAME, write_model_files
from geogan.detectors.neural import NeuralDetector
from geogan.errors import ConfigError, OutputExistsError
from geogan.options import DepositOptions
from geogan.progress import Progress
from geogan.training.outputs import check_model_replaceable, model_exists, shown

if TYPE_CHECKING:
    from geogan.detectors.ensemble import Ensemble

log = logging.getLogger(__name__)

HISTORY_NAME = "history.csv"
CHECKPOINTS = "checkpoints"
RUN_FILE = "run.json"


# -- the work folder -------------------------------------------------------------------------------
def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    ckpts = sorted(p for p in ckpt_dir.glob("epoch_*") if (p / "checkpoint.json").is_file())
    return ckpts[-1] if ckpts else None


def has_progress(work: Path) -> bool:
    """Whether an unfinished run in ``work`` holds a checkpoint or a finished ensemble member."""
    return any((work / CHECKPOINTS).glob("**/checkpoint.json")) or any((work / "members").glob(f"*/{CONFIG_NAME}"))


def _describe_progress(work: Path) -> str:
    ckpts = sorted(p.parent.relative_to(work).as_posix() for p in (work / CHECKPOINTS).glob("**/checkpoint.json"))
    members = sorted((work / "members").glob(f"*/{CONFIG_NAME}"))
    parts = [f"last checkpoint {ckpts[-1]}"] if ckpts else []
    if members:
        parts.append(f"{len(members)} finished ensemble member(s)")
    return ", ".join(parts)


def _write_history(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, restval="")
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})


def make_run_key(grid_path, options, det: Detector, elements: list[str], *, enrichment_only: bool, ensemble: int,
                 deposits, deposit_options=None) -> dict:
    """What a resumed run must share with the run that wrote ``run.json``: the grid (its path
    and metadata fingerprint), the resolved detector parameters and the training options (and
    how the deposits are read, when that was said)."""
    from geogan.stores.layout import location, metadata_fingerprint

    o = options
    key = {"grid": location(grid_path), "grid_fingerprint": metadata_fingerprint(grid_path),
           "detector": o.detector, "params": det.get_params(), "transform": o.transform, "elements": elements,
           "enrichment_only": bool(enrichment_only), "ensemble": int(ensemble),
           "sample": int(o.sample), "test_fraction": float(o.test_fraction), "seed": int(o.seed),
           "checkpoint_every": o.checkpoint_every, "deposits": None if deposits is None else str(deposits)}
    if deposits is not None:  # how they are read, resolved (None and the defaults are one setting)
        how = (deposit_options or DepositOptions()).to_dict()
        key["deposit_options"] = {k: None if v is None else str(v) for k, v in how.items()}
    return key


def check_work_folder(work: Path, final: Path | str, run_key: dict, *, resume: bool, overwrite: bool,
                      neural: bool) -> bool:
    """Refuse to start unless the outputs allow it, before any data is read.

    A resume needs ``work``'s ``run.json`` to equal ``run_key`` (:class:`ConfigError`); an
    unfinished neural run with progress is kept unless ``resume`` or ``overwrite``, and so is
    a finished model at ``final`` (a path or an object-storage URL; :class:`OutputExistsError`).
    Returns whether ``work``
    holds progress to resume from (checkpoints or finished members; neural detectors only).
    """
    _check_work_is_ours(work)
    progress_found = neural and has_progress(work)
    if resume and work.exists():
        try:
            previous = json.loads((work / RUN_FILE).read_text())
        except (OSError, ValueError):
            previous = None
        if previous != json.loads(json.dumps(run_key)):
            raise ConfigError(f"{work} holds an unfinished run with other settings; rerun with the same arguments "
                              f"to resume, or with --overwrite to start afresh")
    if not resume and not overwrite and progress_found:
        raise OutputExistsError(f"{work} holds an unfinished run ({_describe_progress(work)}); pass --resume to "
                                f"continue it, or --overwrite to start afresh")
    if model_exists(final) and not overwrite and not (resume and work.exists()):
        hint = "; it is a finished model, nothing to resume" if resume else ""
        raise OutputExistsError(f"{shown(final)} exists{hint}; pass --overwrite to replace it")
    check_model_replaceable(final)  # --overwrite replaces geogan's models only
    return progress_found


def _check_work_is_ours(work: Path) -> None:
    """Refuse a ``<model>.partial`` folder geogan did not make (it is deleted to start afresh)."""
    if not os.path.lexists(work):
        return
    marked = small_json(work / RUN_FILE) is not None or ownership(work) == ("model", frozenset(MODEL_ENTRIES))
    ours = not work.is_symlink() and work.is_dir() and (
        not any(work.iterdir()) or (marked and foreign_entry(work, "model", None) is None))
    if not ours:
        raise OutputExistsError(f"{work} is not a geogan training folder (no {RUN_FILE} in it); geogan trains "
                                f"{work.name.removesuffix('.partial')} there: move it away")


def start_work_folder(work: Path, run_key: dict, *, resume: bool, progress_found: bool) -> None:
    """Create ``work`` with its ``run.json``, replacing what an earlier run left, unless
    the run resumes from the progress in it."""
    if not (resume and progress_found):
        if work.exists():
            log.info(f"removing {work} left by an earlier run" if not resume else
                     f"no checkpoint in {work}: starting afresh")
            _check_work_is_ours(work)
            shutil.rmtree(work)
        work.mkdir(parents=True)
        (work / RUN_FILE).write_text(json.dumps(run_key, indent=1))


def finish_work_folder(work: Path, history: list[dict], *, ensemble: int) -> None:
    """Write ``history.csv`` and remove what only an unfinished run needs (``run.json``, an
    ensemble's checkpoints and member histories): ``work`` is then the model directory."""
    _write_history(work / HISTORY_NAME, history)
    (work / RUN_FILE).unlink(missing_ok=True)
    if ensemble > 1:
        shutil.rmtree(work / CHECKPOINTS, ignore_errors=True)
        for f in (work / "members").glob("*.history.json"):
            f.unlink()


# -- fitting ------------------------------------------------------------------------------------------
def tune_cpu_threads() -> bool:
    """On a CPU-only machine with ≤ 8 cores, run TensorFlow ops side by side (inter-op) rather
    than splitting each small matmul across cores (intra-op): ~15 % faster training at batch
    128. Only possible before TensorFlow starts; returns whether it was applied."""
    applied = []

    def configure(tf) -> None:
        n = os.cpu_count() or 1
        if n > 8 or os.environ.get("TF_NUM_INTRAOP_THREADS") or tf.config.list_physical_devices("GPU"):
            return
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(n)
        applied.append(True)

    tensorflow(configure=configure)
    return bool(applied)


def _label_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUC of deposit-cell scores ``pos`` against test-cell scores ``neg`` (ties ½)."""
    from sklearn.metrics import roc_auc_score

    if pos.size == 0 or neg.size == 0:
        return float("nan")
    return float(roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg]))


class Fitter:
    """Fits the detectors of one run on ``X_train``, recording one history row per epoch.

    Neural detectors are checkpointed every ``checkpoint_every`` epochs (default: about 10
    per run) and, with ``resume``, continue from their latest checkpoint, history included.
    Rows at checkpoints and at the end carry the mean score of the ``monitor`` cells and,
    given ``labels`` (transformed deposit cells, test cells), the label-informed test AUC.
    Finished ensemble members are kept (:meth:`fit_ensemble`). After fitting, ``history``,
    ``resumed_from`` and ``label_auc`` describe the run.
    """

    def __init__(self, X_train: np.ndarray, monitor: np.ndarray, labels: tuple | None, *, resume: bool,
                 checkpoint_every: int | None, progress: bool, detector: str, ensemble: int):
        self.X_train, self.monitor, self.labels = X_train, monitor, labels
        self.resume, self.checkpoint_every, self.progress = resume, checkpoint_every, progress
        self.detector, self.ensemble = detector, ensemble
        self.history: list[dict] = []
        self.resumed_from: int | str | None = None
        self.label_auc: float | None = None

    def _label_informed(self, d) -> float:
        return _label_auc(d.decision_function(self.labels[0]), d.decision_function(self.labels[1]))

    def _schedule(self, d: NeuralDetector) -> tuple[int, int]:
        """Total epochs of ``d``'s fit and the checkpoint interval (default: about 10 per run)."""
        total = d.total_epochs(len(self.X_train))
        return total, self.checkpoint_every if self.checkpoint_every is not None else max(1, math.ceil(total / 10))

    def _epoch_row(self, d: NeuralDetector, member: int | None, epoch: int, logs: dict, monitored: bool) -> dict:
        """The history row of ``d``'s ``epoch``; with ``monitored``, the monitor cells' mean
        score and the label-informed AUC (``d``'s weights must be current)."""
        tag = {} if member is None else {"member": member}
        row = {**tag, "epoch": epoch, "steps": epoch * d.batches_per_epoch(len(self.X_train)),
               **{k: v for k, v in logs.items() if k != "seconds"}, "seconds": logs["seconds"]}
        if monitored:
            row["mean_test_score"] = float(np.mean(d.decision_function(self.monitor)))
            if self.labels is not None:
                row["label_informed_test_auc"] = self.label_auc = self._label_informed(d)
        return row

    @staticmethod
    def _losses_info(d: NeuralDetector, logs: list[dict]) -> str:
        shown = [k for k in ("dis", "gen", "enc") if k in logs[0]] or list(d.loss_names)
        return " ".join(f"{k} {np.mean([lg[k] for lg in logs]):.3f}" for k in shown)

    def fit(self, d: Detector, ckpt_dir: Path, member: int | None) -> Detector:
        """Fit one detector (resuming from its latest checkpoint in ``ckpt_dir``)."""
        X_train, monitor, labels, history = self.X_train, self.monitor, self.labels, self.history
        if not isinstance(d, NeuralDetector):
            t_fit = time.perf_counter()
            d.fit(X_train)
            row = {**({} if member is None else {"member": member}), "epoch": 1,
                   "mean_test_score": float(np.mean(d.decision_function(monitor))),
                   "seconds": time.perf_counter() - t_fit}
            if labels is not None:
                row["label_informed_test_auc"] = self.label_auc = self._label_informed(d)
            history.append(row)
            return d
        checkpoint = _latest_checkpoint(ckpt_dir) if self.resume else None
        if checkpoint is not None:
            d, extra = type(d).load_checkpoint(checkpoint)
            history[:] = list(extra.get("history", history))
            self.resumed_from = d.epochs_done_ if member is None else f"member {member}, epoch {d.epochs_done_}"
            log.info(f"resuming {'' if member is None else f'member {member} '}from {checkpoint.name} "
                     f"(epoch {d.epochs_done_} of {d.total_epochs(len(X_train))})")
        total, every = self._schedule(d)
        what = f"training {self.detector}" + ("" if member is None else f" {member + 1}/{self.ensemble}")
        bar = Progress(total, what, unit="epochs", enabled=self.progress)
        bar.update(d.epochs_done_ if checkpoint is not None else 0, "")

        def on_epoch(dd: NeuralDetector, epoch: int, logs: dict) -> None:
            last = epoch == total
            history.append(self._epoch_row(dd, member, epoch, logs, (every and epoch % every == 0) or last))
            if every and epoch % every == 0 and not last:
                dd.save_checkpoint(ckpt_dir / f"epoch_{epoch:04d}", extra={"history": history})
            bar.update(epoch, self._losses_info(dd, [logs]))

        try:
            d.fit(X_train, callback=on_epoch, resume=checkpoint is not None)
        finally:
            bar.close()
        return d

    def fit_ensemble(self, ens: Ensemble, work: Path) -> Ensemble:
        """Fit the members of ``ens``; returns ``ens`` fitted.

        ALAD members train side by side as one network (:meth:`fit_stacked`); others one after
        another, each kept in ``work/members/`` when finished (with the history so far) so
        that a resume skips it."""
        from geogan.detectors.ensemble import member_dir
        from geogan.detectors.stacked import stack_reason

        members = [ens.make_member(k) for k in range(int(self.ensemble))]
        if stack_reason(members) is None:
            return ens.set_members(self.fit_stacked(members, work), self.X_train)
        history = self.history
        hist_files = sorted((work / "members").glob("*.history.json")) if self.resume else []
        if hist_files:
            history[:] = json.loads(hist_files[-1].read_text())
        for k in range(int(self.ensemble)):
            done = work / member_dir(k)
            if self.resume and (done / CONFIG_NAME).is_file():
                members[k] = Detector.load(done)
                continue
            members[k] = self.fit(members[k], work / CHECKPOINTS / f"member_{k:02d}", k)
            _keep_member(done, members[k], history)  # a finished member survives an interruption
            shutil.rmtree(work / CHECKPOINTS / f"member_{k:02d}", ignore_errors=True)
        return ens.set_members(members, self.X_train)

    def fit_stacked(self, members: list, work: Path) -> list:
        """Train ALAD ``members`` side by side as one network
        (:class:`~geogan.detectors.stacked.StackedALAD`), checkpointing every member at the
        same epochs in ``work/checkpoints/member_NN/``; a resume continues from the latest
        epoch every member has a checkpoint of."""
        from geogan.detectors.alad import ALAD
        from geogan.detectors.ensemble import member_dir
        from geogan.detectors.stacked import StackedALAD

        n, history, X_train = len(members), self.history, self.X_train
        done = [work / member_dir(k) for k in range(n)]
        if self.resume and all((d / CONFIG_NAME).is_file() for d in done):  # stopped as the model was written
            history[:] = json.loads(done[-1].with_name(f"{done[-1].name}.history.json").read_text())
            return [Detector.load(d) for d in done]
        dirs = [work / CHECKPOINTS / f"member_{k:02d}" for k in range(n)]
        epoch = _common_checkpoint(dirs) if self.resume else None
        if epoch is not None:
            restored = [ALAD.load_checkpoint(d / epoch) for d in dirs]
            members = [m for m, _ in restored]
            history[:] = list(restored[0][1].get("history", history))
            self.resumed_from = members[0].epochs_done_
            log.info(f"resuming the {n} members from {epoch} (of {members[0].total_epochs(len(X_train))})")
            stack = StackedALAD(members)
        else:
            stack = StackedALAD.fresh(members, X_train)
        total, every = self._schedule(members[0])
        bar = Progress(total, f"training {self.detector} × {n}", unit="epochs", enabled=self.progress)
        bar.update(members[0].epochs_done_, "")

        def on_epoch(st: StackedALAD, epoch: int, logs: list[dict]) -> None:
            last = epoch == total
            monitored = bool(every and epoch % every == 0) or last
            if monitored:
                st.sync()
            history.extend(self._epoch_row(m, k, epoch, lg, monitored)
                           for k, (m, lg) in enumerate(zip(st.members, logs)))
            if every and epoch % every == 0 and not last:
                for m, d in zip(st.members, dirs):
                    m.save_checkpoint(d / f"epoch_{epoch:04d}", extra={"history": history})
            bar.update(epoch, self._losses_info(st.template, logs))

        try:
            members = stack.fit(X_train, callback=on_epoch)
        finally:
            bar.close()
        for d, m in zip(done, members):  # every member first: the checkpoints go only once all are kept
            _keep_member(d, m, history)
        shutil.rmtree(work / CHECKPOINTS, ignore_errors=True)
        return members


def _keep_member(done: Path, member: Detector, history: list[dict]) -> None:
    """Write a finished ensemble member to ``done`` (``work/members/NN``) with the history so far."""
    done.mkdir(parents=True, exist_ok=True)
    write_model_files(done, member)
    done.with_name(f"{done.name}.history.json").write_text(json.dumps(history))


def _common_checkpoint(dirs: list[Path]) -> str | None:
    """The latest ``epoch_NNNN`` every one of ``dirs`` holds a finished checkpoint of."""
    common = None
    for d in dirs:
        names = {p.name for p in d.glob("epoch_*") if (p / "checkpoint.json").is_file()}
        common = names if common is None else common & names
    return max(common) if common else None


__all__ = ["CHECKPOINTS", "Fitter", "check_work_folder", "finish_work_folder", "make_run_key", "start_work_folder",
           "tune_cpu_threads"]
