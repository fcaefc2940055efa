"""Progress of long stages: a live bar on a terminal, plain lines everywhere else.

A rich bar redraws one line in place, which a terminal shows well and a log file or a
Jupyter cell does not (a log keeps only the last frame, without its count or time left;
Jupyter asks for ``ipywidgets``). So a :class:`Progress` draws the bar only when standard
output is a terminal, and otherwise prints one self-contained line at every tenth of the
work (and at least every ``every_s`` seconds), e.g.::

    training alad: 30/100 epochs (30 %), 0:00:41 elapsed, ~0:01:36 left, dis 3.871 gen 3.902
"""

from __future__ import annotations

import datetime as _dt
import sys
import time


def _hms(seconds: float) -> str:
    return str(_dt.timedelta(seconds=int(round(seconds))))


def is_terminal() -> bool:
    """Whether standard output is an interactive terminal (not a file, pipe or notebook)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


class Progress:
    """Progress over ``total`` units of work.

    Parameters
    ----------
    total
        Units of work (epochs, tiles).
    description
        What is being done, e.g. ``"training alad"``.
    unit
        Name of a unit, shown after the count (``"epochs"``).
    enabled
        False: show nothing.
    every_s
        In line mode, the longest silence between two lines.
    """

    def __init__(self, total: int, description: str, *, unit: str = "", enabled: bool = True,
                 every_s: float = 30.0):
        self.total, self.description, self.unit, self.every_s = int(total), description, unit, every_s
        self.completed, self.info = 0, ""
        self._bar = None
        self._t0 = self._last_line = time.monotonic()
        self._last_tenth = 0
        self.mode = None if not enabled or self.total <= 0 else ("bar" if is_terminal() else "lines")
        if self.mode == "bar":
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
            if unit:
                columns.append(TextColumn(unit))
            columns += [TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                        TextColumn("{task.fields[info]}")]
            self._bar = RichProgress(*columns)
            self._bar.start()
            self._task = self._bar.add_task(description, total=self.total, info="")

    def update(self, completed: int, info: str = "") -> None:
        """Set the units done so far (and a short status such as the current losses)."""
        self.completed, self.info = int(completed), info
        if self.mode == "bar":
            self._bar.update(self._task, completed=self.completed, info=info)
        elif self.mode == "lines":
            tenth = 10 * self.completed // self.total
            now = time.monotonic()
            if tenth > self._last_tenth or self.completed >= self.total or now - self._last_line >= self.every_s:
                self._last_tenth, self._last_line = tenth, now
                print(self.line(), flush=True)

    def advance(self, n: int = 1) -> None:
        self.update(self.completed + n, self.info)

    def line(self) -> str:
        """The current state as one line."""
        elapsed = time.monotonic() - self._t0
        done = min(self.completed, self.total)
        text = f"{self.description}: {done}/{self.total}{f' {self.unit}' if self.unit else ''} " \
               f"({100 * done / self.total:.0f} %), {_hms(elapsed)} elapsed"
        if 0 < done < self.total:
            text += f", ~{_hms(elapsed * (self.total - done) / done)} left"
        return text + (f", {self.info}" if self.info else "")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
