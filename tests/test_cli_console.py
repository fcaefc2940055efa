"""A quiet, informative console (issue 14): version, --quiet, progress lines in logs,
TensorFlow's start-up chatter filtered, no port warnings, a clear error for scripts that
start workers without a main guard."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import geogan
from geogan.cli import app
from geogan.progress import Progress

from conftest import make_grid  # noqa: E402

runner = CliRunner()
BIN = Path(sys.executable).parent
NOISE = ("oneDNN", "cuda drivers", "cuInit", "absl::InitializeLog", "cpu_feature_guard", "Port 8787")


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"geogan {geogan.__version__}"


def test_quiet_prints_nothing_but_does_the_work(tmp_path):
    survey = tmp_path / "s.csv"
    survey.write_text("x,y,Au_ppb\n" + "".join(f"{400000 + 700 * i},{2700000 + 900 * (i % 7)},{1 + i % 5}\n"
                                               for i in range(30)))
    out = tmp_path / "g.zarr"
    res = runner.invoke(app, ["--quiet", "grid", str(survey), "--out", str(out), "--crs", "EPSG:32650",
                              "--input-crs", "EPSG:32650", "--cell-size", "1000", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert res.stdout == "" and out.is_dir()


def test_progress_without_a_terminal_prints_whole_lines(capsys):
    with Progress(20, "training alad", unit="epochs") as bar:
        assert bar.mode == "lines"  # pytest's captured stdout is not a terminal
        for epoch in range(1, 21):
            bar.update(epoch, f"dis {epoch / 10:.3f}")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10  # one per tenth of the work
    assert lines[0].startswith("training alad: 2/20 epochs (10 %), 0:00:00 elapsed, ~0:00:00 left, dis 0.200")
    assert lines[-1].startswith("training alad: 20/20 epochs (100 %)") and "left" not in lines[-1]


def test_disabled_progress_is_silent(capsys):
    with Progress(5, "x", enabled=False) as bar:
        bar.update(5)
    assert capsys.readouterr().out == "" and bar.mode is None


def _run(args, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kw)


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


def test_script_without_main_guard_gets_a_clear_error(tmp_path):
    survey = tmp_path / "s.csv"
    survey.write_text("x,y,Au_ppb\n" + "".join(f"{400000 + 700 * i},{2700000 + 900 * (i % 7)},{1 + i % 5}\n"
                                               for i in range(30)))
    script = tmp_path / "make_grid.py"
    script.write_text("from geogan.grid.stage import grid_survey\n"
                      f"grid_survey({str(survey)!r}, {str(tmp_path / 'g.zarr')!r}, crs='EPSG:32650', "
                      "input_crs='EPSG:32650', cell_size_m=1000, workers=1, progress=False)\n")
    res = _run([sys.executable, script], tmp_path)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert "InputError" in last and "make_grid.py" in last and "if __name__ == \"__main__\":" in last
    assert not (tmp_path / "g.zarr").exists()


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


def test_the_choice_sets_are_the_stages_own():
    from rasterio.enums import Resampling

    from geogan import choices
    from geogan.detectors.registry import DETECTORS
    from geogan.synth.presets import PRESETS

    assert tuple(d for d in DETECTORS if d != "ensemble") == choices.DETECTORS
    assert tuple(PRESETS) == choices.SYNTH_PRESETS
    assert all(hasattr(Resampling, name) for name in choices.RESAMPLING)

def test_score_client_validates_a_neural_model_without_tensorflow(tmp_path):
    from geogan.training.model import load_model
    from geogan.training.stage import train_model

    grid, *_ = make_grid(tmp_path / "grid.zarr")
    train_model(grid, tmp_path / "m", detector="alad", steps=20, ensemble=2, sample=500, latent_dim=4,
                progress=False)
    checked = load_model(tmp_path / "m", networks=False)
    assert checked.is_ensemble and checked.elements and checked.detector.members_[0].nets_ == {}
    script = tmp_path / "score_it.py"
    script.write_text(
        "import sys\n"
        "if __name__ == '__main__':\n"
        "    from geogan.scoring.stage import score_grid\n"
        f"    res = score_grid({str(grid)!r}, {str(tmp_path / 'm')!r}, {str(tmp_path / 's')!r}, workers=1,\n"
        "                     progress=False)\n"
        "    print(res.n_cells_scored, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    res = _run([sys.executable, script], tmp_path)
    assert res.returncode == 0, res.stderr
    n, tf_loaded, keras_loaded = res.stdout.split()
    assert int(n) > 0 and tf_loaded == "False" and keras_loaded == "False"
