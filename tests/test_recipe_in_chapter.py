"""Chapter 05 shows the improved recipe as Keras code; the package runs the same code.

A learner reads ``build_improved_cnn``, ``compile_improved`` and ``fit_stages`` in the
chapter, while ``catdog train --model improved`` and ``catdog study`` call the package's
functions of the same names.  As in d2l, the two copies must stay one recipe: their syntax
trees are compared with what only the package needs taken away (docstrings, the imports a
module without side effects does inside its functions, and type annotations).
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

from catdog_utils import config, models, report, training

CHAPTER = config.project_root() / "notebooks" / "05_improving_the_model.ipynb"
SHOWN = {
    "build_improved_cnn": models.build_improved_cnn,
    "compile_improved": models.compile_improved,
    "fit_stages": training.fit_stages,
}
CONSTANTS = {
    "WEIGHT_DECAY": models.WEIGHT_DECAY,
    "LABEL_SMOOTHING": models.LABEL_SMOOTHING,
    "NO_WEIGHT_DECAY": models.NO_WEIGHT_DECAY,
}


class _PackageOnly(ast.NodeTransformer):
    """Takes away docstrings, imports and annotations: what differs by design."""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        node.body = [s for s in body if not isinstance(s, ast.Import | ast.ImportFrom)]
        node.returns = None
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node


def _normalised(node: ast.AST) -> str:
    return ast.dump(_PackageOnly().visit(node))


def _chapter_code() -> list[ast.stmt]:
    """The top-level statements of chapter 05's code cells (IPython magics left out)."""
    code = report.notebook_sources(CHAPTER, kind="code")
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines)).body


def _defined_in_chapter(name: str) -> list[ast.FunctionDef]:
    return [s for s in _chapter_code() if isinstance(s, ast.FunctionDef) and s.name == name]


@pytest.mark.parametrize("name", SHOWN)
def test_the_chapter_shows_the_package_s_function(name: str) -> None:
    shown = _defined_in_chapter(name)
    assert len(shown) == 1, f"chapter 05 should define {name} once, as Keras code"
    package = ast.parse(textwrap.dedent(inspect.getsource(SHOWN[name]))).body[0]
    assert _normalised(shown[0]) == _normalised(package), (
        f"chapter 05's {name} and catdog_utils' differ: change both, or neither"
    )


def test_the_chapter_s_constants_are_the_package_s() -> None:
    found = {}
    for statement in _chapter_code():
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name) and target.id in CONSTANTS:
                found[target.id] = ast.literal_eval(statement.value)
    assert found == CONSTANTS


def test_the_final_model_is_trained_with_the_chapter_s_own_code() -> None:
    code = report.notebook_sources(CHAPTER, kind="code")
    assert "train_improved" not in code and "train_progressive" not in code
    assert "fit_stages(model" in code and "compile_improved(build_improved_cnn(" in code


def test_the_normaliser_still_sees_a_real_difference() -> None:
    package = ast.parse(textwrap.dedent(inspect.getsource(training.fit_stages))).body[0]
    changed = ast.parse(
        textwrap.dedent(inspect.getsource(training.fit_stages)).replace(
            "shuffle=False", "shuffle=True"
        )
    ).body[0]
    assert _normalised(changed) != _normalised(package)
