"""Tests for geogan.scoring.inference: what the score stage runs on a worker (the model's cache token,
scoring and contributions of an (element, y, x) block, one tile read, scored and written into
the staged stores), run here in the test's own process on a small grid and PCA models
(tests/scoring/conftest.py)."""

import os
import shutil

import numpy as np
import pytest
import xarray as xr

from geogan.errors import StoreError
from geogan.scoring.contributions import element_contributions
from geogan.scoring.inference import contribution_block, model_token, score_block, score_tile
from geogan.stores.scores import CONTRIBUTIONS_STORE, create_contributions_store, create_scores_store
from geogan.stores.staging import Staging
from geogan.training.model import load_model
from tests.helpers.grids import ELEMENTS

#: the block of the small grid the tests score: rows 0-23 (the NaN corner, the strip without Mo)
ROWS, COLS = slice(0, 24), slice(0, 20)
MO = ELEMENTS.index("Mo")


def cells_of(block, index=None):
    """``(cells, elements)`` rows of an ``(element, y, x)`` block, elements in ``index`` order."""
    block = block if index is None else block[index]
    return block.reshape(block.shape[0], -1).T


def test_model_token_changes_with_the_config_and_only_then(tmp_path, pca_dir):
    model = tmp_path / "model"
    shutil.copytree(pca_dir, model)
    token = model_token(str(model))
    assert token == model_token(str(model))
    st = (model / "config.json").stat()
    os.utime(model / "config.json", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert model_token(str(model)) != token  # a rewritten config (same size) is another model
    with pytest.raises(FileNotFoundError):
        model_token(str(tmp_path / "missing"))


def test_score_block_equals_scoring_the_complete_cells_at_once(small_grid, pca_dir):
    block = small_grid.conc[:, ROWS, COLS]
    model = load_model(pca_dir)
    out = score_block(block, model_dir=str(pca_dir), model_token=model_token(str(pca_dir)),
                      element_index=list(range(len(ELEMENTS))), batch_size=50)
    assert set(out) == {"anomaly"}  # no spread for a single model, no count without min_elements
    anomaly = out["anomaly"]
    assert anomaly.shape == (24, 20) and anomaly.dtype == np.float32
    x = cells_of(block)
    complete = np.isfinite(x).all(axis=1)
    assert 0 < complete.sum() < complete.size
    np.testing.assert_array_equal(np.isnan(anomaly.ravel()), ~complete)  # a cell missing Mo is not scored
    np.testing.assert_allclose(anomaly.ravel()[complete], model.score(x[complete]), rtol=1e-5, atol=1e-6)


def test_element_index_picks_the_models_elements_from_the_grids_order(small_grid, pca_dir):
    """A grid holding the elements in another order (and one more): the index reorders them."""
    block = small_grid.conc[:, ROWS, COLS]
    order = [4, 2, 0, 3, 1]  # the grid's elements W, Mo, Ag, Sn, Bi
    shuffled = np.concatenate([block[order], block[:1] * 7.0])  # plus an element the model does not read
    index = [order.index(k) for k in range(len(ELEMENTS))]
    kw = dict(model_dir=str(pca_dir), model_token=model_token(str(pca_dir)), batch_size=64)
    a = score_block(block, element_index=list(range(len(ELEMENTS))), **kw)["anomaly"]
    b = score_block(shuffled, element_index=index, **kw)["anomaly"]
    np.testing.assert_array_equal(a, b)


def test_min_elements_scores_cells_with_gaps_and_counts_what_each_held(small_grid, pca_dir):
    block = small_grid.conc[:, ROWS, COLS]
    model = load_model(pca_dir)
    out = score_block(block, model_dir=str(pca_dir), model_token=model_token(str(pca_dir)),
                      element_index=list(range(len(ELEMENTS))), batch_size=1000, min_elements=4)
    assert set(out) == {"anomaly", "elements_used"}
    used = out["elements_used"]
    assert used.dtype == np.uint8 and used.shape == (24, 20)
    held = np.isfinite(block).sum(axis=0)
    np.testing.assert_array_equal(used, np.where(held >= 4, held, 0))
    assert set(np.unique(used).tolist()) == {0, 4, 5}  # the NaN corner, the strip without Mo, the rest
    assert np.isnan(out["anomaly"][used == 0]).all() and np.isfinite(out["anomaly"][used > 0]).all()
    x = cells_of(block)
    gaps = (used == 4).ravel()
    np.testing.assert_allclose(out["anomaly"].ravel()[gaps], model.score(x[gaps], min_elements=4), rtol=1e-5)


def test_an_ensemble_block_carries_its_members_spread(small_grid, ensemble_dir):
    block = small_grid.conc[:, ROWS, COLS]
    model = load_model(ensemble_dir)
    out = score_block(block, model_dir=str(ensemble_dir), model_token=model_token(str(ensemble_dir)),
                      element_index=list(range(len(ELEMENTS))), batch_size=37, with_spread=True)
    assert set(out) == {"anomaly", "spread"}
    x = cells_of(block)
    complete = np.isfinite(x).all(axis=1)
    score, spread = model.score_with_spread(x[complete])
    np.testing.assert_allclose(out["anomaly"].ravel()[complete], score, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out["spread"].ravel()[complete], spread, rtol=1e-5, atol=1e-4)
    assert np.isnan(out["spread"].ravel()[~complete]).all() and spread.max() > 0


def test_a_model_in_object_storage_is_scored_as_its_local_original(small_grid, ensemble_dir, tmp_path,
                                                                     monkeypatch):
    """A worker given a model's URL copies it once (per machine) and scores as the original; its
    token is its config's digest, another once the config changes."""
    import fsspec

    monkeypatch.setenv("GEOGAN_CACHE_DIR", str(tmp_path / "cache"))
    fs = fsspec.filesystem("memory")
    url = f"memory://geogan-test-inference-{os.getpid()}/ensemble"
    key = url[len("memory://"):]
    fs.put(str(ensemble_dir), key, recursive=True)
    try:
        token = model_token(url)
        assert token.startswith("sha256-") and token == model_token(url)
        block = small_grid.conc[:, ROWS, COLS]
        here = score_block(block, model_dir=str(ensemble_dir), model_token=model_token(str(ensemble_dir)),
                           element_index=list(range(len(ELEMENTS))), batch_size=37, with_spread=True)
        there = score_block(block, model_dir=url, model_token=token, element_index=list(range(len(ELEMENTS))),
                            batch_size=37, with_spread=True)
        for name in ("anomaly", "spread"):
            np.testing.assert_array_equal(there[name], here[name])
        (copy,) = (tmp_path / "cache").iterdir()  # the members came along, nothing else
        assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == sorted(
            p.relative_to(ensemble_dir).as_posix() for p in ensemble_dir.rglob("*") if p.is_file())
        fs.pipe_file(f"{key}/config.json", fs.cat_file(f"{key}/config.json") + b" ")
        assert model_token(url) != token
    finally:
        fs.rm(key.split("/")[0], recursive=True)


def test_a_block_without_a_complete_cell_is_all_nan(pca_dir):
    block = np.full((len(ELEMENTS), 4, 4), np.nan, dtype=np.float32)
    block[:3] = 1.0  # three of five elements everywhere
    out = score_block(block, model_dir=str(pca_dir), model_token=model_token(str(pca_dir)),
                      element_index=list(range(len(ELEMENTS))), batch_size=8, min_elements=4)
    assert np.isnan(out["anomaly"]).all() and (out["elements_used"] == 0).all()


def test_contribution_block_is_element_contributions_per_cell(small_grid, pca_dir):
    block = small_grid.conc[:, ROWS, COLS]
    model = load_model(pca_dir)
    out = contribution_block(block, model_dir=str(pca_dir), model_token=model_token(str(pca_dir)),
                             element_index=list(range(len(ELEMENTS))), batch_size=33)
    assert out.shape == (len(ELEMENTS), 24, 20) and out.dtype == np.float32
    x = cells_of(block)
    complete = np.isfinite(x).all(axis=1)
    got = out.reshape(len(ELEMENTS), -1).T
    assert np.isnan(got[~complete]).all()
    np.testing.assert_allclose(got[complete], element_contributions(model, x[complete]), rtol=1e-5, atol=1e-5)


def staged(tmp_path, spec, *, contributions=False):
    """An empty staged scores store (and contributions store) for ``spec``, as the score stage
    creates them before the tiles run; returns the final path of the scores store."""
    final = tmp_path / "scores.zarr"
    staging = Staging(final)
    staging.start({"test": True})
    if contributions:
        create_contributions_store(staging.root / CONTRIBUTIONS_STORE, spec, ELEMENTS, {})
    create_scores_store(staging.store, spec, {})
    staging.mark_created()
    return final


def test_score_tile_writes_its_tile_into_the_staged_store_and_marks_it_done(tmp_path, small_grid, pca_dir):
    spec = small_grid.spec
    final = staged(tmp_path, spec, contributions=True)
    kw = dict(model_dir=str(pca_dir), model_token=model_token(str(pca_dir)),
              element_index=list(range(len(ELEMENTS))), batch_size=100)
    n = score_tile(str(small_grid.path), "2025-01-01T00:00:00+00:00", str(final), spec.to_dict(), 1, 2,
                   contributions=True, **kw)
    rows, cols = spec.tile_slices(1, 2)
    block = small_grid.conc[:, rows, cols]
    expected = score_block(block, **kw)["anomaly"]
    staging = Staging(final)
    assert staging.done() == {(1, 2)}
    anomaly = xr.open_zarr(staging.store, consolidated=False)["anomaly"].values
    np.testing.assert_array_equal(anomaly[rows, cols], expected)
    assert n == int(np.isfinite(expected).sum()) and 0 < n < expected.size  # the strip without Mo
    outside = np.ones(anomaly.shape, bool)
    outside[rows, cols] = False
    assert np.isnan(anomaly[outside]).all()  # no other tile written
    contrib = xr.open_zarr(staging.root / CONTRIBUTIONS_STORE, consolidated=False)["contribution"].values
    np.testing.assert_array_equal(contrib[:, rows, cols], contribution_block(block, **kw))


def test_a_tile_that_cannot_be_read_is_a_store_error_naming_it(tmp_path, small_grid, pca_dir):
    damaged = tmp_path / "damaged.zarr"
    shutil.copytree(small_grid.path, damaged)
    (damaged / "concentration" / "c" / "0" / "0" / "1").write_bytes(b"not a chunk")
    final = staged(tmp_path, small_grid.spec)
    with pytest.raises(StoreError, match=r"damaged.zarr: tile row 0, col 1 cannot be read \(.*\); a chunk is damaged"):
        score_tile(str(damaged), "damaged", str(final), small_grid.spec.to_dict(), 0, 1, model_dir=str(pca_dir),
                   model_token=model_token(str(pca_dir)), element_index=list(range(len(ELEMENTS))), batch_size=100)
    assert Staging(final).done() == set()  # the tile is not marked done
