"""Fixtures of the training tests: a small grid store and an ALAD trained on it, built once for
the package (test_stage.py, test_sampling.py, test_model.py, test_run.py use them;
test_targeting.py has a grid of its own)."""

import pytest

from tests.helpers.grids import TINY_ALAD, make_grid


@pytest.fixture(scope="package")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    path, spec, conc, deposits = make_grid(root / "grid.zarr")
    dep_csv = root / "deposits.csv"
    xs = spec.x_coords()
    ys = spec.y_coords()
    dep_csv.write_text("name,x,y\n" + "".join(f"d{i},{xs[c]},{ys[r]}\n" for i, (r, c) in enumerate(deposits)))
    return path, conc, dep_csv


@pytest.fixture(scope="package")
def alad_model(grid, tmp_path_factory):
    from geogan.training.stage import train_model

    path, _, dep_csv = grid
    out = tmp_path_factory.mktemp("models") / "alad"
    # one model with the seed paper's settings (clr, EMA, fm): what the EMA/checkpoint checks need
    res = train_model(path, out, detector="alad", transform="clr", enrichment_only=False, ensemble=1, sample=1200,
                      epochs=3, batch_size=64, latent_dim=4, checkpoint_every=2, deposits=dep_csv, progress=False,
                      detector_params={**TINY_ALAD, "ema_decay": 0.999, "score": "fm"})
    return res
