"""geogan's version, read from the installed package's metadata: ``pyproject.toml`` holds it, once."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("geogan")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
