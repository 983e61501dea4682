"""Static checks of the committed notebooks (nbval executes them; this reads them)."""

from __future__ import annotations

import json
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
