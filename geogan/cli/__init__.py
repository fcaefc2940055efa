"""The ``geogan`` command line: a thin shell over the Python API.

Each command parses its options into the stage's option objects (:mod:`geogan.options`;
the defaults shown are theirs), calls one library function and prints its summary. The app,
its console and its error handling are :mod:`~geogan.cli.shell`; the commands that make the
data (``synth``, ``grid``, ``info``, ``import-rasters``) are :mod:`~geogan.cli.prepare`, those
that make and judge maps (``train``, ``pathfinders``, ``score``, ``evaluate``, ``run``)
:mod:`~geogan.cli.analyse`.
"""

from geogan.cli import prepare  # noqa: F401, I001  (registers the commands in pipeline order: these first)
from geogan.cli import analyse  # noqa: F401, E402  (then these)
from geogan.cli.shell import app, main

__all__ = ["app", "main"]
