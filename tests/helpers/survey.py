"""Survey files for the survey readers' tests (geogan.survey)."""

from __future__ import annotations

from pathlib import Path


def write(tmp_path: Path, text: str, name: str = "survey.csv", encoding: str = "utf-8") -> Path:
    """``text`` written to ``tmp_path / name`` in ``encoding``; returns the path."""
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def grid_csv(tmp_path: Path, column: str, cells: list[str], *, name="survey.csv", extra="") -> Path:
    """A CSV with one element column, samples on distinct points (x = row index)."""
    header = f"x,y,{column}{',' + extra if extra else ''}"
    lines = [header] + [f"{i},{i * 2},{cell}" for i, cell in enumerate(cells)]
    return write(tmp_path, "\n".join(lines) + "\n", name)
