"""Tests for geogan.detectors.netfiles: a network's Keras architecture checked from its JSON alone
(allowed classes, widths, the graph) and its weight files from their HDF5 metadata, before
TensorFlow builds anything."""

import h5py
import numpy as np
import pytest

from geogan.detectors.modelfile import MAX_UNITS
from geogan.detectors.netfiles import check_architecture, check_weight_file, network_weight_shapes
from geogan.errors import ModelError


def _tensor(layer):
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, 1], "keras_history": [layer, 0, 0]}}


def _layer(name, cls, *inputs, build=None, **config):
    layer = {"name": name, "class_name": cls, "config": {"name": name, **config},
             "inbound_nodes": [{"args": [[_tensor(i) for i in inputs]] if len(inputs) > 1 else [_tensor(inputs[0])],
                                "kwargs": {}}]}
    if build is not None:
        layer["build_config"] = {"input_shape": [None, build]}
    return layer


def _network(*layers, width=5):
    inp = {"name": "x", "class_name": "InputLayer", "config": {"batch_shape": [None, width], "name": "x"},
           "inbound_nodes": []}
    return {"class_name": "Functional", "config": {"name": "net", "layers": [inp, *layers]}}


def test_weight_shapes_follow_the_graph_through_activations_and_concatenation():
    net = _network(_layer("d1", "Dense", "x", units=8, build=5),
                   _layer("a1", "LeakyReLU", "d1"),
                   _layer("drop", "Dropout", "a1", rate=0.2),
                   _layer("cat", "Concatenate", "drop", "x", axis=-1),
                   _layer("out", "Dense", "cat", units=3, use_bias=False))
    assert network_weight_shapes(net, where="m") == [(5, 8), (8,), (13, 3)]
    check_architecture(net, where="m")  # only allowed classes


@pytest.mark.parametrize(("layers", "message"), [
    ([_layer("d1", "Dense", "x", units=MAX_UNITS + 1)], rf"layer 'd1' has {MAX_UNITS + 1} units"),
    ([_layer("d1", "Dense", "x", units=8, build=6)], r"layer 'd1' has build_config .* but its input is 5 wide"),
    ([_layer("d1", "Dense", "d2", units=4), _layer("d2", "Dense", "d1", units=4)],
     r"layers 'd1', 'd2' refer to unknown layers or form a cycle"),
    ([_layer("c", "Conv1D", "x", filters=4)], r"layer 'c' is a 'Conv1D'"),
    ([_layer("d1", "Dense", "x", units=4), _layer("d1", "Dense", "x", units=4)], r"the name of another layer"),
    ([_layer("cat", "Concatenate", "x", "x", axis=0)], r"concatenates along axis 0, not the features"),
], ids=["wide-dense", "build-config", "cycle", "conv", "duplicate-name", "concat-axis"])
def test_architectures_that_are_not_geogans_plain_kind_are_refused(layers, message):
    with pytest.raises(ModelError, match=message):
        network_weight_shapes(_network(*layers), where="m")


def test_a_wide_input_or_a_foreign_container_is_refused():
    with pytest.raises(ModelError, match=r"layer 'x' is 70000 wide"):
        network_weight_shapes(_network(width=70_000), where="m")
    with pytest.raises(ModelError, match=r"is not a Keras functional model config"):
        network_weight_shapes({"class_name": "Sequential", "config": {"layers": []}}, where="m")


def test_lambda_layers_and_custom_objects_are_refused_wherever_they_sit():
    net = _network(_layer("d1", "Dense", "x", units=4))
    net["config"]["layers"][1]["config"]["kernel_initializer"] = {"class_name": "Lambda", "config": {}}
    with pytest.raises(ModelError, match=r"the architecture contains a 'Lambda' object"):
        check_architecture(net, where="m")
    custom = _network(_layer("d1", "Dense", "x", units=4))
    custom["config"]["layers"][1]["registered_name"] = "mine>Dense"
    with pytest.raises(ModelError, match=r"refers to a custom object 'mine>Dense'"):
        check_architecture(custom, where="m")


def test_weight_files_are_checked_against_the_architectures_shapes(tmp_path):
    with h5py.File(tmp_path / "net.weights.h5", "w") as f:
        f.create_dataset("layers/d1/kernel", data=np.zeros((5, 8), np.float32))
        f.create_dataset("layers/d1/bias", data=np.zeros(8, np.float32))
    assert check_weight_file(tmp_path, "net.weights.h5", [(5, 8), (8,)], where="m") == "net.weights.h5"
    with pytest.raises(ModelError, match=r"array layers/d1/kernel has shape \(5, 8\), which does not match"):
        check_weight_file(tmp_path, "net.weights.h5", [(4, 8), (8,)], where="m")
    with pytest.raises(ModelError, match=r"holds 2 arrays, the architecture has 3 weights"):
        check_weight_file(tmp_path, "net.weights.h5", [(5, 8), (8,), (8, 1)], where="m")
    for entry in ("../net.weights.h5", "/etc/passwd", 3):
        with pytest.raises(ModelError, match="invalid weight file entry"):
            check_weight_file(tmp_path, entry, [], where="m")
    (tmp_path / "bad.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ModelError, match=r"cannot read bad.weights.h5"):
        check_weight_file(tmp_path, "bad.weights.h5", [(5, 8)], where="m")
