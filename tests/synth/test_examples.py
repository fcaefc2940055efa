"""geogan.synth.examples: the examples' tiny grid store."""

import numpy as np
import pytest
import rasterio

from geogan.errors import OutputExistsError
from geogan.stores.geometry import grid_spec
from geogan.stores.store import open_grid
from geogan.synth.examples import EXAMPLE_CRS, example_grid


def test_example_grid_holds_the_rasters_values_in_element_order(tmp_path):
    path = example_grid(tmp_path, ["Zn", "Cu"], size=6, seed=3, tile=4)
    ds = open_grid(path)
    assert path == tmp_path / "grid.zarr"
    assert ds["element"].values.tolist() == ["Zn", "Cu"]
    assert ds["concentration"].shape == (2, 6, 6)
    rng = np.random.default_rng(3)
    for el in ("Zn", "Cu"):  # drawn in element order from one generator
        expected = rng.lognormal(size=(6, 6)).astype("float32")
        np.testing.assert_array_equal(ds["concentration"].sel(element=el).values, expected)
        with rasterio.open(tmp_path / f"{el}_ppm.tif") as src:
            assert src.crs.to_string() == EXAMPLE_CRS
            np.testing.assert_array_equal(src.read(1), expected)
    spec = grid_spec(ds)
    assert spec.cell_size_m == 100.0 and spec.tile == 4 and spec.bounds == (0.0, 0.0, 600.0, 600.0)


def test_example_grid_is_reproducible_and_seeded(tmp_path):
    stores = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        (tmp_path / name).mkdir()
        stores[name] = open_grid(example_grid(tmp_path / name, seed=seed))["concentration"]
    np.testing.assert_array_equal(stores["a"].values, stores["b"].values)
    assert not np.array_equal(stores["a"].values, stores["c"].values)
    assert stores["a"]["element"].values.tolist() == ["Cu", "Zn", "Pb"]


def test_example_grid_never_replaces_a_store(tmp_path):
    example_grid(tmp_path, ["Cu"])
    with pytest.raises(OutputExistsError, match="grid.zarr"):
        example_grid(tmp_path, ["Cu"])
