"""Fixtures of the score stage's unit tests (test_inference.py, test_maps.py, test_run.py): a small
grid store and non-neural models trained on it, built once for the package (no TensorFlow, no
Dask: a fraction of a second each)."""

from types import SimpleNamespace

import pytest

from tests.helpers.grids import make_grid


@pytest.fixture(scope="package")
def small_grid(tmp_path_factory):
    """:func:`tests.helpers.grids.make_grid` (40 × 56 cells in tiles of 16, five elements, a NaN
    corner and a strip without Mo): ``path``, ``spec``, ``conc`` ``(element, y, x)``."""
    path, spec, conc, deposits = make_grid(tmp_path_factory.mktemp("scoring-grid") / "grid.zarr")
    return SimpleNamespace(path=path, spec=spec, conc=conc, deposits=deposits)


@pytest.fixture(scope="package")
def pca_dir(small_grid, tmp_path_factory):
    """A PCA model trained on :func:`small_grid` (a single model, with an imputer)."""
    from geogan.training.stage import train_model

    out = tmp_path_factory.mktemp("scoring-models") / "pca"
    return train_model(small_grid.path, out, detector="pca", sample=500, seed=0, progress=False).model_dir


@pytest.fixture(scope="package")
def ensemble_dir(small_grid, tmp_path_factory):
    """An ensemble of three PCA models trained on :func:`small_grid` (scores with a spread)."""
    from geogan.training.stage import train_model

    out = tmp_path_factory.mktemp("scoring-models") / "pca-x3"
    return train_model(small_grid.path, out, detector="pca", ensemble=3, sample=500, seed=0,
                       progress=False).model_dir
