"""Training checkpoints of the neural detectors: everything needed to resume a fit.

A checkpoint directory holds ``state.npz`` (every variable training depends on: live and EMA
weights, optimiser moments, dropout RNG states, spectral-norm vectors, loss scale, step) and
``checkpoint.json`` (detector name and parameters, epoch, seed, compute dtype, the training
data fingerprint, history, caller's ``extra``). A checkpoint is read back with the same
checks as a model's ``config.json`` before anything is built.

Must not hold: the finished model's files (:mod:`geogan.detectors.modelfile`) or the training
loop (:mod:`geogan.detectors.neural`, whose ``save_checkpoint``/``load_checkpoint`` call here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geogan._version import __version__
from geogan.stores.files import staged_directory
from geogan.detectors.modelfile import MAX_UNITS
from geogan.detectors.registry import DETECTORS
from geogan.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from geogan.detectors.neural import NeuralDetector

CHECKPOINT_FORMAT = "geogan-checkpoint"


def _state_variables(det: NeuralDetector) -> dict[str, Any]:
    """Every variable training depends on, by a stable key."""
    out = {}
    for name, net in det.nets_.items():
        for i, v in enumerate(net.variables):  # includes dropout seed-generator states
            out[f"live/{name}/{i}"] = v
        if det.ema_decay is not None:
            for i, v in enumerate(det.ema_nets_[name].weights):
                out[f"ema/{name}/{i}"] = v
    for group, opt in det.optimizers_.items():
        for i, v in enumerate(opt.state()):
            out[f"opt/{group}/{i}"] = v
    for i, u in enumerate(det.sn_u_):
        out[f"sn/{i}"] = u
    if det.loss_scale_ is not None:
        for i, v in enumerate(det.loss_scale_.state()):
            out[f"loss_scale/{i}"] = v
    out["step"] = det.step_
    return out


def write_checkpoint(det: NeuralDetector, path, *, extra: dict | None = None) -> Path:
    """Write everything needed to resume training ``det`` (weights, EMA, optimiser moments,
    dropout RNG states, step counter, epoch) to directory ``path``, atomically."""
    path = Path(path)
    with staged_directory(path) as tmp:
        arrays = {k: np.asarray(v.numpy()) for k, v in _state_variables(det).items()}
        np.savez(tmp / "state.npz", **arrays)
        meta = {"format": CHECKPOINT_FORMAT, "geogan_version": __version__,
                "detector": {"name": det.name, "params": det.get_params(), "n_features": int(det.n_features_)},
                "epochs_done": int(det.epochs_done_), "seed": int(det.seed_), "dtype_policy": det.dtype_policy_,
                "data_fingerprint": det.data_fingerprint_, "history": det.history_, "extra": extra or {}}
        (tmp / "checkpoint.json").write_text(json.dumps(meta, indent=1, allow_nan=False))
    return path


def read_checkpoint(path, cls: type[NeuralDetector], *, base: type[NeuralDetector]) -> tuple[NeuralDetector, dict]:
    """Restore a detector saved with :func:`write_checkpoint`; returns it and ``extra``.

    Continue training with ``det.fit(X, resume=True)`` on the same ``X``. The metadata is
    validated as a model's ``config.json`` is (known detector and parameters, widths within
    :data:`~geogan.detectors.modelfile.MAX_UNITS`) before anything is built: a bad checkpoint is
    a :class:`ModelError`, as is one of another class than ``cls`` (unless ``cls`` is ``base``,
    the neural detectors' base class :class:`~geogan.detectors.neural.NeuralDetector`: then any
    neural detector).
    """
    path = Path(path)
    try:
        meta = json.loads((path / "checkpoint.json").read_text())
        arrays = np.load(path / "state.npz", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"unreadable checkpoint ({exc})", path=path) from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ModelError("not a geogan checkpoint", path=path)
    det_meta = meta.get("detector")
    if not isinstance(det_meta, dict) or not isinstance(det_meta.get("params"), dict):
        raise ModelError("the checkpoint's 'detector' must be an object with 'params'", path=path)
    name = det_meta.get("name")
    det_cls = DETECTORS[name] if name in DETECTORS else None
    if det_cls is None or not issubclass(det_cls, base):
        raise ModelError(f"the checkpoint names detector {name!r}, not a neural detector", path=path)
    if cls is not base and det_cls is not cls:
        raise ModelError(f"checkpoint holds a {det_cls.__name__}, not a {cls.__name__}", path=path)
    unknown = sorted(set(det_meta["params"]) - set(det_cls.param_names()))
    if unknown:
        raise ModelError(f"unknown parameter(s) for {name} in the checkpoint: {', '.join(unknown)}", path=path)
    n_features = det_meta.get("n_features")
    if not isinstance(n_features, int) or isinstance(n_features, bool) or not 1 <= n_features <= MAX_UNITS:
        raise ModelError(f"the checkpoint's n_features must be an integer between 1 and {MAX_UNITS}, got "
                         f"{n_features!r}", path=path)
    try:
        det = det_cls(**det_meta["params"])
        det.check_params()
        seed = int(meta["seed"])
        epochs_done, history = int(meta["epochs_done"]), list(meta["history"])
        dtype_policy, fingerprint = str(meta["dtype_policy"]), meta["data_fingerprint"]
    except KeyError as exc:
        raise ModelError(f"the checkpoint metadata lacks {exc}", path=path) from None
    except (TypeError, ValueError, ConfigError) as exc:
        raise ModelError(f"invalid checkpoint metadata ({exc})", path=path) from None
    det.init_state(n_features, seed=seed)
    if det.dtype_policy_ != dtype_policy:
        raise ModelError(f"checkpoint was written with {dtype_policy} compute, this machine "
                         f"would use {det.dtype_policy_}", path=path)
    variables = _state_variables(det)
    if set(variables) != set(arrays.files):
        raise ModelError("checkpoint variables do not match the detector's", path=path)
    for key, var in variables.items():
        value = arrays[key]
        if tuple(value.shape) != tuple(var.shape):
            raise ModelError(f"checkpoint variable {key} has shape {value.shape}, expected {tuple(var.shape)}",
                             path=path)
        var.assign(value)
    det.epochs_done_ = epochs_done
    det.history_ = history
    det.data_fingerprint_ = fingerprint
    extra = meta.get("extra", {})
    if not isinstance(extra, dict):
        raise ModelError("the checkpoint's 'extra' must be an object", path=path)
    return det, extra
