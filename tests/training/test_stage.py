"""The train stage (geogan.training.stage) on a small hand-built grid store (tests/training/conftest.py):
the model directory, outputs, errors, ensembles."""

import csv
import json
import logging

import numpy as np
import pytest

from geogan.errors import ConfigError, GeoganWarning, InputError, OutputExistsError
from geogan.training.model import load_model
from geogan.training.stage import train_model
from tests.helpers.grids import ELEMENTS, TINY_ALAD, make_grid


@pytest.mark.tf
@pytest.mark.slow
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


@pytest.mark.tf
@pytest.mark.slow
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


def test_constant_element_warns_at_the_caller(tmp_path):
    from geogan.stores.layout import write_region

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


@pytest.mark.tf
@pytest.mark.slow
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
