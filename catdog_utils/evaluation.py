"""Evaluation: metrics, confusion matrix, ROC / AUC, the most confident mistakes, Grad-CAM.

The metric functions work on plain NumPy arrays (true labels 0/1 and predicted dog
probabilities), so they are easy to check by hand and to test; only
:func:`predict_probabilities` and :func:`grad_cam` need a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from .quiet import tensorflow_warnings_hidden

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf


def predict_probabilities(
    model: keras.Model,
    images: np.ndarray | tf.data.Dataset,
    batch_size: int = 256,
    flip_tta: bool = False,
) -> np.ndarray:
    """Dog probabilities, shape ``(n,)``, for an image array or a ``(x, y)`` dataset.

    With ``flip_tta`` each image is also predicted mirrored left-right and the two
    probabilities are averaged (test-time augmentation: a cheap, honest gain).
    """
    import tensorflow as tf

    def run(x: np.ndarray | tf.data.Dataset) -> np.ndarray:
        # each new model or input shape traces a graph: TensorFlow's "retracing" warning
        # after a few is expected here, not a fault
        with tensorflow_warnings_hidden():
            probs = model.predict(x, batch_size=batch_size, verbose=0)
        return np.asarray(probs).reshape(-1)

    if isinstance(images, tf.data.Dataset):
        images = images.map(lambda x, *_: x)
        probs = run(images)
        if flip_tta:
            probs = (probs + run(images.map(lambda x: tf.image.flip_left_right(x)))) / 2
        return probs
    probs = run(images)
    if flip_tta:
        probs = (probs + run(np.ascontiguousarray(images[:, :, ::-1]))) / 2
    return probs


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2x2 counts: rows are the true class (cat, dog), columns the predicted class."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    y_pred = np.asarray(y_pred).astype(int).reshape(-1)
    cm = np.zeros((2, 2), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


@dataclass(frozen=True)
class BinaryMetrics:
    """Scores at one threshold; "positive" means dog."""

    threshold: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    auc: float
    n: int

    def as_dict(self) -> dict[str, float]:
        """The metrics as a plain dictionary (for tables and JSON)."""
        return asdict(self)


def binary_metrics(y_true: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> BinaryMetrics:
    """Accuracy, precision, recall and F1 for "dog" at ``threshold``, plus ROC AUC."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probs = np.asarray(probs, dtype=float).reshape(-1)
    y_pred = (probs >= threshold).astype(int)
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr, tpr, _ = roc_curve(y_true, probs)
    return BinaryMetrics(
        threshold=float(threshold),
        accuracy=float((tp + tn) / len(y_true)) if len(y_true) else 0.0,
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        auc=auc(fpr, tpr),
        n=int(len(y_true)),
    )


def roc_curve(y_true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold (highest first).

    Returns ``(fpr, tpr, thresholds)``; the curve starts at (0, 0) with threshold
    ``inf`` and ends at (1, 1).  Tied scores form one step, as in scikit-learn.
    """
    thresholds, predicted, tps, n_pos = _counts_at_thresholds(y_true, probs)
    fps = predicted - tps
    n_neg = max(int(predicted[-1]) - n_pos, 1)
    tpr = np.r_[0.0, tps / max(n_pos, 1)]
    fpr = np.r_[0.0, fps / n_neg]
    return fpr, tpr, np.r_[np.inf, thresholds]


def _counts_at_thresholds(
    y_true: np.ndarray, probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Predicting "dog" for every score >= each distinct score, highest first.

    Returns ``(thresholds, predicted, true_positives, positives)``: the distinct scores,
    how many images each predicts as "dog", how many of those are dogs, and the number of
    dogs.  Tied scores form one step (all in or all out), as in scikit-learn.
    """
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probs = np.asarray(probs, dtype=float).reshape(-1)
    order = np.argsort(-probs, kind="mergesort")
    scores, labels = probs[order], y_true[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    return scores[last_of_tie], last_of_tie + 1, np.cumsum(labels)[last_of_tie], int(labels.sum())


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under a curve by the trapezoidal rule (ROC AUC when given :func:`roc_curve`)."""
    return float(np.trapezoid(tpr, fpr))


def best_f1_threshold(
    y_true: np.ndarray, probs: np.ndarray, positive: str = "dog"
) -> tuple[float, float]:
    """The threshold with the highest F1 for ``positive``, and that F1.

    ``positive="dog"``: a photo is called dog when its probability is at or above the
    threshold; the candidates are the distinct probabilities, and among equal F1s the
    highest threshold wins.  ``positive="cat"``: called cat when below the threshold; the
    candidates are the distinct probabilities and one just above the largest (everything a
    cat), and among equal F1s the lowest wins.  Choose it on the *validation* set, never on
    the test set.
    """
    if positive == "cat":
        return _best_cat_f1_threshold(y_true, probs)
    if positive != "dog":
        raise ValueError(f"positive is 'dog' or 'cat', not {positive!r}")
    thresholds, predicted, tps, n_pos = _counts_at_thresholds(y_true, probs)
    f1 = 2 * tps / (predicted + n_pos)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def _best_cat_f1_threshold(y_true: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """:func:`best_f1_threshold` for "cat", every candidate counted at once."""
    y = np.asarray(y_true).astype(int).reshape(-1)
    p = np.asarray(probs, dtype=float).reshape(-1)
    candidates = np.unique(np.r_[p, np.nextafter(p.max(), 2.0)])
    order = np.argsort(p, kind="mergesort")
    called = np.searchsorted(p[order], candidates, side="left")  # photos below each one
    tps = np.r_[0, np.cumsum(y[order] == 0)][called]
    denominator = called + int(np.sum(y == 0))  # 2 TP + FP + FN
    f1 = np.divide(2.0 * tps, denominator, out=np.zeros(len(candidates)), where=denominator > 0)
    best = int(np.argmax(f1))
    return float(candidates[best]), float(f1[best])


def most_confident_mistakes(y_true: np.ndarray, probs: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices of the ``k`` wrong predictions the model was surest about, surest first."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probs = np.asarray(probs, dtype=float).reshape(-1)
    wrong = np.flatnonzero((probs >= 0.5).astype(int) != y_true)
    confidence = np.abs(probs[wrong] - 0.5)
    return wrong[np.argsort(-confidence, kind="mergesort")][:k]


def last_conv_layer_name(model: keras.Model) -> str:
    """Name of the layer Grad-CAM looks at: the last feature maps before the classifier.

    That is the last layer with a 4-D output (height x width x channels) that is not a
    pooling layer: ``conv2`` in the original CNN (its ``pool2`` only shrinks those maps),
    and the last residual block's output (``s4b2_relu``, after the shortcut is added) in
    the improved network, since that is what its global average pooling reads.
    """
    import keras

    pooling = (
        keras.layers.MaxPooling2D,
        keras.layers.AveragePooling2D,
        keras.layers.GlobalAveragePooling2D,
        keras.layers.GlobalMaxPooling2D,
    )
    for layer in reversed(model.layers):
        output = getattr(layer, "output", None)
        if output is not None and len(output.shape) == 4 and not isinstance(layer, pooling):
            return layer.name
    raise ValueError(f"{model.name} has no convolutional layer for Grad-CAM")


def grad_cam(model: keras.Model, image: np.ndarray, layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM heatmap (values 0-1, the image's height x width) for one image.

    It shows which regions pushed the prediction *towards the predicted class*: the
    gradient of the predicted class's score (the logit before the sigmoid, negated for a
    cat) with respect to the chosen convolution layer's feature maps, averaged per channel, weights
    those maps (Selvaraju et al., 2017).

    Args:
        model: a functional Keras model (all the course's models are).
        image: one ``(H, W, 3)`` image with raw 0-255 pixels, at the model's input size.
        layer_name: the convolution layer to explain (default: the last one).
    """
    import keras
    import tensorflow as tf

    layer_name = layer_name or last_conv_layer_name(model)
    head = model.layers[-1]
    # Differentiate the score *before* the sigmoid (the logit): a probability that rounds to
    # exactly 1.0 has a zero gradient and would give a blank heatmap.
    use_logit = (
        isinstance(head, keras.layers.Dense) and head.activation is keras.activations.sigmoid
    )
    outputs = [model.get_layer(layer_name).output, head.input if use_logit else model.output]
    grad_model = keras.Model(model.inputs, outputs)
    x = tf.convert_to_tensor(image[None].astype("float32"))
    with tf.GradientTape() as tape:
        maps, out = grad_model(x, training=False)
        if use_logit:
            kernel, bias = (tf.cast(w, tf.float32) for w in head.weights[:2])
            logit = (tf.cast(out, tf.float32) @ kernel + bias)[:, 0]
        else:
            prob = tf.clip_by_value(tf.cast(out[:, 0], tf.float32), 1e-7, 1 - 1e-7)
            logit = tf.math.log(prob) - tf.math.log1p(-prob)
        score = tf.where(logit >= 0, logit, -logit)  # towards the predicted class
    grads = tape.gradient(score, maps)
    weights = tf.reduce_mean(tf.cast(grads, tf.float32), axis=(1, 2))
    cam = tf.nn.relu(tf.reduce_sum(tf.cast(maps, tf.float32) * weights[:, None, None, :], -1))
    cam = tf.image.resize(cam[..., None], image.shape[:2])[0, :, :, 0].numpy()
    peak = cam.max()
    return cam / peak if peak > 0 else cam


def mistakes(y_true: np.ndarray, called_dog: np.ndarray) -> tuple[int, int]:
    """``(cats called dog, dogs called cat)`` for the given decisions (True = called dog)."""
    y = np.asarray(y_true).astype(int).reshape(-1)
    dog = np.asarray(called_dog, dtype=bool).reshape(-1)
    return int(np.sum(dog & (y == 0))), int(np.sum(~dog & (y == 1)))
