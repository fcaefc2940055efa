"""Tests for geogan.scoring.run: the score stage's steps (:class:`ScoreRun`) one by one, on a small
grid and PCA models (tests/scoring/conftest.py): the inputs checked against each other before
any output, the outputs claimed, the staged stores resumed or created, the stores moved into
place. The tiles are scored in the test's own process with the workers' task
(geogan.scoring.inference.score_tile); on a Dask cluster: tests/scoring/test_stage.py."""

import json
import shutil

import numpy as np
import pytest
import xarray as xr
import zarr

from geogan.errors import ConfigError, EvaluationError, InputError, ModelError, OutputExistsError, StoreError
from geogan.options import ScoreOptions
from geogan.scoring.inference import score_tile
from geogan.scoring.run import ScoreRun
from geogan.stores.scores import open_contributions_store, open_scores_store
from geogan.training.model import load_model
from tests.helpers.grids import ELEMENTS


def score_in_process(run, pending):
    """What :meth:`ScoreRun.score_tiles` submits to the cluster, run here tile by tile."""
    for i, j in pending:
        score_tile(run.run_key["grid"], run.ds.attrs.get("created"), str(run.scores_path), run.spec.to_dict(), i, j,
                   model_dir=run.model_dir, model_token=run.token, element_index=run.element_index,
                   batch_size=run.batch_size, contributions=run.contributions, spread=run.model.is_ensemble,
                   min_elements=run.min_elements)


def full_run(grid, model, out, options=ScoreOptions(), deposits=None, *, overwrite=False):
    """Every step of a score run but the maps; returns the run."""
    run = ScoreRun(grid, model, out, options, deposits)
    run.claim(overwrite=overwrite)
    score_in_process(run, run.stage())
    run.finish()
    return run


def grid_copy(small_grid, tmp_path, **attrs):
    """A copy of the small grid with ``attrs`` replacing its attributes."""
    path = tmp_path / "grid.zarr"
    shutil.copytree(small_grid.path, path)
    zarr.open_group(str(path), mode="r+").attrs.update(attrs)
    return path


def marker_entries(out):
    return json.loads((out / ".geogan").read_text())["entries"]


# -- the run, step by step ---------------------------------------------------------------------------
def test_a_run_scores_every_tile_and_moves_the_store_into_place(tmp_path, small_grid, pca_dir, log_lines):
    out = tmp_path / "out"
    run = ScoreRun(small_grid.path, pca_dir, out, ScoreOptions(batch_size=100), None)
    assert not out.exists()  # the checks make nothing
    assert run.element_index == [0, 1, 2, 3, 4] and run.min_elements is None and run.deposits is None
    assert run.run_key == {"grid": str(small_grid.path.resolve()), "grid_created": "2025-01-01T00:00:00+00:00",
                           "model": str(pca_dir.resolve()), "model_token": run.token}
    run.claim(overwrite=False)
    pending = run.stage()
    assert pending == list(small_grid.spec.tiles()) and len(pending) == 12
    assert "scoring 2,240 cells in 12 tiles with pca (score reconstruction_error)" in log_lines()
    score_in_process(run, pending)
    run.finish()
    assert not run.staging.exists()
    ds = open_scores_store(run.scores_path)
    assert list(ds.data_vars) == ["anomaly"] and ds.attrs["run_key"] == run.run_key
    x = small_grid.conc.reshape(len(ELEMENTS), -1).T
    complete = np.isfinite(x).all(axis=1)
    scores = ds["anomaly"].values.ravel()
    np.testing.assert_array_equal(np.isnan(scores), ~complete)
    np.testing.assert_allclose(scores[complete], load_model(pca_dir).score(x[complete]), rtol=1e-5, atol=1e-6)
    assert run.count_scored(ds) == int(complete.sum())
    assert marker_entries(out) == ["anomaly.qml", "anomaly.tif", "anomaly_polygons.gpkg", "anomaly_polygons.qml",
                                   "scores.zarr/"]


def test_count_scored_logs_the_share_of_the_grids_cells_with_data(tmp_path, small_grid, pca_dir, log_lines):
    from geogan.grid.coverage import grid_coverage
    from geogan.stores.store import open_grid

    coverage = grid_coverage(open_grid(small_grid.path))
    grid = grid_copy(small_grid, tmp_path, coverage=coverage.to_dict())
    run = full_run(grid, pca_dir, tmp_path / "out")
    n = run.count_scored(open_scores_store(run.scores_path))
    assert n == coverage.n_all < coverage.n_data
    assert (f"scored {n:,} cells: {100 * n / coverage.n_data:.1f} % of the grid's {coverage.n_data:,} cells with "
            f"data (cells missing one of the model's elements are not scored: see --min-elements)") in log_lines()


def test_min_elements_below_the_models_count_adds_the_elements_used(tmp_path, small_grid, pca_dir):
    run = full_run(small_grid.path, pca_dir, tmp_path / "out", ScoreOptions(min_elements=4))
    assert run.min_elements == 4 and run.run_key["min_elements"] == 4
    ds = open_scores_store(run.scores_path)
    used = ds["elements_used"].values
    held = np.isfinite(small_grid.conc).sum(axis=0)
    np.testing.assert_array_equal(used, np.where(held >= 4, held, 0))
    np.testing.assert_array_equal(np.isfinite(ds["anomaly"].values), used > 0)
    assert "elements_used.tif" in marker_entries(tmp_path / "out")
    # every element is the default: no count, and the run key of a plain run
    every = ScoreRun(small_grid.path, pca_dir, tmp_path / "o2", ScoreOptions(min_elements=len(ELEMENTS)), None)
    assert every.min_elements is None and "min_elements" not in every.run_key


def test_an_ensemble_stores_its_spread_and_contributions_their_own_store(tmp_path, small_grid, ensemble_dir, pca_dir):
    run = full_run(small_grid.path, ensemble_dir, tmp_path / "ens")
    assert set(open_scores_store(run.scores_path).data_vars) == {"anomaly", "spread"}
    assert {"spread.tif", "spread.qml"} <= set(marker_entries(tmp_path / "ens"))
    run = full_run(small_grid.path, pca_dir, tmp_path / "contrib", ScoreOptions(contributions=True))
    assert run.run_key["contributions"] is True
    contrib = open_contributions_store(run.contrib_path)["contribution"]
    assert contrib.shape == (len(ELEMENTS),) + small_grid.spec.shape
    anomaly = open_scores_store(run.scores_path)["anomaly"].values
    np.testing.assert_array_equal(np.isnan(contrib.values[0]), np.isnan(anomaly))
    assert "contributions.zarr/" in marker_entries(tmp_path / "contrib")


# -- the checks made when the run is built: nothing is written before them -----------------------------
def test_a_model_for_elements_the_grid_lacks_is_refused(tmp_path, small_grid, pca_dir):
    grid = grid_copy(small_grid, tmp_path)
    zarr.open_group(str(grid), mode="r+")["element"][:] = np.array(["Ag", "Bi", "Mo", "Sn", "U"])
    with pytest.raises(ModelError, match=r"pca: the model was trained on elements Ag, Bi, Mo, Sn, W but the grid "
                                         r".*grid.zarr lacks W"):
        ScoreRun(grid, pca_dir, tmp_path / "out", ScoreOptions(), None)
    assert not (tmp_path / "out").exists()


def test_elements_in_other_units_than_the_models_are_refused(tmp_path, small_grid, pca_dir):
    grid = grid_copy(small_grid, tmp_path, units={**{e: "ppm" for e in ELEMENTS}, "W": "ppb", "Ag": "ppb"})
    with pytest.raises(ModelError, match=r"pca: element units differ between model and grid: Ag ppm vs ppb, "
                                         r"W ppm vs ppb"):
        ScoreRun(grid, pca_dir, tmp_path / "out", ScoreOptions(), None)


def test_a_min_elements_above_the_models_count_is_refused(tmp_path, small_grid, pca_dir):
    with pytest.raises(InputError, match="min_elements must be an integer from 1 to the model's 5 elements, got 6"):
        ScoreRun(small_grid.path, pca_dir, tmp_path / "out", ScoreOptions(min_elements=6), None)


def test_contributions_of_an_ilr_model_are_refused(tmp_path, small_grid):
    from geogan.training.stage import train_model

    ilr = train_model(small_grid.path, tmp_path / "ilr", detector="pca", transform="ilr", sample=300,
                      progress=False).model_dir
    with pytest.raises(ConfigError, match="per-element contributions need one feature per element, but this model "
                                          "uses the 'ilr' transform"):
        ScoreRun(small_grid.path, ilr, tmp_path / "out", ScoreOptions(contributions=True), None)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("out", "error", "pattern"), [
    (lambda tmp, grid: tmp / "file.txt", OutputExistsError, r"file.txt is a file; the score output is a directory"),
    (lambda tmp, grid: grid / "out", OutputExistsError, r"score directory lies inside the input .*grid.zarr"),
], ids=["a-file", "inside-the-grid"])
def test_an_output_that_cannot_hold_the_scores_is_refused(tmp_path, small_grid, pca_dir, out, error, pattern):
    (tmp_path / "file.txt").write_text("mine")
    grid = grid_copy(small_grid, tmp_path)
    with pytest.raises(error, match=pattern):
        ScoreRun(grid, pca_dir, out(tmp_path, grid), ScoreOptions(), None)
    assert (tmp_path / "file.txt").read_text() == "mine" and not (grid / "out").exists()


def test_deposits_are_read_on_the_grids_crs_and_must_touch_a_valid_cell(tmp_path, small_grid, pca_dir):
    xs, ys = small_grid.spec.x_coords(), small_grid.spec.y_coords()
    inside = tmp_path / "deposits.csv"
    inside.write_text("name,x,y\n" + "".join(f"d{k},{xs[c]},{ys[r]}\n" for k, (r, c) in
                                               enumerate(small_grid.deposits)))
    run = ScoreRun(small_grid.path, pca_dir, tmp_path / "out", ScoreOptions(), inside)
    assert len(run.deposits) == 2 and run.deposits.crs.to_epsg() == 32650
    far = tmp_path / "far.csv"
    far.write_text("name,x,y\nA,100000,100000\n")
    with pytest.raises(EvaluationError, match=r"far.csv: none of the 1 deposits lies on a valid grid cell "
                                              r"\(1 outside the grid, 0 on no-data cells\)"):
        ScoreRun(small_grid.path, pca_dir, tmp_path / "out", ScoreOptions(), far)
    # the report is replaced whole: a report folder holding the user's files is refused before scoring
    (tmp_path / "out" / "report").mkdir(parents=True)
    (tmp_path / "out" / "report" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="report directory exists and geogan did not write it"):
        ScoreRun(small_grid.path, pca_dir, tmp_path / "out", ScoreOptions(), inside)


# -- claiming the outputs ----------------------------------------------------------------------------------
def test_claim_refuses_outputs_of_another_run_without_overwrite(tmp_path, small_grid, pca_dir):
    out = tmp_path / "out"
    full_run(small_grid.path, pca_dir, out)
    other = ScoreRun(small_grid.path, pca_dir, out, ScoreOptions(min_elements=4), None)  # another run key
    with pytest.raises(OutputExistsError, match=r"scores.zarr exists; pass --overwrite to replace the outputs in"):
        other.claim(overwrite=False)
    other.claim(overwrite=True)
    assert not other.scores_done and other.stage() == list(small_grid.spec.tiles())


def test_claim_refuses_a_map_without_overwrite_and_one_geogan_did_not_write_with_it(tmp_path, small_grid, pca_dir):
    out = tmp_path / "out"
    out.mkdir()
    (out / "anomaly.tif").write_text("a user's map")
    run = ScoreRun(small_grid.path, pca_dir, out, ScoreOptions(), None)
    with pytest.raises(OutputExistsError, match=r"anomaly.tif exists; pass --overwrite to replace the outputs in"):
        run.claim(overwrite=False)
    with pytest.raises(OutputExistsError, match="anomaly.tif: anomaly.tif exists and geogan did not write it"):
        run.claim(overwrite=True)
    assert (out / "anomaly.tif").read_text() == "a user's map"


def test_a_finished_store_of_the_same_run_is_reused(tmp_path, small_grid, pca_dir, log_lines):
    out = tmp_path / "out"
    first = full_run(small_grid.path, pca_dir, out)
    before = open_scores_store(first.scores_path)["anomaly"].values
    again = ScoreRun(small_grid.path, pca_dir, out, ScoreOptions(), None)
    again.claim(overwrite=False)  # no map yet: a crash after the store was finished
    assert again.scores_done and again.stage() == []
    assert any(line.startswith("reusing ") and "(same grid and model)" in line for line in log_lines())
    again.finish()
    np.testing.assert_array_equal(open_scores_store(again.scores_path)["anomaly"].values, before)


# -- staging: resuming or starting afresh ------------------------------------------------------------------
def test_stage_resumes_the_tiles_an_interrupted_run_finished(tmp_path, small_grid, pca_dir, log_lines):
    out = tmp_path / "out"
    run = ScoreRun(small_grid.path, pca_dir, out, ScoreOptions(), None)
    run.claim(overwrite=False)
    pending = run.stage()
    score_in_process(run, pending[:5])  # then the run dies
    again = ScoreRun(small_grid.path, pca_dir, out, ScoreOptions(), None)
    again.claim(overwrite=False)
    assert again.stage() == pending[5:]
    assert any(line.startswith("resuming ") and "5 of 12 tiles already done" in line for line in log_lines())
    score_in_process(again, pending[5:])
    again.finish()
    reference = full_run(small_grid.path, pca_dir, tmp_path / "ref")
    np.testing.assert_array_equal(open_scores_store(again.scores_path)["anomaly"].values,
                                  open_scores_store(reference.scores_path)["anomaly"].values)


def test_stage_starts_afresh_when_the_staged_run_is_another_one(tmp_path, small_grid, pca_dir):
    out = tmp_path / "out"
    run = ScoreRun(small_grid.path, pca_dir, out, ScoreOptions(), None)
    run.claim(overwrite=False)
    score_in_process(run, run.stage()[:3])
    other = ScoreRun(small_grid.path, pca_dir, out, ScoreOptions(min_elements=3), None)
    other.claim(overwrite=False)
    assert other.stage() == list(small_grid.spec.tiles())  # the other run's tiles are not reused
    assert other.staging.done() == set() and other.staging.params() == other.run_key
    staged = xr.open_zarr(other.staging.store, consolidated=False)
    assert "elements_used" in staged and staged["anomaly"].isnull().all()


# -- finishing -------------------------------------------------------------------------------------------
def test_a_run_that_scored_no_cell_is_refused_and_leaves_nothing_staged(tmp_path, small_grid, pca_dir):
    for options, need in ((ScoreOptions(), "every one of"), (ScoreOptions(min_elements=4), "at least 4 of")):
        run = ScoreRun(small_grid.path, pca_dir, tmp_path / "out", options, None)
        run.claim(overwrite=False)
        run.stage()  # no tile scored: as if every cell lacked an element the model reads
        with pytest.raises(InputError, match=rf"grid.zarr: no cell could be scored: none holds {need} the model's "
                                             rf"elements \(Ag, Bi, Mo, Sn, W\)"):
            run.finish()
        assert not run.staging.exists() and not run.scores_path.exists()


def test_a_contributions_store_missing_at_the_finish_is_a_store_error(tmp_path, small_grid, pca_dir):
    run = ScoreRun(small_grid.path, pca_dir, tmp_path / "out", ScoreOptions(contributions=True), None)
    run.claim(overwrite=False)
    score_in_process(run, run.stage())
    shutil.rmtree(run.contrib_stage)
    with pytest.raises(StoreError, match=r"contributions.zarr is missing or from another run; rerun with --overwrite"):
        run.finish()


def test_a_plain_rerun_drops_an_earlier_runs_contributions_but_never_what_a_link_points_to(tmp_path, small_grid,
                                                                                           pca_dir):
    out = tmp_path / "out"
    full_run(small_grid.path, pca_dir, out, ScoreOptions(contributions=True))
    assert (out / "contributions.zarr").is_dir()
    full_run(small_grid.path, pca_dir, out, overwrite=True)
    assert not (out / "contributions.zarr").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (out / "contributions.zarr").symlink_to(kept)
    full_run(small_grid.path, pca_dir, out, ScoreOptions(batch_size=64), overwrite=True)
    assert not (out / "contributions.zarr").is_symlink() and kept.is_dir()
