"""Reliability (issue 6) through the command line, as a user meets it.

Every bad input gives exit code 1, one ``error: ...`` line naming the file (and the row and
column, or the element, where that applies), no traceback, and leaves no output behind; the
input is not modified. Also: stores from another format version, corrupt or empty model
files, deposit files that miss the grid, ``kill -9`` of ``train`` then ``--resume``, and the
same report metrics from the same inputs.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from geogan.stores.staging import partial_path
from geogan.training.model import load_model
from geogan.training.stage import train_model

from tests.helpers.cli import assert_user_error, cli
from tests.helpers.grids import TINY_ALAD, make_grid



HEADER = "x,y,Au_ppb,Cu_ppm\n"
ROWS = "400000,2700000,1.2,10\n401000,2701000,2.3,12\n402500,2702500,0.8,9\n"


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        pytest.param("", [], ["bad.csv", "file is empty"], id="empty-file"),
        pytest.param(HEADER, [], ["bad.csv", "has a header but no rows"], id="header-only"),
        pytest.param("a,b,Au_ppb\n1,2,3\n4,5,6\n", [], ["bad.csv", "no coordinate columns"], id="no-coordinates"),
        pytest.param(HEADER + ROWS, ["--x", "east", "--y", "y"], ["bad.csv", "column 'east'"],
                     id="named-coordinate-missing"),
        pytest.param(HEADER + ROWS, ["--elements", "Au,Ag"], ["bad.csv", "column 'Ag'", "not found"],
                     id="element-absent"),
        pytest.param(HEADER + ROWS + "403000,2703000,abc,11\n", [], ["bad.csv:5: column 'Au_ppb'", "'abc'"],
                     id="non-numeric"),
        pytest.param(HEADER + ROWS + "403000,2703000,<,11\n", [], ["bad.csv:5: column 'Au_ppb'", "below-detection"],
                     id="bare-less-than"),
        pytest.param(HEADER + ROWS + "403000,2703000,<<1,11\n", [], ["bad.csv:5: column 'Au_ppb'",
                                                                     "below-detection"], id="double-less-than"),
        pytest.param(HEADER + ROWS + "403000,2703000,<abc,11\n", [], ["bad.csv:5: column 'Au_ppb'",
                                                                      "below-detection"], id="less-than-text"),
        pytest.param(HEADER + ROWS + "NaN,2703000,1,11\n", [], ["bad.csv:5: column 'x'", "missing"],
                     id="nan-coordinate"),
        pytest.param("lon,lat,Au_ppb\n116.1,25.1,1\n116.2,95.0,2\n", ["--input-crs", "EPSG:4326"],
                     ["bad.csv:3: column 'lat'", "outside the range of EPSG:4326"], id="latitude-out-of-range"),
        pytest.param("x,y,Au_ppb\n1e12,2700000,1\n401000,2701000,2\n", [],
                     ["bad.csv:2: column 'x'", "outside the range"], id="coordinate-out-of-range"),
        pytest.param("x,y,Au_ppb\n400000,2700000,1\n400000,2700000,2\n", [], ["bad.csv", "one location"],
                     id="all-at-one-location"),
        pytest.param("x,y,Au_ppb,Au_ppm\n400000,2700000,1,0.001\n401000,2701000,2,0.002\n", [],
                     ["bad.csv", "mixed units for Au", "--units"], id="mixed-units"),
        pytest.param("x y Au_ppb\n400000 2700000 1\n401000 2701000 2\n", [], ["bad.csv:1", "delimiter"],
                     id="unknown-delimiter"),
        pytest.param(HEADER + ROWS + "403000,2703000\n", [], ["bad.csv:5", "truncated"], id="truncated"),
        pytest.param("x,y,Au_ppb,Au_ppb\n400000,2700000,1,2\n401000,2701000,2,3\n", [],
                     ["bad.csv", "column 'Au_ppb': duplicated column name"], id="duplicated-column"),
        pytest.param(HEADER + ROWS, ["--crs", "EPSG:4326"], ["geographic", "projected"], id="geographic-grid-crs"),
    ],
)
def test_bad_survey_one_line_error_and_nothing_written(tmp_path, text, args, expected):
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    before = bad.read_bytes()
    out = tmp_path / "grid.zarr"
    if "--crs" not in args:
        args = [*args, "--crs", "EPSG:32650"]
    if "--input-crs" not in args:
        args = [*args, "--input-crs", "EPSG:32650"]
    assert_user_error(cli("grid", bad, "--out", out, *args), *expected)
    assert not out.exists() and not partial_path(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]
    assert bad.read_bytes() == before


@pytest.mark.cluster
@pytest.mark.slow
def test_encodings_and_delimiters_are_detected_not_refused(tmp_path):
    """UTF-16 with a BOM, Latin-1 and semicolons grid; the detection is reported."""
    text = "x;y;Näyte;Au_ppb\n400000;2700000;Jyväskylä;1,5\n401000;2701000;Äänekoski;2\n402500;2702500;Oulu;3\n"
    for encoding in ("utf-16", "latin-1"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        res = cli("grid", path, "--out", tmp_path / f"{encoding}.zarr", "--crs", "EPSG:32650", "--cell-size", "500",
                  "--workers", "1")
        assert res.exit_code == 0, res.output
        assert (tmp_path / f"{encoding}.zarr").is_dir()


# ------------------------------------------------------------------------------------------
# stores, models and deposits


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A small grid store, a tiny ALAD trained on it, and a scored output."""
    root = tmp_path_factory.mktemp("reliability")
    path, spec, conc, deposits = make_grid(root / "grid.zarr")
    xs, ys = spec.x_coords(), spec.y_coords()
    dep = root / "deposits.csv"
    dep.write_text("name,x,y\n" + "".join(f"d{i},{xs[c]},{ys[r]}\n" for i, (r, c) in enumerate(deposits)))
    # one model with EMA copies, so that every weight file kind can be damaged below
    train_model(path, root / "model", detector="alad", sample=1200, epochs=2, batch_size=64, latent_dim=4,
                ensemble=1, detector_params={**TINY_ALAD, "ema_decay": 0.999}, progress=False)
    res = cli("score", path, "--model", root / "model", "--out", root / "scored", "--workers", "1",
              "--deposits", dep, "--runs", "3")
    assert res.exit_code == 0, res.output
    return root, spec


@pytest.mark.tf
@pytest.mark.cluster
@pytest.mark.slow
def test_store_from_another_format_version_is_refused(fitted, tmp_path):
    root, _ = fitted
    old = tmp_path / "old.zarr"
    shutil.copytree(root / "grid.zarr", old)
    zarr.open_group(str(old), mode="r+").attrs["geogan_store_version"] = 99
    line = assert_user_error(cli("train", old, "--out", tmp_path / "m", "--epochs", "1"),
                             "old.zarr", "format version 99", "regrid")
    assert "reads version 1" in line
    assert not (tmp_path / "m").exists() and not partial_path(tmp_path / "m").exists()
    assert_user_error(cli("score", old, "--model", root / "model", "--out", tmp_path / "s"), "format version 99")
    assert not (tmp_path / "s").exists()
    # a store that is not a geogan store at all
    foreign = tmp_path / "foreign.zarr"
    zarr.open_group(str(foreign), mode="w").attrs["title"] = "someone else's"
    assert_user_error(cli("info", foreign), "foreign.zarr", "not a geogan")


@pytest.mark.tf
@pytest.mark.cluster
@pytest.mark.slow
def test_unfinished_grid_store_is_refused(fitted, tmp_path):
    root, _ = fitted
    half = tmp_path / "half.zarr"
    shutil.copytree(root / "grid.zarr", half)
    zarr.open_group(str(half), mode="r+").attrs["complete"] = False
    assert_user_error(cli("train", half, "--out", tmp_path / "m"), "half.zarr")
    assert not (tmp_path / "m").exists()


@pytest.mark.tf
@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        pytest.param(lambda m: (m / "config.json").write_bytes(b""), ["config.json"], id="empty-config"),
        pytest.param(lambda m: (m / "config.json").write_text('{"format": "geogan-model", "elem'),
                     ["config.json"], id="truncated-config"),
        pytest.param(lambda m: (m / "weights" / "encoder.ema.weights.h5").write_bytes(b""),
                     ["encoder.ema"], id="empty-weights"),
        pytest.param(lambda m: (m / "weights" / "generator.weights.h5").unlink(), ["generator"],
                     id="missing-weights"),
        pytest.param(lambda m: (m / "config.json").write_text(
            (m / "config.json").read_text().replace('"elements": [', '"elements": ["Xx", ', 1)),
            ["elements"], id="elements-differ"),
    ],
)
def test_corrupt_or_empty_model_files_are_refused(fitted, tmp_path, damage, expected):
    root, _ = fitted
    model = tmp_path / "model"
    shutil.copytree(root / "model", model)
    damage(model)
    out = tmp_path / "out"
    assert_user_error(cli("score", root / "grid.zarr", "--model", model, "--out", out), *expected)
    assert not out.exists()


@pytest.mark.tf
@pytest.mark.cluster
@pytest.mark.slow
def test_model_for_other_elements_than_the_grid(fitted, tmp_path):
    root, spec = fitted
    other = tmp_path / "other.zarr"
    shutil.copytree(root / "grid.zarr", other)
    g = zarr.open_group(str(other), mode="r+")
    g["element"][:] = np.array(["Ag", "Bi", "Mo", "Sn", "U"])
    assert_user_error(cli("score", other, "--model", root / "model", "--out", tmp_path / "out"),
                      "lacks W")
    assert not (tmp_path / "out").exists()


@pytest.mark.tf
@pytest.mark.cluster
@pytest.mark.slow
def test_deposits_with_no_point_inside_the_grid(fitted, tmp_path):
    root, spec = fitted
    far = tmp_path / "far.csv"
    far.write_text("name,x,y\nA,100000,100000\nB,120000,90000\n")
    before = far.read_bytes()
    # the score stage refuses before scoring anything ...
    line = assert_user_error(cli("score", root / "grid.zarr", "--model", root / "model", "--out", tmp_path / "s",
                                 "--deposits", far), "far.csv", "none of the 2 deposits", "2 outside the grid")
    assert "--deposits-crs" in line
    assert not (tmp_path / "s").exists()
    # ... and so does evaluate, on both score formats
    for scores in (root / "scored" / "scores.zarr", root / "scored" / "anomaly.tif"):
        assert_user_error(cli("evaluate", scores, "--deposits", far, "--out", tmp_path / "r"), "none of the 2")
        assert not (tmp_path / "r").exists()
    # degrees given for a projected grid get a hint
    deg = tmp_path / "deg.csv"
    deg.write_text("name,x,y\nA,115.5,25.0\n")
    assert_user_error(cli("evaluate", root / "scored" / "scores.zarr", "--deposits", deg, "--out", tmp_path / "r"),
                      "EPSG:4326")
    assert far.read_bytes() == before


@pytest.mark.tf
@pytest.mark.cluster
@pytest.mark.slow
def test_report_metrics_are_deterministic(fitted, tmp_path):
    root, _ = fitted
    dep = root / "deposits.csv"
    for name in ("a", "b"):
        res = cli("evaluate", root / "scored" / "scores.zarr", "--deposits", dep, "--out", tmp_path / name,
                  "--runs", "4", "--seed", "7")
        assert res.exit_code == 0, res.output
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    a.pop("generated", None), b.pop("generated", None)
    assert a == b
    metrics = next(iter(a["detectors"].values()))
    assert 0.0 <= metrics["roc_auc"] <= 1.0 and metrics["n_deposits_used"] == 2
    # the score stage's own report used the same definitions (runs 3, seed 0)
    own = json.loads((root / "scored" / "report" / "metrics.json").read_text())
    assert next(iter(own["detectors"].values()))["roc_auc"] == metrics["roc_auc"]


@pytest.mark.tf
@pytest.mark.cluster
@pytest.mark.slow
def test_existing_outputs_need_overwrite(fitted, tmp_path):
    root, _ = fitted
    scored = root / "scored"
    stamp = {p: p.stat().st_mtime_ns for p in scored.rglob("*") if p.is_file()}
    assert_user_error(cli("score", root / "grid.zarr", "--model", root / "model", "--out", scored), "--overwrite")
    assert {p: p.stat().st_mtime_ns for p in scored.rglob("*") if p.is_file()} == stamp
    assert_user_error(cli("train", root / "grid.zarr", "--out", root / "model"), "--overwrite")


# ------------------------------------------------------------------------------------------
# kill -9 during training, then --resume


@pytest.mark.tf
@pytest.mark.slow
def test_kill_9_during_train_then_resume_equals_uninterrupted(tmp_path):
    path, *_ = make_grid(tmp_path / "grid.zarr")
    opts = ["--detector", "vae", "--sample", "1500", "--epochs", "40", "--batch-size", "32", "--latent-dim", "2",
            "--checkpoint-every", "1", "--seed", "3"]
    out = tmp_path / "model"
    cmd = [sys.executable, "-m", "geogan.cli", "train", str(path), "--out", str(out), *opts]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpts = partial_path(out) / "checkpoints"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if ckpts.is_dir() and len([p for p in ckpts.iterdir() if p.name.startswith("epoch_")]) >= 3:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, 9)
    proc.wait()
    assert not out.exists(), "training finished before it could be killed"
    done = sorted(p.name for p in ckpts.iterdir() if p.name.startswith("epoch_"))
    assert 3 <= len(done) < 40
    # without --resume the unfinished run is not silently discarded
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "--resume" in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "resuming from epoch_" in res.stdout
    assert out.is_dir() and not partial_path(out).exists()
    ref = train_model(path, tmp_path / "ref", detector="vae", sample=1500, epochs=40, batch_size=32, latent_dim=2,
                      checkpoint_every=1, seed=3, progress=False)
    _, _, conc, _ = make_grid(tmp_path / "again.zarr")
    cells = conc[:, 30:40, 10:50].reshape(conc.shape[0], -1).T
    a, b = load_model(out).score(cells), load_model(ref.model_dir).score(cells)
    assert np.isfinite(a).sum() > 100
    np.testing.assert_array_equal(a, b)


@pytest.mark.tf
@pytest.mark.cluster
@pytest.mark.slow
def test_score_a_grid_named_by_url_equals_by_path(fitted, tmp_path):
    """The grid store read through fsspec (file:// reaches the worker processes too)."""
    from geogan.stores.scores import open_scores_store

    root, _ = fitted
    res = cli("score", (root / "grid.zarr").as_uri(), "--model", root / "model", "--out", tmp_path / "s",
              "--workers", "1")
    assert res.exit_code == 0, res.output
    a = open_scores_store(tmp_path / "s" / "scores.zarr")["anomaly"].values
    b = open_scores_store(root / "scored" / "scores.zarr")["anomaly"].values
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).sum() > 1000


def test_train_cli_ensemble_and_two_sided_flags(tmp_path):
    path, *_ = make_grid(tmp_path / "grid.zarr")
    res = cli("train", path, "--out", tmp_path / "m", "--detector", "iforest", "--ensemble", "2", "--two-sided",
              "--sample", "800")
    assert res.exit_code == 0, res.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["detector"]["name"] == "ensemble" and config["training"]["ensemble"] == 2
    assert config["transform"]["kind"] == "log" and config["transform"]["enrichment_only"] is False
    assert "× 2 models" in res.output
    line = assert_user_error(cli("train", path, "--out", tmp_path / "x", "--transform", "ilr", "--enrichment-only"),
                             "enrichment_only")
    assert "ilr" in line and not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()
