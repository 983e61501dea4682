"""The figures quoted in README.md, docs/teaching.md and 00_index agree with the committed run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from catdog_utils import config, report

ROOT = config.project_root()


def test_quoted_figures_match_the_committed_notebooks() -> None:
    stale = report.stale(ROOT)
    assert not stale, f"run `make results`: {[str(p.relative_to(ROOT)) for p in stale]}"


def _copy_project(tmp_path: Path) -> Path:
    """What the report reads and writes: the quoting files, the chapters, the timings."""
    sources = [*ROOT.glob("notebooks/[0-9][0-9]_*.ipynb"), *ROOT.glob("docs/timings-*.txt")]
    for name in {*report.TARGETS, *(str(p.relative_to(ROOT)) for p in sources)}:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _print_in_last_cell(path: Path, text: str) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[-1]["outputs"] = [{"name": "stdout", "output_type": "stream", "text": [text]}]
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def test_a_new_run_makes_the_quotes_stale_until_regenerated(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    assert report.stale(root) == []
    _print_in_last_cell(root / "notebooks/04_evaluation.ipynb", "Test accuracy: 0.6123\n")
    assert root / "README.md" in report.stale(root)
    for path, text in report.render(root).items():
        path.write_text(text, encoding="utf-8")
    assert report.stale(root) == []
    assert "**0.6123**" in (root / "README.md").read_text(encoding="utf-8")


def test_chapter_05_lines_and_timings_are_read(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    nb05 = root / "notebooks/05_improving_the_model.ipynb"
    shutil.copy(ROOT / "notebooks/03_training.ipynb", nb05)
    _print_in_last_cell(
        nb05,
        "Test accuracy: 0.9512 (no test-time augmentation)\nTest accuracy with flip TTA: 0.9560\n"
        "final model: 1,234,567 parameters, 40 epochs, 43.9 minutes of training\n",
    )
    (root / "docs/timings-class.txt").unlink(missing_ok=True)
    (root / "docs/timings-full.txt").write_text(
        "notebooks/03_training.ipynb                     147 s\n"
        "notebooks/solutions/03_solutions.ipynb            9 s\n"
        "notebooks/solutions/04_solutions.ipynb           11 s\n"
        "total (full)                                    167 s\n",
        encoding="utf-8",
    )
    fig = report.collect(root)
    assert (fig.improved_test_acc, fig.improved_tta_acc) == ("0.9512", "0.9560")
    assert (fig.improved_params, fig.improved_epochs, fig.improved_minutes) == (
        "1,234,567",
        "40",
        "43.9",
    )
    readme = report.render(root)[root / "README.md"]
    assert "**0.9512** (0.9560 with flip TTA) | 43.9 min |" in readme
    assert "| 03 training | 147 s | - |" in readme
    assert "| solutions 01-06 | 20 s | - |" in readme
    assert "**167 s (2.8 min) (only the chapters timed above)**" in readme  # a partial run
    teaching = report.render(root)[root / "docs/teaching.md"]
    assert "| 03 training | 147 s | - | 20-25 min |" in teaching


def test_old_chapter_05_gets_a_clear_row(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    (root / "notebooks/05_improving_the_model.ipynb").unlink()  # no 05 notebook at all
    assert report.collect(root).improved_test_acc is None
    assert "not in the committed run of notebook 05 yet" in report.render(root)[root / "README.md"]
