"""Tests for geogan.training.sampling: the cells a model is trained on, drawn from the grid."""

import numpy as np

from geogan.training.sampling import sample_cells
from tests.helpers.grids import ELEMENTS


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
