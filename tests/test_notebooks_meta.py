"""Static checks of the committed notebooks (nbval executes them; this reads them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_clean(path: Path) -> None:
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    tags = [c.get("metadata", {}).get("tags", []) for c in cells]
    # exactly one papermill parameters cell, and no injected one (it would pin the profile
    # and make nbval run the full profile in CI)
    assert sum("parameters" in t for t in tags) == 1
    assert not any("injected-parameters" in t for t in tags)
    assert cells[0]["cell_type"] == "markdown" and cells[0]["source"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was committed with an error output"
    params = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    assert 'os.environ.get("CATDOG_PROFILE", "full")' in "".join(params["source"])


def test_notebooks_are_numbered_in_order() -> None:
    chapters = [p.name for p in NOTEBOOKS if p.parent.name == "notebooks"]
    numbers = [int(name[:2]) for name in chapters]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert {1, 2, 3, 4} <= set(numbers)


def _figure_functions() -> set[str]:
    """Names of the ``catdog_utils.plots`` functions that return a matplotlib Figure."""
    import inspect

    from catdog_utils import plots

    return {
        name
        for name, fn in inspect.getmembers(plots, inspect.isfunction)
        if not name.startswith("_") and "Figure" in str(inspect.signature(fn).return_annotation)
    }


def _code(cell: dict) -> str:
    """A code cell's source without comments (a commented-out plot draws nothing)."""
    lines = "".join(cell.get("source", "")).splitlines()
    return "\n".join(line.split("#", 1)[0] for line in lines)


def _draws(source: str, figure_functions: set[str]) -> bool:
    import re

    called = set(re.findall(r"\bplots\.(\w+)\(", source))
    return bool(called & figure_functions) or bool(re.search(r"\bplt\.|\.imshow\(", source))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_figure_a_cell_draws_is_shown(path: Path) -> None:
    """A cell that calls a plotting function must carry an image in its committed output.

    (A trailing ``;`` or a figure that pyplot does not track draws nothing in Jupyter.)
    """
    figure_functions = _figure_functions()
    missing = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code" or not _draws(_code(cell), figure_functions):
            continue
        if _code(cell).lstrip().startswith(("def ", "class ")):
            continue  # defines a plotting helper; the cells that call it are checked
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if not images:
            missing.append(i)
    assert not missing, f"{path.name}: cells {missing} draw a figure but show none"


#: Folders that only exist on the machine that ran a notebook.
_MACHINE_PATHS = ("/work/", "/tmp/", "/root/", "/home/", "/Users/", "/private/var/", "C:\\\\")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_output_shows_a_path_of_the_machine_that_ran_it(path: Path) -> None:
    leaks = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        text = json.dumps(cell.get("outputs", []))
        found = [root for root in _MACHINE_PATHS if root in text]
        if "PosixPath('/" in text or "WindowsPath('" in text:
            found.append("a Path object")
        if found:
            leaks.append((i, found))
    assert not leaks, f"{path.name}: outputs show machine paths {leaks}"


def test_the_figure_check_sees_a_figure_drawn_with_a_semicolon() -> None:
    """The checks above recognise the cells they are about."""
    functions = _figure_functions()
    assert {"learning_curves", "confusion_matrix", "compare_histories"} <= functions
    assert _draws('plots.learning_curves(final.history, title="x");', functions)
    assert not _draws("result = training.train(build, data, 3)", functions)
    assert not _draws(_code({"source": "# plots.learning_curves(h)\nx = 1"}), functions)


#: A log line from TensorFlow, absl or Python logging (``INFO: ...``, ``W0000 00:00...``).
LOG_LINE = re.compile(r"^(?:INFO|WARNING|ERROR|DEBUG)[: ]|^[IWEF]\d{4} \d\d:\d\d", re.M)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def output_noise(nb: dict) -> list[str]:
    """Log lines, ANSI escape codes and empty outputs among a notebook's committed outputs."""
    problems = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            texts = [out.get("text", "")] if "text" in out else list(out.get("data", {}).values())
            texts = ["".join(t) if isinstance(t, list) else str(t) for t in texts]
            visible = [re.sub(r"<[^>]*>", "", t).strip() for t in texts]  # HTML without tags
            if out.get("output_type") in ("stream", "display_data", "execute_result") and not any(
                visible
            ):
                problems.append(f"cell {i}: an empty {out.get('output_type')} output")
            for text in texts:
                if ANSI.search(text):
                    problems.append(f"cell {i}: ANSI escape codes")
                if match := LOG_LINE.search(text):
                    line = text[match.start() :].splitlines()[0]
                    problems.append(f"cell {i}: log line {line[:60]!r}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_outputs_have_no_log_lines_ansi_codes_or_empty_outputs(path: Path) -> None:
    problems = output_noise(json.loads(path.read_text(encoding="utf-8")))
    assert not problems, f"{path.name}: {problems}"


def test_output_noise_is_found() -> None:
    def nb(*outputs: dict) -> dict:
        return {"cells": [{"cell_type": "code", "source": [], "outputs": list(outputs)}]}

    assert output_noise(nb({"output_type": "stream", "name": "stdout", "text": ["ok\n"]})) == []
    log = {"output_type": "stream", "name": "stderr", "text": ["INFO: Created TensorFlow Lite"]}
    assert "log line" in output_noise(nb(log))[0]
    ansi = {"output_type": "stream", "name": "stdout", "text": ["\x1b[1mModel\x1b[0m"]}
    assert "ANSI" in output_noise(nb(ansi))[0]
    empty = {"output_type": "display_data", "data": {"text/html": [""]}, "metadata": {}}
    assert "empty" in output_noise(nb(empty))[0]
    pre = {"output_type": "display_data", "data": {"text/html": ["<pre style='x'></pre>\n"]}}
    assert "empty" in output_noise(nb(pre))[0]
