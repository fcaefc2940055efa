"""The state of a pipeline's output directory (``run-state.json``): which stage finished with
which stamp, and which paths the pipeline owns, so a rerun skips what is up to date and
replaces only what it wrote itself. The output directory may be a prefix in object storage
(:mod:`geogan.pipeline.location`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from geogan.errors import ConfigError, OutputExistsError, StoreError
from geogan.pipeline.location import Output, child, exists, shown
from geogan.pipeline.spec import PipelineSpec
from geogan.stores.ownership import check_replaceable, write_file
from geogan.stores.remote import Remote
from geogan.stores.remoteowner import check_remote_replaceable

__all__ = ["RunState", "stage_stamp", "pipeline_outputs"]

#: the state file, in the output folder
STATE_FILE = "run-state.json"


def stage_stamp(*parts) -> str:
    """A stage's stamp: a short hash of its settings and of its inputs' stamps (JSON, keys sorted)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class RunState:
    """``run-state.json``: each finished stage's stamp, and the paths this pipeline owns.

    A path is owned once the pipeline has claimed it (before its stage first writes it), so
    a rerun may replace it; anything else already in the output directory is the user's and
    is only replaced with ``overwrite``. In object storage (``out`` a URL) the file is one
    object, read and written whole (each write a single PUT: readers see the old or the new
    state); it records relative names and stamps only, never a URL or a credential.
    """

    def __init__(self, out: Output):
        self.out = out
        self.file = child(out, STATE_FILE)
        self.data = self._load()
        if not isinstance(self.data, dict):
            raise ConfigError("not a geogan pipeline state; remove it to start afresh", path=shown(self.file))
        owned = self.data.get("owned", [])
        if not isinstance(owned, list) or not all(isinstance(o, str) for o in owned):
            raise ConfigError(f"'owned' must be a list of paths, got {json.dumps(owned)[:60]}; remove the file to "
                              f"start afresh", path=shown(self.file))

    def _load(self):
        """The state file's JSON; ``{}`` when there is none."""
        if isinstance(self.out, Path):
            if os.path.lexists(self.file) and not self.file.is_file():
                raise ConfigError("is not a file; remove it to start afresh", path=self.file)
            read = self.file.read_bytes if self.file.is_file() else None
        else:
            loc = Remote(self.out)

            def read():
                try:
                    raw = loc.read_bytes(STATE_FILE)
                except IsADirectoryError:
                    raw = None
                if raw is None and loc.exists(STATE_FILE):  # a prefix of that name
                    raise ConfigError("is not a file; remove it to start afresh", path=shown(self.file))
                return raw
        try:
            raw = read() if read is not None else None
            return json.loads(raw) if raw is not None else {}
        except (OSError, ValueError, StoreError) as exc:
            raise ConfigError(f"cannot read the pipeline state ({exc}); remove it to start afresh",
                              path=shown(self.file)) from None

    def fresh(self, stage: str, stamp: str, *outputs: Output) -> bool:
        return self.data.get(stage) == stamp and all(exists(p) for p in outputs)

    def _rel(self, path: Output) -> str:
        if isinstance(self.out, Path):
            return path.relative_to(self.out).as_posix()
        return path[len(self.out) + 1:]

    def claim(self, outputs: list[tuple[str, Output]], *, overwrite: bool) -> None:
        """Make each ``(stage, path)`` output the pipeline's to replace, or refuse (claiming none).

        An output this pipeline did not write needs ``overwrite``; with or without it, only an
        output carrying geogan's marker is replaced, and never one holding files of the
        user's (:func:`geogan.stores.ownership.check_replaceable`, in object storage
        :func:`geogan.stores.remoteowner.check_remote_replaceable`): being listed in the state
        file does not make a folder without the marker geogan's."""
        owned = self.data.get("owned", [])
        local = isinstance(self.out, Path)
        new = []
        for stage, path in outputs:
            rel = self._rel(path)
            # resolve() follows every link on the way, also to an output not written yet
            if local and path.resolve() != self.out.resolve() / rel:
                raise OutputExistsError(f"{path} is (or lies under) a symbolic link; geogan run writes its outputs "
                                        f"inside {self.out} itself: remove the link", path=None)
            if rel not in owned and not overwrite and exists(path):
                raise OutputExistsError(f"{shown(path)} exists and was not written by this pipeline (it is not in "
                                        f"{STATE_FILE}); move it away, or pass --overwrite to let the run "
                                        f"replace it")
            for replaced, kind in _replaced_by(stage, path):
                what = f"{self._rel(replaced)} (the {stage} output)"
                if local:
                    check_replaceable(replaced, what=what, kind=kind)
                else:
                    check_remote_replaceable(replaced, what=what, kind=kind)
            if rel not in owned:
                new.append(rel)
        if new:
            self.data["owned"] = owned + new
            self._save()

    def record(self, stage: str, stamp: str) -> None:
        self.data[stage] = stamp
        self._save()

    def forget(self, stage: str) -> None:
        """Drop ``stage``'s stamp: its output is about to be rewritten in place (object
        storage), so it is not the recorded one until the stage ends."""
        if self.data.pop(stage, None) is not None:
            self._save()

    def _save(self) -> None:
        text = json.dumps(self.data, indent=2, sort_keys=True)
        if isinstance(self.out, Path):
            write_file(self.file, text)
        else:
            Remote(self.out).write_bytes(STATE_FILE, text.encode())


#: the kind of output each stage replaces (geogan.stores.ownership.check_replaceable)
_KINDS = {"synth": "synth", "grid": "grid", "train": "model", "report": "report"}


def _replaced_by(stage: str, path: Output) -> list[tuple[Output, str | None]]:
    """What a stage replaces, and its kind: its output, or, for a score directory, each of
    its outputs."""
    from geogan.stores.scores import OUTPUT_KINDS, SCORE_OUTPUTS

    if stage.startswith("score."):
        return [(child(path, name), OUTPUT_KINDS.get(name)) for name in SCORE_OUTPUTS]
    return [(path, _KINDS[stage.partition(".")[0]])]


def pipeline_outputs(spec: PipelineSpec) -> list[tuple[str, Output]]:
    """Each stage of ``spec`` and the path (or URL) it replaces (see the module docstring's layout)."""
    out = spec.output
    stages = [("synth", child(out, "survey"))] if "synth" in spec.survey else []
    stages.append(("grid", child(out, "grid.zarr")))
    for name in spec.train:
        stages += [(f"train.{name}", child(out, "models", name)), (f"score.{name}", child(out, "scores", name))]
    if "synth" in spec.survey or spec.survey.get("deposits"):
        stages.append(("report", child(out, "report")))
    return stages
