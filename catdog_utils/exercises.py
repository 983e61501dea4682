"""Self-checks for the notebooks' exercises.

Each ``check_*`` function takes the learner's answer and returns a :class:`Feedback` that
says clearly whether it is right and why (it displays as one line in a notebook).  An
answer left as ``None`` is "not answered yet", never an error, so a notebook with open
exercises still runs from top to bottom.  Worked solutions are in ``notebooks/solutions/``.

Nothing public here computes an answer: the notebooks import this module, so a helper that
returned what a check accepts would be an answer key.  The checks work the answer out inside
themselves; the solutions notebooks and ``tests/`` compute it their own way.
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


def check_dataset_bytes(answer: object, size: int = 96, count: int = 8000) -> Feedback:
    """Exercise 01.1: memory for ``count`` decoded ``size``-pixel RGB images (uint8)."""
    expected = size * size * 3 * count
    return _number(
        answer,
        expected,
        f"{count} x {size} x {size} x 3 bytes = {expected:,} bytes "
        f"({expected / 2**20:.0f} MiB): small enough to keep in memory.",
        "one byte per colour channel per pixel; multiply height x width x channels x images.",
    )


def check_dog_fraction(
    answer: object,
    labels: Sequence[int] | np.ndarray,
    widths: Sequence[int] | np.ndarray,
    heights: Sequence[int] | np.ndarray,
) -> Feedback:
    """Exercise 01.2: the fraction of dogs among the portrait photos (taller than wide).

    The whole course set is balanced, so its fraction (0.5) cannot tell a right method from
    a guess; the portrait photos are not balanced.  Right within 0.0005 (three decimals).
    """
    y = np.asarray(labels).astype(int).reshape(-1)
    w, h = np.asarray(widths).reshape(-1), np.asarray(heights).reshape(-1)
    portrait = h > w
    hint = (
        "select the labels of the photos with heights > widths (a boolean mask); labels are "
        "0 for cats and 1 for dogs, so their mean is the fraction of dogs."
    )
    if answer is None:
        return _open(hint)
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected a fraction between 0 and 1, got {answer!r}.")
    expected = float(y[portrait].mean())
    if value > 1:
        return Feedback("wrong", f"{value:g} is more than 1: give a fraction between 0 and 1.")
    if abs(value - expected) <= 5e-4:
        floor = max(expected, 1 - expected)
        return Feedback(
            "right",
            f"dogs are {expected:.3f} of the {int(portrait.sum()):,} portrait photos, so always "
            f"answering '{'dog' if expected >= 0.5 else 'cat'}' on them scores {floor:.1%}: "
            "the accuracy any model must beat there.",
        )
    for mistake, fraction in _dog_fraction_mistakes(y, w, h).items():
        if abs(value - fraction) <= 5e-4:
            return Feedback("wrong", f"that looks like {mistake}. Hint: {hint}")
    return Feedback("wrong", f"{value:.4g} is not it. Hint: {hint}")


def _dog_fraction_mistakes(y: np.ndarray, w: np.ndarray, h: np.ndarray) -> dict[str, float]:
    """What the usual wrong methods of exercise 01.2 give (to name the mistake)."""
    portrait = h > w
    return {
        "the fraction of cats": float(1 - y[portrait].mean()),
        "the fraction of portrait photos, not of dogs among them": float(portrait.mean()),
        "the landscape photos (width > height)": float(y[w > h].mean()),
        "the square photos counted as portrait (the question asks height > width)": float(
            y[h >= w].mean()
        ),
        "all photos, not only the portrait ones": float(y.mean()),
    }


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


def check_param_count(answer: object, filters: int = 64, image_size: int = 64) -> Feedback:
    """Exercise 02.1: the parameter count with ``filters`` filters in both convolutions."""
    side = ((image_size - 2) // 2 - 2) // 2
    expected = (
        (3 * 3 * 3 + 1) * filters
        + (3 * 3 * filters + 1) * filters
        + (side * side * filters + 1) * 128
        + (128 + 1)
    )
    return _number(
        answer,
        expected,
        f"{expected:,} parameters: the Dense layer grows with the number of filters "
        "because it sees every value of the flattened feature maps.",
        "a 3x3 convolution has 3*3*in_channels*filters weights + filters biases; follow the "
        "shapes to the flattened map, which feeds every value to each of the 128 units.",
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


def check_gap_dense_params(answer: object, filters: int = 32, units: int = 128) -> Feedback:
    """Exercise 02.3: parameters of the original network's hidden Dense layer (``units``) if
    Flatten were replaced by global average pooling after a last convolution of ``filters``.

    The numbers come from the question, not from a notebook variable that a learner may have
    rebound to another network.
    """
    hint = (
        "global average pooling leaves one number per feature map of the last convolution; "
        "a Dense layer has inputs x units weights + units biases."
    )
    if answer is None:
        return _open(hint)
    expected = filters * units + units
    value = _as_number(answer)
    if value == filters * units:
        return Feedback("wrong", f"{value:,.0f} forgets the biases. Hint: {hint}")
    if value is not None and value > 100 * expected:
        return Feedback(
            "wrong",
            f"{value:,.0f} is far too many: after global average pooling the Dense layer no "
            f"longer sees every position of the feature maps. Hint: {hint}",
        )
    return _number(
        answer,
        expected,
        f"{filters} averages x {units} units + {units} biases = {expected:,}, whatever the "
        "image size.",
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


def _layer_signature(layer: object) -> tuple:
    """What exercise 03.2 compares of one layer: its kind and the settings that matter."""
    kind = type(layer).__name__
    get = layer.get_config() if hasattr(layer, "get_config") else {}
    if kind == "Rescaling":
        return kind, round(float(get.get("scale", 0)), 6), float(get.get("offset", 0))
    if kind == "Conv2D":
        return (
            kind,
            get.get("filters"),
            tuple(get.get("kernel_size", ())),
            tuple(get.get("strides", ())),
            get.get("padding"),
            get.get("activation"),
        )
    if kind == "MaxPooling2D":
        return kind, tuple(get.get("pool_size", ())), tuple(get.get("strides") or ())
    if kind == "Dense":
        return kind, get.get("units"), get.get("activation")
    if kind == "Dropout":
        return kind, round(float(get.get("rate", 0)), 6)
    return (kind,)


def _dropout_network(rate: float) -> list[tuple]:
    """Exercise 03.2's layers, as :func:`_layer_signature` describes them."""
    conv = ("Conv2D", 32, (3, 3), (1, 1), "valid", "relu")
    pool = ("MaxPooling2D", (2, 2), (2, 2))
    return [
        ("Rescaling", round(1 / 255, 6), 0.0),
        conv,
        pool,
        conv,
        pool,
        ("Flatten",),
        ("Dense", 128, "relu"),
        ("Dropout", round(rate, 6)),
        ("Dense", 1, "sigmoid"),
    ]


_SETTING_NAMES = {
    "Rescaling": ("scale", "offset"),
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "activation"),
    "MaxPooling2D": ("pool_size", "strides"),
    "Dense": ("units", "activation"),
    "Dropout": ("rate",),
}


def _describe(signature: tuple) -> str:
    """A layer signature as a learner would write the layer: ``Dense(units=1, ...)``."""
    kind, *settings = signature
    names = _SETTING_NAMES.get(kind, ())
    return f"{kind}({', '.join(f'{n}={v!r}' for n, v in zip(names, settings, strict=False))})"


def _architecture_problem(model: keras.Model, image_size: int, rate: float) -> str | None:
    """The first way ``model`` differs from the original network with Dropout, or None."""
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if shape != (image_size, image_size, 3):
        return f"the input is {shape}; the exercise keeps the original's input size"
    got = [_layer_signature(layer) for layer in model.layers]
    got = [s for s in got if s[0] != "InputLayer"]
    want = _dropout_network(rate)
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return (
                f"layer {i + 1} after the input is {_describe(g)}, where the exercise has "
                f"{_describe(w)}"
            )
    if len(got) != len(want):
        return f"the network has {len(got)} layers after the input; the exercise has {len(want)}"
    return None


def _compile_problem(model: keras.Model) -> str | None:
    """What is wrong with how ``model`` was compiled (Adam, binary cross-entropy), or None."""
    optimizer, loss = getattr(model, "optimizer", None), getattr(model, "loss", None)
    if optimizer is None or loss is None:
        return "the model is not compiled yet"
    if type(optimizer).__name__ != "Adam":
        return f"it is compiled with {type(optimizer).__name__}, not the original's optimizer"
    fn = getattr(loss, "fn", loss)  # a Keras loss object wraps a function; a function is one
    name = loss if isinstance(loss, str) else getattr(fn, "__name__", type(loss).__name__)
    kwargs = getattr(loss, "_fn_kwargs", None) or getattr(loss, "fn_kwargs", None) or {}
    logits = getattr(loss, "from_logits", None) or kwargs.get("from_logits", False)
    if name not in ("binary_crossentropy", "BinaryCrossentropy") or logits:
        return f"the loss is {name}, not the original's loss for one sigmoid output"
    return None


def check_has_dropout(
    model: keras.Model | None, rate: float = 0.5, image_size: int = 64
) -> Feedback:
    """Exercise 03.2: the original network, layer for layer, with Dropout(``rate``) between
    the hidden Dense layer and the output, compiled like the original.

    Everything is compared: input size, each layer's kind and settings (filters, kernel,
    activation, units, rate), the optimiser and the loss.  A wrong model gets "Not yet"
    with the first difference, never an exception.
    """
    hint = (
        "rebuild the layers chapter 02 lists, in order, with a Dropout layer just before the "
        "output, and compile as the exercise says."
    )
    if model is None:
        return _open(hint)
    if not list(getattr(model, "layers", [])):
        return Feedback("wrong", f"expected a keras.Model, got {type(model).__name__}. {hint}")
    problem = _architecture_problem(model, image_size, rate) or _compile_problem(model)
    if problem:
        return Feedback("wrong", f"{problem}. Hint: {hint}")
    return Feedback(
        "right",
        f"Dropout({rate}) adds no parameters ({model.count_params():,} in all); it "
        "silences random units during training only, which fights overfitting.",
    )


def check_early_stopping_epoch(
    answer: object, history: dict[str, Sequence[float]], patience: int = 3
) -> Feedback:
    """Exercise 03.3: the epoch (counted from 1) after which
    ``EarlyStopping(monitor="val_loss", patience=patience)`` would have stopped this run."""
    hint = (
        "walk through history['val_loss'] keeping the lowest value so far and how many epochs "
        "in a row failed to beat it; stop when that count reaches the patience."
    )
    if answer is None:
        return _open(hint)
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected an epoch number, got {answer!r}. Hint: {hint}")
    val_loss = [float(v) for v in history["val_loss"]]
    best, wait, stop = math.inf, 0, len(val_loss)
    for epoch, loss in enumerate(val_loss, start=1):  # Keras's EarlyStopping, min_delta=0
        best, wait = (loss, 0) if loss < best else (best, wait + 1)
        if wait >= patience:
            stop = epoch
            break
    if value == stop:
        lowest = int(np.argmin(val_loss)) + 1
        later = (
            f"; the lowest validation loss came later, at epoch {lowest}: a patience of "
            f"{patience} gave up too early on this noisy curve"
            if lowest > stop
            else ""
        )
        return Feedback("right", f"epoch {stop}{later}.")
    if value in (stop - 1, stop + 1):
        return Feedback(
            "wrong", f"epoch {value:g} is one off: count from 1, and count the waits. Hint: {hint}"
        )
    if value == int(np.argmin(val_loss)) + 1:
        return Feedback(
            "wrong",
            f"epoch {value:g} has the lowest loss of the whole run, but early stopping "
            f"cannot see the future. Hint: {hint}",
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


def _f1_at(y: np.ndarray, p: np.ndarray, threshold: float, positive: str) -> float:
    """F1 of ``positive`` at ``threshold``: dog when ``p >= threshold``, cat below it."""
    called = p < threshold if positive == "cat" else p >= threshold
    is_positive = y == (0 if positive == "cat" else 1)
    tp = int(np.sum(called & is_positive))
    total = int(called.sum()) + int(is_positive.sum())
    return 2 * tp / total if total else 0.0


def _best_f1(y: np.ndarray, p: np.ndarray, positive: str) -> float:
    """The best F1 any threshold reaches for ``positive`` (the search is evaluation's).

    "Cat" below a threshold is "positive at or above" for the labels ``1 - y`` and the
    scores ``-p``: the same sets of photos, so the same best F1.
    """
    from .evaluation import best_f1_threshold

    if positive == "cat":
        return best_f1_threshold(1 - y, -p)[1]
    return best_f1_threshold(y, p)[1]


def check_best_threshold(
    answer: object, y_true: np.ndarray, probs: np.ndarray, positive: str = "dog"
) -> Feedback:
    """Exercise 04.2: the threshold that maximises F1 on the given (validation) data.

    ``positive`` says whose F1: ``"dog"`` (called dog at or above the threshold) or ``"cat"``
    (called cat below it).  Only a threshold that reaches the best F1 is right (within 1e-6:
    ties between neighbouring probabilities), so the default 0.5 and the other class's best
    threshold get "Not yet" unless they really are best.
    """
    y = np.asarray(y_true).astype(int).reshape(-1)
    p = np.asarray(probs, dtype=float).reshape(-1)
    other_name = "dog" if positive == "cat" else "cat"
    hint = (
        f"compute the F1 for {positive} at every distinct probability (np.unique(probs)) "
        "used as the threshold and keep the best."
    )
    if answer is None:
        return _open(hint)
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected a threshold between 0 and 1, got {answer!r}.")
    f1, best = _f1_at(y, p, value, positive), _best_f1(y, p, positive)
    if f1 >= best - 1e-6:
        return Feedback(
            "right",
            f"F1 for {positive} {f1:.4f} at {value:.3f}, the best there is (at 0.5: "
            f"{_f1_at(y, p, 0.5, positive):.4f}); chosen on validation data, so the test set "
            "stays an honest judge.",
        )
    if math.isclose(value, 0.5):
        why = "0.5 is the default threshold, not the best one"
    elif _f1_at(y, p, value, other_name) >= _best_f1(y, p, other_name) - 1e-6:
        why = f"{value:.3f} is a best threshold for the F1 of {other_name}, not of {positive}"
    else:
        why = f"{value:.3f} does not reach the best F1 for {positive}"
    return Feedback("wrong", f"{why}; some threshold does better. Hint: {hint}")


# --- 05 · improving the model ----------------------------------------------------------


def check_separable_params(
    separable: object, full: object, in_channels: int = 128, out_channels: int = 256
) -> Feedback:
    """Exercise 05.1: weights of a bias-free 3x3 separable convolution, and of a full one."""
    expected = 9 * in_channels + in_channels * out_channels
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
        "the separable one: count the depthwise step (one 3x3 filter per input channel) and "
        "the pointwise step (a 1x1 convolution mixing the inputs into the outputs), no bias.",
    )
    if not sep.ok:
        if _same_number(separable, expected_full):
            return Feedback(
                "wrong",
                "that is the full Conv2D's count; the separable one is much smaller. "
                "Hint: a depthwise step, then a 1x1 mix.",
            )
        return sep
    dense = _number(
        full,
        expected_full,
        "",
        "the full Conv2D: one 3x3 filter for every (input channel, output channel) pair, no bias.",
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


def check_seeds_needed(
    answer: object, spread_points: float | None, effect_points: float = 0.5, factor: float = 2.0
) -> Feedback:
    """Exercise 05.2: the fewest seeds per configuration for which a true difference of
    ``effect_points`` exceeds the study's noise level, ``factor x spread x sqrt(2 / n)``
    (``n`` runs on each side, the seed-to-seed ``spread_points`` of one run).

    The chapter prints the spread to two decimals; an answer worked out from that printed
    value is right too.  ``spread_points=None`` (a study without two runs of anything yet)
    leaves the exercise open.
    """
    hint = (
        "with n runs on each side the noise level is factor x spread x sqrt(1/n + 1/n); find "
        "the smallest whole n for which it falls below the effect."
    )
    if spread_points is None:
        return Feedback(
            "open",
            "the study has no configuration with two runs yet, so there is no spread to work "
            "with: `make study` runs them.",
        )
    if answer is None:
        return _open(hint)
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected a whole number of seeds, got {answer!r}. Hint: {hint}")

    def fewest(spread: float, sides: float = 2.0, k: float = factor) -> int:
        # smallest n with k * spread * sqrt(sides / n) < effect_points
        n = max(1, math.floor(sides * (k * spread / effect_points) ** 2) + 1)
        while n > 1 and k * spread * math.sqrt(sides / (n - 1)) < effect_points:
            n -= 1
        return n

    rights = {fewest(spread_points), fewest(round(spread_points, 2))}
    if value in rights:
        n = int(value)
        return Feedback(
            "right",
            f"{n} seeds each: {factor:g} x {spread_points:.2f} x sqrt(2/{n}) = "
            f"{factor * spread_points * math.sqrt(2 / n):.2f} points, below {effect_points:g}. "
            "Noise shrinks only with the square root of the runs: halving the smallest "
            "difference you can see takes four times the seeds.",
        )
    mistakes = {
        "a difference has noise on both sides: 1/n + 1/n, not 1/n": fewest(spread_points, 1.0),
        "the rule asks for twice the standard error, not one": fewest(spread_points, k=1.0),
    }
    for why, wrong in mistakes.items():
        if value == wrong and wrong not in rights:
            return Feedback("wrong", f"{int(value)}: {why}. Hint: {hint}")
    if value in {n - 1 for n in rights}:
        return Feedback(
            "wrong",
            f"with {int(value)} seeds the noise level still reaches the effect. Hint: {hint}",
        )
    return Feedback("wrong", f"{value:g} is not it. Hint: {hint}")


def check_budget_epochs(
    answer: object,
    train_seconds: float = 75.0,
    budget_minutes: float = 40.0,
    validation_overhead: float = 0.20,
    margin: float = 0.15,
) -> Feedback:
    """Exercise 05.3: epochs ``training.train_within_budget`` plans for a time budget.

    The default numbers are chosen so that every usual wrong formula (no margin, no
    overhead, the overhead added as seconds, the margin charged to the epoch, rounding up
    or to the nearest, minutes for seconds ...) gives another number than the right one.
    """
    hint = (
        "an epoch is the training time plus the validation overhead (a fraction of it); the "
        "usable budget is the budget in seconds less the safety margin (a fraction of it); "
        "only whole epochs count."
    )
    if answer is None:
        return _open(hint)
    epoch = train_seconds * (1 + validation_overhead)
    usable = budget_minutes * 60 * (1 - margin)
    expected = math.floor(usable / epoch + 1e-9)
    feedback = _number(
        answer,
        expected,
        f"{budget_minutes * 60:g} s x {1 - margin:.2f} = {usable:g} usable seconds; one epoch "
        f"is {train_seconds:g} x {1 + validation_overhead:.2f} = {epoch:g} s; "
        f"{usable:g} / {epoch:g} = {usable / epoch:.2f}, so {expected} whole epochs.",
        hint,
    )
    if feedback.ok or not _is_int(answer):
        return feedback
    budget = budget_minutes * 60
    mistakes = {
        "forgets the safety margin": budget / epoch,
        "forgets the validation overhead": usable / train_seconds,
        "rounds up: the last epoch would overrun": math.ceil(usable / epoch),
        "uses minutes where seconds are needed": budget_minutes * (1 - margin) / epoch,
        "charges the margin to the epoch instead of the budget": budget / (epoch * (1 + margin)),
    }
    for why, wrong in mistakes.items():
        if int(answer) == math.floor(wrong) != expected:  # type: ignore[arg-type]
            return Feedback("wrong", f"{int(answer)}: that {why}. Hint: {hint}")  # type: ignore[arg-type]
    return feedback


def _is_int(answer: object) -> bool:
    number = _as_number(answer)
    return number is not None and number.is_integer()


# --- 07 · predicting new photos --------------------------------------------------------


def check_export_size_ratio(
    answer: object,
    keras_path: str | Path,
    tflite_path: str | Path,
    n_params: int | None = None,
) -> Feedback:
    """Exercise 07.3: how many times larger the ``.keras`` file is than the ``.tflite`` one.

    Right within 0.01 % of the ratio of the sizes in bytes: a ratio computed in code passes,
    a guess or a ratio to another size (the weights alone) does not.
    """
    hint = "divide the two files' sizes in bytes (Path(...).stat().st_size), in code."
    if answer is None:
        return _open(hint)
    try:
        keras_bytes = Path(keras_path).stat().st_size
        lite_bytes = Path(tflite_path).stat().st_size
    except FileNotFoundError as err:
        return Feedback("wrong", f"{err.filename} does not exist: run the export (section 7).")
    expected = keras_bytes / lite_bytes
    value = _as_number(answer)
    if value is not None and n_params and math.isclose(value, keras_bytes / (4 * n_params)):
        return Feedback(
            "wrong", f"that divides by the weights alone, not by the .tflite file. Hint: {hint}"
        )
    why = f"{keras_bytes:,} / {lite_bytes:,} bytes = {expected:.4f}."
    if n_params is not None:
        weights = 4 * int(n_params)
        why += (
            f" The float32 weights alone are {weights:,} bytes, so the .tflite file is "
            f"{lite_bytes / weights:.3f} times the weights and the .keras file "
            f"{keras_bytes / weights:.3f} times."
        )
        if keras_bytes > 2.5 * weights:
            why += (
                " Besides the weights the .keras file keeps the Adam optimiser's state, two "
                "running averages per weight, so that training can go on; a served model "
                "never trains, so the export leaves them out."
            )
    return _number(answer, expected, why, hint, rel=1e-4)


def check_labels_changed(
    answer: object,
    y_val: Sequence[int] | np.ndarray,
    val_probs: Sequence[float] | np.ndarray,
    old: float = 0.5,
    new: float = 0.5,
) -> Feedback:
    """Exercise 07.1: validation photos whose label changes between thresholds ``old``, ``new``."""
    hint = (
        "a photo is called dog when its probability is at least the threshold: compare "
        "val_probs >= old with val_probs >= new and count the photos where they differ."
    )
    if answer is None:
        return _open(hint)
    y = np.asarray(y_val).astype(int).reshape(-1)
    p = np.asarray(val_probs, dtype=float).reshape(-1)
    moved = (p >= old) != (p >= new)
    expected = int(moved.sum())
    mistakes = [int(np.sum((p >= t).astype(int) != y)) for t in (old, new)]
    value = _as_number(answer)
    net = abs(mistakes[1] - mistakes[0])
    if value is not None and value == net and net != expected:
        return Feedback(
            "wrong",
            "that is how much the number of mistakes changes; some photos changed from right "
            f"to wrong and others from wrong to right, and those cancel. Hint: {hint}",
        )
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


def check_dog_flap_threshold(
    answer: object,
    y_val: Sequence[int] | np.ndarray,
    val_probs: Sequence[float] | np.ndarray,
    max_cats: float = 0.05,
) -> Feedback:
    """Exercise 07.2: the lowest threshold that calls at most ``max_cats`` of the validation
    cats "dog" (a dog flap that must hardly ever open for a cat).

    Right when no more than ``max_cats`` of the cats get in and no threshold that keeps as
    many cats out shuts out fewer dogs; the messages never say how many that is.
    """
    hint = (
        f"the threshold must lie above all but {max_cats:.0%} of the cats' probabilities; "
        "np.sort the cats' val_probs, or try every distinct probability as the threshold."
    )
    if answer is None:
        return _open(hint)
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected a threshold between 0 and 1, got {answer!r}.")
    y = np.asarray(y_val).astype(int).reshape(-1)
    p = np.asarray(val_probs, dtype=float).reshape(-1)
    n_cats, n_dogs = int(np.sum(y == 0)), int(np.sum(y == 1))
    allowed = int(math.floor(max_cats * n_cats + 1e-9))
    cats = int(np.sum((p >= value) & (y == 0)))
    dogs = int(np.sum((p < value) & (y == 1)))
    if cats > allowed:
        return Feedback(
            "wrong",
            f"at {value:.4g}, {cats} of {n_cats} cats ({cats / n_cats:.1%}) would open the "
            f"flap, more than {max_cats:.0%}: the threshold must be higher. Hint: {hint}",
        )
    ranked = np.sort(p[y == 0])[::-1]  # the lowest allowed threshold lies just above this cat
    lowest = float(np.nextafter(ranked[allowed], 2.0)) if allowed < n_cats else 0.0
    if dogs > int(np.sum((p < lowest) & (y == 1))):
        return Feedback(
            "wrong",
            f"at {value:.4g} few enough cats get in, but a lower threshold keeps out as many "
            f"cats and shuts out fewer dogs. Hint: {hint}",
        )
    return Feedback(
        "right",
        f"{value:.4f}: {cats} of {n_cats} cats ({cats / n_cats:.1%}) get in, and {dogs} of "
        f"{n_dogs} dogs ({dogs / n_dogs:.1%}) are shut out. Keeping cats out costs dogs: "
        "only a better model avoids both.",
    )


# --- 06 · a pretrained network -----------------------------------------------------------


def check_head_weights(answer: object, features: int = 1280) -> Feedback:
    """Exercise 06.1: how many numbers the head (dropout + one sigmoid unit) learns."""
    hint = (
        f"the head reads {features:,} pooled features; a Dense unit learns one weight per "
        "input plus one bias, and Dropout learns nothing."
    )
    value = _as_number(answer)
    if value is not None and value in (features, features - 1):
        return Feedback("wrong", f"{value:,.0f} leaves something out. Hint: {hint}")
    return _number(
        answer,
        features + 1,
        f"{features:,} weights + 1 bias = {features + 1:,}: all that the first stage trains, "
        "which is why it takes seconds.",
        hint,
    )


def _values(weights: Sequence[object]) -> int:
    return int(sum(math.prod(tuple(w.shape)) for w in weights))  # type: ignore[attr-defined]


def check_fine_tuned_fraction(answer: object, model: keras.Model, final: keras.Model) -> Feedback:
    """Exercise 06.2: the fraction of ``final``'s parameters that fine-tuning ``model`` trained
    (its trainable weights over all of ``final``'s parameters), within 0.0005."""
    hint = (
        "add up the sizes of model.trainable_weights (the fine-tuned blocks and the head; "
        "frozen batch norm is not among them) and divide by final.count_params()."
    )
    if answer is None:
        return _open(hint)
    value = _as_number(answer)
    if value is None:
        return Feedback("wrong", f"expected a fraction, got {answer!r}. Hint: {hint}")
    trained, whole = _values(model.trainable_weights), final.count_params()
    expected = trained / whole
    if abs(value - expected) <= 0.0005:
        return Feedback(
            "right",
            f"{trained:,} of {whole:,} parameters ({expected:.1%}): fine-tuning changes the "
            "network's top, and the frozen bottom is all ImageNet's.",
        )
    if 1 < value <= 100 and abs(value / 100 - expected) <= 0.0005:
        return Feedback("wrong", f"{value} is a percentage; give a fraction. Hint: {hint}")
    if value > 1:
        return Feedback("wrong", f"{value} is more than the whole network. Hint: {hint}")
    return Feedback("wrong", f"{value} is not it: check both counts. Hint: {hint}")
