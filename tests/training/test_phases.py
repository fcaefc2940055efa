"""Tests for geogan.training.phases: the phases of a train run called one by one on the package's
small grid (tests/training/conftest.py) with PCA (no TensorFlow): the grid and its elements,
the sample split and transformed, the detector or ensemble fitted, the target-aware score, the
model directory written, and the line a TrainResult prints."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from geogan.evaluation.deposits import read_deposits
from geogan.errors import GeoganWarning, InputError, OutputExistsError, StoreError
from geogan.options import TrainOptions
from geogan.stores.files import partial_path
from geogan.stores.geometry import grid_spec
from geogan.training.model import load_model
from geogan.training.phases import (TrainResult, fit_members, fit_target, open_training_grid, sample_training_cells,
                                    write_model_dir)
from geogan.training.run import Fitter, make_run_key, start_work_folder
from geogan.training.stage import check_train_options
from geogan.training.targeting import plan_target
from tests.helpers.grids import ELEMENTS


def sampled(grid_path, work, *, deposits=None, plan=None, **options):
    """The options, detector, ensemble size, grid and sample of a PCA run on ``grid_path``."""
    opts = TrainOptions(detector="pca", **{"sample": 400, **options})
    det, ensemble, enrichment_only = check_train_options(opts)
    ds, elements = open_training_grid(grid_path, opts.elements)
    elements = plan.elements if plan is not None else elements
    known = None if deposits is None else read_deposits(deposits, crs=grid_spec(ds).pyproj_crs)
    data = sample_training_cells(ds, grid_path, elements, opts, enrichment_only, known, work=work, resuming=False,
                                 plan=plan)
    return opts, det, ensemble, ds, data


def fitter_for(data, ensemble=1):
    return Fitter(data.X_train, data.X_test, data.labels, resume=False, checkpoint_every=None, progress=False,
                  detector="pca", ensemble=ensemble)


def grid_copy(grid, tmp_path):
    path = tmp_path / "grid.zarr"
    shutil.copytree(grid[0], path)
    return path


# -- TrainResult ----------------------------------------------------------------------------------------
BASE = dict(model_dir=Path("m"), detector="pca", score_name="pca_error", elements=["Cu", "Zn"], n_valid_cells=12_345,
            n_train=7_000, n_test=3_000, epochs=1, seconds=2.4, test_score_mean=0.123456)


@pytest.mark.parametrize(("extra", "says"), [
    ({}, "model written to m: pca (score pca_error) on 2 elements, 7,000 training / 3,000 test cells of 12,345 "
         "valid, 1 epoch(s) in 2 s; mean test score 0.1235"),
    ({"steps": 5000, "epochs": 50}, "valid, 5,000 steps (50 epochs) in 2 s"),
    ({"ensemble": 5}, "1 epoch(s) × 5 models in 2 s"),
    ({"resumed_from_epoch": 20}, "mean test score 0.1235 (resumed after epoch 20)"),
    ({"label_informed_test_auc": 0.81234}, "; label-informed test AUC 0.812 (not used for training)"),
    ({"target": "target Cu (no deposit type)"}, "; target Cu (no deposit type)"),
    ({"elements": ["Cu", "Zn", "Fe"], "detector_elements": ["Cu", "Zn"]}, "on 2 elements (+ 1 matrix predictor), "),
    ({"elements": ["Cu", "Fe", "Mn"], "detector_elements": ["Cu"]}, "on 1 elements (+ 2 matrix predictors), "),
], ids=["plain", "steps", "ensemble", "resumed", "auc", "target", "predictor", "predictors"])
def test_the_line_a_result_prints(extra, says):
    text = str(TrainResult(**{**BASE, **extra}))
    assert says in text and "\n" not in text
    if "resumed_from_epoch" not in extra:
        assert "resumed" not in text


# -- the grid and its elements ------------------------------------------------------------------------
def test_open_training_grid_takes_every_element_or_those_asked_for(grid):
    ds, elements = open_training_grid(grid[0], None)
    assert elements == ELEMENTS and ds["concentration"].shape == (5, 40, 56)
    assert open_training_grid(grid[0], ["W", "Sn"])[1] == ["W", "Sn"]  # in the order asked


@pytest.mark.parametrize(("elements", "unknown"), [(["W", "Au", "Xx"], "Au, Xx"), (["W", "W"], "none"), ([], "none")],
                         ids=["unknown", "twice", "empty"])
def test_elements_not_distinct_symbols_of_the_grid_are_refused(grid, elements, unknown):
    with pytest.raises(InputError, match=rf"grid.zarr: elements must be distinct symbols in the grid \(Ag, Bi, Mo, "
                                         rf"Sn, W\); unknown: {unknown}$"):
        open_training_grid(grid[0], elements)


# -- the sample ---------------------------------------------------------------------------------------------
def test_the_sample_is_split_test_cells_first_and_transformed(grid, tmp_path, log_lines):
    _, _, _, _, data = sampled(grid[0], tmp_path / "work", test_fraction=0.3)
    assert data.n_test == 120 and data.cells.values.shape == (400, 5) and data.cells.n_valid == 2080
    np.testing.assert_array_equal(data.train_raw, data.cells.values[120:])
    assert data.X_train.shape == (280, 5) and data.X_test.shape == (120, 5)
    np.testing.assert_array_equal(data.X_train, data.transform.transform(data.cells.values[120:]))
    np.testing.assert_array_equal(data.X_test, data.transform.transform(data.cells.values[:120]))
    # fitted on the training cells only, enrichment only: every feature is clipped at their median, 0
    assert (data.X_train.min(axis=0) == 0).all()
    assert (np.abs((data.X_train == 0).mean(axis=0) - 0.5) < 0.01).all()
    assert data.elements == data.detector_elements == ELEMENTS and data.labels is None and data.scorer is None
    assert "sampled 400 of 2,080 valid cells in" in next(line for line in log_lines() if line.startswith("sampled"))
    assert not (tmp_path / "work").exists()  # sampling makes no folder


def test_deposits_give_the_label_informed_cells(grid, tmp_path):
    path, conc, dep_csv = grid
    _, _, _, _, data = sampled(path, tmp_path / "work", deposits=dep_csv)
    deposit_raw = np.stack([conc[:, 10, 12], conc[:, 30, 40]])  # make_grid's two deposits
    np.testing.assert_allclose(data.labels[0], data.transform.transform(deposit_raw), rtol=1e-6)
    on_deposit = {(10, 12), (30, 40)}
    negative = [(r, c) not in on_deposit for r, c in zip(data.cells.rows[:data.n_test], data.cells.cols[:data.n_test])]
    np.testing.assert_array_equal(data.labels[1], data.X_test[negative])


def test_too_few_cells_to_split_are_refused(grid, tmp_path):
    with pytest.raises(InputError, match=r"grid.zarr: only 10 valid cells: too few to split into training and test "
                                         r"cells"):
        sampled(grid[0], tmp_path / "work", sample=10, test_fraction=0.01)


def test_an_element_with_one_value_everywhere_is_warned_about(grid, tmp_path):
    path = grid_copy(grid, tmp_path)
    conc = zarr.open_group(str(path), mode="r+")["concentration"]
    ag = conc[0]
    conc[0] = np.where(np.isfinite(ag), 0.5, np.nan)  # Ag below detection everywhere
    with pytest.warns(GeoganWarning, match=r"Ag has one value in every training cell \(e.g. 100 % below "
                                           r"detection\) and cannot tell cells apart; consider leaving it out"):
        sampled(path, tmp_path / "work")


def test_a_damaged_chunk_removes_a_fresh_work_folder_and_keeps_one_being_resumed(grid, tmp_path):
    path = grid_copy(grid, tmp_path)
    for chunk in (path / "concentration" / "c").rglob("*"):
        if chunk.is_file():
            chunk.write_bytes(b"damaged")
    opts = TrainOptions(detector="pca", sample=100)
    ds, elements = open_training_grid(path, None)
    for resuming in (False, True):
        work = tmp_path / f"work-{resuming}"
        work.mkdir()
        (work / "run.json").write_text("{}")
        with pytest.raises(StoreError, match=r"grid.zarr: tile row \d+, col \d+ cannot be read"):
            sample_training_cells(ds, path, elements, opts, True, None, work=work, resuming=resuming)
        assert work.exists() == resuming  # a resumed run's checkpoints are progress: they stay


# -- fitting ---------------------------------------------------------------------------------------------------
def test_fit_members_fits_the_detector_once(grid, tmp_path):
    opts, det, ensemble, _, data = sampled(grid[0], tmp_path / "work")
    fitter = fitter_for(data)
    fitted = fit_members(det, ensemble, opts, tmp_path / "work", fitter)
    assert fitted is det and ensemble == 1
    scores = fitted.decision_function(data.X_test)
    assert scores.shape == (120,) and np.isfinite(scores).all()
    [row] = fitter.history
    assert row["epoch"] == 1 and row["mean_test_score"] == pytest.approx(float(np.mean(scores)))


def test_fit_members_fits_an_ensemble_of_seeds_and_keeps_each_member(grid, tmp_path, log_lines):
    opts, det, ensemble, _, data = sampled(grid[0], tmp_path / "work", ensemble=3, seed=7)
    work = tmp_path / "work"
    work.mkdir()
    fitted = fit_members(det, ensemble, opts, work, fitter_for(data, ensemble))
    assert fitted.name == "ensemble" and fitted.n_members == 3 and len(fitted.members_) == 3
    assert sorted(p.name for p in (work / "members").iterdir() if p.is_dir()) == ["00", "01", "02"]
    score, spread = fitted.score_with_spread(data.X_test)
    assert score.shape == spread.shape == (120,) and (spread >= 0).all()
    assert ("ensemble of 3 pca models (seeds 7, 1007, ...): scores are their mean percentile; the spread of their "
            "percentiles is a second map") in log_lines()


def test_fit_target_fits_the_target_aware_score(grid, tmp_path, log_lines):
    plan = plan_target(ELEMENTS, target="W", deposit_type=None)
    opts, det, _, _, data = sampled(grid[0], tmp_path / "work", plan=plan)
    assert data.scorer is not None and data.detector_elements == plan.detector_elements
    det.fit(data.X_train)
    scorer = fit_target(det, data)
    assert scorer is data.scorer and scorer.describe() in log_lines()
    test_raw = data.cells.values[:data.n_test]
    scores = scorer.score(test_raw, det.decision_function(data.X_test))
    assert scores.dtype == np.float32 and np.isfinite(scores).all() and 0 <= scores.min() < scores.max() <= 100


# -- the model directory ------------------------------------------------------------------------------------
def phases_until_written(grid_path, final, *, deposits=None):
    """Every phase of a PCA run, as train_model runs them; returns the data and the result."""
    work = partial_path(final)
    opts, det, ensemble, ds, data = sampled(grid_path, work, deposits=deposits)
    run_key = make_run_key(grid_path, opts, det, data.elements, enrichment_only=True, ensemble=ensemble,
                           deposits=deposits)
    start_work_folder(work, run_key, resume=False, progress_found=False)
    fitter = fitter_for(data)
    det = fit_members(det, ensemble, opts, work, fitter)
    result = write_model_dir(det, ensemble, opts, data, fitter, ds, grid_path, run_key, work, final,
                             deposits=deposits, neural=False, tuned=False, t_start=0.0)
    return data, det, result


def test_write_model_dir_writes_a_model_that_scores_as_the_detector_did(grid, tmp_path):
    path, conc, dep_csv = grid
    final = tmp_path / "model"
    data, det, result = phases_until_written(path, final, deposits=dep_csv)
    assert not partial_path(final).exists()
    assert sorted(p.name for p in final.iterdir()) == ["arrays.npz", "config.json", "history.csv"]
    config = json.loads((final / "config.json").read_text())
    assert config["training"]["n_train"] == 280 and config["training"]["n_test"] == 120
    assert config["training"]["device"] == "CPU" and config["grid"]["n_valid_cells"] == 2080
    assert set(config["imputer"]) == {"log", "ridge", "mean", "cov"} and config["imputer"]["log"] is True
    assert config["label_informed"]["n_deposit_cells"] == 2 and "never used" in config["label_informed"]["note"]
    test_scores = det.decision_function(data.X_test)
    assert config["data"]["test_score_mean"] == pytest.approx(float(np.mean(test_scores)))
    assert (result.model_dir, result.detector, result.n_train, result.n_test, result.epochs) == (final, "pca", 280,
                                                                                                120, 1)
    assert result.test_score_mean == pytest.approx(float(np.mean(test_scores)))
    assert result.label_informed_test_auc is not None and result.detector_elements == ELEMENTS
    cells = data.cells.values[:50]
    np.testing.assert_allclose(load_model(final).score(cells), det.decision_function(data.X_test[:50]), rtol=1e-6)


def test_write_model_dir_never_replaces_what_a_user_put_there_meanwhile(grid, tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "thesis.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="model directory exists and geogan did not write it"):
        phases_until_written(grid[0], final)
    assert (final / "thesis.txt").read_text() == "mine"
    assert (partial_path(final) / "config.json").is_file()  # the finished model waits in the work folder
