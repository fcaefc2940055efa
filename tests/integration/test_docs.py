"""The API reference's docstrings (issue #23): every public function and class has numpydoc sections.

The public API is what the ``__all__`` of the package and of its stage subpackages names. Each
function or class there must document, under underlined numpydoc headings, its Parameters
(when its signature has any besides ``self``), what it Returns (Yields, for a generator;
functions only), what it Raises, and Examples holding at least one ``>>>`` line (the doctests
run with the suite: ``--doctest-modules``).
"""

from __future__ import annotations

import importlib
import inspect
import re

MODULES = ("geogan", "geogan.survey", "geogan.grid", "geogan.training", "geogan.scoring", "geogan.evaluation",
           "geogan.stores", "geogan.detectors", "geogan.synth")

_HEADING = re.compile(r"^([A-Z][A-Za-z ]*)\n-{3,}[ \t]*$", re.MULTILINE)


def public_objects() -> dict[str, object]:
    """``{module.qualname: object}`` of every function and class named in the modules' ``__all__``
    (an object re-exported by several modules appears once, under its home module)."""
    found: dict[str, object] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found


def sections(doc: str) -> dict[str, str]:
    """The numpydoc sections of a (cleaned) docstring: heading → the text under it."""
    matches = list(_HEADING.finditer(doc))
    return {m.group(1).strip(): doc[m.end():matches[k + 1].start() if k + 1 < len(matches) else len(doc)]
            for k, m in enumerate(matches)}


def _takes_parameters(obj) -> bool:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to document
        return False
    return any(p.name != "self" for p in signature.parameters.values())


def missing_sections(obj) -> list[str]:
    """The required sections ``obj``'s docstring lacks (empty when complete)."""
    found = sections(inspect.getdoc(obj) or "")
    missing = []
    if _takes_parameters(obj) and "Parameters" not in found:
        missing.append("Parameters")
    if not inspect.isclass(obj):
        wanted = "Yields" if inspect.isgeneratorfunction(inspect.unwrap(obj)) else "Returns"
        if wanted not in found:
            missing.append(wanted)
    if "Raises" not in found:
        missing.append("Raises")
    if ">>>" not in found.get("Examples", ""):
        missing.append("Examples (with >>>)")
    return missing


# -- the checker itself, on small local functions -------------------------------------------------
def _complete(x: int) -> int:
    """Double ``x``.

    Parameters
    ----------
    x
        A number.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        ``x`` is not a number.

    Examples
    --------
    >>> _complete(2)
    4
    """
    return 2 * x


def _incomplete(x: int) -> int:
    """Double ``x``.

    Parameters
    ----------
    x
        A number.

    Returns
    -------
    int

    Examples
    --------
    Only prose here, no prompt.
    """
    return 2 * x


def _generator(n: int):
    """Count to ``n``.

    Parameters
    ----------
    n
        How far.

    Returns
    -------
    iterator

    Raises
    ------
    TypeError
        ``n`` is not an integer.

    Examples
    --------
    >>> list(_generator(2))
    [0, 1]
    """
    yield from range(n)


class _Record:
    """A record.

    Raises
    ------
    ValueError
        Never.

    Examples
    --------
    >>> _Record(1).x
    1
    """

    def __init__(self, x):
        self.x = x


def test_missing_sections_finds_what_is_missing():
    assert missing_sections(_complete) == []
    assert missing_sections(_incomplete) == ["Raises", "Examples (with >>>)"]
    assert missing_sections(_generator) == ["Yields"]  # a generator yields: Returns is not enough
    assert missing_sections(_Record) == ["Parameters"]  # a class: its constructor's parameters, no Returns


def test_sections_reads_numpydoc_headings():
    doc = inspect.getdoc(_complete)
    assert list(sections(doc)) == ["Parameters", "Returns", "Raises", "Examples"]
    assert ">>> _complete(2)" in sections(doc)["Examples"]
    assert "Examples" not in sections("Examples\nmust be underlined\n")


# -- the public API ---------------------------------------------------------------------------------
def test_public_api_is_found():
    objects = public_objects()
    assert len(objects) >= 50, sorted(objects)
    for name in ("geogan.pipeline.run.run_pipeline", "geogan.options.GridOptions",
                 "geogan.detectors.baselines.IsolationForest", "geogan.synth.writer.write_synthetic_survey",
                 "geogan.stores.store.open_grid"):
        assert name in objects


def test_every_public_docstring_has_the_numpydoc_sections():
    problems = {name: missing for name, obj in sorted(public_objects().items()) if (missing := missing_sections(obj))}
    for name, missing in problems.items():
        print(f"{name}: missing {', '.join(missing)}")
    assert not problems, f"{len(problems)} public objects lack numpydoc sections: " + "; ".join(
        f"{name} ({', '.join(missing)})" for name, missing in problems.items())
