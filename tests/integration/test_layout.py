"""The package's layout: imports flow one way, stage by stage.

Every ``import`` in ``geogan/`` counts, those inside functions included (only imports under
``if TYPE_CHECKING:`` are left out: they never run). An import of ``geogan.a.b`` is an edge
to that module, and ``from geogan.a import b`` one to the submodule ``b`` when it is one.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import geogan

PACKAGE = Path(geogan.__file__).parent
#: the stage subpackages, in pipeline order: each may import only those before it (and the
#: top-level core modules); the top (cli, pipeline, the facade) imports them all
ORDER = ["stores", "survey", "grid", "detectors", "evaluation", "training", "scoring"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    """Module → the geogan modules it imports (package ``__init__`` modules by package name)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                           for a in node.names]
            for target in targets:
                if target.split(".")[0] == "geogan" and target != mod:
                    graph[mod].add(target)
        graph.setdefault(mod, set())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ORDER) else None


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_another_that_imports_it_back():
    assert cycles(import_graph()) == []


def test_stage_subpackages_import_only_earlier_stages():
    wrong = []
    for mod, targets in import_graph().items():
        here = _stage(mod)
        if here not in ORDER:
            continue
        for target in targets:
            there = _stage(target)
            if there in ORDER and ORDER.index(there) > ORDER.index(here):
                wrong.append(f"{mod} imports {target}")
    assert wrong == []


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for w in graph.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_the_report_depends_on_the_metrics_not_on_the_evaluate_stage():
    graph = import_graph()
    assert "geogan.evaluation.result" in reachable(graph, "geogan.evaluation.report")  # the metrics' record
    assert "geogan.evaluation.stage" not in reachable(graph, "geogan.evaluation.report")
    assert "geogan.evaluation.report" in reachable(graph, "geogan.evaluation.stage")


def test_nothing_inside_the_package_imports_its_facade():
    """``geogan/__init__.py`` imports every stage; a module importing it back would be a cycle
    that only import order hides."""
    importers = sorted(mod for mod, targets in import_graph().items() if "geogan" in targets and mod != "geogan")
    assert importers == []


def test_the_facade_exports_every_stage_and_its_options():
    for name in ("read_survey", "grid_survey", "import_rasters", "train_model", "load_model", "score_grid",
                 "evaluate", "run_pipeline", "make_survey", "SurveyOptions", "GridOptions", "TrainOptions",
                 "ScoreOptions", "EvalOptions", "GeoganError"):
        assert name in geogan.__all__ and callable(getattr(geogan, name)), name
    assert geogan.score_grid.__module__ == "geogan.scoring.stage"


@pytest.mark.parametrize("package", ORDER)
def test_each_stage_subpackage_says_what_it_holds(package):
    import importlib

    mod = importlib.import_module(f"geogan.{package}")
    assert mod.__doc__ and len(mod.__doc__.splitlines()) >= 3
    assert all(hasattr(mod, name) for name in getattr(mod, "__all__", []))
