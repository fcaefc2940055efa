"""Hostile and damaged inputs (issue #12): models, trees, stores and attributes that would
crash, hang, allocate without bound or silently mislead are refused when they are loaded,
with one line naming the file, key or tile, and nothing left behind.

- model architectures: Dense widths and the parameter count are checked against limits, and
  weight files' array shapes against the architecture, before anything is built or read;
- IsolationForest node tables: a cycle, an index out of range or an inconsistent leaf;
- grid and score stores: a missing chunk (zarr would fill it silently), a corrupt chunk,
  attributes missing or of the wrong type, and grid attributes that disagree with the
  coordinates (a false ``cell_size_m`` would georeference the COG wrongly);
- a transform centre of NaN, and an unknown parameter in a checkpoint given to ``--resume``.
"""

import json
import shutil

import h5py
import numpy as np
import pytest
import zarr

from geogan.errors import ConfigError, ModelError, StoreError
from geogan.stores.staging import partial_path
from geogan.stores.geometry import grid_spec
from geogan.stores.store import open_grid
from geogan.training.model import load_model
from geogan.training.stage import train_model

from tests.helpers.cli import assert_user_error, cli
from tests.helpers.grids import ELEMENTS, TINY_ALAD, make_grid

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    path, spec, *_ = make_grid(root / "grid.zarr")  # 40 x 56 cells, tiles of 16: 3 x 4 tiles
    return path, spec


@pytest.fixture(scope="module")
def iforest(grid, tmp_path_factory):
    out = tmp_path_factory.mktemp("iforest") / "model"
    train_model(grid[0], out, detector="iforest", sample=800, detector_params={"n_estimators": 5}, progress=False)
    return out


@pytest.fixture(scope="module")
def alad(grid, tmp_path_factory):
    out = tmp_path_factory.mktemp("alad") / "model"
    train_model(grid[0], out, detector="alad", sample=600, steps=20, batch_size=64, latent_dim=4, ensemble=1,
                detector_params=TINY_ALAD, progress=False)
    return out


def copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def edit_json(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def nothing_written(*outputs):
    for out in outputs:
        assert not out.exists(), out
        assert not partial_path(out).exists(), partial_path(out)


# -- 4: network sizes and weight shapes, checked before building ---------------------------------
def _layer(config, net, name):
    return next(layer for layer in config["detector"]["architecture"][net]["config"]["layers"]
                if layer["name"] == name)


@pytest.mark.tf
@pytest.mark.slow
@pytest.mark.parametrize("units", [pytest.param(70_000, id="over-limit"), pytest.param(10**9, id="huge-1e9")])
def test_oversized_dense_layer_is_refused_before_building(grid, alad, tmp_path, units):
    model = copy(alad, tmp_path / "model")
    edit_json(model / "config.json", lambda c: _layer(c, "encoder", "dense1")["config"].update(units=units))
    with pytest.raises(ModelError, match=f"'dense1'.*{units} units.*65536") as err:
        load_model(model)
    assert "config.json" in str(err.value) and "encoder" in str(err.value)
    out = tmp_path / "out"
    assert_user_error(cli("score", grid[0], "--model", model, "--out", out), "config.json", "dense1", str(units))
    nothing_written(out)


@pytest.mark.tf
@pytest.mark.slow
@pytest.mark.parametrize("width", [pytest.param(6, id="other-width"), pytest.param(10**9, id="huge-1e9")])
def test_dense_build_config_must_be_the_width_the_graph_feeds(alad, tmp_path, width):
    """Keras builds a layer from its build_config before connecting it: (1e9, 16) = 64 GB."""
    model = copy(alad, tmp_path / "model")
    edit_json(model / "config.json",
              lambda c: _layer(c, "encoder", "dense1").update(build_config={"input_shape": [None, width]}))
    with pytest.raises(ModelError, match=f"'dense1'.*build_config.*{width}.*input is 5 wide") as err:
        load_model(model)
    assert "config.json" in str(err.value)


@pytest.mark.tf
@pytest.mark.slow
def test_huge_parameter_count_is_refused_before_building(alad, tmp_path):
    """Every layer under the width limit, but 3.6e9 weights in all."""
    model = copy(alad, tmp_path / "model")

    def widen(c):
        _layer(c, "encoder", "dense1")["config"].update(units=60_000)
        _layer(c, "encoder", "dense2")["config"].update(units=60_000)
        _layer(c, "encoder", "dense2").update(build_config={"input_shape": [None, 60_000]})
        _layer(c, "encoder", "latent").update(build_config={"input_shape": [None, 60_000]})

    edit_json(model / "config.json", widen)
    with pytest.raises(ModelError, match="encoder.*parameters.*500000000") as err:
        load_model(model)
    assert "config.json" in str(err.value)


@pytest.mark.tf
@pytest.mark.slow
@pytest.mark.parametrize("shape", [pytest.param((6, 16), id="mismatch"),
                                   pytest.param((10**6, 10**5), id="huge-declared")])
def test_weight_array_shapes_are_checked_against_the_architecture(grid, alad, tmp_path, shape):
    model = copy(alad, tmp_path / "model")
    with h5py.File(model / "weights" / "encoder.weights.h5", "r+") as f:
        assert f["layers/dense/vars/0"].shape == (5, 16)
        del f["layers/dense/vars/0"]
        # never written: a tiny file that would decompress to 400 GB
        f.create_dataset("layers/dense/vars/0", shape=shape, dtype="float32", chunks=(1, 16))
    with pytest.raises(ModelError, match=r"encoder\.weights\.h5.*layers/dense/vars/0.*shape") as err:
        load_model(model)
    assert str(shape) in str(err.value) and "does not match the architecture" in str(err.value)
    out = tmp_path / "out"
    assert_user_error(cli("score", grid[0], "--model", model, "--out", out), "encoder.weights.h5", str(shape))
    nothing_written(out)


@pytest.mark.tf
@pytest.mark.slow
def test_detector_widths_from_config_are_limited(alad, tmp_path):
    model = copy(alad, tmp_path / "model")
    edit_json(model / "config.json", lambda c: c["detector"]["params"].update(latent_dim=10**6))
    with pytest.raises(ModelError, match="latent_dim.*65536") as err:
        load_model(model)
    assert "config.json" in str(err.value)
    from geogan.detectors import get_detector

    # the checks every fit and load runs
    with pytest.raises(ConfigError, match="hidden_units.*65536"):
        get_detector("vae", hidden_units=[100_000]).check_params()
    with pytest.raises(ConfigError, match="encoder_units.*65536"):
        get_detector("alad", encoder_units=[10**9, 8]).check_params()
    with pytest.raises(ConfigError, match="n_samples"):
        get_detector("vae", n_samples=10**9).check_params()


# -- 5: a missing chunk is damage, not a hole to fill ----------------------------------------------
@pytest.mark.parametrize(("chunk", "tile"), [
    pytest.param("c/0/1/2", "tile row 1, col 2", id="inner"),
    pytest.param("c/0/2/3", "tile row 2, col 3", id="corner"),
])
def test_missing_chunk_is_refused_naming_the_tile(grid, iforest, tmp_path, chunk, tile):
    array = "concentration"
    holed = copy(grid[0], tmp_path / "holed.zarr")
    (holed / array / chunk).unlink()
    with pytest.raises(StoreError, match=f"holed.zarr.*'{array}'.*{tile}.*missing"):
        open_grid(holed)
    m, s = tmp_path / "m", tmp_path / "s"
    assert_user_error(cli("train", holed, "--out", m, "--detector", "iforest", "--sample", "500"),
                      "holed.zarr", array, tile)
    assert_user_error(cli("score", holed, "--model", iforest, "--out", s), "holed.zarr", array, tile)
    nothing_written(m, s)


def test_all_empty_tiles_are_written_so_the_check_is_sound(tmp_path):
    from geogan.gridspec import GridSpec
    from geogan.stores.layout import create_grid_store, write_region

    spec = GridSpec.from_bounds((0, 0, 4000, 2000), crs="EPSG:32650", cell_size_m=500, tile=2)  # 2 x 4 tiles
    path = tmp_path / "sparse.zarr"
    create_grid_store(path, spec, ["Ag", "W"], units={"Ag": "ppm", "W": "ppm"}, attrs={})
    for (i, j), (rows, cols) in ((t, spec.tile_slices(*t)) for t in spec.tiles()):
        shape = (rows.stop - rows.start, cols.stop - cols.start)
        value = np.nan if (i, j) == (0, 1) else 1.0  # one tile beyond the samples' reach
        write_region(path, "concentration", np.full((2, *shape), value, np.float32), (slice(None), rows, cols))
        write_region(path, "distance", np.full(shape, value, np.float32), (rows, cols))
    zarr.open_group(str(path), mode="r+").attrs.update(complete=True)
    assert (path / "concentration" / "c" / "0" / "0" / "1").is_file()
    assert (path / "distance" / "c" / "0" / "1").is_file()
    ds = open_grid(path)
    assert np.isnan(ds["concentration"].values[:, 0:2, 2:4]).all()


def test_scores_store_with_a_missing_chunk_is_refused(grid, tmp_path):
    from geogan.stores import layout
    from geogan.stores.scores import create_scores_store, open_scores_store

    spec = grid[1]
    path = tmp_path / "scores.zarr"
    create_scores_store(path, spec, {})
    for _, (rows, cols) in layout.iter_regions(spec, spec.tiles()):
        layout.write_region(path, "anomaly", np.ones((rows.stop - rows.start, cols.stop - cols.start), np.float32),
                           (rows, cols))
    zarr.open_group(str(path), mode="r+").attrs.update(complete=True)
    assert float(open_scores_store(path)["anomaly"].mean()) == 1.0
    (path / "anomaly" / "c" / "1" / "3").unlink()
    with pytest.raises(StoreError, match="scores.zarr.*'anomaly'.*tile row 1, col 3.*missing"):
        open_scores_store(path)
    # evaluation reads it too: the hole would count as unscored cells
    xs, ys = spec.x_coords(), spec.y_coords()
    dep = tmp_path / "deposits.csv"
    dep.write_text(f"name,x,y\na,{xs[20]},{ys[20]}\nb,{xs[40]},{ys[30]}\n")
    out = tmp_path / "report"
    assert_user_error(cli("evaluate", path, "--deposits", dep, "--out", out), "scores.zarr", "tile row 1, col 3")
    nothing_written(out)


# -- 6: IsolationForest node tables ---------------------------------------------------------------
def _damage_trees(a):
    """Named damages of a fitted node table ``a`` (dict of arrays), each → expected text."""
    roots, feature = a["roots"], a["feature"]
    internal_1 = next(k for k in range(roots[1], roots[2]) if feature[k] >= 0 and k > roots[1])
    leaf_0 = next(k for k in range(roots[0], roots[1]) if feature[k] < 0)

    def set_(key, index, value):
        def fn(arrays):
            arrays[key] = arrays[key].copy()
            arrays[key][index] = value
        return fn

    return {
        "self-loop": (set_("left", 0, 0), "tree 0: node 0"),
        "back-edge": (set_("right", internal_1, roots[1]), f"tree 1: node {internal_1 - roots[1]}"),
        "out-of-range": (set_("right", 0, 10**6), "tree 0: node 0"),
        "into-another-tree": (set_("left", 0, roots[2]), "tree 0: node 0"),
        "feature-out-of-range": (set_("feature", 0, 7), "feature"),
        "leaf-with-children": (set_("left", leaf_0, leaf_0 + 1), "leaf"),
        "nan-threshold": (set_("threshold", 0, np.nan), "threshold"),
        "empty-leaf": (set_("n_node_samples", leaf_0, 0), "n_node_samples"),
        "roots-not-increasing": (set_("roots", 1, 0), "roots"),
        "float-children": (lambda arrays: arrays.update(left=arrays["left"].astype(np.float64)), "integer"),
    }


DAMAGES = ["self-loop", "back-edge", "out-of-range", "into-another-tree", "feature-out-of-range",
           "leaf-with-children", "nan-threshold", "empty-leaf", "roots-not-increasing", "float-children"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_crafted_isolation_forest_trees_are_refused_on_load(iforest, tmp_path, damage):
    model = copy(iforest, tmp_path / "model")
    with np.load(model / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    fn, expected = _damage_trees(arrays)[damage]
    fn(arrays)
    np.savez(model / "arrays.npz", **arrays)
    with pytest.raises(ModelError, match="arrays.npz") as err:
        load_model(model)  # before the fix: loads, then scoring hangs (cycles) or raises IndexError
    assert expected in str(err.value)


def test_crafted_tree_through_the_cli_is_one_line_and_writes_nothing(grid, iforest, tmp_path):
    model = copy(iforest, tmp_path / "model")
    with np.load(model / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["right"][0] = 10**6
    np.savez(model / "arrays.npz", **arrays)
    out = tmp_path / "out"
    assert_user_error(cli("score", grid[0], "--model", model, "--out", out), "arrays.npz", "tree 0")
    nothing_written(out)


def test_fitted_forests_keep_children_after_their_parent():
    """The layout the load check relies on: every child index exceeds its parent's."""
    from geogan.detectors import get_detector

    X = np.random.default_rng(0).normal(size=(400, 3)).astype(np.float32)
    a = get_detector("iforest", n_estimators=20).fit(X).arrays_
    internal = np.flatnonzero(a["feature"] >= 0)
    assert (a["left"][internal] > internal).all() and (a["right"][internal] > internal).all()


# -- 10: damaged stores and model files give one line, not a traceback ---------------------------
def _set_attr(key, value):
    def fn(group):
        group.attrs[key] = value
    return fn


def _set_grid(**changes):
    def fn(group):
        from geogan.stores.layout import decode_attrs

        grid = decode_attrs(group.attrs.asdict())["grid"]  # a JSON string in a finished store
        group.attrs["grid"] = {**grid, **changes}
    return fn


def _del_grid(group):
    del group.attrs["grid"]


@pytest.mark.parametrize(("damage", "expected"), [
    pytest.param(_del_grid, ["'grid'"], id="no-grid-attribute"),
    pytest.param(_set_grid(width=57), ["width", "57", "56"], id="width-disagrees"),
    pytest.param(_set_grid(height=12), ["height", "12", "40"], id="height-disagrees"),
    pytest.param(_set_attr("units", ["ppm"] * 5), ["units"], id="units-a-list"),
    pytest.param(_set_attr("units", {e: 5 for e in ELEMENTS}), ["units", "Ag"], id="units-not-strings"),
    pytest.param(_set_grid(cell_size_m=10.0), ["cell_size_m", "10", "500"], id="false-cell-size"),
    pytest.param(_set_grid(xmin=0.0), ["xmin", "500000"], id="false-xmin"),
    pytest.param(_set_grid(tile=20), ["tile", "20", "16"], id="tile-not-the-chunks"),
])
def test_damaged_store_attributes_are_one_line_errors(grid, tmp_path, damage, expected):
    bad = copy(grid[0], tmp_path / "bad.zarr")
    damage(zarr.open_group(str(bad), mode="r+"))
    m = tmp_path / "m"
    assert_user_error(cli("train", bad, "--out", m, "--detector", "iforest", "--sample", "500"), "bad.zarr", *expected)
    nothing_written(m)
    with pytest.raises(StoreError):
        open_grid(bad)


def test_false_cell_size_never_reaches_the_cog(grid, iforest, tmp_path):
    """The attribute said 10 m; the coordinates say 500 m: refused, with both values."""
    bad = copy(grid[0], tmp_path / "bad.zarr")
    _set_grid(cell_size_m=10.0)(zarr.open_group(str(bad), mode="r+"))
    out = tmp_path / "out"
    line = assert_user_error(cli("score", bad, "--model", iforest, "--out", out), "bad.zarr", "cell_size_m")
    assert "10" in line and "500" in line
    nothing_written(out)
    # the undamaged store: the spec is the coordinates'
    ds = open_grid(grid[0])
    spec = grid_spec(ds)
    assert spec == grid[1]
    assert spec.x_coords()[0] == float(ds["x"][0]) and spec.y_coords()[-1] == float(ds["y"][-1])


def test_corrupt_chunk_is_a_store_error_naming_the_tile(grid, iforest, tmp_path):
    bad = copy(grid[0], tmp_path / "bad.zarr")
    (bad / "concentration" / "c" / "0" / "1" / "2").write_bytes(b"\x02\x01garbage" * 10)
    m = tmp_path / "m"
    assert_user_error(cli("train", bad, "--out", m, "--detector", "iforest", "--sample", "500"),
                      "bad.zarr", "tile row 1, col 2")
    nothing_written(m)
    # the score stage's tile read, as a worker runs it
    from geogan.scoring.inference import model_token, score_tile

    ds = open_grid(bad)
    model = load_model(iforest)
    with pytest.raises(StoreError, match="bad.zarr.*tile row 1, col 2") as err:
        score_tile(str(bad), ds.attrs.get("created"), str(tmp_path / "s" / "scores.zarr"), grid[1].to_dict(), 1, 2,
                   model_dir=str(iforest), model_token=model_token(str(iforest)),
                   element_index=list(range(len(model.elements))), batch_size=1024)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("value", ["NaN", float("nan"), "Infinity"])
def test_transform_centre_not_finite_is_refused_on_load(grid, iforest, tmp_path, value):
    model = copy(iforest, tmp_path / "model")
    text = (model / "config.json").read_text()
    config = json.loads(text)
    config["transform"]["center"][0] = value
    (model / "config.json").write_text(json.dumps(config))  # float("nan") is written as NaN
    with pytest.raises(ModelError, match="config.json.*center") as err:
        load_model(model)
    assert "transform" in str(err.value)
    if value == "NaN":
        out = tmp_path / "out"
        assert_user_error(cli("score", grid[0], "--model", model, "--out", out), "config.json", "center")
        nothing_written(out)


@pytest.mark.tf
@pytest.mark.slow
def test_unknown_parameter_in_a_checkpoint_with_resume(grid, tmp_path, monkeypatch):
    from geogan.detectors.neural import NeuralDetector

    opts = dict(detector="vae", sample=600, epochs=4, batch_size=32, latent_dim=2, checkpoint_every=1, seed=5)

    class Crash(Exception):
        pass

    original = NeuralDetector.save_checkpoint

    def crash_after_the_third(self, path, **kwargs):
        original(self, path, **kwargs)
        if self.epochs_done_ == 3:
            raise Crash("simulated crash after epoch 3")

    out = tmp_path / "model"
    monkeypatch.setattr(NeuralDetector, "save_checkpoint", crash_after_the_third)
    with pytest.raises(Crash):
        train_model(grid[0], out, **opts, progress=False)
    monkeypatch.setattr(NeuralDetector, "save_checkpoint", original)
    ckpts = sorted((partial_path(out) / "checkpoints").glob("epoch_*"))
    assert ckpts
    original_meta = (ckpts[-1] / "checkpoint.json").read_text()
    for ckpt in ckpts:
        edit_json(ckpt / "checkpoint.json", lambda m: m["detector"]["params"].update(evil=1))
    args = ["--detector", "vae", "--sample", "600", "--epochs", "4", "--batch-size", "32", "--latent-dim", "2",
            "--checkpoint-every", "1", "--seed", "5", "--resume"]
    line = assert_user_error(cli("train", grid[0], "--out", out, *args), ckpts[-1].name, "evil")
    assert "checkpoint" in line
    assert not out.exists()
    # other malformed checkpoint metadata: ModelError too, never KeyError/TypeError
    for damage in (lambda m: m.pop("detector"), lambda m: m["detector"].update(params=[1]),
                   lambda m: m["detector"].update(name="nonesuch"), lambda m: m["detector"].update(n_features="5"),
                   lambda m: m["detector"].update(n_features=10**6), lambda m: m.pop("seed"),
                   lambda m: m["detector"]["params"].update(hidden_units=[10**9])):
        (ckpts[-1] / "checkpoint.json").write_text(original_meta)
        edit_json(ckpts[-1] / "checkpoint.json", damage)
        with pytest.raises(ModelError, match=ckpts[-1].name):
            NeuralDetector.load_checkpoint(ckpts[-1])
    (ckpts[-1] / "checkpoint.json").write_text(original_meta)
    assert NeuralDetector.load_checkpoint(ckpts[-1])[0].epochs_done_ == 3


def test_memory_error_is_one_line(grid, tmp_path, monkeypatch):
    import geogan.training.stage as train_mod

    def oom(*args, **kwargs):
        raise MemoryError("Unable to allocate 1.00 TiB")

    monkeypatch.setattr(train_mod, "train_model", oom)
    assert_user_error(cli("train", grid[0], "--out", tmp_path / "m"), "out of memory")
