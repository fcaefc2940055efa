"""Inputs named by fsspec URLs: surveys and deposits fetched once, grid stores read through fsspec.

``memory://`` stands in for an object store (same fsspec code path as ``s3://``, no network);
``file://`` URLs reach the Dask worker processes too.
"""

import zipfile
from pathlib import Path

import fsspec
import numpy as np
import pytest

from geogan.errors import GeoganError, InputError, StoreError, SurveyError
from geogan.evaluation.deposits import read_deposits
from geogan.grid.stage import grid_survey
from geogan.stores.layout import metadata_fingerprint
from geogan.stores.store import open_grid
from geogan.stores.urls import local_copy
from geogan.survey.read import read_survey

SURVEY = "x,y,Au_ppb,Cu_ppm\n" + "".join(
    f"{400000 + 700 * i},{2700000 + 500 * (i % 7)},{1 + i % 5},{10 + i % 3}\n" for i in range(60))


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    yield fs
    for path in fs.find("/geogan-test"):
        fs.rm(path)


def test_a_local_copy_holds_the_objects_bytes_under_its_name_and_is_removed_afterwards(memfs, tmp_path):
    memfs.pipe("/geogan-test/dir/survey.csv", SURVEY.encode())
    (tmp_path / "deposits.csv").write_bytes(b"name,x,y\nA,1,2\n")
    for url, expected in (("memory://geogan-test/dir/survey.csv", SURVEY.encode()),
                          ((tmp_path / "deposits.csv").as_uri(), b"name,x,y\nA,1,2\n")):
        with local_copy(url) as local:
            assert local.read_bytes() == expected
            assert local.name == url.rsplit("/", 1)[1]  # the name, so its suffix picks the reader
            assert local.parent != tmp_path  # a copy, not the file:// URL's file itself
        assert not local.exists() and not local.parent.exists()
    assert (tmp_path / "deposits.csv").read_bytes() == b"name,x,y\nA,1,2\n"


def test_a_local_path_is_passed_through_unchanged(tmp_path):
    for given in (tmp_path / "survey.csv", str(tmp_path / "survey.csv"), "relative/survey.csv"):
        with local_copy(given) as local:  # not read: a missing local file is its reader's to report
            assert local == Path(given)


def test_a_chained_url_is_read_through_its_chain(memfs, tmp_path):
    with zipfile.ZipFile(tmp_path / "surveys.zip", "w") as z:
        z.writestr("survey.csv", SURVEY)
    memfs.pipe("/geogan-test/surveys.zip", (tmp_path / "surveys.zip").read_bytes())
    with local_copy("zip://survey.csv::memory://geogan-test/surveys.zip") as local:
        assert local.read_text() == SURVEY and local.name == "survey.csv"


def test_a_missing_object_or_a_folder_is_an_input_error_naming_the_url(memfs):
    memfs.pipe("/geogan-test/dir/survey.csv", SURVEY.encode())
    with pytest.raises(InputError) as err:
        with local_copy("memory://geogan-test/none.csv", what="deposit file"):
            pytest.fail("the block must not run")
    assert str(err.value) == "memory://geogan-test/none.csv: deposit file not found"
    with pytest.raises(InputError, match=r"^memory://geogan-test/dir: is not a survey file \(a directory"):
        with local_copy("memory://geogan-test/dir", what="survey file"):
            pytest.fail("the block must not run")
    with pytest.raises(InputError, match=r"^zip://none.csv::memory://geogan-test/none.zip: not found "
                                         r"\(/geogan-test/none.zip\)"):
        with local_copy("zip://none.csv::memory://geogan-test/none.zip"):
            pytest.fail("the block must not run")


def test_an_error_inside_the_block_naming_the_copy_names_the_url_and_the_copy_is_removed(memfs):
    url = "memory://geogan-test/survey.csv"
    memfs.pipe("/geogan-test/survey.csv", SURVEY.encode())
    with pytest.raises(SurveyError) as err:
        with local_copy(url) as local:
            raise SurveyError("non-numeric value 'abc'", path=local, row=3, column="Au_ppb")
    assert str(err.value) == f"{url}:3: column 'Au_ppb': non-numeric value 'abc'" and err.value.path == url
    assert not local.exists()
    with pytest.raises(GeoganError, match=r"^elsewhere.csv: bad$"):  # an error about another file: unchanged
        with local_copy(url):
            raise GeoganError("bad", path="elsewhere.csv")
    with pytest.raises(ValueError, match="not geogan's"):
        with local_copy(url) as local:
            raise ValueError("not geogan's")
    assert not local.exists()


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
