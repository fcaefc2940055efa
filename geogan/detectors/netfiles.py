"""A neural detector's networks on disk: their Keras architecture checked before anything is built, their weight files.

What lives here: the checks that run before TensorFlow builds anything
(:data:`ALLOWED_KERAS_CLASSES`, :func:`check_architecture`, :func:`network_weight_shapes`
within the limits of :mod:`geogan.detectors.modelfile`, :func:`check_weight_file`),
rebuilding networks (:func:`network_from_config`, :func:`load_weights`), and a neural
detector's networks written to a model directory and read back (:func:`write_networks`,
:func:`read_networks`, the ``weights`` of its ``config.json`` state). What does not: the
model directory and ``config.json`` themselves (:mod:`geogan.detectors.modelfile`), the
training state of a checkpoint (:mod:`geogan.detectors.checkpoint`), the detectors
(:mod:`geogan.detectors.neural`). TensorFlow and Keras are imported only when a network is
rebuilt.

>>> x = {"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}
>>> dense = {"class_name": "Dense", "name": "out", "config": {"units": 2}, "inbound_nodes": [{"args": [x]}]}
>>> net = {"class_name": "Functional", "config": {"name": "net", "layers": [
...     {"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [None, 3]}}, dense]}}
>>> network_weight_shapes(net, where="config.json")
[(3, 2), (2,)]
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from geogan._tf import tensorflow
from geogan.detectors.modelfile import CONFIG_NAME, MAX_LAYERS, MAX_PARAMETERS, MAX_UNITS, builds_networks, model_file
from geogan.errors import ModelError

if TYPE_CHECKING:
    from geogan.detectors.neural import NeuralDetector

__all__ = ["ALLOWED_KERAS_CLASSES", "check_architecture", "network_weight_shapes", "network_from_config",
           "check_weight_file", "load_weights", "write_networks", "read_networks"]


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

    widths, pending = _input_widths(layers, fail)
    shapes: list[tuple[int, ...]] = []
    n_params = 0
    # resolve in dependency order (Keras lists layers topologically; any order is accepted)
    while pending:
        progressed = False
        for layer in list(pending):
            ins = _inbound(layer)
            if not ins or not all(isinstance(i, str) for i in ins):
                raise fail(layer["name"], "has an invalid inbound tensor reference")
            if not all(i in widths for i in ins):
                continue
            width, weights = _layer_output(layer, ins, widths, fail)
            shapes.extend(weights)
            n_params += sum(math.prod(shape) for shape in weights)
            widths[layer["name"]] = width
            pending.remove(layer)
            progressed = True
        if not progressed:
            names = ", ".join(repr(p["name"]) for p in pending)
            raise ModelError(f"network {net!r}: layers {names} refer to unknown layers or form a cycle", path=where)
    if n_params > MAX_PARAMETERS:
        raise ModelError(f"network {net!r} would have {n_params} parameters, over the limit of {MAX_PARAMETERS}",
                         path=where)
    return shapes


def _inbound(layer) -> list:
    """The names of the layers feeding ``layer`` (``None`` for a reference without one)."""
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


def _input_widths(layers: list, fail) -> tuple[dict[str, int], list]:
    """The widths of the network's inputs, and its other layers (each called once, of a known
    class) left to resolve; ``fail(layer, what)`` makes the error for a layer."""
    widths: dict[str, int] = {}
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
    return widths, pending


def _layer_output(layer: dict, ins: list[str], widths: dict[str, int], fail) -> tuple[int, list[tuple[int, ...]]]:
    """The width ``layer`` outputs from its inputs ``ins`` (of known ``widths``), and the
    shapes of its weights (a Dense layer's kernel and bias)."""
    name, cls, cfg = layer["name"], layer["class_name"], layer["config"]
    weights: list[tuple[int, ...]] = []
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
        weights.append((widths[ins[0]], width))
        if cfg.get("use_bias", True):
            weights.append((width,))
    else:
        width = widths[ins[0]]
    if width > MAX_UNITS:
        raise fail(name, f"is {width} wide, over the limit of {MAX_UNITS}")
    return width, weights


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


def write_networks(det: NeuralDetector, path: Path) -> dict:
    """Save the networks of ``det`` as weight files under ``path/weights`` (live, and EMA when
    it keeps them); returns the ``weights`` entry of its state: network → its files."""
    wdir = path / "weights"
    wdir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in det.nets_:
        live = f"weights/{name}.weights.h5"
        det.nets_[name].save_weights(path / live)
        files[name] = {"live": live}
        if det.ema_decay is not None:
            ema = f"weights/{name}.ema.weights.h5"
            det.ema_nets_[name].save_weights(path / ema)
            files[name]["ema"] = ema
    return files


def read_networks(det: NeuralDetector, path: Path, state: dict, section: dict) -> None:
    """Rebuild the networks of ``det`` (``nets_``, ``ema_nets_``) from the architecture in its
    ``config.json`` ``section`` and the weight files its ``state`` lists, each checked before
    anything is built; inside :func:`~geogan.detectors.modelfile.checked_only` only checked."""
    where = path / CONFIG_NAME
    arch = section.get("architecture")
    if not isinstance(arch, dict) or set(arch) != set(det.network_names):
        raise ModelError(f"the architecture must describe the networks {', '.join(det.network_names)}",
                         path=where)
    files = state.get("weights")
    if not isinstance(files, dict) or set(files) != set(det.network_names) or not all(
            isinstance(e, dict) for e in files.values()):
        raise ModelError("the weight file list does not match the networks", path=where)
    det.nets_, det.ema_nets_ = {}, {}
    for name in det.network_names:
        # sizes and weight-file shapes are checked against the architecture before building
        check_architecture(arch[name], where=where)
        shapes = network_weight_shapes(arch[name], where=where)
        entry = files[name]
        live = check_weight_file(path, entry.get("live"), shapes, where=where)
        ema = check_weight_file(path, entry.get("ema"), shapes, where=where) if det.ema_decay is not None else None
        if not builds_networks():  # validating only (see checked_only): no Keras, no TensorFlow
            continue
        det.nets_[name] = network_from_config(arch[name], where=where)
        load_weights(det.nets_[name], path, live)
        if ema is not None:
            det.ema_nets_[name] = network_from_config(arch[name], where=where)
            load_weights(det.ema_nets_[name], path, ema)
        else:
            det.ema_nets_[name] = det.nets_[name]
    if builds_networks():
        det._check_loaded_networks(where)
