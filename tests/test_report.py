"""The figures quoted in README.md, docs/teaching.md and 00_index agree with the committed run."""

from __future__ import annotations

import inspect
import json
import re
import shutil
from pathlib import Path

import pytest

from catdog_utils import config, report, training

ROOT = config.project_root()


def test_quoted_figures_match_the_committed_notebooks() -> None:
    stale = report.stale(ROOT)
    assert not stale, f"run `make results`: {[str(p.relative_to(ROOT)) for p in stale]}"


def _copy_project(tmp_path: Path) -> Path:
    """What the report reads and writes: the quoting files, the chapters, the timings."""
    sources = [
        *ROOT.glob("notebooks/[0-9][0-9]_*.ipynb"),
        *ROOT.glob("docs/timings-*.txt"),
        *ROOT.glob(report.CLASS_FIGURES),
    ]
    for name in {*report.TARGETS, *(str(p.relative_to(ROOT)) for p in sources)}:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _print_in_last_cell(path: Path, text: str) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[-1]["outputs"] = [{"name": "stdout", "output_type": "stream", "text": [text]}]
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def _fake_chapter(path: Path, printed: str) -> None:
    """A chapter at ``path`` (a copy of 03) whose last cell printed ``printed``."""
    shutil.copy(ROOT / "notebooks/03_training.ipynb", path)
    _print_in_last_cell(path, printed)


_TEST_05 = (
    "Test accuracy: 0.9512 (no test-time augmentation)\nTest accuracy with flip TTA: 0.9560\n"
)
_FINAL_05 = "final model: 1,234,567 parameters, 40 epochs, 43.9 minutes of training\n"


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
    _fake_chapter(root / "notebooks/05_improving_the_model.ipynb", _TEST_05 + _FINAL_05)
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
    assert "| solutions | 20 s | - |" in readme
    assert "**167 s (2.8 min) (only the chapters timed above)**" in readme  # a partial run
    teaching = report.render(root)[root / "docs/teaching.md"]
    assert "| 03 training | 147 s | - | 20-25 min |" in teaching


@pytest.mark.parametrize(
    ("chosen", "cell"),
    [
        ("flip TTA", "**0.9560** with flip TTA, chosen on validation (0.9512 without)"),
        ("no flip TTA", "**0.9512**, no flip TTA, chosen on validation (0.9560 with it)"),
    ],
)
def test_chapter_05_s_choice_made_on_validation_is_the_headline(
    tmp_path: Path, chosen: str, cell: str
) -> None:
    root = _copy_project(tmp_path)
    _fake_chapter(
        root / "notebooks/05_improving_the_model.ipynb",
        f"{_TEST_05}chosen on validation: {chosen}\n{_FINAL_05}",
    )
    assert report.collect(root).improved_tta_chosen is (chosen == "flip TTA")
    assert f"| {cell} | 43.9 min |" in report.render(root)[root / "README.md"]


def test_a_class_run_is_recorded_and_quoted(tmp_path: Path) -> None:
    """`make run-notebooks PROFILE=class` records its figures from the copies under build/;
    README's class table and the guide's sentence on 05 quote them."""
    root = _copy_project(tmp_path)
    (root / report.CLASS_FIGURES).unlink(missing_ok=True)
    assert "Not recorded in this commit" in report.render(root)[root / "README.md"]
    assert "class run of 05 is not recorded" in report.render(root)[root / "docs/teaching.md"]
    run = tmp_path / "build/notebooks/class/notebooks"
    run.mkdir(parents=True)
    printed = {
        "03_training": "epochs:           10\ntraining time:    3.1 min\n",
        "04_evaluation": "Test accuracy: 0.7525\n",
        "05_improving_the_model": "Test accuracy: 0.8700 (no test-time augmentation)\n"
        "Test accuracy with flip TTA: 0.8750\nchosen on validation: flip TTA\n"
        "final model: 2,782,305 parameters, 21 epochs, 10.9 minutes of training\n",
    }
    for stem, text in printed.items():
        _fake_chapter(run / f"{stem}.ipynb", text)
    (root / "docs/timings-class.txt").write_text(
        "notebooks/05_improving_the_model.ipynb          900 s\ntotal (class)  900 s\n",
        encoding="utf-8",
    )
    assert report.record_class(root, run) == root / report.CLASS_FIGURES
    fig = report.collect(root)
    assert fig.class_run is not None and fig.class_run.improved_test_acc == "0.8700"
    assert fig.improved_test_acc != "0.8700"  # the committed full run is read as before
    readme = report.render(root)[root / "README.md"]
    assert (
        "| improved CNN (notebook 05) | 21 | **0.8750** with flip TTA, chosen on validation "
        "(0.8700 without) | 10.9 min | 900 s |" in readme
    )
    assert "| original CNN (notebooks 03-04) | 10 | **0.7525** | 3.1 min | - |" in readme
    assert "| pretrained MobileNetV2 (notebook 06) | - | **-** | - | - |" in readme
    teaching = report.render(root)[root / "docs/teaching.md"]
    assert (
        "the whole chapter took 15 minutes; its final model trained 21 epochs in 10.9 minutes "
        "and scored **0.8750** with flip TTA, chosen on validation (0.8700 without) on the test "
        "photos, against **0.7525** for the original CNN of the same profile." in teaching
    )
    assert {root / "README.md", root / "docs/teaching.md"} <= set(report.stale(root))


def test_old_chapter_05_gets_a_clear_row(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    (root / "notebooks/05_improving_the_model.ipynb").unlink()  # no 05 notebook at all
    assert report.collect(root).improved_test_acc is None
    assert "not in the committed run of notebook 05 yet" in report.render(root)[root / "README.md"]


# --- figures in prose against the committed run ------------------------------------------
# Every class of mismatch the course has had: a second reference machine, a budget or a
# number of timed steps other than the code's, chapter times that disagree between the
# chapter, the index and the guide, MB for MiB, a class period the guide does not plan,
# claims about a run that no output shows, stale references and change-log voice.

PROSE_FILES = ("README.md", "docs/teaching.md")


def _prose() -> dict[str, str]:
    """README, the guide and every notebook's markdown, by name."""
    texts = {name: (ROOT / name).read_text(encoding="utf-8") for name in PROSE_FILES}
    for path in sorted(ROOT.glob("notebooks/**/*.ipynb")):
        texts[str(path.relative_to(ROOT))] = report.notebook_sources(path, "markdown")
    return texts


def _all_prose() -> str:
    return "\n".join(_prose().values())


def test_one_reference_machine() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraphs = [p for p in readme.split("\n\n") if "reference machine" in p]
    cpus = {cpu for p in paragraphs for cpu in re.findall(r"Xeon|EPYC|Ryzen|Core i\d|Apple M\d", p)}
    assert len(cpus) <= 1, f"the reference machine is described as {cpus}"


def test_budgets_are_the_profiles_budgets() -> None:
    budgets = {f"{p.improved_budget_minutes:g}" for p in config.PROFILES.values()}
    quoted = re.findall(r"(\d+)[- ]minutes?(?: training)? budget", _all_prose())
    quoted += re.findall(r"(?:budget of|end of its) (\d+) minutes", _all_prose())
    assert quoted and set(quoted) <= budgets, f"budgets quoted {set(quoted)}, profiles {budgets}"


def test_timed_steps_are_the_code_s() -> None:
    steps = inspect.signature(training.measure_seconds_per_epoch).parameters["steps"].default
    text = _all_prose()
    quoted = re.findall(r"(\d+) timed steps", text)
    assert all(int(q) == steps for q in quoted), quoted
    assert not re.search(r"(dozen|few|handful of) timed steps", text)


def test_chapter_times_agree_with_the_index_and_the_guide() -> None:
    for stem, planned in report.IN_CLASS.items():
        first = report.notebook_sources(ROOT / f"notebooks/{stem}.ipynb", "markdown")
        match = re.search(r"Time: about ([\d-]+) minutes", first)
        if match:
            assert f"{match[1]} min" == planned.split(" (")[0], (stem, match[1], planned)


def _plan_minutes() -> dict[str, list[int]]:
    """Minutes the guide's session plans give each chapter, one entry per row."""
    guide = (ROOT / "docs/teaching.md").read_text(encoding="utf-8")
    minutes: dict[str, list[int]] = {}
    for start, end, chapter in re.findall(r"^\| (\d+)-(\d+) \| (0\d)\b", guide, re.M):
        minutes.setdefault(chapter, []).append(int(end) - int(start))
    return minutes


def test_the_guide_s_plan_gives_each_chapter_its_table_time() -> None:
    for chapter, rows in _plan_minutes().items():
        stem = next(s for s in report.IN_CLASS if s.startswith(chapter))
        low, _, high = report.IN_CLASS[stem].split(" ")[0].partition("-")
        if len(rows) == 1 and "demonstration" not in report.IN_CLASS[stem]:
            assert int(low) <= rows[0] <= int(high or low), (chapter, rows, report.IN_CLASS[stem])


def test_sizes_are_in_the_unit_they_name() -> None:
    from catdog_utils.data import fetch

    zip_mb = round(fetch.EXPECTED_SIZE / 1e6)
    for name, text in _prose().items():
        for quoted in re.findall(r"zip[^.\n]{0,40}?about (\d+) MB", text):
            assert int(quoted) == zip_mb, f"{name}: the zip is {zip_mb} MB, not {quoted}"


def test_class_periods_are_the_guide_s() -> None:
    guide = (ROOT / "docs/teaching.md").read_text(encoding="utf-8")
    sessions = set(re.findall(r"(\d+)-minute sessions", guide))
    for name, text in _prose().items():
        for quoted in re.findall(r"(\d+)-minute (?:class period|session|lesson)", text):
            assert quoted in sessions, (
                f"{name}: a {quoted}-minute period; the guide plans {sessions}"
            )


def test_the_guide_points_at_no_figure_the_readme_lacks() -> None:
    guide = (ROOT / "docs/teaching.md").read_text(encoding="utf-8")
    class_05 = report.collect(ROOT).timings["class"].get("05_improving_the_model")
    if class_05 is None:
        assert not re.search(r"05[^\n]{0,300}\(see the README\)", guide)


#: Sentences that described a run no committed output shows, pointed at a section that is not
#: there, or spoke of the course's history; each was rewritten and must not come back.
RETIRED = [
    "takes about a second",  # 01: no output times the scan
    "moves the four new photos too",  # 06: its output is the same at every threshold
    "trained each epoch more slowly",  # 05: no output compares the two networks
    "each model takes a few minutes",  # 03: the class profile's whole chapter takes seconds
    "prints a few start-up lines",  # 02: it no longer does
    "explained at the top of every notebook",  # 04 has no profile table
    "Section 5 showed the model overfitting",  # 03: section 6 does
    "charged in section 3",  # solutions 05: section 4 does
    "15-minute class period",
    "for example `4.2`",  # 05.2: the answer as the example
    "e.g. 4.2",
]
CHANGE_LOG = re.compile(
    r"\b(?:the (?:course's )?previous (?:network|release|version)|an earlier version|"
    r"previous release's|first version of this chapter)",
    re.I,
)


def test_no_retired_claims_or_change_log_voice() -> None:
    for name, text in _prose().items():
        flat = " ".join(text.split())
        for phrase in RETIRED:
            assert phrase not in flat, f"{name}: {phrase!r}"
        assert not CHANGE_LOG.search(flat), f"{name}: {CHANGE_LOG.search(flat)[0]!r}"


def test_section_references_exist() -> None:
    for path in sorted(ROOT.glob("notebooks/0[1-6]_*.ipynb")):
        text = report.notebook_sources(path, "markdown")
        sections = {int(n) for n in re.findall(r"^## (\d+)\.", text, re.M)}
        for n in re.findall(r"\b[Ss]ection (\d+)\b(?! of the chapter| of chapter)", text):
            assert int(n) in sections, f"{path.name} refers to section {n}; it has {sections}"


def test_cell_run_times_in_prose_match_the_timings() -> None:
    full = report.collect(ROOT).timings["full"]
    for stem in report.IN_CLASS:
        first = report.notebook_sources(ROOT / f"notebooks/{stem}.ipynb", "markdown")
        match = re.search(
            r"cells themselves run in (well under|under|about) (a minute|(\d+) minutes)", first
        )
        if match and stem in full:
            if match[3]:  # "about N minutes": within 30 % of N
                minutes = int(match[3])
                low, limit = 0.7 * 60 * minutes, 1.3 * 60 * minutes
            else:
                limit = {"well under": 30, "under": 60, "about": 90}[match[1]]
                low = 40 if match[1] == "about" else 0
            assert low <= full[stem] < limit, (stem, match[0], f"{full[stem]} s")


def test_the_guide_s_second_session_says_how_to_get_chapter_03_back() -> None:
    guide = (ROOT / "docs/teaching.md").read_text(encoding="utf-8")
    session_2 = guide[guide.index("**Session 2") : guide.index("### One session per notebook")]
    before_plan = session_2[: session_2.index("| time |")]
    assert "Run All" in before_plan and "loads what 03 saved" in before_plan


def test_measured_scores_in_prose_come_from_the_committed_outputs() -> None:
    """A four-decimal score written by hand (outside a generated block) must be one a
    committed notebook printed: a number from an older run fails here."""
    outputs = "\n".join(report.notebook_text(p) for p in ROOT.glob("notebooks/**/*.ipynb"))
    for name, text in _prose().items():
        text = re.sub(r"<!-- results:([\w-]+) -->.*?<!-- /results:\1 -->", "", text, flags=re.S)
        for figure in re.findall(r"(?<![\d.])0\.\d{4}(?!\d)", text):
            assert figure in outputs, f"{name} quotes {figure}, which no committed output shows"


def _notebook_printing(path: Path, text: str) -> Path:
    """A one-cell notebook whose output is ``text``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cell = {"cell_type": "code", "source": "", "metadata": {}, "execution_count": 1,
            "outputs": [{"name": "stdout", "output_type": "stream", "text": [text]}]}  # fmt: skip
    path.write_text(json.dumps({"cells": [cell]}), encoding="utf-8")
    return path


def test_the_pretrained_row_reads_chapter_07(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    nb = root / "notebooks" / "06_pretrained_network.ipynb"
    lines = (
        "image size: 224 px; head: 15 epochs, fine-tuning: 3 epochs\n"
        "chosen on validation: fine-tuned top blocks + head (0.9856)\n"
        "training time: 4.2 minutes (activations 200 s, head 10 s, fine-tuning 40 s)\n"
        "saved models/full/pretrained.keras: 2,259,265 parameters, 224x224 input\n"
        "Test accuracy: 0.9865 (no test-time augmentation)\n"
    )
    _notebook_printing(nb, lines)
    fig = report.collect(root)
    assert fig.pretrained_epochs == "15 + 3" and fig.pretrained_minutes == "4.2"
    row = report.results_table(fig).splitlines()[-1]
    assert row == (
        "| pretrained MobileNetV2, ImageNet weights (notebook 06): fine-tuned top blocks + head "
        "| 2,259,265 | 224 px | 15 + 3 | - | **0.9865** | 4.2 min |"
    )
    _notebook_printing(nb, lines.replace("fine-tuned top blocks + head", "head on frozen features"))
    assert report.collect(root).pretrained_epochs == "15"
    nb.unlink()
    table = report.results_table(report.collect(root))
    assert "not in the committed run of notebook 06 yet" in table
