"""Inputs named by fsspec URLs: surveys and deposits fetched once, grid stores read through fsspec.

``memory://`` stands in for an object store (same fsspec code path as ``s3://``, no network);
``file://`` URLs reach the Dask worker processes too.
"""

import fsspec
import numpy as np
import pytest

from geogan.errors import InputError, StoreError, SurveyError
from geogan.evaluation.deposits import read_deposits
from geogan.grid.stage import grid_survey
from geogan.stores.layout import metadata_fingerprint
from geogan.stores.store import open_grid
from geogan.survey.read import read_survey

SURVEY = "x,y,Au_ppb,Cu_ppm\n" + "".join(
    f"{400000 + 700 * i},{2700000 + 500 * (i % 7)},{1 + i % 5},{10 + i % 3}\n" for i in range(60))


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    yield fs
    for path in fs.find("/geogan-test"):
        fs.rm(path)


def test_survey_and_deposits_from_a_url(memfs, tmp_path):
    memfs.pipe("/geogan-test/survey.csv", SURVEY.encode())
    memfs.pipe("/geogan-test/deposits.csv", b"name,x,y\nA,401000,2701000\n")
    survey = read_survey("memory://geogan-test/survey.csv", input_crs="EPSG:32650")
    local = tmp_path / "survey.csv"
    local.write_text(SURVEY)
    same = read_survey(local, input_crs="EPSG:32650")
    np.testing.assert_array_equal(survey.values, same.values)
    assert survey.path == "memory://geogan-test/survey.csv" and survey.source_sha256 == same.source_sha256
    deps = read_deposits("memory://geogan-test/deposits.csv", crs="EPSG:32650")
    assert deps.path == "memory://geogan-test/deposits.csv" and deps.x.tolist() == [401000.0]


def test_errors_name_the_url(memfs):
    memfs.pipe("/geogan-test/bad.csv", b"x,y,Au_ppb\n400000,2700000,1\n401000,2701000,abc\n")
    with pytest.raises(SurveyError) as err:
        read_survey("memory://geogan-test/bad.csv")
    assert str(err.value).startswith("memory://geogan-test/bad.csv:3: column 'Au_ppb': non-numeric value 'abc'")
    with pytest.raises(InputError, match="memory://geogan-test/none.csv: survey file not found"):
        read_survey("memory://geogan-test/none.csv")
    with pytest.raises(InputError, match="nosuchproto://x/y.csv: cannot open this URL.*fsspec backend"):
        read_survey("nosuchproto://x/y.csv")


@pytest.mark.cluster
@pytest.mark.slow
def test_grid_from_a_url_survey_and_a_store_read_by_url(memfs, tmp_path):
    memfs.pipe("/geogan-test/survey.csv", SURVEY.encode())
    res = grid_survey("memory://geogan-test/survey.csv", tmp_path / "grid.zarr", crs="EPSG:32650",
                      input_crs="EPSG:32650", cell_size_m=500, workers=1, progress=False)
    ds = open_grid(tmp_path / "grid.zarr")
    assert ds.attrs["source"]["path"] == "memory://geogan-test/survey.csv"
    by_url = open_grid((tmp_path / "grid.zarr").as_uri())
    np.testing.assert_array_equal(by_url["concentration"].values, ds["concentration"].values)
    assert metadata_fingerprint((tmp_path / "grid.zarr").as_uri()) == metadata_fingerprint(tmp_path / "grid.zarr")
    assert res.spec.n_cells == ds.sizes["x"] * ds.sizes["y"]
    with pytest.raises(StoreError, match="not a Zarr v3 store"):
        open_grid((tmp_path / "nothing.zarr").as_uri())
