"""The package's shape: imports flow one way, functions stay short, tests fail loudly.

The import graph is read with :mod:`ast` from the source, so imports inside functions (the
package imports TensorFlow and many of its own modules lazily) count as much as those at the
top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import skip_or_fail

PACKAGE = Path(__file__).resolve().parents[1] / "catdog_utils"
TESTS = Path(__file__).resolve().parent

#: The package's layers, lowest first: a module imports only from layers below its own.
#: ``data`` stands for the whole ``catdog_utils.data`` package.  README's Layout section
#: draws the same order.
LAYERS: list[set[str]] = [
    {"errors", "names", "quiet", "text"},
    {"config", "atomic"},
    {"images", "augmentation"},
    {"data", "models", "mobilenet"},
    {"pipeline", "weights"},
    {"runs"},
    {"multiworker"},
    {"training"},
    {"evaluation", "explore", "plots", "predict", "bench", "pretrained"},
    {"export", "study"},
    {"exercises", "report"},
    {"cli"},
    {"__main__"},
]

#: The longest a function of the package may be, in lines (docstring included).
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    """``catdog_utils/data/build.py`` -> ``data.build``; ``data/__init__.py`` -> ``data``."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imported(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package modules that module ``name`` imports anywhere in its source."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
            elif (node.module or "").split(".")[0] == "catdog_utils":
                base = []
            else:
                continue
            target = [*base, *(node.module or "").split(".")]
            target = [p for p in target if p and p != "catdog_utils"]
            for alias in node.names:
                whole = ".".join([*target, alias.name])
                found.add(whole if whole in modules else ".".join(target))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "catdog_utils" and len(parts) > 1:
                    found.add(".".join(parts[1:]))
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    """Each module of the package -> the package modules it imports ('' is the package)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: _imported(name, path, modules) for name, path in paths.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in ``graph`` (as a path that returns to its start), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _layer(module: str) -> int | None:
    """The index of ``module``'s layer (``data.*`` is ``data``); ``None`` if undeclared."""
    top = module.split(".")[0]
    return next((i for i, layer in enumerate(LAYERS) if top in layer), None)


def test_the_import_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    assert "images" in graph["data.photos"]  # a top-level relative import
    assert "models" in graph["training"]  # imported inside train_baseline
    assert "data" in graph["cli"]  # imported inside the command functions


def test_no_import_cycle_among_the_package_modules() -> None:
    assert _cycle(import_graph()) is None


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_modules_import_only_from_lower_layers() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in targets
        if module.split(".")[0] != target.split(".")[0]  # inside data: its own business
        and _layer(module) is not None
        and _layer(target) is not None
        and _layer(target) >= _layer(module)
    ]
    assert upward == []


def test_training_and_multiworker_share_runs_and_nothing_else_of_each_other() -> None:
    graph = import_graph()
    assert "training" not in graph["multiworker"] and "runs" in graph["multiworker"]
    assert graph["runs"] <= {"atomic", "errors"}


def test_pipeline_and_predict_do_not_pull_in_the_download_code() -> None:
    graph = import_graph()
    assert not any(m.split(".")[0] == "data" for m in graph["pipeline"] | graph["predict"])


def test_no_function_in_the_package_is_over_the_limit() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} {lines}")
    assert long == []


@pytest.mark.parametrize("module", ["tensorflow", "keras"])
def test_tests_import_tensorflow_and_keras_plainly(module: str) -> None:
    # a broken install must fail the tests, not turn them into skips
    call = f'importorskip("{module}")'
    offenders = [p.name for p in TESTS.glob("*.py") if call in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_missing_shared_data_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        skip_or_fail("shared photos not found")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="shared photos not found"):
        skip_or_fail("shared photos not found")
