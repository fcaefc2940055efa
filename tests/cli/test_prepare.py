"""The commands that make the data (geogan.cli.prepare): ``synth``, ``grid``, ``info`` and
``import-rasters`` take their options to the stages, print what they made, and turn user mistakes
into one line. (The fixed choices each lists: tests/cli/test_shell.py.)"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from geogan.stores.store import open_grid
from tests.helpers.cli import assert_user_error, cli
from tests.helpers.grids import make_grid


# -- synth ---------------------------------------------------------------------------------------
def test_synth_writes_the_survey_and_says_where(tmp_path):
    out = tmp_path / "s"
    res = cli("synth", out, "--samples", "200", "--elements", "W,Sn", "--seed", "1")
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines == [f"survey:   {out / 'survey.csv'} (200 samples, 2 elements)", f"deposits: {out / 'deposits.csv'}",
                     f"truth:    {out / 'truth.json'}", "CRS:      EPSG:32650"]
    table = pd.read_csv(out / "survey.csv")
    assert list(table.columns) == ["sample_id", "x", "y", "W_ppm", "Sn_ppm", "lab"] and len(table) == 200
    truth = json.loads((out / "truth.json").read_text())
    assert (truth["preset"], truth["seed"], truth["n_samples"]) == ("demo", 1, 200)
    # --format and the seed reach the writer: the same seed, the same values
    res = cli("--quiet", "synth", tmp_path / "p", "--samples", "200", "--elements", "W,Sn", "--seed", "1",
              "--format", "parquet")
    assert res.exit_code == 0 and res.stdout == ""
    again = pd.read_parquet(tmp_path / "p" / "survey.parquet")
    pd.testing.assert_series_equal(again["x"], table["x"], check_dtype=False)
    assert again["sample_id"].tolist() == table["sample_id"].tolist()


@pytest.mark.parametrize("args, expected", [
    (["--elements", "W,Xx"], ["unknown element 'Xx'"]),
    (["--samples", "0"], ["n_samples must be from 1 to 100,000,000"]),
    (["--seed", "-1"], ["seed must be an integer from 0"]),
])
def test_synth_refuses_bad_options_in_one_line(tmp_path, args, expected):
    assert_user_error(cli("synth", tmp_path / "s", *args), *expected)
    assert not (tmp_path / "s").exists()


def test_synth_replaces_its_own_output_only_with_overwrite(tmp_path):
    out = tmp_path / "s"
    assert cli("synth", out, "--samples", "50", "--elements", "W").exit_code == 0
    assert_user_error(cli("synth", out, "--samples", "60", "--elements", "W"), str(out),
                      "pass --overwrite to replace it")
    assert len(pd.read_csv(out / "survey.csv")) == 50
    assert cli("synth", out, "--samples", "60", "--elements", "W", "--overwrite").exit_code == 0
    assert len(pd.read_csv(out / "survey.csv")) == 60


# -- grid ----------------------------------------------------------------------------------------
def _survey(path, n=40):
    """Samples of Au (no unit in the column name) over ~27 x 5 km of UTM 50N."""
    path.write_text("x,y,Au\n" + "".join(f"{400000 + 700 * i},{2700000 + 900 * (i % 7)},{1 + i % 5}\n"
                                         for i in range(n)))
    return path


@pytest.mark.parametrize("option, value, expected", [
    ("--bounds", "1,2,3", "--bounds takes xmin,ymin,xmax,ymax; got '1,2,3'"),
    ("--bounds", "a,b,c,d", "--bounds takes xmin,ymin,xmax,ymax; got 'a,b,c,d'"),
    ("--units", "Au", "--units takes ELEMENT=UNIT pairs like Au=ppb,Cu=ppm; got 'Au'"),
    ("--units", "Au=", "--units takes ELEMENT=UNIT pairs like Au=ppb,Cu=ppm; got 'Au='"),
])
def test_grid_refuses_malformed_options_before_reading(tmp_path, option, value, expected):
    out = tmp_path / "g.zarr"
    assert_user_error(cli("grid", _survey(tmp_path / "s.csv"), "--out", out, "--crs", "EPSG:32650", option, value),
                      expected)
    assert not out.exists()


@pytest.mark.cluster
@pytest.mark.slow
def test_grid_interpolates_with_the_options_given_and_describes_the_store(tmp_path):
    out = tmp_path / "g.zarr"
    res = cli("grid", _survey(tmp_path / "s.csv"), "--out", out, "--crs", "EPSG:32650", "--input-crs", "EPSG:32650",
              "--units", "Au=ppb", "--cell-size", "1000", "--bounds", "400000,2700000,420000,2706000",
              "--neighbors", "4", "--power", "1.5", "--space", "linear", "--tile", "8", "--workers", "1")
    assert res.exit_code == 0, res.output
    assert f"store      {out}" in res.stdout
    assert "grid       6 rows x 20 cols = 120 cells of 1000 m, tiles 8 (3 tiles)" in res.stdout
    assert "bounds     400000.0, 2700000.0, 420000.0, 2706000.0" in res.stdout
    assert "elements   1: Au (ppb)" in res.stdout
    assert "idw        k=4 power=1.5 space=linear" in res.stdout


# -- info ----------------------------------------------------------------------------------------
def test_info_describes_a_grid_and_its_coverage(tmp_path):
    path, *_ = make_grid(tmp_path / "grid.zarr")
    res = cli("info", path)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == f"store      {path}"
    assert "grid       40 rows x 56 cols = 2,240 cells of 500 m, tiles 16 (12 tiles)" in lines
    assert "elements   5: Ag (ppm), Bi (ppm), Mo (ppm), Sn (ppm), W (ppm)" in lines
    assert any(line.startswith("coverage: 2,192 cells hold data") for line in lines)
    assert res.stderr == ""  # Mo's missing strip costs little: no warning


def test_info_refuses_what_is_not_a_store(tmp_path):
    assert_user_error(cli("info", tmp_path / "none.zarr"), "none.zarr does not exist")
    (tmp_path / "notes.txt").write_text("not a store")
    assert_user_error(cli("info", tmp_path / "notes.txt"), "notes.txt")


def test_info_describes_stores_in_object_storage(s3_bucket):
    from geogan.gridspec import GridSpec
    from geogan.stores import layout
    from geogan.stores.scores import create_scores_store

    grid, *_ = make_grid(f"{s3_bucket}/grid.zarr")
    res = cli("info", grid)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == f"store      {grid}"
    assert "elements   5: Ag (ppm), Bi (ppm), Mo (ppm), Sn (ppm), W (ppm)" in lines
    assert any(line.startswith("coverage: 2,192 cells hold data") for line in lines)
    spec = GridSpec.from_bounds((500_000, 2_700_000, 505_000, 2_703_000), crs="EPSG:32650", cell_size_m=500, tile=4)
    scores = f"{s3_bucket}/run/scores.zarr"
    create_scores_store(scores, spec, {"run_key": {"model": "s3://models/m"}})
    res = cli("info", scores)
    assert_user_error(res, scores, "incomplete")  # no commit yet: not a store to describe
    layout.write_region(scores, "anomaly", np.full(spec.shape, 0.5, np.float32), (slice(0, 6), slice(0, 10)))
    layout.finalize_metadata(scores, {"complete": True})
    res = cli("info", scores)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0] == f"store      {scores}" and "coverage" not in res.stdout
    assert_user_error(cli("info", f"{s3_bucket}/none.zarr"), f"{s3_bucket}/none.zarr")


# -- import-rasters ------------------------------------------------------------------------------
def _tif(path, values):
    """A single-band 100 m GeoTIFF of UTM 50N."""
    h, w = values.shape
    da = xr.DataArray(np.asarray(values, dtype="float32"), dims=("y", "x"),
                      coords={"y": 2_710_000 - 100 * (np.arange(h) + 0.5), "x": 400_000 + 100 * (np.arange(w) + 0.5)})
    da.rio.write_crs("EPSG:32650").rio.to_raster(path)
    return path


def test_import_rasters_stacks_the_files_and_describes_the_store(tmp_path):
    rng = np.random.default_rng(0)
    cu = _tif(tmp_path / "Cu_ppm.tif", rng.lognormal(size=(12, 16)))
    au = _tif(tmp_path / "Idw_Au.tif", rng.lognormal(size=(12, 16)))
    out = tmp_path / "g.zarr"
    res = cli("import-rasters", cu, au, "--out", out, "--units", "Au=ppb", "--tile", "8")
    assert res.exit_code == 0, res.output
    assert f"store      {out}" in res.stdout
    assert "grid       12 rows x 16 cols = 192 cells of 100 m, tiles 8 (4 tiles)" in res.stdout
    assert "elements   2: Cu (ppm), Au (ppb)" in res.stdout
    # --elements names the files' elements in order
    res = cli("--quiet", "import-rasters", cu, au, "--out", tmp_path / "h.zarr", "--elements", "Zn,Pb")
    assert res.exit_code == 0, res.output
    assert open_grid(tmp_path / "h.zarr")["element"].values.tolist() == ["Zn", "Pb"]


def test_import_rasters_handles_values_at_or_below_zero_as_told(tmp_path):
    values = np.random.default_rng(0).lognormal(size=(12, 16))
    values[3, 4] = 0.0
    values[5, 6] = -1.0
    cu = _tif(tmp_path / "Cu_ppm.tif", values)
    assert_user_error(cli("import-rasters", cu, "--out", tmp_path / "g.zarr"), "Cu_ppm.tif", "Cu 2 (min -1)",
                      "pass --nonpositive nan")
    assert not (tmp_path / "g.zarr").exists()
    res = cli("--quiet", "import-rasters", cu, "--out", tmp_path / "g.zarr", "--nonpositive", "nan")
    assert res.exit_code == 0, res.output
    conc = open_grid(tmp_path / "g.zarr")["concentration"].values[0]
    assert np.isnan(conc[3, 4]) and np.isnan(conc[5, 6]) and int(np.isnan(conc).sum()) == 2


def test_import_rasters_warns_of_poor_coverage_in_info(tmp_path):
    rng = np.random.default_rng(0)
    half = rng.lognormal(size=(12, 16))
    half[:, 8:] = np.nan  # Zn on half the cells only
    paths = [_tif(tmp_path / "Cu_ppm.tif", rng.lognormal(size=(12, 16))), _tif(tmp_path / "Zn_ppm.tif", half)]
    assert cli("--quiet", "import-rasters", *paths, "--out", tmp_path / "g.zarr").exit_code == 0
    res = cli("info", tmp_path / "g.zarr")
    assert res.exit_code == 0, res.output
    warnings = res.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: Zn is present on 50 % of the cells with data")


def test_import_rasters_refuses_a_missing_file_in_one_line(tmp_path):
    assert_user_error(cli("import-rasters", tmp_path / "W_ppm.tif", "--out", tmp_path / "g.zarr"), "W_ppm.tif",
                      "file not found")
    assert not (tmp_path / "g.zarr").exists()
