"""The state of a pipeline's output directory (``run-state.json``): which stage finished with
which stamp, and which paths the pipeline owns, so a rerun skips what is up to date and
replaces only what it wrote itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from geogan.errors import ConfigError, OutputExistsError
from geogan.pipeline.spec import PipelineSpec
from geogan.stores.ownership import check_replaceable, geotiff_is_ours, ownership, small_json, write_file, write_marker

__all__ = ["RunState", "stage_stamp", "pipeline_outputs"]


def stage_stamp(*parts) -> str:
    """A stage's stamp: a short hash of its settings and of its inputs' stamps (JSON, keys sorted)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class RunState:
    """``run-state.json``: each finished stage's stamp, and the paths this pipeline owns.

    A path is owned once the pipeline has claimed it (before its stage first writes it), so
    a rerun may replace it; anything else already in the output directory is the user's and
    is only replaced with ``overwrite``.
    """

    def __init__(self, out: Path):
        self.out = out
        self.file = out / "run-state.json"
        if os.path.lexists(self.file) and not self.file.is_file():
            raise ConfigError("is not a file; remove it to start afresh", path=self.file)
        try:
            self.data = json.loads(self.file.read_text()) if self.file.is_file() else {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the pipeline state ({exc}); remove it to start afresh",
                              path=self.file) from None
        if not isinstance(self.data, dict):
            raise ConfigError("not a geogan pipeline state; remove it to start afresh", path=self.file)
        if self.data and "owned" not in self.data:  # written before ownership was recorded: its stages'
            stages = {"synth": "survey", "grid": "grid.zarr"}  # outputs, and the report they fed, are ours
            owned = [stages.get(k) or k.replace("train.", "models/").replace("score.", "scores/")
                     for k in self.data if k in stages or k.startswith(("train.", "score."))]
            self.data["owned"] = owned + (["report"] if any(k.startswith("score.") for k in self.data) else [])
        owned = self.data.get("owned", [])
        if not isinstance(owned, list) or not all(isinstance(o, str) for o in owned):
            raise ConfigError(f"'owned' must be a list of paths, got {json.dumps(owned)[:60]}; remove the file to "
                              f"start afresh", path=self.file)

    def fresh(self, stage: str, stamp: str, *outputs: Path) -> bool:
        return self.data.get(stage) == stamp and all(p.exists() for p in outputs)

    def claim(self, outputs: list[tuple[str, Path]], *, overwrite: bool) -> None:
        """Make each ``(stage, path)`` output the pipeline's to replace, or refuse (claiming none).

        An output this pipeline did not write needs ``overwrite``; with or without it, only an
        output carrying geogan's marker is replaced, and never one holding files of the
        user's (:func:`geogan.stores.files.check_replaceable`)."""
        owned = self.data.get("owned", [])
        new = []
        for stage, path in outputs:
            rel = path.relative_to(self.out).as_posix()
            if os.path.lexists(path) and path.resolve() != self.out.resolve() / rel:
                raise OutputExistsError(f"{path} is (or lies under) a symbolic link; geogan run writes its outputs "
                                        f"inside {self.out} itself: remove the link", path=None)
            if rel in owned:
                _adopt(stage, path, self.out)
            elif path.exists() and not overwrite:
                raise OutputExistsError(f"{path} exists and was not written by this pipeline (it is not in "
                                        f"{self.file.name}); move it away, or pass --overwrite to let the run "
                                        f"replace it")
            for replaced, kind in _replaced_by(stage, path):
                check_replaceable(replaced, what=f"{replaced.relative_to(self.out).as_posix()} (the {stage} output)",
                                  kind=kind)
            if rel not in owned:
                new.append(rel)
        if new:
            self.data["owned"] = owned + new
            self._save()

    def record(self, stage: str, stamp: str) -> None:
        self.data[stage] = stamp
        self._save()

    def _save(self) -> None:
        write_file(self.file, json.dumps(self.data, indent=2, sort_keys=True))


#: the kind of output each stage replaces (geogan.stores.files.check_replaceable)
_KINDS = {"synth": "synth", "grid": "grid", "train": "model", "report": "report"}


def _replaced_by(stage: str, path: Path) -> list[tuple[Path, str | None]]:
    """What a stage replaces, and its kind: its output, or, for a score directory, each of
    its outputs."""
    from geogan.stores.scores import OUTPUT_KINDS, SCORE_OUTPUTS

    if stage.startswith("score."):
        return [(path / name, OUTPUT_KINDS.get(name)) for name in SCORE_OUTPUTS]
    return [(path, _KINDS[stage.partition(".")[0]])]


def _adopt(stage: str, path: Path, out: Path) -> None:
    """Mark a folder this pipeline wrote before geogan marked its folders (``run-state.json``
    says it owns it, and the folder itself shows it: a report's ``metrics.json`` names a geogan
    version, a survey's ``truth.json`` its preset, a score folder's map carries geogan's tags).
    Nothing is marked in a folder without that evidence, or reached through a link: it stays
    the user's, and the check that follows refuses it."""
    from geogan.evaluation.report import REPORT_FILES
    from geogan.stores.scores import COG_NAME, FOLDERS, SCORE_OUTPUTS
    from geogan.synth.writer import SYNTH_FILES

    kind = stage.partition(".")[0]
    evidence = {"report": lambda: "geogan_version" in (small_json(path / "metrics.json") or {}),
                "synth": lambda: {"preset", "halos"} <= set(small_json(path / "truth.json") or {}),
                "score": lambda: (path / COG_NAME).is_file() and geotiff_is_ours(path / COG_NAME)}.get(kind)
    known = {"synth": SYNTH_FILES, "report": REPORT_FILES, "score": SCORE_OUTPUTS}.get(kind, ())
    if evidence is None or not path.is_dir() or path.resolve() != out.resolve() / path.relative_to(out) or \
            ownership(path) is not None or not evidence():
        return
    write_marker(path, kind, [f"{n}/" if n in FOLDERS else n for n in known if (path / n).exists()])
    if kind == "score":  # its report, from the same geogan
        _adopt("report", path / "report", out)


def pipeline_outputs(spec: PipelineSpec) -> list[tuple[str, Path]]:
    """Each stage of ``spec`` and the path it replaces (see the module docstring's layout)."""
    out = spec.output
    stages = [("synth", out / "survey")] if "synth" in spec.survey else []
    stages.append(("grid", out / "grid.zarr"))
    for name in spec.train:
        stages += [(f"train.{name}", out / "models" / name), (f"score.{name}", out / "scores" / name)]
    if "synth" in spec.survey or spec.survey.get("deposits"):
        stages.append(("report", out / "report"))
    return stages
