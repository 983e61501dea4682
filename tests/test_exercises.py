"""Exercise self-checks: right, wrong and unanswered answers each get a clear verdict."""

from __future__ import annotations

import numpy as np
import pytest

from catdog_utils import exercises, models


def test_hand_count_matches_keras() -> None:
    assert exercises.baseline_param_count() == 813_217
    for size in (64, 96, 128):
        model = models.build_baseline_cnn(size, compile_model=False)
        assert exercises.baseline_param_count(32, size) == model.count_params()


@pytest.mark.parametrize(
    ("check", "right", "wrong"),
    [
        (exercises.check_dataset_bytes, 8000 * 128 * 128 * 3, 8000 * 128 * 128),
        (exercises.check_param_count, exercises.baseline_param_count(64), 813_217),
        (exercises.check_flatten_size, 30 * 30 * 32, 31 * 31 * 32),
        (exercises.check_steps_per_epoch, 100, 200),
    ],
    ids=["bytes", "params", "flatten", "steps"],
)
def test_numeric_checks(check, right, wrong) -> None:  # noqa: ANN001 - parametrized callables
    assert check(right).ok
    assert check(wrong).status == "wrong" and "Hint" in str(check(wrong))
    assert check(None).status == "open"
    assert check("a lot").status == "wrong"


def test_dropout_check() -> None:
    import keras

    base = models.build_baseline_cnn(compile_model=False)
    assert exercises.check_has_dropout(None).status == "open"
    assert exercises.check_has_dropout(base).status == "wrong"
    x = base.get_layer("dense").output
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(keras.layers.Dropout(0.5)(x))
    with_dropout = keras.Model(base.inputs, out)
    assert exercises.check_has_dropout(with_dropout, rate=0.5).ok
    assert exercises.check_has_dropout(with_dropout, rate=0.3).status == "wrong"


def test_threshold_and_precision_checks() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1)
    from catdog_utils.evaluation import best_f1_threshold

    best, _ = best_f1_threshold(y, p)
    assert exercises.check_best_threshold(best, y, p).ok
    assert exercises.check_best_threshold(0.99, y, p).status == "wrong"
    cm = [[40, 10], [5, 45]]
    assert exercises.check_precision(45 / 55, cm).ok
    assert not exercises.check_precision(45 / 50, cm).ok
    assert exercises.check_dog_fraction(0.5, [0, 1, 0, 1]).ok


def test_smallest_photo_check() -> None:
    widths, heights = [500, 60, 57, 120], [374, 39, 50, 33]  # 57 and 33 are not the smallest
    check = exercises.check_smallest_photo
    assert check(None, widths, heights).status == "open"
    right = check((60, 39), widths, heights)
    assert right.ok and "2,340 pixels" in right.message and "made up" in right.message
    assert check([60, 39], widths, heights).ok  # any pair of numbers will do
    assert "swapped" in check((39, 60), widths, heights).message
    assert check((57, 50), widths, heights).status == "wrong"
    assert check((120, 33), widths, heights).status == "wrong"
    assert check("60x39", widths, heights).status == "wrong"
    assert check(60, widths, heights).status == "wrong"
    big = check((80, 119), [80, 500], [119, 374])
    assert big.ok and "more than the 4,096" in big.message


def test_largest_layer_check() -> None:
    model = models.build_baseline_cnn(compile_model=False)
    check = exercises.check_largest_layer
    assert check(None, model).status == "open"
    right = check("dense", model)
    assert right.ok and "802,944" in right.message and "98.7%" in right.message
    assert check(" Dense ", model).ok
    assert check("conv2", model).status == "wrong"
    assert "not a layer" in check("flatten_1", model).message


def test_flip_threshold_check() -> None:
    check = exercises.check_flip_threshold
    assert check(None, 0.9618).status == "open"
    assert check(0.9618, 0.9618).ok
    assert check(0.962, 0.9618).ok  # the rounded printout is good enough
    assert "already cat" in check(0.99, 0.9618).message
    assert "still dog" in check(0.5, 0.9618).message
    assert check("high", 0.9618).status == "wrong"
    assert check(0.5, float("nan")).status == "open"  # an unreadable photo has no answer
    y_val = np.array([0, 0, 1, 1, 1])
    val_probs = np.array([0.1, 0.97, 0.3, 0.95, 0.99])
    # at 0.5: the cat at 0.97 is a dog, the dog at 0.3 a cat; past 0.9618 the cat at 0.97
    # is still a dog and the dogs at 0.3 and 0.95 are cats
    high = check(0.9618, 0.9618, y_val, val_probs).message
    assert "from 1 cats called dogs + 1 dogs called cats to 1 + 2" in high
    assert "(accuracy 60.0% -> 40.0%)" in high
    # a photo below 0.5: lowering the threshold to it calls the cat at 0.1 a dog
    low = check(0.05, 0.05, y_val, val_probs).message
    assert "to 2 + 0 (accuracy 60.0% -> 60.0%)" in low


def test_photos_right_check() -> None:
    probs = np.array([0.962, 0.931, 0.011, 0.0001])
    labels = [0, 1, 1, 0]  # cat, dog, dog, cat
    check = exercises.check_photos_right
    assert check(None, probs, labels).status == "open"
    assert check(None, probs, None).status == "open"
    assert check(2, probs, None).status == "open"  # unlabelled photos cannot be checked
    assert check(2, probs, labels, threshold=0.5).ok
    right = check(1, probs, labels, threshold=0.95)  # 0.931 becomes a cat
    assert right.ok and "1 of 4 right at threshold 0.950, against 2 at 0.5" in right.message
    assert check(3, probs, labels, threshold=0.95).status == "wrong"
    assert check("two", probs, labels).status == "wrong"
    with_error = np.array([np.nan, 0.931, 0.011, 0.0001])  # an unreadable cat is not right
    assert check(3, with_error, labels, threshold=0.01).ok
    assert check(4, with_error, labels, threshold=0.01).status == "wrong"


def test_export_size_ratio_check(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    keras_file, lite_file = tmp_path / "m.keras", tmp_path / "m.tflite"
    keras_file.write_bytes(b"k" * 3000)
    lite_file.write_bytes(b"t" * 1000)
    check = exercises.check_export_size_ratio
    assert check(None, keras_file, lite_file).status == "open"
    assert check(3.0, keras_file, lite_file).ok
    assert check(3.01, keras_file, lite_file).ok  # 1 % for ratios of rounded MB figures
    assert check(1 / 3, keras_file, lite_file).status == "wrong"
    adam = check(3, keras_file, lite_file, n_params=250)
    assert adam.ok and "Adam" in adam.message and "3.00 times" in adam.message
    keras_file.write_bytes(b"k" * 1500)
    plain = check(1.5, keras_file, lite_file, n_params=250)
    assert plain.ok and "Adam" not in plain.message
    missing = check(3, tmp_path / "gone.keras", lite_file)
    assert missing.status == "wrong" and "gone.keras" in missing.message
