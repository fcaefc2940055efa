"""Hostile or careless use of ``geogan run``, ``grid`` and ``train`` (issue 12).

Each case: exit code 1, one ``error:`` line naming the file/key, no traceback, nothing of the
user's changed, nothing half-written left behind.
"""

import numpy as np
import pytest

from geogan.errors import ConfigError, GridError, InputError
from geogan.gridspec import GridSpec
from geogan.pipeline import load_spec, run_pipeline
from geogan.stores.staging import Staging, partial_path
from geogan.training.transform import Transform

from tests.helpers.cli import assert_user_error, cli
from tests.helpers.grids import make_grid

def tree(root):
    """Every file under ``root`` with its bytes: to prove nothing of the user's changed."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


SURVEY = "x,y,Au_ppb,Cu_ppm\n" + "".join(
    f"{400000 + 700 * i},{2700000 + 900 * (i % 7)},{1 + i % 5},{10 + i % 3}\n" for i in range(40))

SPEC = """
[output]
dir = "{out}"
[survey]
path = "{survey}"
input_crs = "EPSG:32650"
[grid]
cell_size_m = 1000
tile = 16
[train.{name}]
detector = "pca"
sample = 20
"""


def spec_file(tmp_path, *, out="out", survey="survey.csv", name="pca", extra=""):
    p = tmp_path / "spec.toml"
    p.write_text(SPEC.format(out=out, survey=survey, name=name) + extra)
    return p


@pytest.fixture
def survey(tmp_path):
    p = tmp_path / "survey.csv"
    p.write_text(SURVEY)
    return p


# -- 1. a run never replaces what it did not write ---------------------------------------------------
@pytest.mark.parametrize("name", ['"/tmp/geogan-victim"', '"../../x"', '"a/b"', '"a b"', '".."'])
def test_table_names_must_be_plain_identifiers(tmp_path, survey, name):
    spec = spec_file(tmp_path, name=name)
    before = tree(tmp_path)
    line = assert_user_error(cli("run", spec), "spec.toml", "letters, digits")
    assert name.strip('"') in line
    assert tree(tmp_path) == before


@pytest.mark.cluster
@pytest.mark.slow
def test_run_refuses_output_dirs_it_does_not_own_and_overwrite_allows(tmp_path, survey):
    notes = tmp_path / "out" / "report" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("my field notes")
    (tmp_path / "deposits.csv").write_text("x,y\n405000,2702000\n")
    spec = spec_file(tmp_path, extra='')
    spec.write_text(spec.read_text().replace('input_crs = "EPSG:32650"',
                                             'input_crs = "EPSG:32650"\ndeposits = "deposits.csv"'))
    before = tree(tmp_path)
    assert_user_error(cli("run", spec), str(notes.parent), "not written by this pipeline", "--overwrite")
    assert tree(tmp_path) == before  # nothing ran, nothing was written
    assert not (tmp_path / "out" / "grid.zarr").exists()
    # issue 24: --overwrite replaces geogan's outputs, never a file the user keeps inside one
    assert_user_error(cli("run", spec, "--overwrite"), "out/report", "geogan did not write it", "no geogan marker")
    assert tree(tmp_path) == before
    notes.unlink()
    # an output dir of the user's with nothing else in it is replaced with --overwrite; a run it
    # made itself is replaced freely (rerun with --force)
    res = cli("run", spec, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "report" / "index.html").is_file()
    assert cli("run", spec, "--force").exit_code == 0


def test_synth_run_refuses_a_user_survey_dir(tmp_path):
    mine = tmp_path / "out" / "survey" / "mine.csv"
    mine.parent.mkdir(parents=True)
    mine.write_text("x,y\n1,2\n")
    spec = tmp_path / "spec.toml"
    spec.write_text('[output]\ndir = "out"\n[survey]\nsynth = "demo"\nsamples = 300\n[train.p]\ndetector = "pca"\n')
    assert_user_error(cli("run", spec), "out/survey", "not written by this pipeline")
    assert mine.read_text() == "x,y\n1,2\n"
    assert sorted(p.name for p in mine.parent.iterdir()) == ["mine.csv"]


# -- 2. outputs never overlap inputs --------------------------------------------------------------------
def test_pipeline_whose_survey_lies_in_its_output_is_refused(tmp_path):
    survey = tmp_path / "out" / "report" / "survey.csv"
    survey.parent.mkdir(parents=True)
    survey.write_text(SURVEY)
    assert_user_error(cli("run", spec_file(tmp_path, survey="out/report/survey.csv")), "[output] dir",
                      "contains the input", "survey.csv")
    assert survey.read_text() == SURVEY
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report"]


def test_grid_out_equal_to_or_containing_the_survey_is_refused(tmp_path, survey):
    for out in (survey, tmp_path):
        assert_user_error(cli("grid", survey, "--out", out, "--crs", "EPSG:32650", "--overwrite"),
                          "grid store", "the input")
        assert survey.read_text() == SURVEY


# -- 3. grid size is bounded before anything is allocated ---------------------------------------------
def test_coordinates_in_the_wrong_unit_are_refused_with_the_cell_count(tmp_path):
    bad = tmp_path / "mm.csv"
    bad.write_text("x,y,Au_ppb\n" + "".join(f"{(400000 + 500 * i) * 1e9:.0f},{(2700000 + 300 * i) * 1e9:.0f},{i + 1}\n"
                                            for i in range(6)))
    out = tmp_path / "g.zarr"
    line = assert_user_error(cli("grid", bad, "--out", out, "--crs", "EPSG:32650"), "cells", "--max-cells",
                             "--input-crs")
    assert "e+" in line  # the computed count, e.g. 1.2e+18
    assert not out.exists() and not partial_path(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mm.csv"]


def test_tiny_cell_size_is_refused_not_a_memory_error(tmp_path, survey):
    out = tmp_path / "g.zarr"
    assert_user_error(cli("grid", survey, "--out", out, "--crs", "EPSG:32650", "--cell-size", "0.01"),
                      "over the limit of 1,000,000,000")
    assert not out.exists() and not partial_path(out).exists()


def test_max_cells_is_a_documented_option():
    spec = GridSpec.from_bounds((0, 0, 10_000, 10_000), crs="EPSG:32650", cell_size_m=100, max_cells=10_000)
    assert spec.n_cells == 10_000
    with pytest.raises(GridError, match="10,000"):
        GridSpec.from_bounds((0, 0, 10_000, 10_001), crs="EPSG:32650", cell_size_m=100, max_cells=10_000)


# -- 12. a geographic grid takes its cell size in degrees ----------------------------------------------
def test_allow_geographic_with_a_cell_size_in_metres_is_refused(tmp_path):
    lonlat = tmp_path / "ll.csv"
    lonlat.write_text("lon,lat,Au_ppb\n116.1,25.1,1\n116.2,25.3,2\n116.4,25.2,3\n")
    out = tmp_path / "g.zarr"
    assert_user_error(cli("grid", lonlat, "--out", out, "--crs", "EPSG:4326", "--allow-geographic",
                          "--cell-size", "1000"), "in degrees", "1000°")
    assert not out.exists()
    ok = GridSpec.from_bounds((116.1, 25.1, 116.4, 25.3), crs="EPSG:4326", cell_size_m=0.01, allow_geographic=True)
    assert ok.shape == (20, 30)


# -- 7. one writer per output (locks: tests/test_hostile_outputs.py) -------------------------------------
@pytest.mark.cluster
@pytest.mark.slow
def test_torn_staging_store_is_rebuilt_not_resumed_forever(tmp_path, survey, monkeypatch):
    import zarr

    from geogan.grid.stage import grid_survey

    kw = dict(crs="EPSG:32650", input_crs="EPSG:32650", cell_size_m=1000, tile=8, workers=1, progress=False)
    reference = tmp_path / "ref.zarr"
    grid_survey(survey, reference, **kw)
    out = tmp_path / "g.zarr"

    def die(self, **_):  # the writer dies after its tiles, before finalising
        raise KeyboardInterrupt

    monkeypatch.setattr(Staging, "finalize", die)
    with pytest.raises(KeyboardInterrupt):
        grid_survey(survey, out, **kw)
    monkeypatch.undo()
    staging = partial_path(out)
    (staging / "store.zarr" / "concentration" / "zarr.json").write_text("{torn")  # a second writer's debris
    grid_survey(survey, out, **kw)  # same command: rebuilt, not resumed into a broken store
    np.testing.assert_array_equal(zarr.open_group(str(out), mode="r")["concentration"][:],
                                  zarr.open_group(str(reference), mode="r")["concentration"][:])
    assert not staging.exists() and not (tmp_path / "g.zarr.lock").exists()


# -- 8. degenerate inputs ------------------------------------------------------------------------------
def test_single_element_under_clr_is_refused():
    X = np.exp(np.random.default_rng(0).normal(size=(50, 1)))
    with pytest.raises(InputError, match="clr of a single element"):
        Transform("clr", elements=["Au"]).fit(X)
    Transform("log", elements=["Au"]).fit(X)  # fine


def test_constant_elements_warn_and_all_constant_is_refused():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.exp(rng.normal(size=60)), np.full(60, 0.25)])
    tr = Transform("log", elements=["Cu", "Au"]).fit(X)
    assert tr.constant_ == ["Au"]
    with pytest.raises(InputError, match="every element .*Au.* one value"):
        Transform("log", elements=["Au"]).fit(X[:, 1:])


@pytest.mark.cluster
@pytest.mark.slow
def test_element_entirely_below_detection_warns_at_grid_and_fails_train_alone(tmp_path):
    survey = tmp_path / "s.csv"
    survey.write_text("x,y,Au_ppb,Cu_ppm\n" + "".join(
        f"{400000 + 700 * i},{2700000 + 900 * (i % 7)},<0.5,{10 + i % 3}\n" for i in range(40)))
    grid = tmp_path / "g.zarr"
    res = cli("grid", survey, "--out", grid, "--crs", "EPSG:32650", "--input-crs", "EPSG:32650", "--cell-size", "1000")
    assert res.exit_code == 0, res.output
    assert "Au (Au_ppb): every value is below detection" in res.output
    model = tmp_path / "m"
    assert_user_error(cli("train", grid, "--out", model, "--detector", "pca", "--elements", "Au", "--sample", "100"),
                      "every element (Au) has one value")
    assert not model.exists() and not partial_path(model).exists()
    res = cli("train", grid, "--out", model, "--detector", "pca", "--sample", "100")
    assert res.exit_code == 0, res.output
    assert "warning: Au has one value in every training cell" in res.output


# -- 9. the whole spec is typed and checked before any stage runs ---------------------------------------
@pytest.mark.parametrize(("extra", "expected"), [
    ('[score]\nruns = 2.5\n', "[score] runs must be an integer, got 2.5"),
    ('[cluster]\nworkers = "two"\n', "[cluster] workers must be an integer, got 'two'"),
    ('[score]\nmin_dist_km = -1\n', "[score] min_dist_km must be ≥ 0"),
    ('[score]\ncontributions = "yes"\n', "contributions must be true or false"),
    ('[score]\nruns = 1000000000\n', "[score] runs must be ≤ 10,000, got 1000000000"),  # issue 24: bounded work
])
def test_spec_types_and_ranges_are_checked_up_front(tmp_path, survey, extra, expected):
    spec = spec_file(tmp_path, extra=extra)
    with pytest.raises(ConfigError) as err:
        load_spec(spec)
    assert expected in str(err.value) and "spec.toml" in str(err.value)
    assert_user_error(cli("run", spec), expected)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("cell_size_m = 1000", 'cell_size_m = "1000"', "[grid] cell_size_m must be a finite number, got '1000'"),
    ("tile = 16", "tile = 0", "[grid] tile must be ≥ 1"),
    ('sample = 20', 'sample = 20\nparams = {score = "bogus"}', "[train.pca]"),
    ('detector = "pca"', 'detector = "svm"', "unknown detector"),
    ('sample = 20', 'sample = 20\nensemble = 0', "[train.pca] ensemble must be ≥ 1"),
    # issue 24: numbers that become time or memory are bounded before any stage runs
    ('detector = "pca"', 'detector = "iforest"\nparams = {n_estimators = 100000000}',
     "[train.pca]: n_estimators must be an integer from 1 to 10,000"),
    ('sample = 20', 'sample = 20\nparams = {n_components = 1000000000}',
     "[train.pca]: n_components must be an integer from 1 to 10,000"),
    ('sample = 20', 'sample = 20\nsteps = 1000000000000', "[train.pca] steps must be ≤ 10,000,000"),
])
def test_bad_train_or_grid_tables_fail_before_any_stage(tmp_path, survey, old, new, expected):
    spec = spec_file(tmp_path)
    spec.write_text(spec.read_text().replace(old, new))
    assert_user_error(cli("run", spec), expected, "spec.toml")
    assert not (tmp_path / "out" / "grid.zarr").exists()


def test_output_dir_that_is_a_file(tmp_path, survey):
    (tmp_path / "out").write_text("not a dir")
    assert_user_error(cli("run", spec_file(tmp_path)), "is a file, not a directory")
    assert (tmp_path / "out").read_text() == "not a dir"


def test_score_output_that_is_a_file(tmp_path):
    grid, *_ = make_grid(tmp_path / "grid.zarr")
    assert cli("train", grid, "--out", tmp_path / "m", "--detector", "pca", "--sample", "200").exit_code == 0
    (tmp_path / "afile").write_text("mine")
    assert_user_error(cli("score", grid, "--model", tmp_path / "m", "--out", tmp_path / "afile"), "is a file")
    assert (tmp_path / "afile").read_text() == "mine"


def test_unreachable_survey_url_is_not_reported_as_missing(tmp_path):
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class Unreachable(MemoryFileSystem):  # a backend whose host does not resolve
        protocol = "unreachable"

        def info(self, path, **kwargs):
            raise OSError("Cannot connect to host: Name or service not known")

    fsspec.register_implementation("unreachable", Unreachable, clobber=True)
    spec = spec_file(tmp_path, survey="unreachable://survey-host/survey.csv")
    with pytest.raises(ConfigError, match="cannot reach the survey file .*Name or service not known") as err:
        run_pipeline(spec, progress=False)
    assert "not found" not in str(err.value)


# -- issue 24: inputs named as file:// URLs, and the spec itself, are inputs too ----------------------
def test_a_file_url_survey_inside_the_grid_output_is_refused_even_with_overwrite(tmp_path, survey):
    d = tmp_path / "d"
    d.mkdir()
    mine = d / "thesis.txt"
    mine.write_text("years of work")
    inside = d / "survey.csv"
    inside.write_text(SURVEY)
    before = tree(tmp_path)
    for out in (d, tmp_path):
        assert_user_error(cli("grid", inside.as_uri(), "--out", out, "--crs", "EPSG:32650", "--input-crs",
                              "EPSG:32650", "--cell-size", "1000", "--overwrite"), "grid store", "the input",
                          "survey.csv")
    assert tree(tmp_path) == before


def test_a_file_url_survey_inside_the_pipeline_output_is_refused(tmp_path):
    survey = tmp_path / "out" / "report" / "survey.csv"
    survey.parent.mkdir(parents=True)
    survey.write_text(SURVEY)
    spec = spec_file(tmp_path, survey=survey.as_uri())
    before = tree(tmp_path)
    assert_user_error(cli("run", spec, "--overwrite"), "[output] dir", "contains the input", "survey.csv")
    assert tree(tmp_path) == before


@pytest.mark.cluster
@pytest.mark.slow
def test_run_overwrite_never_replaces_the_folder_holding_its_own_spec(tmp_path, survey):
    report = tmp_path / "out" / "report"
    report.mkdir(parents=True)
    (tmp_path / "deposits.csv").write_text("x,y\n405000,2702000\n")
    spec = report / "spec.toml"
    spec.write_text(SPEC.format(out="..", survey="../../survey.csv", name="pca").replace(
        'input_crs = "EPSG:32650"', 'input_crs = "EPSG:32650"\ndeposits = "../../deposits.csv"'))
    before = tree(tmp_path)
    assert_user_error(cli("run", spec, "--overwrite"), "pipeline output", "contains the input", "spec.toml")
    assert tree(tmp_path) == before
    # beside its outputs (not inside one) the spec is fine
    beside = tmp_path / "out" / "spec.toml"
    beside.write_text(spec.read_text().replace('dir = ".."', 'dir = "."').replace('"../../', '"../'))
    spec.unlink()
    res = cli("run", beside, "--overwrite")
    assert res.exit_code == 0, res.output
    assert beside.is_file() and (report / "index.html").is_file()


@pytest.mark.cluster
@pytest.mark.slow
def test_a_tile_larger_than_the_grid_is_clipped_to_it(tmp_path, survey):
    spec = GridSpec.from_bounds((0, 0, 50_000, 20_000), crs="EPSG:32650", cell_size_m=1000, tile=20_000)
    assert spec.shape == (20, 50) and spec.tile == 50 and spec.n_tiles == 1
    out = tmp_path / "g.zarr"
    args = ("grid", survey, "--out", out, "--crs", "EPSG:32650", "--input-crs", "EPSG:32650", "--cell-size", "1000")
    assert_user_error(cli(*args, "--tile", "20000"), "tile must be ≤ 16,384")  # bounded before the grid is known
    res = cli(*args, "--tile", "10000")
    assert res.exit_code == 0, res.output
    import zarr
    arr = zarr.open_group(str(out), mode="r")["concentration"]
    assert max(arr.chunks[1:]) <= max(arr.shape[1:])  # no 20,000-cell chunk


def test_evaluate_refuses_a_grid_store_instead_of_scores(tmp_path):
    # issue 24: it used to score the grid's 'distance' variable and exit 0
    grid = make_grid(tmp_path / "grid.zarr")[0]
    (tmp_path / "deposits.csv").write_text("x,y\n500250,2700250\n")
    report = tmp_path / "report"
    assert_user_error(cli("evaluate", grid, "--deposits", tmp_path / "deposits.csv", "--out", report),
                      "grid store, not a score grid", "scores.zarr")
    assert not report.exists()


@pytest.mark.cluster
@pytest.mark.slow
def test_a_score_run_that_scores_no_cell_fails_and_leaves_nothing(tmp_path):
    # issue 24: a grid whose cells all lack an element the model reads used to give an all-NaN map, exit 0
    from geogan.stores.layout import write_region

    grid, spec, conc, _ = make_grid(tmp_path / "grid.zarr")
    model = tmp_path / "model"
    assert cli("train", grid, "--out", model, "--detector", "pca", "--sample", "500").exit_code == 0
    gone = conc.copy()
    gone[0] = np.nan  # the first element is missing everywhere now
    write_region(grid, "concentration", gone, (slice(None), slice(0, spec.height), slice(0, spec.width)))
    out = tmp_path / "scores"
    assert_user_error(cli("--quiet", "score", grid, "--model", model, "--out", out), "no cell could be scored",
                      "grid.zarr", "--min-elements")
    assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))  # no map, no staging, no lock
    assert not partial_path(out / "scores.zarr").exists()


def test_score_overwrite_never_deletes_a_file_the_user_keeps_in_its_report(tmp_path):
    # issue 24: 'score --out so2 --overwrite' deleted so2/report/notes.txt
    grid, spec, _, deposits = make_grid(tmp_path / "grid.zarr")
    model = tmp_path / "model"
    assert cli("train", grid, "--out", model, "--detector", "pca", "--sample", "500").exit_code == 0
    dep = tmp_path / "deposits.csv"
    xs, ys = spec.x_coords(), spec.y_coords()
    dep.write_text("x,y\n" + "".join(f"{xs[c]},{ys[r]}\n" for r, c in deposits))
    notes = tmp_path / "so2" / "report" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("my field notes")
    assert_user_error(cli("score", grid, "--model", model, "--out", tmp_path / "so2", "--deposits", dep,
                          "--overwrite"), "so2/report", "geogan did not write it")
    assert notes.read_text() == "my field notes"
    assert not (tmp_path / "so2" / "anomaly.tif").exists()  # refused before anything was scored
