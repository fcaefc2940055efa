"""Lazy exports for the package ``__init__`` modules: a name is imported from its module the
first time it is used, so that importing one piece of geogan (the command line, a worker's
task) does not import every stage.

>>> import sys, types
>>> pkg = types.ModuleType("pkg")
>>> pkg.__getattr__, pkg.__dir__ = lazy_exports("pkg", {"sqrt": "math"})
>>> sys.modules["pkg"] = pkg
>>> pkg.sqrt(9.0), "sqrt" in dir(pkg)
(3.0, True)
>>> pkg.cbrt
Traceback (most recent call last):
AttributeError: module 'pkg' has no attribute 'cbrt'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, where: Mapping[str, str]) -> tuple[Callable, Callable]:
    """The module ``__getattr__`` and ``__dir__`` (PEP 562) of ``package``, whose names
    ``where`` maps to the modules defining them. A name is imported on first use, then kept
    on the package."""

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
