"""Chapter 05's self-checks: the reference answer passes, answers students really give fail.

Every wrong answer must get "Not yet" with a hint (never an exception); the table mirrors the
reference solutions in ``notebooks/solutions/05_solutions.ipynb``.
"""

from __future__ import annotations

import pytest

from catdog_utils import exercises

#: A comparison table shaped like the one chapter 05 builds (values as in a short run).
ROWS = [
    {"run": "original CNN (64px)", "train acc": 0.7512, "val acc": 0.7281},
    {"run": "full recipe (64px)", "train acc": 0.7840, "val acc": 0.8106},
    {"run": "- weight averaging (EMA)", "train acc": 0.7790, "val acc": 0.7950},
]


def ablation(answer: object) -> exercises.Feedback:
    return exercises.check_ablation_gain(
        answer, ROWS, recipe="full recipe (64px)", reference="original CNN (64px)"
    )


def budget(answer: object) -> exercises.Feedback:
    return exercises.check_budget_epochs(
        answer, train_seconds=70, budget_minutes=30, validation_overhead=0.12, margin=0.10
    )


def separable(answer: tuple) -> exercises.Feedback:
    return exercises.check_separable_params(*answer, in_channels=128, out_channels=256)


CASES = [
    # (check, the reference answer, wrong answers a student would give, words the hint names)
    (
        separable,
        (33_920, 294_912),
        [(294_912, 294_912), (32_768, 294_912), (33_920, 33_920), (33_920, 295_168)],
        "depthwise",
    ),
    (ablation, 8.3, [0.0825, -8.3, 3.3, 2.3, "8,3"], "val acc"),
    (budget, 20, [21, 22, 23, 0, 20.66], "round down"),
]


@pytest.mark.parametrize(("check", "right", "wrongs", "_words"), CASES)
def test_reference_answer_passes(check, right, wrongs, _words) -> None:  # noqa: ANN001
    feedback = check(right)
    assert feedback.ok, feedback


@pytest.mark.parametrize(("check", "right", "wrongs", "words"), CASES)
def test_wrong_answers_get_not_yet_with_a_hint(check, right, wrongs, words) -> None:  # noqa: ANN001
    for wrong in wrongs:
        feedback = check(wrong)
        assert feedback.status == "wrong", (wrong, feedback)
        assert str(feedback).startswith("❌ Not yet") and "Hint" in feedback.message, feedback


def test_unanswered_is_open_not_wrong() -> None:
    assert separable((None, None)).status == "open"
    assert separable((33_920, None)).status == "open"
    assert ablation(None).status == "open"
    assert budget(None).status == "open"


def test_specific_mistakes_get_specific_hints() -> None:
    assert "fraction" in ablation(0.0825).message
    assert "sign" in ablation(-8.3).message
    assert "training accuracy" in ablation(3.3).message
    assert "safety margin" in budget(22).message
    assert "validation overhead" in budget(23).message
    assert "rounds up" in budget(21).message
    assert "full Conv2D" in separable((294_912, 294_912)).message


def test_ablation_gain_accepts_rounding_to_one_decimal_only() -> None:
    exact = 100 * (0.8106 - 0.7281)  # 8.25
    assert ablation(round(exact, 1)).ok and ablation(exact).ok
    assert not ablation(round(exact)).ok  # 8 is a whole point off the table's figure


def test_budget_check_agrees_with_the_planner() -> None:
    from catdog_utils import training

    for seconds, minutes in [(70, 30), (12.5, 2), (300, 44)]:
        planned = training.epochs_for_budget(seconds * 1.12, minutes * 60, 10**6, margin=0.1)
        assert exercises.check_budget_epochs(planned, seconds, minutes).ok
