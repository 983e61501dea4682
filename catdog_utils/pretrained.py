"""Transfer learning with the pretrained MobileNetV2: the plumbing chapter 06 and
``catdog train --model pretrained`` share.

The recipe, as chapter 06 teaches it:

1. The network's bottom (``features_0`` .. ``features_<cut>``) stays frozen, so it turns the
   same photo into the same activations every epoch: compute them **once** per photo, for
   the photo and its mirror image (:func:`outputs`).
2. A **head** (dropout + one sigmoid unit) learns on the pooled 1280 features that the
   frozen top gives (:func:`build_head`); it trains in seconds.
3. **Fine-tuning**: the top blocks (``features_<cut + 1>`` .. ``features_18``) train with
   the head at a low learning rate, their batch norm frozen and in inference mode, each
   photo seen mirrored or not at random each epoch (:func:`fine_tune`).
4. The pieces are put back together into one model from pixels to probability
   (:func:`assemble`), which saves, evaluates, predicts and exports like the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import keras
import numpy as np

from . import mobilenet, weights
from .quiet import tensorflow_warnings_hidden

#: The last frozen block: blocks 17 and 18 (and the head) are fine-tuned.
CUT_BLOCK = 16
#: ImageNet's training size.
IMAGE_SIZE = 224


@dataclass
class Activations:
    """What the frozen bottom makes of the photos, computed once.

    ``train`` / ``train_flipped`` are the training photos and their mirror images,
    ``val`` the validation photos; ``seconds`` is the time it took.
    """

    train: np.ndarray
    train_flipped: np.ndarray
    val: np.ndarray
    seconds: float = 0.0


@dataclass
class Stage:
    """One training stage's history (Keras's keys) and its wall time in seconds."""

    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, epoch: dict[str, list[float]]) -> None:
        """Append one ``fit`` call's history."""
        for key, values in epoch.items():
            self.history.setdefault(key, []).extend(float(v) for v in values)


def build_parts(
    image_size: int = IMAGE_SIZE, cut: int = CUT_BLOCK, path: str | None = None
) -> tuple[keras.Model, keras.Model]:
    """The frozen bottom and the top of MobileNetV2, with the ImageNet weights loaded.

    ``path`` is the converted weights file (default: ``catdog weights``'s).
    """
    bottom = weights.load_weights(mobilenet.build_bottom(cut, image_size), path)
    shape = tuple(bottom.output.shape[1:])
    top = weights.load_weights(mobilenet.build_top(cut + 1, shape), path)
    bottom.trainable = False
    return bottom, top


def outputs(model: keras.Model, inputs: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Run ``model`` over ``inputs`` once, in batches (activations, features, probabilities).

    Predicting with several new models in a row makes TensorFlow warn about "retracing",
    although nothing is wrong; the warning is hidden here.
    """
    with tensorflow_warnings_hidden():
        return model.predict(inputs, batch_size=batch_size, verbose=0)


def extract(bottom: keras.Model, x_train: np.ndarray, x_val: np.ndarray) -> Activations:
    """Activations of the training photos (plain and mirrored) and the validation photos."""
    start = time.perf_counter()
    train = outputs(bottom, x_train)
    flipped = outputs(bottom, x_train[:, :, ::-1])
    val = outputs(bottom, x_val)
    return Activations(train, flipped, val, time.perf_counter() - start)


def build_head(dropout: float = 0.2) -> keras.Sequential:
    """The new classifier: dropout, then one sigmoid unit on the 1280 pooled features."""
    return keras.Sequential(
        [
            keras.Input((mobilenet.FEATURES,)),
            keras.layers.Dropout(dropout, name="head_dropout"),
            keras.layers.Dense(1, activation="sigmoid", name="head"),
        ],
        name="head",
    )


def stack(top: keras.Model, head: keras.Model) -> keras.Model:
    """``head(top(activations))``, the top called in inference mode (batch norm frozen)."""
    inputs = keras.Input(top.input.shape[1:])
    return keras.Model(inputs, head(top(inputs, training=False)), name="top_and_head")


def random_flips(acts: Activations, rng: np.random.Generator) -> np.ndarray:
    """Each training photo's activations, mirrored or not at random (one epoch's worth)."""
    mirrored = rng.random(len(acts.train)) < 0.5
    return np.where(mirrored[:, None, None, None], acts.train_flipped, acts.train)


def fine_tune(
    model: keras.Model,
    acts: Activations,
    y_train: np.ndarray,
    y_val: np.ndarray,
    epochs: int,
    seed: int = 0,
    batch_size: int = 64,
) -> Stage:
    """Train a compiled :func:`stack` for ``epochs``, new random mirror images each epoch."""
    rng, stage = np.random.default_rng(seed), Stage()
    start = time.perf_counter()
    for epoch in range(epochs):
        fit = model.fit(
            random_flips(acts, rng),
            y_train,
            batch_size=batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=(acts.val, y_val),
            verbose=0,
        )
        stage.add(fit.history)
    stage.seconds = time.perf_counter() - start
    return stage


def beats_beyond_noise(
    y: np.ndarray, simple: np.ndarray, challenger: np.ndarray, threshold: float = 0.5
) -> tuple[int, int, bool]:
    """Does ``challenger`` classify the same photos better than ``simple``, beyond chance?

    Counts the photos only the challenger gets right (``wins``) and those only the simpler
    model gets right (``losses``); photos both get right or both get wrong say nothing about
    the difference. If the two were equally good, each disputed photo would be a coin toss,
    so ``wins - losses`` would spread by about ``sqrt(wins + losses)``: the challenger is kept
    only when it leads by more than twice that (McNemar's test at roughly 5 %).

    Returns:
        ``(wins, losses, challenger_is_better)``.
    """
    right_simple = (simple >= threshold) == y
    right_challenger = (challenger >= threshold) == y
    wins = int(np.sum(right_challenger & ~right_simple))
    losses = int(np.sum(right_simple & ~right_challenger))
    return wins, losses, wins - losses > 2 * np.sqrt(wins + losses)


def assemble(
    bottom: keras.Model, top: keras.Model, head: keras.Model, image_size: int | None = None
) -> keras.Model:
    """One model from 0-255 pixels to the probability of "dog", with the trained weights.

    Flat (every layer at the top level, named as in :mod:`.mobilenet`), so Grad-CAM finds
    its last convolution and the model saves, loads and exports like the course's others.
    """
    size = image_size if image_size is not None else bottom.input.shape[1]
    features = mobilenet.build_mobilenet_v2(size, include_top=False)
    x = keras.layers.Dropout(head.get_layer("head_dropout").rate, name="head_dropout")(
        features.output
    )
    outputs = keras.layers.Dense(1, activation="sigmoid", name="head")(x)
    model = keras.Model(features.input, outputs, name="pretrained_mobilenet_v2")
    for part in (bottom, top, head):
        for layer in part.layers:
            if layer.weights and layer.name in {lay.name for lay in model.layers}:
                model.get_layer(layer.name).set_weights(layer.get_weights())
    return model


@dataclass
class TransferResult:
    """What :func:`train` returns: the assembled model and how it was chosen.

    ``wins`` / ``losses``: validation photos only the fine-tuned model / only the head gets
    right (:func:`beats_beyond_noise`).
    """

    model: keras.Model
    history: dict[str, list[float]]
    head_val_accuracy: float
    tuned_val_accuracy: float
    fine_tuned: bool
    seconds: dict[str, float]
    wins: int = 0
    losses: int = 0

    @property
    def minutes(self) -> float:
        """Training time in minutes: activations, head and fine-tuning together."""
        return sum(self.seconds.values()) / 60


def train(
    course: object,
    head_epochs: int,
    fine_tune_epochs: int,
    learning_rate: float = 1e-4,
    seed: int = 0,
    path: str | None = None,
) -> TransferResult:
    """Chapter 06's recipe from start to finish (what ``catdog train --model pretrained`` runs).

    ``course`` is a :class:`~catdog_utils.pipeline.CourseData` at the network's input size.
    The head trains on the frozen features of the photos and their mirror images, then the
    top blocks and the head are fine-tuned; fine-tuning is kept only if it beats the head on
    the validation photos beyond chance (:func:`beats_beyond_noise`), and the pieces are
    assembled into one model.
    """
    bottom, top = build_parts(course.image_size, path=path)  # type: ignore[attr-defined]
    acts = extract(bottom, course.x_train, course.x_val)  # type: ignore[attr-defined]
    y_train = course.y_train.astype("float32")  # type: ignore[attr-defined]
    y_val = course.y_val.astype("float32")  # type: ignore[attr-defined]
    start = time.perf_counter()
    top.trainable = False
    features = outputs(top, np.concatenate([acts.train, acts.train_flipped]))
    head = build_head()
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                 metrics=["accuracy"])  # fmt: skip
    features_val = outputs(top, acts.val)
    labels = np.concatenate([y_train, y_train])
    fit = head.fit(features, labels, batch_size=64, epochs=head_epochs,
                   validation_data=(features_val, y_val), verbose=0)  # fmt: skip
    head_seconds, stage_1 = time.perf_counter() - start, head.get_weights()
    head_probs = outputs(head, features_val).ravel()
    for layer in top.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    model = stack(top, head)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    tuning = fine_tune(model, acts, y_train, y_val, fine_tune_epochs, seed=seed)
    head_val, tuned_val = fit.history["val_accuracy"][-1], tuning.history["val_accuracy"][-1]
    tuned_probs = outputs(model, acts.val).ravel()
    wins, losses, better = beats_beyond_noise(y_val, head_probs, tuned_probs)
    if not better:  # back to stage 1
        weights.load_weights(top, path)
        head.set_weights(stage_1)
    history = {f"head_{k}": list(map(float, v)) for k, v in fit.history.items()}
    history.update({f"tune_{k}": v for k, v in tuning.history.items()})
    seconds = {"activations": acts.seconds, "head": head_seconds, "fine-tuning": tuning.seconds}
    model = assemble(bottom, top, head)
    return TransferResult(model, history, head_val, tuned_val, better, seconds, wins, losses)
