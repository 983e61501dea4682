"""Chapter 05's self-checks: the reference answer passes, answers students really give fail.

The ablation rows are read from the committed chapter 05 notebook; the budget's expected
answer is counted epoch by epoch here, not taken from ``training.epochs_for_budget``.
"""

from __future__ import annotations

import functools
import math
import re

import pytest

from catdog_utils import config, exercises, report

RECIPE, ORIGINAL = "full recipe (64px)", "original CNN (64px)"


@functools.cache
def committed_rows() -> list[dict]:
    """Chapter 05's comparison table as its committed run printed it."""
    text = report.notebook_text(config.project_root() / "notebooks/05_improving_the_model.ipynb")
    found = re.findall(r"^(\S.*?)\s+(\d+) epochs?\s+train ([\d.]+)  val ([\d.]+)$", text, re.M)
    assert len(found) >= 2
    return [
        {"run": run, "epochs": int(e), "train acc": float(t), "val acc": float(v)}
        for run, e, t, v in found
    ]


def gap(answer: object) -> exercises.Feedback:
    return exercises.check_accuracy_gap(answer, committed_rows(), run=RECIPE)


def test_accuracy_gap_on_the_committed_table() -> None:
    rows = {r["run"]: r for r in committed_rows()}
    recipe, original = rows[RECIPE], rows[ORIGINAL]
    points = 100 * (recipe["val acc"] - recipe["train acc"])  # by hand from the printed table
    assert gap(round(points, 1)).ok and gap(points).ok
    on_screen = 100 * (recipe["val acc"] - original["val acc"])  # the chapter prints this gain
    wrongs = {
        "a fraction": points / 100,
        "train minus val": -points,
        "the gain over the original (printed by the chapter)": round(on_screen, 1),
        "the original's gap": round(100 * (original["val acc"] - original["train acc"]), 1),
        "training accuracy gain": round(100 * (recipe["train acc"] - original["train acc"]), 1),
        "a comma": f"{points:.1f}".replace(".", ","),
    }
    if round(points) != round(points, 1):  # a whole number of points is right when it is one
        wrongs["rounded to a whole point"] = round(points)
    for name, wrong in wrongs.items():
        feedback = gap(wrong)
        assert feedback.status == "wrong", (name, wrong, feedback)
        echoed = feedback.message.replace(str(wrong), "")  # the learner's own answer may be quoted
        assert f"{points:.1f}" not in echoed
    assert "fraction" in gap(points / 100).message
    assert "sign" in gap(-points).message


def test_exercise_text_gives_no_example_answer() -> None:
    rows = {r["run"]: r for r in committed_rows()}
    points = f"{100 * (rows[RECIPE]['val acc'] - rows[RECIPE]['train acc']):.1f}"
    chapter = config.project_root() / "notebooks/05_improving_the_model.ipynb"
    screen = report.notebook_sources(chapter) + report.notebook_text(chapter)
    assert points not in screen, f"{points} is on chapter 05's screen"
    assert "e.g. 4.2" not in screen and "for example `4.2`" not in screen


#: The exercise's numbers: 75 s of training per epoch, validation +20 %, 40 minutes, 15 % margin.
BUDGET = {"train_seconds": 75, "budget_minutes": 40, "validation_overhead": 0.20, "margin": 0.15}


def budget(answer: object) -> exercises.Feedback:
    return exercises.check_budget_epochs(answer, **BUDGET)


def _epochs_that_fit(epoch_seconds: float, usable_seconds: float) -> int:
    """Count whole epochs one by one until the next would not fit."""
    epochs = 0
    while (epochs + 1) * epoch_seconds <= usable_seconds:
        epochs += 1
    return epochs


def _wrong_formulas(t: float, minutes: float, v: float, m: float) -> dict[str, float]:
    """What the usual wrong methods give for the budget exercise."""
    s = 60 * minutes
    return {
        "no margin": s / (t * (1 + v)),
        "no overhead": s * (1 - m) / t,
        "neither": s / t,
        "rounded up": math.ceil(s * (1 - m) / (t * (1 + v))),
        "rounded to nearest": round(s * (1 - m) / (t * (1 + v))),
        "minutes": minutes * (1 - m) / (t * (1 + v)),
        "overhead added as seconds": s * (1 - m) / (t + 100 * v),
        "overhead added as a number": s * (1 - m) / (t + v),
        "margin charged to the epoch": s / (t * (1 + v) * (1 + m)),
        "margin and overhead summed": s / (t * (1 + v + m)),
        "overhead taken from the budget": s * (1 - m - v) / t,
        "overhead as 1 - v": s * (1 - m) * (1 - v) / t,
        "margin as 1 / (1 + m)": s / (1 + m) / (t * (1 + v)),
    }


def test_budget_epochs_refuses_every_wrong_formula() -> None:
    t, minutes, v, m = (BUDGET[k] for k in BUDGET)
    right = _epochs_that_fit(t * (1 + v), 60 * minutes * (1 - m))
    assert budget(right).ok
    for name, wrong in _wrong_formulas(t, minutes, v, m).items():
        feedback = budget(math.floor(wrong))
        assert feedback.status == "wrong", (name, math.floor(wrong))
        assert "Hint" in feedback.message
    assert budget(right + 0.66).status == "wrong"
    assert "safety margin" in budget(math.floor(60 * minutes / (t * (1 + v)))).message
    assert "validation overhead" in budget(math.floor(60 * minutes * (1 - m) / t)).message
    assert budget(None).status == "open"


def test_budget_check_counts_like_the_brute_force() -> None:
    for t, minutes, v, m in [(70, 30, 0.12, 0.1), (12.5, 2, 0.12, 0.1), (300, 44, 0.12, 0.1)]:
        right = _epochs_that_fit(t * (1 + v), 60 * minutes * (1 - m))
        kwargs = {"validation_overhead": v, "margin": m}
        assert exercises.check_budget_epochs(right, t, minutes, **kwargs).ok
        assert not exercises.check_budget_epochs(right + 1, t, minutes, **kwargs).ok


def separable(answer: tuple) -> exercises.Feedback:
    return exercises.check_separable_params(*answer, in_channels=128, out_channels=256)


def test_separable_params() -> None:
    right = (3 * 3 * 128 + 128 * 256, 3 * 3 * 128 * 256)  # depthwise + pointwise; full
    assert separable(right).ok
    wrongs = [(294_912, 294_912), (32_768, 294_912), (33_920, 33_920), (33_920, 295_168)]
    for wrong in wrongs:
        feedback = separable(wrong)
        assert feedback.status == "wrong", wrong
        assert "Hint" in feedback.message
        assert not re.search(r"\d+ x \d+", feedback.message), "no arithmetic in a hint"
    assert separable((None, None)).status == "open"
    assert separable((33_920, None)).status == "open"


@pytest.mark.parametrize("check", [gap, budget])
def test_unanswered_is_open_not_wrong(check) -> None:  # noqa: ANN001
    assert check(None).status == "open"
    assert check("a lot").status == "wrong"
