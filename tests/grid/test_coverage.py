"""Coverage of patchwork compilations (issue 11): a survey whose element lists differ by
campaign; coverage counted, stored, printed and warned about; what train can score."""

import numpy as np
import pytest
from typer.testing import CliRunner

from geogan.cli import app
from geogan.grid.coverage import Coverage, _tile_counts, coverage_attr, grid_coverage
from geogan.stores.store import open_grid

runner = CliRunner()


def campaign_survey(path, n=400, seed=0):
    """Two campaigns: the western one analysed Au, As and Sb; the eastern one Au and As only."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(400000, 440000, n)
    y = rng.uniform(2700000, 2720000, n)
    rows = ["x,y,campaign,Au_ppb,As_ppm,Sb_ppm"]
    for xi, yi in zip(x, y):
        west = xi < 415000  # about 3/8 of the area
        sb = f"{rng.lognormal(0, 0.5):.3f}" if west else ""
        rows.append(f"{xi:.0f},{yi:.0f},{'W' if west else 'E'},{rng.lognormal(1, 0.5):.3f},"
                    f"{rng.lognormal(2, 0.5):.3f},{sb}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_tile_counts_by_hand():
    conc = np.ones((3, 2, 3))
    conc[2, 0, :] = np.nan  # Sb missing on the top row
    conc[:, 1, 2] = np.nan  # one cell empty
    cov = Coverage.from_counts(["Au", "As", "Sb"], [_tile_counts(conc)])
    assert (cov.n_cells, cov.n_data, cov.n_all) == (6, 5, 2)
    assert cov.valid == {"Au": 5, "As": 5, "Sb": 2}
    assert cov.all_but == {"Au": 2, "As": 2, "Sb": 5}
    assert cov.by_count == [1, 0, 3, 2] and cov.cells_with_at_least(2) == 5
    [warning] = cov.warnings()
    assert warning.startswith("Sb is present on 40 % of the cells with data") and "without Sb: 100 %" in warning


@pytest.fixture(scope="module")
def patchwork(tmp_path_factory):
    d = tmp_path_factory.mktemp("patchwork")
    survey = campaign_survey(d / "survey.csv")
    grid = d / "grid.zarr"
    res = runner.invoke(app, ["grid", str(survey), "--out", str(grid), "--crs", "EPSG:32650", "--input-crs",
                              "EPSG:32650", "--cell-size", "1000", "--workers", "1"])
    assert res.exit_code == 0, res.output
    return d, grid, res.output


@pytest.mark.cluster
@pytest.mark.slow
def test_grid_stores_prints_and_warns_about_coverage(patchwork):
    d, grid, output = patchwork
    ds = open_grid(grid)
    counted = grid_coverage(ds)
    assert coverage_attr(ds) == counted  # stored by geogan grid
    assert counted.fraction_valid("Au") == 1.0 and counted.fraction_valid("As") == 1.0
    assert 0.25 < counted.fraction_valid("Sb") < 0.55  # the western campaign, IDW reaching a little east
    assert counted.fraction_without("Sb") == 1.0 and counted.fraction_all == counted.fraction_valid("Sb")
    assert "coverage:" in output and "valid for all 3 elements" in output
    assert "warning: Sb is present on" in output and "without Sb: 100 %" in output
    info = runner.invoke(app, ["info", str(grid)])
    assert info.exit_code == 0 and "warning: Sb is present on" in info.output


@pytest.mark.cluster
@pytest.mark.slow
def test_train_says_which_part_of_the_grid_it_can_score(patchwork, tmp_path):
    d, grid, _ = patchwork
    res = runner.invoke(app, ["train", str(grid), "--out", str(tmp_path / "m"), "--detector", "pca",
                              "--sample", "500"])
    assert res.exit_code == 0, res.output
    ds = open_grid(grid)
    cov = grid_coverage(ds)
    pct = f"{100 * cov.n_all / cov.n_data:.1f} %"
    assert f"{cov.n_all:,} cells are valid for all 3 elements: {pct} of the grid's {cov.n_data:,}" in res.output


@pytest.mark.cluster
@pytest.mark.slow
def test_min_elements_scores_the_patchwork_and_says_what_each_cell_rests_on(patchwork, tmp_path, log_lines):
    import rasterio

    from geogan.scoring.stage import score_grid
    from geogan.training.model import load_model
    from geogan.training.stage import train_model

    d, grid, _ = patchwork
    train_model(grid, tmp_path / "m", detector="mahalanobis", sample=500, progress=False)
    plain = score_grid(grid, tmp_path / "m", tmp_path / "plain", workers=1, progress=False)
    gaps = score_grid(grid, tmp_path / "m", tmp_path / "gaps", min_elements=2, workers=1, progress=False)
    lines = log_lines()
    cov = grid_coverage(open_grid(grid))
    assert plain.n_cells_scored == cov.n_all
    assert gaps.n_cells_scored == cov.cells_with_at_least(2) > 2 * cov.n_all
    assert any(line.startswith(f"scored {gaps.n_cells_scored:,} cells: 100.0 %") for line in lines)
    import xarray as xr

    s_plain = xr.open_zarr(plain.scores, consolidated=False)
    s_gaps = xr.open_zarr(gaps.scores, consolidated=False)
    used = s_gaps["elements_used"].values
    both = np.isfinite(s_plain["anomaly"].values)
    # cells with all three elements: the same score as without imputation, and 3 elements used
    np.testing.assert_allclose(s_gaps["anomaly"].values[both], s_plain["anomaly"].values[both], rtol=1e-5)
    assert (used[both] == 3).all() and set(np.unique(used[~both]).tolist()) <= {0, 2}
    assert ((used == 2) == (np.isfinite(s_gaps["anomaly"].values) & ~both)).all()
    with rasterio.open(tmp_path / "gaps" / "elements_used.tif") as src:
        band = src.read(1)
        assert np.nanmax(band) == 3 and np.nanmin(band) == 2
    assert "elements_used" not in s_plain and not (tmp_path / "plain" / "elements_used.tif").exists()
    # a model from before imputation existed cannot fill gaps
    model = load_model(tmp_path / "m")
    model.imputer = None
    with pytest.raises(Exception, match="no imputer"):
        model.score(np.array([[1.0, 2.0, np.nan]], dtype=np.float32), min_elements=2)
    with pytest.raises(Exception, match="min_elements must be an integer from 1 to the model's 3"):
        model.check_min_elements(4)


@pytest.mark.cluster
@pytest.mark.slow
def test_report_notes_cells_scored_on_fewer_elements(patchwork, tmp_path):
    import json

    from geogan.scoring.stage import score_grid
    from geogan.training.stage import train_model

    d, grid, _ = patchwork
    deposits = tmp_path / "deposits.csv"
    deposits.write_text("x,y\n405000,2705000\n430000,2712000\n")
    train_model(grid, tmp_path / "m", detector="pca", sample=500, progress=False)
    res = score_grid(grid, tmp_path / "m", tmp_path / "s", deposits=deposits,
                     min_elements=2, workers=1, progress=False)
    metrics = json.loads((res.report / "metrics.json").read_text())
    used = next(iter(metrics["detectors"].values()))["elements_used"]
    assert set(used) == {"2", "3"} and sum(used.values()) == res.n_cells_scored
    html = (res.report / "index.html").read_text()
    assert "3 elements; their missing elements were imputed" in html and "elements_used.tif" in html
