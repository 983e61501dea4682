"""Time-budgeted training: the plan follows the timing trial, progressive resizing trains one
model at two sizes and saves it with a fixed input size, and the improved recipe keeps the
averaged (EMA) weights."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from catdog_utils import evaluation, models, pipeline, predict, training


def _load(shared: Path, size: int) -> pipeline.CourseData:
    return pipeline.load_course_data(
        data_dir=shared,
        image_size=size,
        cache=False,
        train_per_class=24,
        test_per_class=4,
        batch_size=8,
    )


@pytest.fixture(scope="module")
def two_sizes(shared_dataset: Path) -> tuple[pipeline.CourseData, pipeline.CourseData]:
    """The same 38 training / 10 validation real photos at 24 and 40 pixels."""
    return _load(shared_dataset, 24), _load(shared_dataset, 40)


def _tiny(size: int | None) -> keras.Model:
    """A small fully convolutional model (any input size when ``size`` is None)."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


def _compiled(epochs: int) -> keras.Model:
    model = _tiny(None)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2, use_ema=True),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    model.planned_epochs = epochs  # what the planner asked for, read back below
    return model


def test_progressive_resizing_trains_both_sizes_and_saves_a_fixed_size_model(
    two_sizes: tuple[pipeline.CourseData, pipeline.CourseData], tmp_path: Path
) -> None:
    small, large = two_sizes
    path = tmp_path / "m.keras"
    built: list[keras.Model] = []

    def build(epochs: int) -> keras.Model:
        built.append(_compiled(epochs))
        return built[-1]

    result = training.train_progressive(
        build,
        lambda: _tiny(40),
        [small, large],
        [6.0, 6.0],
        max_epochs=3,
        model_path=path,
        verbose=0,
    )
    planned = result.extra["planned_epochs"]
    assert len(planned) == 2 and 2 <= sum(planned) <= 3 and min(planned) >= 1
    # one model, one schedule over all stages (the two timing trials are thrown away)
    assert built[-1].planned_epochs == sum(planned)
    sizes = result.history["image_size"]
    assert sizes == sorted(sizes) and set(sizes) == {24.0, 40.0}
    assert len(result.history["loss"]) == len(sizes) == result.epochs_run
    assert len(result.history["val_accuracy"]) == result.epochs_run
    # the saved model takes 40-pixel images and gives the trained model's answers
    loaded = predict.load_model(path)
    assert tuple(loaded.input_shape) == (None, 40, 40, 3)
    np.testing.assert_allclose(
        evaluation.predict_probabilities(loaded, large.x_val),
        evaluation.predict_probabilities(built[-1], large.x_val),
        atol=1e-6,
    )
    saved = json.loads(training.history_path(path).read_text())
    assert saved["image_size"] == sizes


def test_budget_plan_follows_the_timing_trial(
    two_sizes: tuple[pipeline.CourseData, pipeline.CourseData], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, data = two_sizes
    monkeypatch.setattr(training, "measure_seconds_per_epoch", lambda build, data: 2.0)
    built: list[keras.Model] = []

    def build(epochs: int) -> keras.Model:
        built.append(_compiled(epochs))
        return built[-1]

    result = training.train_within_budget(build, data, 10.0, max_epochs=50, margin=0.1, verbose=0)
    # 2 s of training + 12 % validation per epoch, 9 usable seconds: 4 epochs
    assert result.extra["planned_epochs"] == 4 == built[-1].planned_epochs
    assert result.extra["estimated_epoch_seconds"] == pytest.approx(2.24)
    assert 1 <= len(result.history["loss"]) <= 4


def test_improved_recipe_validates_with_and_keeps_the_averaged_weights(
    two_sizes: tuple[pipeline.CourseData, pipeline.CourseData],
) -> None:
    _, data = two_sizes
    result = training.train_improved(data, 2, widths=(8, 16), blocks_per_stage=1)
    optimizer = result.model.optimizer
    assert optimizer.use_ema
    # after fit, the model holds the moving average of its weights
    for weight, average in zip(
        optimizer._trainable_variables, optimizer._model_variables_moving_average, strict=True
    ):
        np.testing.assert_allclose(np.asarray(weight), np.asarray(average), atol=1e-6)
    with pytest.raises(ValueError, match="patience=None"):
        training.train_improved(data, 1, patience=3)


def test_improved_recipe_mixes_up_only_the_full_size_stage(
    two_sizes: tuple[pipeline.CourseData, pipeline.CourseData],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    small, large = two_sizes
    seen: dict[str, object] = {}
    real_progressive = training.train_progressive

    def spy(build_model, build_fixed, stages, *args, **kwargs):  # noqa: ANN001, ANN202
        seen["labels"] = [np.concatenate([y for _, y in stage.train]) for stage in stages]
        return real_progressive(build_model, build_fixed, stages, *args, **kwargs)

    monkeypatch.setattr(training, "train_progressive", spy)
    path = tmp_path / "improved.keras"
    result = training.train_improved(
        large, 2, path, budget_minutes=0.2, small_images=small, mixup=models.MIXUP_ALPHA,
        widths=(8,), blocks_per_stage=1, verbose=0,
    )  # fmt: skip
    small_labels, large_labels = seen["labels"]
    assert set(np.unique(small_labels)) <= {0.0, 1.0}  # the small stage: plain photos
    assert ((large_labels > 0.01) & (large_labels < 0.99)).any()  # the full-size stage: blends
    # accuracy still means "right side of 0.5", blends included
    assert all(0.0 <= a <= 1.0 for a in result.history["accuracy"])
    # the saved model is plain Keras: loadable without the course's code
    assert tuple(keras.models.load_model(path).input_shape) == (None, 40, 40, 3)
    with pytest.raises(ValueError, match="progressive recipe"):
        training.train_improved(large, 1, mixup=0.2)


def test_final_fit_trains_on_validation_photos_too_and_validates_nothing(
    two_sizes: tuple[pipeline.CourseData, pipeline.CourseData],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The chapter's final fit: train + validation photos at both sizes, no mixup, no
    validation time charged to the budget plan."""
    small, large = (pipeline.with_validation_in_training(c) for c in two_sizes)
    assert len(large.y_train) == len(two_sizes[1].y_train) + len(two_sizes[1].y_val) == 48
    seen: dict[str, object] = {}
    monkeypatch.setattr(training, "measure_seconds_per_epoch", lambda build, data: 1.0)
    real_progressive = training.train_progressive

    def spy(build_model, build_fixed, stages, *args, **kwargs):  # noqa: ANN001, ANN202
        seen["labels"] = [np.concatenate([y for _, y in stage.train]) for stage in stages]
        return real_progressive(build_model, build_fixed, stages, *args, **kwargs)

    monkeypatch.setattr(training, "train_progressive", spy)
    result = training.train_improved(
        large, 9, tmp_path / "m.keras", budget_minutes=0.1, small_images=small,
        widths=(8,), blocks_per_stage=1, verbose=0,
    )  # fmt: skip
    # every photo of both sizes, with plain labels: the recipe has no mixup
    assert [len(y) for y in seen["labels"]] == [48, 48]
    assert all(set(np.unique(y)) <= {0.0, 1.0} for y in seen["labels"])
    # 1 s per epoch and nothing added for validation: 0.25 * 6 s * 0.95 -> 1 epoch, then 4
    assert result.extra["estimated_epoch_seconds"] == [1.0, 1.0]
    assert result.extra["planned_epochs"] == [1, 4]
    assert not any(key.startswith("val_") for key in result.history)
    assert len(result.history["loss"]) == result.epochs_run


def test_improved_cnn_accepts_any_size_when_built_without_one() -> None:
    flexible = models.build_improved_cnn(None, widths=(8, 16), blocks_per_stage=1)
    fixed = models.build_improved_cnn(64, widths=(8, 16), blocks_per_stage=1)
    fixed.set_weights(flexible.get_weights())
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(flexible(images), fixed(images), atol=1e-6)
    assert flexible(images[:, :40, :40]).shape == (2, 1)


def test_catdog_train_improved_runs_the_chapter_05_recipe(
    tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`catdog train --model improved` with a profile's budget: progressive resizing, EMA."""
    from helpers import run_cli

    out = tmp_path / "improved.keras"
    code, stdout, _ = run_cli(
        capsys, "train", "--model", "improved", "--profile", "quick", "--data-dir", tiny_dataset,
        "--image-size", 64, "--batch-size", 8, "--out", out, "--log-dir", tmp_path / "runs",
    )  # fmt: skip
    assert code == 0, stdout
    assert "32px then 64px within 0.5 minutes, on training + validation photos" in stdout
    assert f"Saved {out}" in stdout and "(no validation)" in stdout
    model = predict.load_model(out)
    assert tuple(model.input_shape) == (None, 64, 64, 3)
    sizes = json.loads(training.history_path(out).read_text())["image_size"]
    assert sizes == sorted(sizes) and set(sizes) == {32.0, 64.0}
    assert list((tmp_path / "runs").rglob("events.out.tfevents.*"))  # TensorBoard logs


def test_bfloat16_is_chosen_by_measured_speed_not_by_cpu_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_trial(*args: object, **kwargs: object) -> float:
        raise AssertionError("a CPU without bfloat16 instructions needs no timing trial")

    keras.mixed_precision.set_global_policy("float32")
    try:
        monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: False)
        monkeypatch.setattr(training, "bfloat16_speedup", no_trial)
        assert training.use_bfloat16_if_faster() is False
        monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: True)
        monkeypatch.setattr(training, "bfloat16_speedup", lambda: 0.7)  # has it, runs it slowly
        assert training.use_bfloat16_if_faster() is False
        assert keras.mixed_precision.global_policy().name == "float32"
        monkeypatch.setattr(training, "bfloat16_speedup", lambda: 1.3)
        assert training.use_bfloat16_if_faster() is True
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_bfloat16_speedup_times_both_policies_and_restores_the_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timed: list[tuple[str, int, int]] = []
    real_seconds_per_step = training._seconds_per_step

    def seconds_per_step(model: keras.Model, batches: object, warm_up: int, steps: int) -> float:
        real_seconds_per_step(model, batches, warm_up, steps)  # the real step must run
        timed.append((model.dtype_policy.name, warm_up, steps))
        return {"float32": 3.0, "mixed_bfloat16": 2.0}[model.dtype_policy.name]

    monkeypatch.setattr(training, "_seconds_per_step", seconds_per_step)
    keras.mixed_precision.set_global_policy("float32")
    speedup = training.bfloat16_speedup(image_size=32, steps=2, warm_up=1)
    assert timed == [("float32", 1, 2), ("mixed_bfloat16", 1, 2)]
    assert speedup == pytest.approx(1.5)  # float32 seconds over bfloat16 seconds, not inverted
    assert keras.mixed_precision.global_policy().name == "float32"


def test_seconds_per_step_is_the_median_step_after_the_warm_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # stamps at the end of batches 1..7; timing starts at the end of batch 3: 1, 5, 1, 1 s
    stamps = iter([10.0, 20.0, 30.0, 31.0, 36.0, 37.0, 38.0])
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(stamps))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    batches = tf.data.Dataset.from_tensors((np.zeros((4, 2)), np.zeros((4, 1)))).repeat()
    assert training._seconds_per_step(model, batches, warm_up=3, steps=4) == 1.0
