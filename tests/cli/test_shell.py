"""The command line's app (geogan.cli.shell) and its commands' options: a quiet, informative console
(issue 14): version, --quiet, TensorFlow's start-up chatter filtered, no port warnings, the
fixed choices listed and checked. (Progress lines in logs: tests/test_progress.py; scripts
without a main guard: tests/test_cluster.py.)"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import geogan
from geogan.cli import app
from tests.helpers.grids import make_grid

runner = CliRunner()
BIN = Path(sys.executable).parent
NOISE = ("oneDNN", "cuda drivers", "cuInit", "absl::InitializeLog", "cpu_feature_guard", "Port 8787")


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"geogan {geogan.__version__}"


@pytest.mark.cluster
@pytest.mark.slow
def test_quiet_prints_nothing_but_does_the_work(tmp_path):
    survey = tmp_path / "s.csv"
    survey.write_text("x,y,Au_ppb\n" + "".join(f"{400000 + 700 * i},{2700000 + 900 * (i % 7)},{1 + i % 5}\n"
                                               for i in range(30)))
    out = tmp_path / "g.zarr"
    res = runner.invoke(app, ["--quiet", "grid", str(survey), "--out", str(out), "--crs", "EPSG:32650",
                              "--input-crs", "EPSG:32650", "--cell-size", "1000", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert res.stdout == "" and out.is_dir()


def _run(args, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kw)


@pytest.mark.tf
@pytest.mark.cluster
@pytest.mark.slow
def test_train_and_score_print_no_tensorflow_or_port_chatter(tmp_path):
    grid, *_ = make_grid(tmp_path / "grid.zarr")
    with socket.socket() as busy:  # the dashboard's default port taken, as by another cluster
        try:
            busy.bind(("127.0.0.1", 8787))
            busy.listen()
        except OSError:
            pass  # already in use: the same situation
        res = _run([BIN / "geogan", "train", grid, "--out", tmp_path / "m", "--detector", "alad", "--steps", "20",
                    "--ensemble", "1", "--sample", "500", "--latent-dim", "4"], tmp_path)
        assert res.returncode == 0, res.stderr
        assert "training alad: 1/1 epochs (100 %)" in res.stdout  # plain lines in a log
        res2 = _run([BIN / "geogan", "score", grid, "--model", tmp_path / "m", "--out", tmp_path / "s",
                     "--workers", "1"], tmp_path)
        assert res2.returncode == 0, res2.stderr
    for r in (res, res2):
        assert not [n for n in NOISE if n in r.stderr + r.stdout], r.stderr


@pytest.mark.parametrize("argv", [["grid", "--help"], ["run", "--help"]])
def test_help_mentions_the_new_options(argv):
    res = runner.invoke(app, argv)
    assert res.exit_code == 0
    assert ("--max-cells" in res.output) if argv[0] == "grid" else ("--overwrite" in res.output)


@pytest.mark.parametrize("command, option, values", [
    ("train", "--detector", "alad|vae|autoencoder|iforest|mahalanobis|pca"),
    ("train", "--transform", "clr|ilr|log|none"),
    ("train", "--score", "auto|latent|fm|l1|logit|l1_high"),
    ("grid", "--space", "linear|log"),
    ("synth", "--preset", "demo|national"),
    ("synth", "--format", "csv|parquet"),
    ("import-rasters", "--nonpositive", "error|nan|half-min|keep"),
])
def test_fixed_choices_are_listed_and_others_refused_before_running(command, option, values, tmp_path):
    wide = {"COLUMNS": "250"}  # the help table on one line per option
    help_text = runner.invoke(app, [command, "--help"], env=wide).output
    assert f"<{values}>" in help_text
    args = {"train": ["g.zarr", "--out", str(tmp_path / "m")], "grid": ["s.csv", "--out", str(tmp_path / "g.zarr")],
            "synth": [str(tmp_path / "s")], "import-rasters": ["a.tif", "--out", str(tmp_path / "g.zarr")]}[command]
    res = runner.invoke(app, [command, *args, option, "bogus"], env=wide)
    assert res.exit_code == 2 and f"Invalid value for '{option}'" in res.output and "'bogus' is not one of" in res.output
    assert not any(tmp_path.iterdir())  # refused before anything ran
