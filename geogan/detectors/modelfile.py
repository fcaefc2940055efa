"""Model directories: the files a fitted detector is saved as, and their checks on load.

A model directory holds ``config.json`` (format, version, the ``detector`` section: name,
parameters, fitted state, Keras architecture, threshold) and weight files; never pickles of
code. Here: writing it (:func:`write_model_files`; atomically through
:func:`geogan.stores.files.staged_directory`), reading and
validating it (:func:`read_config`, :func:`detector_from_config`), the checks that run before
TensorFlow builds anything (:data:`ALLOWED_KERAS_CLASSES`, :func:`check_architecture`,
:func:`network_weight_shapes`, the limits :data:`MAX_UNITS`, :data:`MAX_PARAMETERS`,
:data:`MAX_LAYERS`, :func:`check_weight_file`), rebuilding networks
(:func:`network_from_config`, :func:`load_weights`), :func:`checked_only`, and the training
data fingerprint a model or checkpoint records (:func:`data_fingerprint`).

Must not hold: detector classes or training code (:mod:`geogan.detectors.base`,
:mod:`geogan.detectors.neural`), checkpoints (:mod:`geogan.detectors.checkpoint`), or the
registry (:mod:`geogan.detectors.registry`). TensorFlow and Keras are imported only when a
network is rebuilt.

>>> check_width("latent_dim", 8)
>>> check_width("latent_dim", 10**6)
Traceback (most recent call last):
geogan.errors.ConfigError: latent_dim must be an integer between 1 and 65536, got 1000000
"""

from __future__ import annotations

import contextvars
import json
import math
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geogan._version import __version__
from geogan._tf import tensorflow
from geogan.detectors.registry import DETECTORS
from geogan.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from geogan.detectors.base import Detector

CONFIG_NAME = "config.json"
MODEL_FORMAT = "geogan-model"
MODEL_FORMAT_VERSION = 1
_DETECTOR_KEYS = {"name", "params", "n_features", "score", "state", "architecture", "threshold"}
#: Limits on what a model directory, checkpoint or parameter set may ask TensorFlow to build,
#: checked before anything is allocated: the width of any layer or network input (Dense
#: units, latent dimension, features), the weights of one network (~2 GB of float32; geogan's
#: default ALAD has ~0.2 M), and the layers of one network.
MAX_UNITS = 65536
MAX_PARAMETERS = 500_000_000
MAX_LAYERS = 1000


def check_width(name: str, value) -> None:
    """:class:`ConfigError` unless ``value`` is an integer in 1..:data:`MAX_UNITS`."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 1 <= value <= MAX_UNITS:
        raise ConfigError(f"{name} must be an integer between 1 and {MAX_UNITS}, got {value!r}")


def check_widths(name: str, units, *, length: int | None = None) -> None:
    """:class:`ConfigError` unless ``units`` is a non-empty list of layer widths (integers in
    1..:data:`MAX_UNITS`), of ``length`` entries when given."""
    ok = isinstance(units, (list, tuple)) and units and (length is None or len(units) == length) and all(
        isinstance(u, (int, np.integer)) and not isinstance(u, bool) and 1 <= u <= MAX_UNITS for u in units)
    if not ok:
        need = f"{length} integers" if length else "a non-empty list of integers"
        raise ConfigError(f"{name} must be {need} between 1 and {MAX_UNITS}, got {units!r}")


def write_model_files(path: Path, det: Detector, *, metadata: dict | None = None) -> dict:
    """Write ``config.json`` and the weight files of ``det`` into the existing dir ``path``."""
    config = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
              "geogan_version": __version__, "detector": det.to_config(path)}
    for key, value in (metadata or {}).items():
        if key in config:
            raise ConfigError(f"metadata key {key!r} is reserved in config.json")
        config[key] = value
    (path / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return config


def read_config(path: Path) -> dict:
    """Read and check the envelope of ``path/config.json`` (:class:`ModelError` if unusable)."""
    cfg_path = Path(path) / CONFIG_NAME
    if not Path(path).is_dir():
        raise ModelError("model directory not found", path=path)
    if not cfg_path.is_file():
        raise ModelError(f"no {CONFIG_NAME}: not a geogan model directory", path=path)
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"unreadable JSON ({exc})", path=cfg_path) from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise ModelError(f"not a geogan model config (format {config.get('format') if isinstance(config, dict) else None!r})",
                         path=cfg_path)
    if config.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelError(f"model format version {config.get('format_version')} is not supported by this geogan "
                         f"(reads {MODEL_FORMAT_VERSION}); retrain the model", path=cfg_path)
    if not isinstance(config.get("detector"), dict):
        raise ModelError("config has no 'detector' section", path=cfg_path)
    return config


def detector_from_config(path: Path, section: dict, *, where) -> Detector:
    """Rebuild a fitted detector from its ``detector`` config section and weight files."""
    unknown = set(section) - _DETECTOR_KEYS
    if unknown:
        raise ModelError(f"unknown keys in the detector section: {', '.join(sorted(unknown))}", path=where)
    name = section.get("name")
    if name not in DETECTORS:
        raise ModelError(f"unknown detector {name!r} (known: {', '.join(DETECTORS)})", path=where)
    cls = DETECTORS[name]
    params = section.get("params")
    if not isinstance(params, dict):
        raise ModelError("detector 'params' must be a JSON object", path=where)
    bad = set(params) - set(cls._param_names())
    if bad:
        raise ModelError(f"unknown parameter(s) for {name}: {', '.join(sorted(bad))}", path=where)
    try:
        det = cls(**params)
        det._validate_params()
    except (TypeError, ValueError, ConfigError) as exc:
        raise ModelError(f"invalid parameters for {name}: {exc}", path=where) from None
    n_features = section.get("n_features")
    if not isinstance(n_features, int) or isinstance(n_features, bool) or not 1 <= n_features <= MAX_UNITS:
        raise ModelError(f"detector 'n_features' must be an integer between 1 and {MAX_UNITS}", path=where)
    state = section.get("state")
    if not isinstance(state, dict):
        raise ModelError("detector 'state' must be a JSON object", path=where)
    threshold = section.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not math.isfinite(threshold)):
        raise ModelError(f"detector 'threshold' must be a finite number, got {threshold!r}", path=where)
    det.n_features_ = n_features
    det._state_from_disk(Path(path), state, section)
    # models saved before geogan kept threshold_ load without one (predict then says so);
    # decision_scores_ and labels_ describe the training rows and are not saved
    det.threshold_ = None if threshold is None else float(threshold)
    return det


_BUILD_NETWORKS: contextvars.ContextVar[bool] = contextvars.ContextVar("geogan_build_networks", default=True)


@contextmanager
def checked_only() -> Iterator[None]:
    """Within the block, loading a neural detector checks its config, architecture and weight
    files (names, shapes, sizes) without building the networks: nothing imports Keras or
    TensorFlow. The result can be inspected, not used to score (the Dask client of ``geogan
    score`` validates a model this way; the workers load it whole)."""
    token = _BUILD_NETWORKS.set(False)
    try:
        yield
    finally:
        _BUILD_NETWORKS.reset(token)


def builds_networks() -> bool:
    """Whether loading builds the networks: ``False`` inside :func:`checked_only`."""
    return _BUILD_NETWORKS.get()


# Every Keras class a saved architecture may name (layers, the functional container,
# initialisers, dtype policies, tensor references). Anything else is refused before Keras
# sees the config: Lambda layers above all (they carry Python bytecode), and custom objects.
ALLOWED_KERAS_CLASSES = frozenset({
    "Functional", "InputLayer", "Dense", "Dropout", "LeakyReLU", "ReLU", "Concatenate",
    "GlorotUniform", "Zeros", "DTypePolicy", "FloatDTypePolicy", "__keras_tensor__",
})


def check_architecture(config, *, where) -> None:
    """Refuse Keras configs naming classes outside :data:`ALLOWED_KERAS_CLASSES`."""
    def walk(node):
        if isinstance(node, dict):
            cls = node.get("class_name")
            if cls is not None:
                if cls not in ALLOWED_KERAS_CLASSES:
                    raise ModelError(f"the architecture contains a {cls!r} object; geogan models consist only of "
                                     f"Dense, Dropout, LeakyReLU, ReLU and Concatenate layers (no Lambda or custom "
                                     f"code is loaded)", path=where)
                registered = node.get("registered_name")
                if registered not in (None, cls):
                    raise ModelError(f"the architecture refers to a custom object {registered!r}", path=where)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config)


_PASS_THROUGH = {"Dropout", "LeakyReLU", "ReLU"}


def network_weight_shapes(config, *, where) -> list[tuple[int, ...]]:
    """The weight shapes a network's JSON config builds, read from the config alone.

    Widths are propagated through the functional graph (``InputLayer`` → ``Dense`` →
    activations, dropout → ``Concatenate``) without building anything. A layer or input wider
    than :data:`MAX_UNITS`, a network of more than :data:`MAX_PARAMETERS` weights or
    :data:`MAX_LAYERS` layers, a Dense ``build_config`` (Keras builds from it first) other than
    the width the graph feeds it, or a graph that is not geogan's plain kind (one call per
    layer, known inbound layers, no cycle) is a :class:`ModelError`.
    """
    body = config.get("config") if isinstance(config, dict) else None
    layers = body.get("layers") if isinstance(body, dict) else None
    net = body.get("name") if isinstance(body, dict) else None
    if not isinstance(config, dict) or config.get("class_name") != "Functional" or not isinstance(layers, list):
        raise ModelError(f"the architecture of network {net!r} is not a Keras functional model config", path=where)
    if len(layers) > MAX_LAYERS:
        raise ModelError(f"network {net!r} has {len(layers)} layers, over the limit of {MAX_LAYERS}", path=where)

    def fail(layer, what):
        return ModelError(f"network {net!r}: layer {layer!r} {what}", path=where)

    def inbound(layer) -> list:
        found = []

        def walk(node):
            if isinstance(node, dict):
                if node.get("class_name") == "__keras_tensor__":
                    history = (node.get("config") or {}).get("keras_history")
                    found.append(history[0] if isinstance(history, list) and history else None)
                    return
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(layer.get("inbound_nodes"))
        return found

    widths: dict[str, int] = {}
    shapes: list[tuple[int, ...]] = []
    n_params = 0
    pending = []
    for layer in layers:
        name = layer.get("name") if isinstance(layer, dict) else None
        if not isinstance(name, str) or name in {p.get("name") for p in pending} | set(widths):
            raise fail(name, "has no name, or the name of another layer")
        cls, cfg = layer.get("class_name"), layer.get("config")
        if not isinstance(cfg, dict):
            raise fail(name, "has no config")
        if cls == "InputLayer":
            shape = cfg.get("batch_shape")
            if not (isinstance(shape, list) and len(shape) == 2 and shape[0] is None):
                raise fail(name, f"has input shape {shape!r}; geogan networks take (batch, features) inputs")
            width = shape[1]
            if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= MAX_UNITS:
                raise fail(name, f"is {width!r} wide, outside 1..{MAX_UNITS}")
            widths[name] = width
            continue
        if cls != "Concatenate" and cls != "Dense" and cls not in _PASS_THROUGH:
            raise fail(name, f"is a {cls!r}; geogan networks hold Dense, Dropout, LeakyReLU, ReLU and Concatenate "
                             f"layers")
        nodes = layer.get("inbound_nodes")
        if not isinstance(nodes, list) or len(nodes) != 1:
            raise fail(name, "must be called exactly once")
        pending.append(layer)
    # resolve in dependency order (Keras lists layers topologically; any order is accepted)
    while pending:
        progressed = False
        for layer in list(pending):
            name, cls, cfg = layer["name"], layer["class_name"], layer["config"]
            ins = inbound(layer)
            if not ins or not all(isinstance(i, str) for i in ins):
                raise fail(name, "has an invalid inbound tensor reference")
            if not all(i in widths for i in ins):
                continue
            if cls == "Concatenate":
                if cfg.get("axis", -1) not in (-1, 1):
                    raise fail(name, f"concatenates along axis {cfg.get('axis')!r}, not the features")
                width = sum(widths[i] for i in ins)
            elif len(ins) != 1:
                raise fail(name, f"takes {len(ins)} inputs, not 1")
            elif cls == "Dense":
                width = cfg.get("units")
                if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= MAX_UNITS:
                    raise fail(name, f"has {width!r} units; a Dense layer may have 1 to {MAX_UNITS}")
                # Keras builds (allocates) a layer from its build_config before connecting it
                build = layer.get("build_config")
                if build is not None and build != {"input_shape": [None, widths[ins[0]]]}:
                    raise fail(name, f"has build_config {build!r}, but its input is {widths[ins[0]]} wide")
                shapes.append((widths[ins[0]], width))
                n_params += widths[ins[0]] * width
                if cfg.get("use_bias", True):
                    shapes.append((width,))
                    n_params += width
            else:
                width = widths[ins[0]]
            if width > MAX_UNITS:
                raise fail(name, f"is {width} wide, over the limit of {MAX_UNITS}")
            widths[name] = width
            pending.remove(layer)
            progressed = True
        if not progressed:
            names = ", ".join(repr(p["name"]) for p in pending)
            raise ModelError(f"network {net!r}: layers {names} refer to unknown layers or form a cycle", path=where)
    if n_params > MAX_PARAMETERS:
        raise ModelError(f"network {net!r} would have {n_params} parameters, over the limit of {MAX_PARAMETERS}",
                         path=where)
    return shapes


def network_from_config(config: dict, *, where):
    """A Keras model from its JSON config, checked first (classes, widths, parameter count;
    see :func:`check_architecture` and :func:`network_weight_shapes`), deserialised in Keras
    safe mode."""
    check_architecture(config, where=where)
    network_weight_shapes(config, where=where)
    tensorflow()  # quietly (geogan._tf), before Keras imports it
    import keras

    try:
        # Keras consumes the dict it is given: hand it a copy
        return keras.saving.deserialize_keras_object(json.loads(json.dumps(config)), safe_mode=True)
    except Exception as exc:  # Keras raises many kinds on a bad config
        raise ModelError(f"cannot rebuild the network from its config ({type(exc).__name__}: {exc})",
                         path=where) from None



def data_fingerprint(X: np.ndarray) -> str:
    """A short digest of a training array (its shape and bytes): a checkpoint records it, and
    resuming refuses other data."""
    import hashlib

    h = hashlib.sha256()
    h.update(str(X.shape).encode())
    h.update(np.ascontiguousarray(X).tobytes())
    return h.hexdigest()[:32]


def model_file(path: Path, rel: str, *, what: str) -> Path:
    """The file ``rel`` of the model directory ``path``, refused (:class:`ModelError`) when it
    is missing, not a regular file (a FIFO or a device would block or never end), or a link
    out of the model directory."""
    file = Path(path) / rel
    if file.is_symlink() and Path(path).resolve() not in file.resolve().parents:
        raise ModelError(f"{what} {rel} is a link out of the model directory", path=path)
    if not os.path.lexists(file):
        raise ModelError(f"{what} {rel} is missing", path=path)
    if not file.is_file():
        raise ModelError(f"{what} {rel} is not a regular file", path=path)
    return file


def check_weight_file(path: Path, rel, shapes: list[tuple[int, ...]], *, where) -> str:
    """Check the weight file entry ``rel`` under ``path``: a relative path inside the model
    directory to an HDF5 file whose arrays have exactly the ``shapes`` the architecture builds
    (read from the file's metadata; no array is read). Returns ``rel``."""
    import h5py

    if not isinstance(rel, str) or ".." in Path(rel).parts or Path(rel).is_absolute():
        raise ModelError(f"invalid weight file entry {rel!r}", path=where)
    file = model_file(path, rel, what="weight file")
    expected = Counter(shapes)
    n_found = 0

    def check(name, obj):
        nonlocal n_found
        if not isinstance(obj, h5py.Dataset):
            return None
        n_found += 1
        shape = tuple(obj.shape)
        if expected[shape] < 1:
            return f"array {name} has shape {shape}, which does not match the architecture (its weights have " \
                   f"shapes {', '.join(map(str, sorted(set(shapes))))})"
        expected[shape] -= 1
        return None

    try:
        with h5py.File(file, "r") as f:
            problem = f.visititems(check)
    except Exception as exc:  # h5py raises many kinds on a corrupt file
        raise ModelError(f"cannot read {rel} ({type(exc).__name__}: {exc})", path=path) from None
    if problem is None and +expected:
        problem = f"holds {n_found} arrays, the architecture has {len(shapes)} weights"
    if problem is not None:
        raise ModelError(f"{rel}: {problem}", path=path)
    return rel


def load_weights(net, path: Path, rel: str) -> None:
    """Load the weight file ``rel`` (checked by :func:`check_weight_file`) into ``net``."""
    try:
        net.load_weights(path / rel)
    except Exception as exc:  # h5py/Keras raise many kinds on a corrupt or mismatched file
        raise ModelError(f"cannot load {rel} ({type(exc).__name__}: {exc})", path=path) from None
