"""Chapter 06's self-checks accept the right answer and refuse plausible wrong ones.

Expected answers are worked out here independently: by hand for the head, by counting
layer by layer (not through ``trainable_weights``) for the fine-tuned fraction.
"""

from __future__ import annotations

import keras
import pytest

from catdog_utils import exercises, mobilenet, pretrained


def test_head_weights() -> None:
    assert exercises.check_head_weights(None).status == "open"
    assert exercises.check_head_weights(1281).ok
    assert exercises.check_head_weights("1281").ok
    for wrong in (1280, 1279, 1, 2, 1282, 2562, 1_281_000, 0, "many"):
        feedback = exercises.check_head_weights(wrong)
        assert feedback.status == "wrong", wrong
        hint = feedback.message.split("Hint:")[1]  # the answer never appears in the hint
        assert "1281" not in hint and "1,281" not in hint


@pytest.fixture(scope="module")
def tuned_and_final() -> tuple[keras.Model, keras.Model, int, int]:
    """Chapter 06's fine-tuning setup at 64 px (no weights needed for counting)."""
    bottom = mobilenet.build_bottom(pretrained.CUT_BLOCK, 64)
    top = mobilenet.build_top(pretrained.CUT_BLOCK + 1, tuple(bottom.output.shape[1:]))
    head = pretrained.build_head()
    for layer in top.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    model = pretrained.stack(top, head)
    final = pretrained.assemble(bottom, top, head)
    # by hand, layer by layer: convolutions of features_17 and features_18, and the head
    convs = [layer for layer in top.layers if type(layer).__name__.endswith("Conv2D")]
    trained = sum(layer.count_params() for layer in convs) + 1281
    whole = sum(layer.count_params() for layer in final.layers)
    return model, final, trained, whole


def test_fine_tuned_fraction(tuned_and_final: tuple[keras.Model, keras.Model, int, int]) -> None:
    model, final, trained, whole = tuned_and_final
    assert trained == 880_321 and whole == 2_259_265
    right = trained / whole
    check = exercises.check_fine_tuned_fraction
    assert check(None, model, final).status == "open"
    assert check(right, model, final).ok
    assert check(round(right, 3), model, final).ok
    bn = sum(
        layer.count_params()
        for layer in model.get_layer("mobilenet_v2_from_17").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    frozen_bn_values = 34_112  # moving means and variances of all 52 batch norms
    wrong = {
        "percent": 100 * right,
        "inverse": whole / trained,
        "stack as the whole": trained / model.count_params(),
        "batch norm counted as trained": (trained + bn) / whole,
        "final's trainable as the whole": trained / (whole - frozen_bn_values),
        "head only": 1281 / whole,
        "frozen share": 1 - right,
    }
    for name, value in wrong.items():
        feedback = check(value, model, final)
        assert feedback.status == "wrong", (name, value)
        assert f"{right:.1%}" not in feedback.message
    assert "percentage" in check(100 * right, model, final).message
