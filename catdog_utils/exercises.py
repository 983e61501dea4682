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


def _number(answer: object, expected: float, why: str, hint: str, rel: float = 0.0) -> Feedback:
    if answer is None:
        return _open(hint)
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
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
    return _number(
        answer,
        expected,
        f"dogs are {expected:.3f} of the images, so always answering 'dog' scores "
        f"{max(expected, 1 - expected):.1%}: the accuracy any model must beat.",
        "labels are 0 for cats and 1 for dogs, so their mean is the fraction of dogs.",
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


def check_largest_layer(answer: object, model: keras.Model) -> Feedback:
    """Exercise 02.3: the name of the layer that holds the most parameters."""
    counts = {layer.name: layer.count_params() for layer in model.layers}
    total = sum(counts.values())
    biggest = max(counts, key=lambda name: counts[name])
    if answer is None:
        return _open("look at the 'parameters' column of the layer table, or count_params().")
    name = str(answer).strip()
    if name.lower() == biggest.lower():
        return Feedback(
            "right",
            f"{biggest!r} holds {counts[biggest]:,} of {total:,} parameters "
            f"({counts[biggest] / total:.1%}): after Flatten every input number has its own "
            "weight to every unit, so this layer grows with the image size.",
        )
    if name not in counts:
        return Feedback(
            "wrong", f"{name!r} is not a layer of this model; its layers are {list(counts)}."
        )
    return Feedback(
        "wrong",
        f"{name!r} has {counts[name]:,} parameters ({counts[name] / total:.1%}); another "
        "layer has far more.",
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
    """Exercise 03.2: a model with a Dropout layer between Flatten and the output."""
    if model is None:
        return _open("build the baseline again with keras.layers.Dropout(0.5) after Dense(128).")
    names = [type(layer).__name__ for layer in model.layers]
    if "Dropout" not in names:
        return Feedback("wrong", f"no Dropout layer among {names}.")
    drop = next(layer for layer in model.layers if type(layer).__name__ == "Dropout")
    if rate is not None and not math.isclose(drop.rate, rate):
        return Feedback("wrong", f"Dropout rate is {drop.rate}, the exercise asks for {rate}.")
    if names.index("Dropout") < names.index("Flatten"):
        return Feedback("wrong", "put Dropout after Flatten (on the Dense layer's inputs).")
    return Feedback(
        "right",
        f"Dropout({drop.rate}) adds no parameters ({model.count_params():,} in all); it "
        "silences random units during training only, which fights overfitting.",
    )


# --- 04 · evaluation -------------------------------------------------------------------


def check_precision(answer: object, cm: Sequence[Sequence[int]]) -> Feedback:
    """Exercise 04.1: precision for "dog" from a 2x2 confusion matrix (rows true)."""
    (_, fp), (_, tp) = np.asarray(cm)
    expected = tp / (tp + fp) if tp + fp else 0.0
    return _number(
        answer,
        expected,
        f"precision = TP / (TP + FP) = {tp} / ({tp} + {fp}) = {expected:.4f}: of the photos "
        "called dog, this fraction were dogs.",
        "the second column holds everything predicted 'dog'; the true dogs are in the second row.",
        rel=1e-3,
    )


def check_best_threshold(answer: object, y_true: np.ndarray, probs: np.ndarray) -> Feedback:
    """Exercise 04.2: the threshold that maximises F1 on the given (validation) data."""
    from .evaluation import best_f1_threshold, binary_metrics

    threshold, best = best_f1_threshold(y_true, probs)
    if answer is None:
        return _open(
            "try every distinct probability as the threshold (np.unique(probs)) and keep "
            "the best F1."
        )
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return Feedback("wrong", f"expected a threshold between 0 and 1, got {answer!r}.")
    f1 = binary_metrics(y_true, probs, value).f1
    if f1 >= best - 0.005:
        return Feedback(
            "right",
            f"F1 {f1:.4f} at {value:.3f} (the best is {best:.4f} at {threshold:.3f}); chosen on "
            "validation data, so the test set stays an honest judge.",
        )
    return Feedback(
        "wrong", f"F1 at {value:.3f} is {f1:.4f}; a better threshold reaches {best:.4f}."
    )


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
    try:
        return math.isclose(float(answer), value, rel_tol=1e-9)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


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
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return Feedback("wrong", f"expected a number of points, got {answer!r}. Hint: {hint}")
    gain = by_name[recipe]["val acc"] - by_name[reference]["val acc"]
    expected = 100 * gain
    if abs(value - expected) <= 0.051:
        return Feedback(
            "right",
            f"{by_name[recipe]['val acc']:.4f} - {by_name[reference]['val acc']:.4f} = "
            f"{gain:+.4f}, so {expected:+.1f} points of validation accuracy for the same "
            "time budget.",
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
    try:
        return float(answer).is_integer()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


# --- 06 · predicting new photos --------------------------------------------------------


def check_flip_threshold(
    answer: object,
    probability: float,
    y_val: Sequence[int] | np.ndarray | None = None,
    val_probs: Sequence[float] | np.ndarray | None = None,
) -> Feedback:
    """Exercise 06.1: the threshold at which a photo's label changes (its own probability).

    With validation labels and probabilities, the verdict also says what moving the
    threshold there would cost on the validation photos.
    """
    hint = "a photo is called 'dog' when its probability of dog is at least the threshold."
    if answer is None:
        return _open(hint)
    p = float(probability)
    if math.isnan(p):
        return Feedback("open", "this photo could not be read, so it has no probability.")
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return Feedback("wrong", f"expected a threshold between 0 and 1, got {answer!r}.")
    if not abs(value - p) <= 5e-4:
        where = "already cat: it changes lower" if value > p else "still dog: it changes higher"
        return Feedback("wrong", f"at {value:.4g} the photo is {where}. Hint: {hint}")
    why = f"P(dog) = {p:.4f}: the photo is called dog at every threshold up to {p:.4f}, cat above."
    if y_val is not None and val_probs is not None:
        y = np.asarray(y_val).astype(int).reshape(-1)
        probs = np.asarray(val_probs, dtype=float).reshape(-1)
        past = probs > p if p >= 0.5 else probs >= p  # "dog" once the threshold flips the photo
        mistakes = []
        for called_dog in (probs >= 0.5, past):
            cats, dogs = int(np.sum(called_dog & (y == 0))), int(np.sum(~called_dog & (y == 1)))
            mistakes.append((cats, dogs, 1 - (cats + dogs) / max(len(y), 1)))
        (c0, d0, a0), (c1, d1, a1) = mistakes
        why += (
            f" Moving the threshold from 0.5 far enough to flip it changes the {len(y)} validation "
            f"photos' mistakes from {c0} cats called dogs + {d0} dogs called cats to {c1} + "
            f"{d1} (accuracy {a0:.1%} -> {a1:.1%}): that, not one photo, decides the threshold."
        )
    return Feedback("right", why)


def _count_right(
    probs: Sequence[float] | np.ndarray, labels: Sequence[int], threshold: float
) -> int:
    p = np.asarray(probs, dtype=float).reshape(-1)
    y = np.asarray(labels).astype(int).reshape(-1)
    ok = ~np.isnan(p)  # a photo that could not be read is never right
    return int(np.sum(ok & ((p >= threshold).astype(int) == y)))


def check_photos_right(
    answer: object,
    probs: Sequence[float] | np.ndarray,
    labels: Sequence[int] | None,
    threshold: float = 0.5,
) -> Feedback:
    """Exercise 06.2: how many photos are right at ``threshold`` (labels 0 cat, 1 dog)."""
    hint = (
        "predict.label_for(p, threshold) gives each photo's label; compare it with "
        "predict.LABELS[true label] and count the matches."
    )
    if answer is None:
        return _open(hint)
    if labels is None:
        return Feedback(
            "open", "these photos have no labels.csv, so nobody knows which answers are right."
        )
    expected = _count_right(probs, labels, threshold)
    n = len(labels)
    at_half = _count_right(probs, labels, 0.5)
    return _number(
        answer,
        expected,
        f"{expected} of {n} right at threshold {threshold:.3f}, against {at_half} at 0.5. "
        f"With {n} photos one answer moves the score by {100 / n:.0f} points: too few to "
        "choose a threshold with, which is why it is chosen on the validation photos.",
        hint,
    )


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
