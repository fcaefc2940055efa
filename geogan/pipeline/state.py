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
from geogan.stores.ownership import check_replaceable, write_file

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
        user's (:func:`geogan.stores.ownership.check_replaceable`): being listed in the state
        file does not make a folder without the marker geogan's."""
        owned = self.data.get("owned", [])
        new = []
        for stage, path in outputs:
            rel = path.relative_to(self.out).as_posix()
            # resolve() follows every link on the way, also to an output not written yet
            if path.resolve() != self.out.resolve() / rel:
                raise OutputExistsError(f"{path} is (or lies under) a symbolic link; geogan run writes its outputs "
                                        f"inside {self.out} itself: remove the link", path=None)
            if rel not in owned and path.exists() and not overwrite:
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


#: the kind of output each stage replaces (geogan.stores.ownership.check_replaceable)
_KINDS = {"synth": "synth", "grid": "grid", "train": "model", "report": "report"}


def _replaced_by(stage: str, path: Path) -> list[tuple[Path, str | None]]:
    """What a stage replaces, and its kind: its output, or, for a score directory, each of
    its outputs."""
    from geogan.stores.scores import OUTPUT_KINDS, SCORE_OUTPUTS

    if stage.startswith("score."):
        return [(path / name, OUTPUT_KINDS.get(name)) for name in SCORE_OUTPUTS]
    return [(path, _KINDS[stage.partition(".")[0]])]


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
