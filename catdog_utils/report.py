"""The measured numbers quoted in README.md, docs/teaching.md and the 00 index, from one source.

The source is the committed full run: the notebooks' printed summary lines (``Test accuracy:
0.7875``, ``final training accuracy: 0.8978`` ...) and ``docs/timings-full.txt`` (and
``docs/timings-class.txt``), which ``make run-notebooks`` keeps; and the class profile's
figures, which ``make run-notebooks PROFILE=class`` records from its executed copies (under
``build/``, not committed) in ``docs/results-class.json`` (:func:`record_class`).  Each
quoting file marks the generated part with ``<!-- results:NAME -->`` ...
``<!-- /results:NAME -->``; ``make results`` (``python -m catdog_utils.report``) rewrites those
blocks, and ``--check`` says which files are out of step (``tests/test_report.py`` runs it).
Nothing here runs a notebook.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

#: The files whose marked blocks are generated, relative to the project root.
TARGETS = ("README.md", "docs/teaching.md", "notebooks/00_index.ipynb")

_BLOCK = re.compile(
    r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S
)

#: The class profile's figures, recorded from its last whole run (:func:`record_class`).
CLASS_FIGURES = "docs/results-class.json"

#: Chapters in the order the course runs them, with their short names in the tables.
CHAPTERS = {
    "00_index": "00 index",
    "01_data_exploration": "01 data exploration",
    "02_building_the_cnn": "02 building the CNN",
    "03_training": "03 training",
    "04_evaluation": "04 evaluation",
    "05_improving_the_model": "05 improving the model",
    "06_pretrained_network": "06 a pretrained network",
    "07_predicting_new_images": "07 predicting new photos",
}

#: Time to read and run each chapter with a group (a planning figure, not a measurement).
IN_CLASS = {
    "01_data_exploration": "20-25 min",
    "02_building_the_cnn": "25-30 min",
    "03_training": "20-25 min",
    "04_evaluation": "30 min",
    "05_improving_the_model": "55 min (or a demonstration)",
    "06_pretrained_network": "30 min",
    "07_predicting_new_images": "25 min",
}


def notebook_text(path: str | Path) -> str:
    """Everything the code cells of a notebook printed (stream and plain-text results)."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    parts: list[str] = []
    for cell in cells:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            parts.append("".join(text) if isinstance(text, list) else str(text))
    return "\n".join(parts)


def notebook_sources(path: str | Path, kind: str | None = None) -> str:
    """The sources of a notebook's cells (only ``kind`` cells: "markdown" or "code", if given)."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    return "\n".join(
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in cells
        if kind is None or c["cell_type"] == kind
    )


def _last(pattern: str, text: str) -> re.Match[str] | None:
    matches = list(re.finditer(pattern, text, re.M))
    return matches[-1] if matches else None


@dataclass(frozen=True)
class Figures:
    """The measured numbers of one committed run; ``None`` where a notebook did not print them."""

    baseline_params: str | None
    baseline_epochs: str | None
    baseline_train_acc: str | None
    baseline_test_acc: str | None
    baseline_minutes: str | None
    baseline_seconds_per_epoch: str | None
    improved_params: str | None
    improved_epochs: str | None
    improved_minutes: str | None
    improved_test_acc: str | None
    improved_tta_acc: str | None
    improved_tta_chosen: bool | None
    pretrained_params: str | None
    pretrained_image_size: str | None
    pretrained_stage: str | None
    pretrained_epochs: str | None
    pretrained_minutes: str | None
    pretrained_test_acc: str | None
    timings: dict[str, dict[str, int]]
    #: The class profile's figures, from :data:`CLASS_FIGURES` (``None`` if not recorded).
    class_run: Figures | None = None


def read_timings(path: str | Path) -> dict[str, int]:
    """Seconds per notebook from a ``make run-notebooks`` timings file (``{}`` if absent).

    Keys are notebook stems (``03_training``, ``solutions/03_solutions``) and ``total``.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    seconds: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(?P<name>\S.*?)\s+(?P<secs>\d+) s$", line.strip())
        if not match:
            continue
        name = match["name"]
        if name.startswith("total"):
            seconds["total"] = int(match["secs"])
        else:
            stem = name.removeprefix("notebooks/").removesuffix(".ipynb")
            seconds[stem] = int(match["secs"])
    return seconds


def collect(root: str | Path, notebooks: str | Path | None = None) -> Figures:
    """Read the figures from the committed notebooks (or those in ``notebooks``) and the
    timings files and recorded class figures under ``root``."""
    root = Path(root)
    nbs = root / "notebooks" if notebooks is None else Path(notebooks)
    t03 = notebook_text(nbs / "03_training.ipynb")
    t04 = notebook_text(nbs / "04_evaluation.ipynb")
    t05_path = nbs / "05_improving_the_model.ipynb"
    t05 = notebook_text(t05_path) if t05_path.is_file() else ""

    def grab(pattern: str, text: str, group: int | str = 1) -> str | None:
        match = _last(pattern, text)
        return match[group] if match else None

    t06_path = nbs / "06_pretrained_network.ipynb"
    t06 = notebook_text(t06_path) if t06_path.is_file() else ""
    final = _last(r"^final model: ([\d,]+) parameters, (\d+) epochs, ([\d.]+) minutes", t05)
    saved06 = _last(r"^saved \S+pretrained\.keras: ([\d,]+) parameters, (\d+)x\d+ input", t06)
    return Figures(
        baseline_params=grab(r"^parameters: ([\d,]+)$", t03),
        baseline_epochs=grab(r"^epochs:\s+(\d+)$", t03),
        baseline_train_acc=grab(r"^final training accuracy:\s+([\d.]+)$", t03),
        baseline_test_acc=grab(r"^Test accuracy: ([\d.]+)$", t04),
        baseline_minutes=grab(r"^training time:\s+([\d.]+) min$", t03),
        baseline_seconds_per_epoch=grab(r"^seconds per epoch:\s+([\d.]+) \(median\)", t03),
        improved_params=final[1] if final else None,
        improved_epochs=final[2] if final else None,
        improved_minutes=final[3] if final else None,
        improved_test_acc=grab(r"^Test accuracy: ([\d.]+) \(no test-time augmentation\)$", t05),
        improved_tta_acc=grab(r"^Test accuracy with flip TTA: ([\d.]+)$", t05),
        improved_tta_chosen=_tta_chosen(t05),
        pretrained_params=saved06[1] if saved06 else None,
        pretrained_image_size=saved06[2] if saved06 else None,
        pretrained_stage=grab(r"^chosen on validation: (.+?) \([\d.]+\)$", t06),
        pretrained_epochs=_pretrained_epochs(t06),
        pretrained_minutes=grab(r"^training time: ([\d.]+) minutes", t06),
        pretrained_test_acc=grab(r"^Test accuracy: ([\d.]+) \(no test-time augmentation\)$", t06),
        timings={
            profile: read_timings(root / "docs" / f"timings-{profile}.txt")
            for profile in ("full", "class")
        },
        class_run=_read_class_run(root / CLASS_FIGURES),
    )


def _read_class_run(path: Path) -> Figures | None:
    """The class run's figures recorded at ``path`` (``None`` if none are recorded)."""
    if not path.is_file():
        return None
    saved = json.loads(path.read_text(encoding="utf-8"))
    names = [f.name for f in fields(Figures) if f.name not in ("timings", "class_run")]
    return Figures(**{name: saved.get(name) for name in names}, timings={})


def record_class(root: str | Path, notebooks: str | Path) -> Path:
    """Record the figures of a class-profile run, whose executed notebooks are in
    ``notebooks`` (``build/notebooks/class/notebooks``), in :data:`CLASS_FIGURES`."""
    from . import atomic

    figures = asdict(collect(root, notebooks))
    for key in ("timings", "class_run"):
        figures.pop(key)
    return atomic.write_text(
        Path(root) / CLASS_FIGURES, json.dumps(figures, indent=1, sort_keys=True) + "\n"
    )


def _tta_chosen(t05: str) -> bool | None:
    """Whether chapter 05 chose flip TTA on validation (``None`` if it does not say)."""
    chosen = _last(r"^chosen on validation: (flip TTA|no flip TTA)$", t05)
    return None if chosen is None else chosen[1] == "flip TTA"


def _pretrained_epochs(t06: str) -> str | None:
    """Chapter 06's epochs: ``15 + 3`` (head + fine-tuning), or ``15`` if the head was kept."""
    plan = _last(r"^image size: \d+ px; head: (\d+) epochs?, fine-tuning: (\d+) epochs?$", t06)
    chosen = _last(r"^chosen on validation: (.+?) \(", t06)
    if not plan or not chosen:
        return None
    return f"{plan[1]} + {plan[2]}" if chosen[1].startswith("fine-tuned") else plan[1]


def _or_dash(value: str | None) -> str:
    return value if value is not None else "-"


def _seconds(timings: dict[str, int], stem: str) -> str:
    return f"{timings[stem]} s" if stem in timings else "-"


def results_table(fig: Figures) -> str:
    """README's table of models: parameters, epochs, accuracies, training time."""
    rows = [
        "| model | parameters | input | epochs | train acc. | test acc. (2,000 photos) "
        "| training time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        "| original README | 813,217 | 64 px | 25 | 0.89 | 0.7978 | - |",
    ]
    time = (
        f"{fig.baseline_minutes} min ({fig.baseline_seconds_per_epoch} s per epoch)"
        if fig.baseline_minutes
        else "-"
    )
    rows.append(
        f"| original CNN, reproduced (notebooks 03-04) | {_or_dash(fig.baseline_params)} | 64 px "
        f"| {_or_dash(fig.baseline_epochs)} | {_or_dash(fig.baseline_train_acc)} "
        f"| **{_or_dash(fig.baseline_test_acc)}** | {time} |"
    )
    if fig.improved_test_acc is None:
        rows.append(
            "| improved CNN, from scratch (notebook 05) | - | 64 -> 128 px | - | - | not in the "
            "committed run of notebook 05 yet | - |"
        )
    else:
        minutes = _minutes(fig.improved_minutes)
        rows.append(
            f"| improved CNN, from scratch (notebook 05) | {_or_dash(fig.improved_params)} "
            f"| 64 -> 128 px | {_or_dash(fig.improved_epochs)} | - "
            f"| {_improved_accuracy(fig)} | {minutes} |"
        )
    rows.append(_pretrained_row(fig))
    return "\n".join(rows) + "\n"


def _improved_accuracy(fig: Figures) -> str:
    """Chapter 05's test accuracy: the configuration chosen on validation in bold."""
    plain, tta = fig.improved_test_acc, fig.improved_tta_acc
    if tta is None:
        return f"**{plain}**"
    if fig.improved_tta_chosen:
        return f"**{tta}** with flip TTA, chosen on validation ({plain} without)"
    if fig.improved_tta_chosen is False:
        return f"**{plain}**, no flip TTA, chosen on validation ({tta} with it)"
    return f"**{plain}** ({tta} with flip TTA)"


def _pretrained_row(fig: Figures) -> str:
    """README's row for chapter 06's pretrained network (or that it is not run yet)."""
    name = "pretrained MobileNetV2, ImageNet weights (notebook 06)"
    if fig.pretrained_test_acc is None:
        return f"| {name} | - | - | - | - | not in the committed run of notebook 06 yet | - |"
    size = f"{fig.pretrained_image_size} px" if fig.pretrained_image_size else "-"
    minutes = _minutes(fig.pretrained_minutes)
    return (
        f"| {name}: {_or_dash(fig.pretrained_stage)} | {_or_dash(fig.pretrained_params)} "
        f"| {size} | {_or_dash(fig.pretrained_epochs)} | - | **{fig.pretrained_test_acc}** "
        f"| {minutes} |"
    )


def _chapter_rows(fig: Figures) -> list[tuple[str, str, str, str]]:
    """(stem, name, full, class) for every chapter."""
    full, cls = fig.timings["full"], fig.timings["class"]
    return [
        (stem, name, _seconds(full, stem), _seconds(cls, stem)) for stem, name in CHAPTERS.items()
    ]


def timings_table(fig: Figures) -> str:
    """README's table of how long each notebook takes in the full and class profiles."""
    full, cls = fig.timings["full"], fig.timings["class"]
    rows = ["| notebook | `full` | `class` |", "| --- | --- | --- |"]
    rows += [f"| {name} | {f} | {c} |" for _, name, f, c in _chapter_rows(fig)]
    sol = [k for k in full if k.startswith("solutions/")]
    sol_c = [k for k in cls if k.startswith("solutions/")]
    rows.append(
        f"| solutions | {f'{sum(full[k] for k in sol)} s' if sol else '-'} "
        f"| {f'{sum(cls[k] for k in sol_c)} s' if sol_c else '-'} |"
    )

    def total(t: dict[str, int]) -> str:
        if "total" not in t:
            return "-"
        missing = [n for n in CHAPTERS if n != "00_index" and n not in t]
        partial = " (only the chapters timed above)" if missing else ""
        return f"{t['total']} s ({t['total'] / 60:.1f} min){partial}"

    rows.append(f"| **everything** | **{total(full)}** | **{total(cls)}** |")
    note = (
        "Measured by `make run-notebooks` (`docs/timings-full.txt`, `docs/timings-class.txt`)."
        if full or cls
        else "Not measured in this commit: `make run-notebooks` writes `docs/timings-full.txt`, "
        "then `make results` fills this table."
    )
    return "\n".join(rows) + "\n\n" + note + "\n"


def class_table(fig: Figures) -> str:
    """README's table of the models the class profile trains, from its recorded run."""
    run = fig.class_run
    if run is None:
        return (
            "Not recorded in this commit: `make run-notebooks PROFILE=class` records the class "
            "run's figures in `docs/results-class.json`.\n"
        )
    cls = fig.timings["class"]
    rows = [
        "| model, `class` profile | epochs | test acc. (2,000 photos) | training time "
        "| notebook run |",
        "| --- | --- | --- | --- | --- |",
        f"| original CNN (notebooks 03-04) | {_or_dash(run.baseline_epochs)} "
        f"| **{_or_dash(run.baseline_test_acc)}** | {_minutes(run.baseline_minutes)} "
        f"| {_seconds(cls, '03_training')} |",
        f"| improved CNN (notebook 05) | {_or_dash(run.improved_epochs)} "
        f"| {_improved_accuracy(run) if run.improved_test_acc else '-'} "
        f"| {_minutes(run.improved_minutes)} | {_seconds(cls, '05_improving_the_model')} |",
        f"| pretrained MobileNetV2 (notebook 06) | {_or_dash(run.pretrained_epochs)} "
        f"| **{_or_dash(run.pretrained_test_acc)}** | {_minutes(run.pretrained_minutes)} "
        f"| {_seconds(cls, '06_pretrained_network')} |",
    ]
    return (
        "\n".join(rows)
        + "\n\nRecorded by `make run-notebooks PROFILE=class` (`docs/results-class.json`).\n"
    )


def class_05_sentence(fig: Figures) -> str:
    """The teacher's guide's sentence on chapter 05 in the class profile."""
    run, cls = fig.class_run, fig.timings["class"]
    if run is None or run.improved_test_acc is None or "05_improving_the_model" not in cls:
        return "The class run of 05 is not recorded in this commit.\n"
    return (
        f"In the recorded class run the whole chapter took "
        f"{cls['05_improving_the_model'] / 60:.0f} minutes; its final model trained "
        f"{_or_dash(run.improved_epochs)} epochs in {_or_dash(run.improved_minutes)} minutes "
        f"and scored {_improved_accuracy(run)} on the test photos, against "
        f"**{_or_dash(run.baseline_test_acc)}** for the original CNN of the same profile.\n"
    )


def _minutes(value: str | None) -> str:
    """A table cell for a figure in minutes (a dash where there is none)."""
    return f"{value} min" if value else "-"


def teaching_table(fig: Figures) -> str:
    """docs/teaching.md's table: computer time (measured) and class time (planned)."""
    rows = [
        "| notebook | time to run every cell, `full` profile | `class` profile "
        "| time in class (reading, running, discussing) |",
        "| --- | --- | --- | --- |",
    ]
    for stem, name, f, c in _chapter_rows(fig):
        if stem in IN_CLASS:
            rows.append(f"| {name} | {f} | {c} | {IN_CLASS[stem]} |")
    return "\n".join(rows) + "\n"


def index_table(fig: Figures) -> str:
    """00_index's table: time in class (planned) and to run every cell (measured)."""
    rows = [
        "| # | in class | cells run, `full` | cells run, `class` |",
        "| --- | --- | --- | --- |",
    ]
    rows += [
        f"| {stem[:2]} | {IN_CLASS[stem]} | {f} | {c} |"
        for stem, _, f, c in _chapter_rows(fig)
        if stem in IN_CLASS
    ]
    return "\n".join(rows) + "\n"


#: Block name -> renderer.
RENDERERS: dict[str, Callable[[Figures], str]] = {
    "models": results_table,
    "timings": timings_table,
    "teaching-timings": teaching_table,
    "index": index_table,
    "class-models": class_table,
    "class-05": class_05_sentence,
}


def fill(text: str, fig: Figures) -> str:
    """``text`` with every marked block replaced by its freshly rendered content."""

    def replace(match: re.Match[str]) -> str:
        render = RENDERERS.get(match["name"])
        if render is None:
            raise KeyError(f"unknown results block {match['name']!r}")
        return match[1] + render(fig) + match[4]

    return _BLOCK.sub(replace, text)


def _fill_notebook(raw: str, fig: Figures) -> str:
    import nbformat

    nb = nbformat.reads(raw, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            new = fill(cell.source, fig)
            changed |= new != cell.source
            cell.source = new
    if not changed:
        return raw
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def render(root: str | Path) -> dict[Path, str]:
    """Every target file's text as it should be, from the committed run (nothing written)."""
    root = Path(root)
    fig = collect(root)
    out: dict[Path, str] = {}
    for name in TARGETS:
        path = root / name
        raw = path.read_text(encoding="utf-8")
        out[path] = _fill_notebook(raw, fig) if path.suffix == ".ipynb" else fill(raw, fig)
    return out


def stale(root: str | Path) -> list[Path]:
    """The target files whose marked blocks disagree with the committed run."""
    return [path for path, text in render(root).items() if path.read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    """``python -m catdog_utils.report [--check]``: rewrite (or check) the marked blocks."""
    from . import atomic, config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say which files are stale")
    parser.add_argument(
        "--record-class",
        metavar="DIR",
        default=None,
        help="first record the figures of the class run whose notebooks are in DIR",
    )
    args = parser.parse_args(argv)
    root = config.project_root()
    if args.record_class:
        where = record_class(root, args.record_class)
        print(f"recorded the class run's figures in {where.relative_to(root)}")
    if collect(root).improved_test_acc is None:
        print(
            "note: notebook 05 does not print 'Test accuracy: ... (no test-time augmentation)' "
            "yet; its row says so"
        )
    if args.check:
        paths = stale(root)
        for path in paths:
            print(f"out of step with the committed notebooks: {path} (run `make results`)")
        return 1 if paths else 0
    for path, text in render(root).items():
        if path.read_text(encoding="utf-8") != text:
            atomic.write_text(path, text)
            print(f"updated {path.relative_to(root)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
