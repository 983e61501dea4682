"""Chapter 05's self-checks: the reference answer passes, answers students really give fail.

The expected answers are counted here by brute force (seed by seed, epoch by epoch), not
taken from the check or from ``training.epochs_for_budget``.
"""

from __future__ import annotations

import math
import re

import pytest

from catdog_utils import config, exercises, report, study

CHAPTER = config.project_root() / "notebooks/05_improving_the_model.ipynb"

STUDY = config.project_root() / "docs" / "study-05.jsonl"


def seeds(answer: object, spread: float = 0.8, effect: float = 0.5) -> exercises.Feedback:
    return exercises.check_seeds_needed(answer, spread_points=spread, effect_points=effect)


def _fewest_by_counting(spread: float, effect: float, factor: float = 2.0) -> int:
    """Try n = 1, 2, 3 ... until the noise level of a difference falls below the effect."""
    n = 1
    while factor * spread * math.sqrt(1 / n + 1 / n) >= effect:
        n += 1
    return n


@pytest.mark.parametrize("spread", [0.3, 0.55, 0.8, 1.234, 2.0])
def test_seeds_needed_counts_like_the_brute_force(spread: float) -> None:
    right = _fewest_by_counting(spread, 0.5)
    assert seeds(right, spread).ok
    assert seeds(float(right), spread).ok
    assert seeds(right + 1, spread).status == "wrong"
    if right > 1:
        assert seeds(right - 1, spread).status == "wrong"


def test_seeds_needed_names_the_usual_mistakes() -> None:
    spread = 0.8  # 2 x 0.8 x sqrt(2/n) < 0.5  ->  n > 20.48
    assert _fewest_by_counting(spread, 0.5) == 21
    one_side = seeds(_fewest_by_counting(spread / math.sqrt(2), 0.5), spread)  # 1/n, not 2/n
    assert one_side.status == "wrong" and "both sides" in one_side.message
    one_error = seeds(_fewest_by_counting(spread, 0.5, factor=1.0), spread)
    assert one_error.status == "wrong" and "twice" in one_error.message
    assert "still reaches" in seeds(20, spread).message
    assert seeds("twenty").status == "wrong"
    assert seeds(None).status == "open"
    assert exercises.check_seeds_needed(21, spread_points=None).status == "open"


def test_seeds_needed_accepts_the_printed_spread() -> None:
    spread = 0.7949  # printed as 0.79
    from_printed = _fewest_by_counting(0.79, 0.5)
    exact = _fewest_by_counting(spread, 0.5)
    assert from_printed != exact
    assert seeds(from_printed, spread).ok and seeds(exact, spread).ok


def test_the_chapter_does_not_print_the_seeds_answer() -> None:
    records = study.load_results(STUDY)
    spread = study.pooled_sd(records)
    if spread is None:
        pytest.skip("the committed study has no configuration with two runs yet")
    n = _fewest_by_counting(100 * spread, 0.5)
    screen = report.notebook_sources(CHAPTER) + report.notebook_text(CHAPTER)
    for shown in (f"{n} seeds", f"{n} runs", f"n = {n}", f"n={n}"):
        assert shown not in screen, f"{shown!r} is on chapter 05's screen"


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


@pytest.mark.parametrize("check", [seeds, budget])
def test_unanswered_is_open_not_wrong(check) -> None:  # noqa: ANN001
    assert check(None).status == "open"
    assert check("a lot").status == "wrong"
