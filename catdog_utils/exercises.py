"""Self-checks for the notebooks' exercises.

Each ``check_*`` function takes the learner's answer and returns a :class:`Feedback` that
says clearly whether it is right and why (it displays as one line in a notebook).  An
answer left as ``None`` is "not answered yet", never an error, so a notebook with open
exercises still runs from top to bottom.  Worked solutions are in ``notebooks/solutions/``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import keras


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: ``status`` is ``right``, ``wrong`` or ``open``."""

    status: str
    message: str

    @property
    def ok(self) -> bool:
        """True when the answer is right."""
        return self.status == "right"

    def __str__(self) -> str:
        mark = {"right": "✅ Right", "wrong": "❌ Not yet", "open": "📝 Not answered yet"}
        return f"{mark[self.status]}: {self.message}"

    __repr__ = __str__


def _open(hint: str) -> Feedback:
    return Feedback("open", f"replace None with your answer. Hint: {hint}")


def _as_number(answer: object) -> float | None:
    """``answer`` as a float, or ``None`` when it is not a number (text, a list, ``None``)."""
    try:
        return float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _number(answer: object, expected: float, why: str, hint: str, rel: float = 0.0) -> Feedback:
    if answer is None:
        return _open(hint)
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected a number, got {answer!r}. Hint: {hint}")
    if math.isclose(value, expected, rel_tol=rel, abs_tol=1e-9):
        return Feedback("right", why)
    shown = f"{int(value):,}" if value.is_integer() else f"{value:.4g}"
    return Feedback("wrong", f"{shown} is not it. Hint: {hint}")


# --- 01 · data exploration -------------------------------------------------------------


def image_bytes(size: int, channels: int = 3, count: int = 1) -> int:
    """Bytes taken by ``count`` decoded ``size`` x ``size`` uint8 images."""
    return size * size * channels * count


def check_dataset_bytes(answer: object, size: int = 128, count: int = 8000) -> Feedback:
    """Exercise 01.1: memory for ``count`` decoded ``size``-pixel RGB images (uint8)."""
    expected = image_bytes(size, count=count)
    return _number(
        answer,
        expected,
        f"{count} x {size} x {size} x 3 bytes = {expected:,} bytes "
        f"({expected / 2**20:.0f} MiB): small enough to keep in memory.",
        "one byte per colour channel per pixel; multiply height x width x channels x images.",
    )


def check_dog_fraction(answer: object, labels: Sequence[int]) -> Feedback:
    """Exercise 01.2: the fraction of dogs in a label array (a balanced set gives 0.5)."""
    expected = float(np.mean(np.asarray(labels)))
    hint = "labels are 0 for cats and 1 for dogs, so their mean is the fraction of dogs."
    value = _as_number(answer)
    if value is not None and value > 1:
        if math.isclose(value, 100 * expected, rel_tol=1e-3):
            return Feedback("wrong", f"{value:g} is a percentage: give a fraction between 0 and 1.")
        return Feedback("wrong", f"{value:g} is more than 1: a count, not a fraction? Hint: {hint}")
    return _number(
        answer,
        expected,
        f"dogs are {expected:.3f} of the images, so always answering 'dog' scores "
        f"{max(expected, 1 - expected):.1%}: the accuracy any model must beat.",
        hint,
        rel=1e-3,
    )


def check_smallest_photo(
    answer: object, widths: Sequence[int], heights: Sequence[int], image_size: int = 64
) -> Feedback:
    """Exercise 01.3: ``(width, height)`` of the photo with the fewest pixels."""
    w = np.asarray(widths, dtype=int)
    h = np.asarray(heights, dtype=int)
    smallest = int(np.argmin(w * h))
    least = int(w[smallest] * h[smallest])
    if answer is None:
        return _open("multiply widths by heights and look for the smallest product (np.argmin).")
    try:
        if isinstance(answer, str | bytes):
            raise TypeError
        aw, ah = (int(v) for v in answer)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return Feedback("wrong", f"expected (width, height), two numbers, got {answer!r}.")
    if aw * ah == least and np.any((w == aw) & (h == ah)):
        target = image_size * image_size
        if least < target:
            effect = (
                f"only {least / target:.0%} of the {target:,} pixels the network gets are "
                "real, the rest is made up by interpolation: it sees a blurred photo"
            )
        else:
            effect = f"it still has more than the {target:,} pixels the network gets"
        return Feedback(
            "right",
            f"{aw} x {ah} = {least:,} pixels. At {image_size} x {image_size} its width is "
            f"scaled by {image_size / aw:.2f} and its height by {image_size / ah:.2f}, so the "
            f"animal is also distorted; {effect}.",
        )
    if np.any((w == ah) & (h == aw)) and ah * aw == least and not np.any((w == aw) & (h == ah)):
        return Feedback("wrong", "width and height are swapped: give (width, height).")
    return Feedback(
        "wrong",
        f"{aw} x {ah} = {aw * ah:,} pixels is not the smallest. Hint: compare pixel counts "
        "(width x height), not one side.",
    )


# --- 02 · building the CNN -------------------------------------------------------------


def baseline_param_count(filters: int = 32, image_size: int = 64, dense: int = 128) -> int:
    """Parameters of the original CNN with ``filters`` per convolution, worked out by hand."""
    conv1 = 3 * 3 * 3 * filters + filters
    conv2 = 3 * 3 * filters * filters + filters
    side = ((image_size - 2) // 2 - 2) // 2
    dense_params = side * side * filters * dense + dense
    return conv1 + conv2 + dense_params + dense + 1


def check_param_count(answer: object, filters: int = 64, image_size: int = 64) -> Feedback:
    """Exercise 02.1: the parameter count with ``filters`` filters in both convolutions."""
    expected = baseline_param_count(filters, image_size)
    return _number(
        answer,
        expected,
        f"{expected:,} parameters: the Dense layer grows with the number of filters "
        "because it sees every value of the flattened feature maps.",
        "a 3x3 convolution has 3*3*in_channels*filters weights + filters biases; the "
        "flattened map after the second pooling is 14 x 14 x filters at 64x64.",
    )


def check_flatten_size(answer: object, image_size: int = 128, filters: int = 32) -> Feedback:
    """Exercise 02.2: the length of the Flatten output for a given input size."""
    side = ((image_size - 2) // 2 - 2) // 2
    expected = side * side * filters
    return _number(
        answer,
        expected,
        f"{image_size} -> {image_size - 2} (conv) -> {(image_size - 2) // 2} (pool) -> "
        f"{(image_size - 2) // 2 - 2} (conv) -> {side} (pool); {side} x {side} x {filters} "
        f"= {expected:,}.",
        "a 3x3 convolution without padding removes 2 pixels; a 2x2 pooling halves (rounding down).",
    )


def check_gap_dense_params(answer: object, model: keras.Model) -> Feedback:
    """Exercise 02.3: parameters of ``model``'s hidden Dense layer if Flatten were replaced by
    global average pooling (one average per feature map of the last convolution)."""
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    denses = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    hint = (
        "global average pooling leaves one number per feature map of the last convolution; "
        "a Dense layer has inputs x units weights + units biases."
    )
    if answer is None:
        return _open(hint)
    channels, units = int(convs[-1].filters), int(denses[0].units)
    expected = channels * units + units
    now = denses[0].count_params()
    value = _as_number(answer)
    if value == now:
        return Feedback(
            "wrong", f"{now:,} is the dense layer as it is now, after Flatten. Hint: {hint}"
        )
    if value == channels * units:
        return Feedback("wrong", f"{value:,.0f} forgets the {units} biases. Hint: {hint}")
    return _number(
        answer,
        expected,
        f"{channels} averages x {units} units + {units} biases = {expected:,}, against "
        f"{now:,} after Flatten ({now / expected:.0f}x fewer), whatever the image size.",
        hint,
    )


# --- 03 · training ---------------------------------------------------------------------


def check_steps_per_epoch(answer: object, n_images: int = 6400, batch_size: int = 64) -> Feedback:
    """Exercise 03.1: batches per epoch for ``n_images`` and ``batch_size``."""
    expected = math.ceil(n_images / batch_size)
    return _number(
        answer,
        expected,
        f"ceil({n_images} / {batch_size}) = {expected} weight updates per epoch.",
        "one step = one batch; the last batch may be smaller.",
    )


def check_has_dropout(model: keras.Model | None, rate: float | None = None) -> Feedback:
    """Exercise 03.2: the baseline with Dropout between the hidden Dense layer and the
    output, compiled.

    Layers are read in order, so a model without ``Flatten`` (or with no Dense layer at
    all) gets "Not yet" with a hint, never an exception.
    """
    hint = (
        "put keras.layers.Dropout(0.5) between Dense(128) and the output Dense(1), then "
        "model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])."
    )
    if model is None:
        return _open(hint)
    layers = list(getattr(model, "layers", []))
    if not layers:
        return Feedback("wrong", f"expected a keras.Model, got {type(model).__name__}. {hint}")
    kinds = [type(layer).__name__ for layer in layers]
    if "Dropout" not in kinds:
        return Feedback("wrong", f"no Dropout layer among {kinds}. Hint: {hint}")
    if len(kinds) < 2 or kinds[-1] != "Dense" or getattr(layers[-1], "units", None) != 1:
        return Feedback("wrong", f"the last layer must be the Dense(1) output, got {kinds}.")
    drop_at = kinds.index("Dropout")
    dense_before = [k for k in kinds[:drop_at] if k == "Dense"]
    if drop_at != len(kinds) - 2 or not dense_before:
        return Feedback(
            "wrong",
            f"Dropout is layer {drop_at} of {kinds}: the exercise puts it right after "
            "Dense(128), just before the output (on the inputs of the last layer).",
        )
    drop = layers[drop_at]
    if rate is not None and not math.isclose(drop.rate, rate):
        return Feedback("wrong", f"Dropout rate is {drop.rate}, the exercise asks for {rate}.")
    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        return Feedback("wrong", f"the model is not compiled yet. Hint: {hint}")
    return Feedback(
        "right",
        f"Dropout({drop.rate}) adds no parameters ({model.count_params():,} in all); it "
        "silences random units during training only, which fights overfitting.",
    )


def check_best_epoch(answer: object, history: dict[str, Sequence[float]]) -> Feedback:
    """Exercise 03.3: the epoch (counted from 1) with the lowest validation loss."""
    hint = "np.argmin(history['val_loss']) gives a position counted from 0; epochs count from 1."
    if answer is None:
        return _open(hint)
    val_loss = np.asarray(history["val_loss"], dtype=float)
    expected = int(np.argmin(val_loss)) + 1
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected an epoch number, got {answer!r}. Hint: {hint}")
    if value == expected:
        last = len(val_loss)
        after = (
            f"; {last - expected} more epochs took it to {val_loss[-1]:.4f} while the "
            f"training loss kept falling: the model overfits from here on"
            if expected < last
            else "; it was still falling at the end: more epochs could help"
        )
        return Feedback(
            "right", f"epoch {expected}: validation loss {val_loss[expected - 1]:.4f}{after}."
        )
    if value == expected - 1:
        return Feedback("wrong", f"{value:g} counts from 0. Hint: {hint}")
    if "val_accuracy" in history and value == int(np.argmax(history["val_accuracy"])) + 1:
        return Feedback(
            "wrong",
            f"epoch {value:g} has the best validation accuracy; the question asks for the "
            "lowest validation loss (they need not coincide).",
        )
    if value == len(val_loss):
        return Feedback(
            "wrong", f"{value:g} is the last epoch, where the loss is not the lowest. Hint: {hint}"
        )
    return Feedback("wrong", f"epoch {value:g} is not it. Hint: {hint}")


# --- 04 · evaluation -------------------------------------------------------------------


def check_precision(answer: object, cm: Sequence[Sequence[int]]) -> Feedback:
    """Exercise 04.1: precision for "dog" from a 2x2 confusion matrix (rows true)."""
    (tn, fp), (fn, tp) = np.asarray(cm)
    expected = tp / (tp + fp) if tp + fp else 0.0
    hint = (
        "precision = true dogs among the photos called dog; the rows are the true class, "
        "the columns what the model said."
    )
    value = _as_number(answer)
    for name, other in (
        ("the recall (dogs found among the true dogs)", tp / (tp + fn) if tp + fn else -1),
        ("the accuracy", (tp + tn) / max(tp + tn + fp + fn, 1)),
    ):
        distinct = not math.isclose(other, expected, rel_tol=1e-3)
        if value is not None and distinct and math.isclose(value, other, rel_tol=1e-3):
            return Feedback("wrong", f"{value:.4f} is {name}. Hint: {hint}")
    return _number(
        answer,
        expected,
        f"precision = TP / (TP + FP) = {tp} / ({tp} + {fp}) = {expected:.4f}: of the photos "
        "called dog, this fraction were dogs.",
        hint,
        rel=1e-3,
    )


def cat_f1(y_true: np.ndarray, probs: np.ndarray, threshold: float) -> float:
    """F1 for "cat": a photo is called cat when its dog probability is below ``threshold``."""
    y = np.asarray(y_true).astype(int).reshape(-1)
    called_cat = np.asarray(probs, dtype=float).reshape(-1) < threshold
    tp = int(np.sum(called_cat & (y == 0)))
    wrong = int(np.sum(called_cat & (y == 1))) + int(np.sum(~called_cat & (y == 0)))
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0


def best_cat_f1_threshold(y_true: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """The threshold with the highest F1 for "cat" (the smallest one if several tie)."""
    p = np.asarray(probs, dtype=float).reshape(-1)
    candidates = np.unique(np.r_[p, np.nextafter(p.max(), 2.0)])
    scores = [cat_f1(y_true, p, t) for t in candidates]
    best = int(np.argmax(scores))
    return float(candidates[best]), float(scores[best])


def check_best_threshold(
    answer: object, y_true: np.ndarray, probs: np.ndarray, positive: str = "dog"
) -> Feedback:
    """Exercise 04.2: the threshold that maximises F1 on the given (validation) data.

    ``positive`` says whose F1: ``"dog"`` (called dog at or above the threshold) or ``"cat"``
    (called cat below it).  Only a threshold that reaches the best F1 is right (within 1e-6:
    ties between neighbouring probabilities), so the default 0.5 and the other class's best
    threshold get "Not yet" unless they really are best.
    """
    from .evaluation import best_f1_threshold, binary_metrics

    def f1_at(t: float) -> float:
        return (
            cat_f1(y_true, probs, t) if positive == "cat" else binary_metrics(y_true, probs, t).f1
        )

    if positive == "cat":
        threshold, best = best_cat_f1_threshold(y_true, probs)
        other, other_name = best_f1_threshold(y_true, probs)[0], "dog"
    else:
        threshold, best = best_f1_threshold(y_true, probs)
        other, other_name = best_cat_f1_threshold(y_true, probs)[0], "cat"
    hint = (
        f"compute the F1 for {positive} at every distinct probability (np.unique(probs)) "
        "used as the threshold and keep the best."
    )
    if answer is None:
        return _open(hint)
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected a threshold between 0 and 1, got {answer!r}.")
    f1 = f1_at(value)
    if f1 >= best - 1e-6:
        return Feedback(
            "right",
            f"F1 for {positive} {f1:.4f} at {value:.3f}, the best there is (at 0.5: "
            f"{f1_at(0.5):.4f}); chosen on validation data, so the test set stays an honest "
            "judge.",
        )
    if math.isclose(value, 0.5):
        why = "0.5 is the default threshold, not the best one"
    elif math.isclose(value, other, abs_tol=1e-9):
        why = f"{value:.3f} is the best threshold for the F1 of {other_name}, not of {positive}"
    else:
        why = f"F1 at {value:.3f} is {f1:.4f}"
    return Feedback("wrong", f"{why}; a better threshold reaches {best:.4f}. Hint: {hint}")


# --- 05 · improving the model ----------------------------------------------------------


def separable_conv_params(in_channels: int, out_channels: int, kernel: int = 3) -> int:
    """Weights of a bias-free ``SeparableConv2D``: depthwise + pointwise."""
    return kernel * kernel * in_channels + in_channels * out_channels


def check_separable_params(
    separable: object, full: object, in_channels: int = 128, out_channels: int = 256
) -> Feedback:
    """Exercise 05.1: weights of a bias-free 3x3 separable convolution, and of a full one."""
    expected = separable_conv_params(in_channels, out_channels)
    expected_full = 9 * in_channels * out_channels
    if separable is None or full is None:
        return _open(
            "a separable convolution is a 3x3 depthwise filter per input channel, then a 1x1 "
            "convolution from in_channels to out_channels; a full Conv2D has one 3x3 filter for "
            "every (input channel, output channel) pair."
        )
    sep = _number(
        separable,
        expected,
        "",
        f"the separable one: 3 x 3 x {in_channels} depthwise weights plus {in_channels} x "
        f"{out_channels} pointwise weights (no bias).",
    )
    if not sep.ok:
        if _same_number(separable, expected_full):
            return Feedback(
                "wrong",
                f"{expected_full:,} is the full Conv2D's count; the separable one is much smaller. "
                f"Hint: {in_channels} depthwise 3x3 filters, then a 1x1 mix.",
            )
        return sep
    dense = _number(
        full,
        expected_full,
        "",
        f"the full Conv2D: one 3x3 filter per (input, output) channel pair, 3 x 3 x "
        f"{in_channels} x {out_channels} (no bias).",
    )
    if not dense.ok:
        return dense
    return Feedback(
        "right",
        f"9 x {in_channels} + {in_channels} x {out_channels} = {expected:,} for the separable "
        f"convolution against 9 x {in_channels} x {out_channels} = {expected_full:,} for a full "
        f"3x3 Conv2D: {expected_full / expected:.1f}x fewer weights (and multiplications).",
    )


def _same_number(answer: object, value: float) -> bool:
    number = _as_number(answer)
    return number is not None and math.isclose(number, value, rel_tol=1e-9)


def check_ablation_gain(
    answer: object, rows: Sequence[dict], recipe: str, reference: str
) -> Feedback:
    """Exercise 05.2: validation-accuracy points the ``recipe`` run gains over ``reference``.

    ``rows`` is chapter 05's comparison table (dicts with ``run``, ``val acc`` and
    ``train acc``); the answer is in percentage points, to one decimal.
    """
    by_name = {r["run"]: r for r in rows}
    hint = (
        f"take the 'val acc' of the row {recipe!r}, subtract the 'val acc' of the row "
        f"{reference!r}, and multiply by 100 (percentage points)."
    )
    if answer is None:
        return _open(hint)
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected a number of points, got {answer!r}. Hint: {hint}")
    gain = by_name[recipe]["val acc"] - by_name[reference]["val acc"]
    expected = 100 * gain
    if abs(value - expected) <= 0.051:
        return Feedback(
            "right",
            f"{by_name[recipe]['val acc']:.4f} - {by_name[reference]['val acc']:.4f} = "
            f"{gain:+.4f}, so {expected:+.1f} points of validation accuracy for the same "
            "number of epochs.",
        )
    if abs(value - gain) <= 0.0006 and abs(gain) > 0.001:
        return Feedback("wrong", f"{value} is a fraction; give percentage points. Hint: {hint}")
    if abs(value + expected) <= 0.051 and abs(expected) > 0.1:
        return Feedback("wrong", f"{value} has the wrong sign. Hint: {hint}")
    train_gain = 100 * (by_name[recipe]["train acc"] - by_name[reference]["train acc"])
    if abs(value - train_gain) <= 0.051:
        return Feedback("wrong", f"{value} compares training accuracy. Hint: {hint}")
    return Feedback("wrong", f"{value} is not it. Hint: {hint}")


def check_budget_epochs(
    answer: object,
    train_seconds: float = 70.0,
    budget_minutes: float = 30.0,
    validation_overhead: float = 0.12,
    margin: float = 0.10,
) -> Feedback:
    """Exercise 05.3: epochs ``training.train_within_budget`` plans for a time budget."""
    from .training import epochs_for_budget

    epoch = train_seconds * (1 + validation_overhead)
    budget = budget_minutes * 60
    expected = epochs_for_budget(epoch, budget, max_epochs=10**6, margin=margin)
    hint = (
        "an epoch is the training time plus the validation overhead; the usable budget is "
        "the budget in seconds less the safety margin; only whole epochs count (round down)."
    )
    if answer is None:
        return _open(hint)
    wrong = {
        int(budget // epoch): "forgets the safety margin",
        int(budget * (1 - margin) // train_seconds): "forgets the validation overhead",
        math.ceil(budget * (1 - margin) / epoch): "rounds up: the last epoch would overrun",
        int(budget_minutes * (1 - margin) // epoch): "uses minutes where seconds are needed",
    }
    feedback = _number(
        answer,
        expected,
        f"{budget:g} s x {1 - margin:.2f} = {budget * (1 - margin):g} usable seconds; one epoch "
        f"is {train_seconds:g} x {1 + validation_overhead:.2f} = {epoch:g} s; "
        f"{budget * (1 - margin):g} / {epoch:g} = {budget * (1 - margin) / epoch:.2f}, so "
        f"{expected} whole epochs.",
        hint,
    )
    if not feedback.ok and _is_int(answer) and int(answer) in wrong and int(answer) != expected:  # type: ignore[arg-type]
        return Feedback("wrong", f"{int(answer)}: that {wrong[int(answer)]}. Hint: {hint}")  # type: ignore[arg-type]
    return feedback


def _is_int(answer: object) -> bool:
    number = _as_number(answer)
    return number is not None and number.is_integer()


# --- 06 · predicting new photos --------------------------------------------------------


def check_export_size_ratio(
    answer: object,
    keras_path: str | Path,
    tflite_path: str | Path,
    n_params: int | None = None,
) -> Feedback:
    """Exercise 06.3: how many times larger the ``.keras`` file is than the ``.tflite`` one."""
    hint = "divide the two files' sizes in bytes (Path(...).stat().st_size)."
    if answer is None:
        return _open(hint)
    try:
        keras_bytes = Path(keras_path).stat().st_size
        lite_bytes = Path(tflite_path).stat().st_size
    except FileNotFoundError as err:
        return Feedback("wrong", f"{err.filename} does not exist: run the export (section 7).")
    expected = keras_bytes / lite_bytes
    why = f"{keras_bytes:,} / {lite_bytes:,} bytes = {expected:.2f}."
    if n_params is not None:
        weights = 4 * int(n_params)
        why += (
            f" The float32 weights alone are {weights:,} bytes, so the .tflite file is "
            f"{lite_bytes / weights:.2f} times the weights and the .keras file "
            f"{keras_bytes / weights:.2f} times."
        )
        if keras_bytes > 2.5 * weights:
            why += (
                " Besides the weights the .keras file keeps the Adam optimiser's state, two "
                "running averages per weight, so that training can go on; a served model "
                "never trains, so the export leaves them out."
            )
    return _number(answer, expected, why, hint, rel=1e-2)


def labels_changed(probs: Sequence[float] | np.ndarray, old: float, new: float) -> int:
    """How many photos get another label when the threshold moves from ``old`` to ``new``."""
    p = np.asarray(probs, dtype=float).reshape(-1)
    return int(np.sum((p >= old) != (p >= new)))


def check_labels_changed(
    answer: object,
    y_val: Sequence[int] | np.ndarray,
    val_probs: Sequence[float] | np.ndarray,
    old: float = 0.5,
    new: float = 0.5,
) -> Feedback:
    """Exercise 06.1: validation photos whose label changes between thresholds ``old``, ``new``."""
    hint = (
        "a photo is called dog when its probability is at least the threshold: compare "
        "val_probs >= old with val_probs >= new and count the photos where they differ."
    )
    if answer is None:
        return _open(hint)
    y = np.asarray(y_val).astype(int).reshape(-1)
    p = np.asarray(val_probs, dtype=float).reshape(-1)
    expected = labels_changed(p, old, new)
    from .evaluation import mistakes as count_mistakes

    mistakes = [sum(count_mistakes(y, p >= t)) for t in (old, new)]
    value = _as_number(answer)
    net = abs(mistakes[1] - mistakes[0])
    if value is not None and value == net and net != expected:
        return Feedback(
            "wrong",
            f"{net} is how much the number of mistakes changes ({mistakes[0]} -> "
            f"{mistakes[1]}); some photos changed from right to wrong and others from wrong to "
            f"right, and those cancel. Hint: {hint}",
        )
    moved = np.flatnonzero((p >= old) != (p >= new))
    fixed = int(np.sum((p[moved] >= new).astype(int) == y[moved]))
    return _number(
        answer,
        expected,
        f"{expected} of {len(p)} validation photos change label between {old:.3f} and "
        f"{new:.3f}: {fixed} become right, {expected - fixed} become wrong (mistakes "
        f"{mistakes[0]} -> {mistakes[1]}). Only photos with a probability between the two "
        "thresholds can move.",
        hint,
    )


def dog_flap_threshold(
    y_val: Sequence[int] | np.ndarray, val_probs: Sequence[float] | np.ndarray, max_cats: float
) -> float:
    """The lowest threshold at which at most ``max_cats`` of the cats are called dog."""
    y = np.asarray(y_val).astype(int).reshape(-1)
    p = np.asarray(val_probs, dtype=float).reshape(-1)
    cats = np.sort(p[y == 0])[::-1]  # a cat is called dog when p >= threshold
    allowed = int(math.floor(max_cats * len(cats) + 1e-9))
    if allowed >= len(cats):
        return 0.0
    return float(np.nextafter(cats[allowed], 2.0))  # just above the first cat not allowed


def check_dog_flap_threshold(
    answer: object,
    y_val: Sequence[int] | np.ndarray,
    val_probs: Sequence[float] | np.ndarray,
    max_cats: float = 0.05,
) -> Feedback:
    """Exercise 06.2: the lowest threshold that calls at most ``max_cats`` of the validation
    cats "dog" (a dog flap that must hardly ever open for a cat)."""
    hint = (
        f"the threshold must lie above all but {max_cats:.0%} of the cats' probabilities; "
        "np.sort the cats' val_probs, or try every distinct probability as the threshold."
    )
    if answer is None:
        return _open(hint)
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected a threshold between 0 and 1, got {answer!r}.")
    from . import evaluation

    y = np.asarray(y_val).astype(int).reshape(-1)
    p = np.asarray(val_probs, dtype=float).reshape(-1)
    best = dog_flap_threshold(y, p, max_cats)
    n_cats, n_dogs = int(np.sum(y == 0)), int(np.sum(y == 1))

    def counts(t: float) -> tuple[int, int]:
        return evaluation.mistakes(y, p >= t)

    cats, dogs = counts(value)
    best_cats, best_dogs = counts(best)
    if cats > max_cats * n_cats + 1e-9:
        return Feedback(
            "wrong",
            f"at {value:.4g}, {cats} of {n_cats} cats ({cats / n_cats:.1%}) would open the "
            f"flap, more than {max_cats:.0%}: the threshold must be higher. Hint: {hint}",
        )
    if dogs > best_dogs:
        return Feedback(
            "wrong",
            f"at {value:.4g} few enough cats get in ({cats}), but {dogs} of {n_dogs} dogs "
            f"are shut out; a lower threshold keeps out as many cats and shuts out only "
            f"{best_dogs}. Hint: {hint}",
        )
    return Feedback(
        "right",
        f"{value:.4f}: {cats} of {n_cats} cats ({cats / n_cats:.1%}) get in, and {dogs} of "
        f"{n_dogs} dogs ({dogs / n_dogs:.1%}) are shut out. Keeping cats out costs dogs: "
        "only a better model avoids both.",
    )
