"""The train stage on a small hand-built grid store: sampling, model dir, resume, load_model."""

import csv
import json
import logging

import numpy as np
import pytest

from geogan.errors import ConfigError, GeoganWarning, InputError, ModelError, OutputExistsError
from geogan.training.model import load_model
from geogan.training.sampling import sample_cells
from geogan.training.stage import train_model

from conftest import ELEMENTS, TINY_ALAD, make_grid  # noqa: E402

@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    path, spec, conc, deposits = make_grid(root / "grid.zarr")
    dep_csv = root / "deposits.csv"
    xs = spec.x_coords()
    ys = spec.y_coords()
    dep_csv.write_text("name,x,y\n" + "".join(f"d{i},{xs[c]},{ys[r]}\n" for i, (r, c) in enumerate(deposits)))
    return path, conc, dep_csv


def test_sample_cells_uniform_valid_and_deterministic(grid):
    from geogan.stores.store import open_grid

    path, conc, _ = grid
    ds = open_grid(path)
    a = sample_cells(ds, ELEMENTS, 500, seed=3)
    b = sample_cells(ds, ELEMENTS, 500, seed=3)
    valid = np.isfinite(conc).all(axis=0)
    assert a.n_valid == int(valid.sum())
    assert a.values.shape == (500, 5) and np.isfinite(a.values).all()
    assert np.array_equal(a.values, b.values) and np.array_equal(a.rows, b.rows)
    assert len(set(zip(a.rows.tolist(), a.cols.tolist()))) == 500  # without replacement
    np.testing.assert_array_equal(a.values, conc[:, a.rows, a.cols].T)
    # every part of the grid is represented (uniform across chunks, not the first chunks)
    assert a.rows.max() > 30 and a.cols.max() > 45 and a.rows.min() < 10
    # elements without the gap: more valid cells
    assert sample_cells(ds, ["Ag", "W"], 10, seed=0).n_valid > a.n_valid
    everything = sample_cells(ds, ELEMENTS, 10**6, seed=0)
    assert everything.values.shape[0] == a.n_valid


@pytest.fixture(scope="module")
def alad_model(grid, tmp_path_factory):
    path, _, dep_csv = grid
    out = tmp_path_factory.mktemp("models") / "alad"
    # one model with the seed paper's settings (clr, EMA, fm): what the EMA/checkpoint checks need
    res = train_model(path, out, detector="alad", transform="clr", enrichment_only=False, ensemble=1, sample=1200,
                      epochs=3, batch_size=64, latent_dim=4, checkpoint_every=2, deposits=dep_csv, progress=False,
                      detector_params={**TINY_ALAD, "ema_decay": 0.999, "score": "fm"})
    return res


def test_train_alad_model_dir(alad_model, grid):
    path, conc, _ = grid
    res = alad_model
    out = res.model_dir
    assert not out.with_name(out.name + ".partial").exists()
    assert res.n_train + res.n_test == 1200 and res.n_test == 360
    config = json.loads((out / "config.json").read_text())
    assert config["elements"] == ELEMENTS and config["units"] == {e: "ppm" for e in ELEMENTS}
    assert config["detector"]["name"] == "alad" and config["detector"]["score"] == "fm"
    assert config["detector"]["params"]["latent_dim"] == 4 and config["training"]["seed"] == 0
    assert config["transform"]["kind"] == "clr"
    assert config["grid"]["path"] == str(path.resolve()) and len(config["grid"]["metadata_sha256"]) == 64
    assert "label_informed" in config and "never used" in config["label_informed"]["note"]
    weights = sorted(p.name for p in (out / "weights").iterdir())
    assert "encoder.weights.h5" in weights and "encoder.ema.weights.h5" in weights and len(weights) == 10
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch_0002"]
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"dis", "gen", "enc", "mean_test_score", "seconds", "label_informed_test_auc"} <= set(rows[0])
    assert rows[0]["label_informed_test_auc"] == "" and float(rows[1]["label_informed_test_auc"]) >= 0
    assert res.label_informed_test_auc is not None and "label-informed" in str(res)

    model = load_model(out)
    assert model.elements == ELEMENTS and model.detector_name == "alad" and model.score_name == "fm"
    cells = conc[:, 30:34, 30:50].reshape(5, -1).T
    s = model.score(cells)
    assert s.dtype == np.float32 and s.shape == (cells.shape[0],) and np.isfinite(s).all()
    assert np.array_equal(s, model.detector.decision_function(model.transform.transform(cells)))
    with_nan = cells.copy()
    with_nan[0, 2] = np.nan
    s2 = model.score(with_nan)
    # (last-bit differences are possible: matmul blocking depends on the batch length)
    assert np.isnan(s2[0]) and np.allclose(s2[1:], s[1:], rtol=1e-6, atol=0)
    with pytest.raises(InputError, match="5 elements"):
        model.score(cells[:, :3])


def test_existing_output_refused(alad_model, grid):
    path, _, _ = grid
    with pytest.raises(OutputExistsError, match="--overwrite"):
        train_model(path, alad_model.model_dir, detector="iforest", progress=False)
    with pytest.raises(OutputExistsError, match="nothing to resume"):
        train_model(path, alad_model.model_dir, detector="iforest", resume=True, progress=False)


def test_baseline_with_overwrite_and_deposits(grid, tmp_path, caplog):
    path, conc, dep_csv = grid
    out = tmp_path / "m"
    out.mkdir()
    caplog.set_level(logging.INFO, logger="geogan")
    res = train_model(path, out, detector="iforest", transform="ilr", elements=["Ag", "Bi", "Sn", "W"], sample=800,
                      seed=1, deposits=dep_csv, overwrite=True, progress=False)
    status = [r.getMessage() for r in caplog.records if r.name == "geogan.training.stage"]
    assert any(m.startswith("sampled 800 of ") for m in status), status
    assert any(m.startswith("label-informed monitoring: 2 deposit cell(s)") for m in status), status
    assert res.epochs == 1 and res.label_informed_test_auc > 0.8  # the planted enrichment stands out
    model = load_model(out)
    assert model.detector_name == "iforest" and model.transform.kind == "ilr"
    assert model.score(conc[[0, 1, 3, 4], 12:14, 20].T).shape == (2,)


def test_resume_equals_uninterrupted(grid, tmp_path, monkeypatch):
    from geogan.progress import Progress

    path, conc, _ = grid
    opts = dict(detector="vae", sample=600, epochs=4, batch_size=32, latent_dim=2, checkpoint_every=2, seed=5,
                detector_params={"hidden_units": [8, 4]}, progress=False)
    a = train_model(path, tmp_path / "a", **opts)

    class Crash(Exception):
        pass

    original = Progress.update

    def crash_at_three(self, completed, info=""):
        if completed == 3:
            raise Crash("simulated crash in epoch 3")
        original(self, completed, info)

    monkeypatch.setattr(Progress, "update", crash_at_three)
    with pytest.raises(Crash):
        train_model(path, tmp_path / "b", **opts)
    monkeypatch.setattr(Progress, "update", original)
    partial = tmp_path / "b.partial"
    assert (partial / "checkpoints" / "epoch_0002").is_dir() and not (tmp_path / "b").exists()
    with pytest.raises(ModelError, match="--resume"):
        load_model(tmp_path / "b")
    with pytest.raises(ConfigError, match="other settings"):
        train_model(path, tmp_path / "b", **{**opts, "seed": 6}, resume=True)
    b = train_model(path, tmp_path / "b", **opts, resume=True)
    assert b.resumed_from_epoch == 2 and not partial.exists()
    cells = conc[:, 35:40, 10:50].reshape(5, -1).T
    assert np.array_equal(load_model(a.model_dir).score(cells), load_model(b.model_dir).score(cells))
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    assert [r.get("mean_test_score") for r in a.history] == [r.get("mean_test_score") for r in b.history]


def test_constant_element_warns_at_the_caller(tmp_path):
    from geogan.stores.store import write_region

    path, _, conc, _ = make_grid(tmp_path / "grid.zarr")
    conc[0] = np.where(np.isfinite(conc[0]), np.float32(0.25), np.nan)  # Ag: 100 % below detection
    write_region(path, "concentration", conc, (slice(None), slice(0, conc.shape[1]), slice(0, conc.shape[2])))
    with pytest.warns(GeoganWarning, match="Ag has one value in every training cell") as record:
        train_model(path, tmp_path / "m", detector="pca", sample=300, progress=False)
    assert record[0].filename == __file__  # attributed to the caller, not to geogan's wrappers
    assert load_model(tmp_path / "m").elements == ELEMENTS  # a caveat, not a refusal


def test_train_errors(grid, tmp_path):
    path, _, _ = grid
    with pytest.raises(ConfigError, match="unknown detector"):
        train_model(path, tmp_path / "x", detector="gan", progress=False)
    with pytest.raises(ConfigError, match="unknown transform"):
        train_model(path, tmp_path / "x", transform="sqrt", progress=False)
    with pytest.raises(ConfigError, match="no parameter"):
        train_model(path, tmp_path / "x", detector="pca", detector_params={"depth": 3}, progress=False)
    with pytest.raises(InputError, match="unknown: Au"):
        train_model(path, tmp_path / "x", elements=["Au", "W"], progress=False)
    with pytest.raises(ConfigError, match="test_fraction"):
        train_model(path, tmp_path / "x", test_fraction=1.5, progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_load_model_validates_config(alad_model, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(alad_model.model_dir, out)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "hooks": ["x"]}))
    with pytest.raises(ModelError, match="unknown keys.*hooks"):
        load_model(out)
    (out / "config.json").write_text(json.dumps({**config, "elements": ["Ag"]}))
    with pytest.raises(ModelError, match="elements differ"):
        load_model(out)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "none")


def test_alad_default_is_a_seed_ensemble_whose_member_zero_has_the_single_models_seed(grid, tmp_path):
    from geogan.detectors.modelfile import detector_from_config

    path, conc, _ = grid
    opts = dict(detector="alad", sample=800, steps=60, batch_size=64, latent_dim=3, seed=4, progress=False,
                detector_params=TINY_ALAD)
    res = train_model(path, tmp_path / "ens", ensemble=3, **opts)
    config = json.loads((tmp_path / "ens" / "config.json").read_text())
    assert config["detector"]["name"] == "ensemble" and config["training"]["ensemble"] == 3
    assert config["transform"]["kind"] == "log" and config["transform"]["enrichment_only"] is True
    assert res.ensemble == 3 and res.steps >= 60 and "× 3 models" in str(res)
    members = config["detector"]["state"]["members"]
    assert [m["detector"]["params"]["random_state"] for m in members] == [4, 1004, 2004]
    assert sorted(p.name for p in (tmp_path / "ens" / "members").iterdir()) == ["00", "01", "02"]
    model = load_model(tmp_path / "ens")
    cells = conc[:, 20:30, 10:40].reshape(5, -1).T.astype(np.float32)
    score, spread = model.score_with_spread(cells)
    ok = np.isfinite(cells).all(axis=1)
    assert ok.sum() > 100 and np.array_equal(np.isnan(score), ~ok) and np.array_equal(np.isnan(spread), ~ok)
    assert np.allclose(score[ok], model.score(cells)[ok]) and np.all(spread[ok] >= 0) and spread[ok].max() > 0
    # member 0 is the single model of the same seed (same sample, transform, initial weights,
    # batches and noise; trained side by side, only its dropout masks differ): close, not equal
    single = load_model(train_model(path, tmp_path / "one", ensemble=1, **opts).model_dir)
    member0 = detector_from_config(tmp_path / "ens" / "members" / "00", members[0]["detector"], where=tmp_path)
    Z = model.transform.transform(cells[ok])
    assert np.array_equal(model.transform.center_, single.transform.center_)
    a, b = member0.decision_function(Z), single.detector.decision_function(Z)
    assert not np.array_equal(a, b) and np.corrcoef(a, b)[0, 1] > 0.9
    with pytest.raises(ConfigError, match="ensemble"):
        train_model(path, tmp_path / "x", ensemble=0, **opts)


def test_ensemble_trained_side_by_side_resumes_from_its_members_checkpoints(grid, tmp_path, monkeypatch):
    from geogan.detectors.neural import NeuralDetector

    path, conc, _ = grid
    opts = dict(detector="alad", sample=600, steps=200, batch_size=64, latent_dim=3, seed=1, ensemble=3,
                checkpoint_every=1, progress=False, detector_params=TINY_ALAD)
    a = train_model(path, tmp_path / "a", **opts)

    class Crash(Exception):
        pass

    save = NeuralDetector.save_checkpoint
    saved = []

    def crash_in_second_round(self, where, **kw):
        if len(saved) == 4:  # the three members' epoch-1 checkpoints and member 0's of epoch 2
            raise Crash("killed while checkpointing epoch 2")
        saved.append(where)
        return save(self, where, **kw)

    monkeypatch.setattr(NeuralDetector, "save_checkpoint", crash_in_second_round)
    with pytest.raises(Crash):
        train_model(path, tmp_path / "b", **opts)
    monkeypatch.setattr(NeuralDetector, "save_checkpoint", save)
    work = tmp_path / "b.partial"
    assert sorted(p.relative_to(work).as_posix() for p in (work / "checkpoints").glob("*/epoch_*")) == [
        "checkpoints/member_00/epoch_0001", "checkpoints/member_00/epoch_0002", "checkpoints/member_01/epoch_0001",
        "checkpoints/member_02/epoch_0001"]
    with pytest.raises(OutputExistsError, match="last checkpoint"):
        train_model(path, tmp_path / "b", **opts)
    b = train_model(path, tmp_path / "b", resume=True, **opts)  # from epoch 1: the latest all three hold
    assert b.resumed_from_epoch == 1
    cells = conc[:, 0:10, 0:40].reshape(5, -1).T
    np.testing.assert_array_equal(load_model(a.model_dir).score(cells), load_model(b.model_dir).score(cells))
    assert not (tmp_path / "b.partial").exists() and a.steps == b.steps
