"""Tests for geogan.progress: progress bars on a terminal, whole lines in a log."""

from geogan.progress import Progress


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
