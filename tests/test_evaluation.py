"""Metrics checked against hand-computed values and brute force."""

from __future__ import annotations

import numpy as np
import pytest

from catdog_utils import evaluation


def test_confusion_matrix_and_metrics_by_hand() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9, 0.8, 0.3, 0.7])
    cm = evaluation.confusion_matrix(y, p >= 0.5)
    assert cm.tolist() == [[2, 1], [1, 3]]  # rows: true cat, true dog
    m = evaluation.binary_metrics(y, p)
    assert m.accuracy == pytest.approx(5 / 7)
    assert m.precision == pytest.approx(3 / 4)
    assert m.recall == pytest.approx(3 / 4)
    assert m.f1 == pytest.approx(3 / 4)
    assert m.n == 7


def test_roc_auc_matches_rank_statistic() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.round(np.clip(0.3 * y + 0.7 * rng.random(400), 0, 1), 2)  # with ties
    fpr, tpr, thr = evaluation.roc_curve(y, p)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert evaluation.auc(fpr, tpr) == pytest.approx(pairs)


def test_perfect_and_inverted_classifiers() -> None:
    y = np.array([0, 0, 1, 1])
    assert evaluation.binary_metrics(y, np.array([0.1, 0.2, 0.8, 0.9])).auc == 1.0
    assert evaluation.binary_metrics(y, np.array([0.9, 0.8, 0.2, 0.1])).auc == 0.0


def test_best_f1_threshold_equals_brute_force() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.25 * y + 0.75 * rng.random(300), 0, 1)
    threshold, f1 = evaluation.best_f1_threshold(y, p)
    brute = max(evaluation.binary_metrics(y, p, t).f1 for t in np.unique(p))
    assert f1 == pytest.approx(brute)
    assert evaluation.binary_metrics(y, p, threshold).f1 == pytest.approx(f1)


def _cat_f1(y: np.ndarray, p: np.ndarray, t: float) -> float:
    called_cat, cat = p < t, y == 0
    tp, wrong = np.sum(called_cat & cat), np.sum(called_cat != cat)
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_best_cat_f1_threshold_equals_brute_force_and_prefers_the_lowest(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    p = np.round(np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1), 2)  # many ties
    candidates = np.unique(np.r_[p, np.nextafter(p.max(), 2.0)])
    scores = [_cat_f1(y, p, t) for t in candidates]
    best = int(np.argmax(scores))
    assert evaluation.best_f1_threshold(y, p, positive="cat") == (candidates[best], scores[best])
    with pytest.raises(ValueError, match="'dog' or 'cat'"):
        evaluation.best_f1_threshold(y, p, positive="cow")


def test_most_confident_mistakes_are_wrong_and_sorted() -> None:
    y = np.array([0, 1, 0, 1, 0, 1])
    p = np.array([0.99, 0.02, 0.6, 0.45, 0.1, 0.9])
    idx = evaluation.most_confident_mistakes(y, p, k=10)
    assert idx.tolist() == [0, 1, 2, 3]  # |p - 0.5|: 0.49, 0.48, 0.10, 0.05


def test_grad_cam_highlights_the_evidence() -> None:
    import keras

    # The dog score grows with the brightness the convolution sees; only the top-left
    # quadrant of the image is bright, so the heatmap must sit there.
    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(
        2, 1, activation="relu", name="conv", kernel_initializer="ones", use_bias=False
    )(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(conv)
    out = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones")(pooled)
    model = keras.Model(inputs, out)
    image = np.zeros((16, 16, 3), "float32")
    image[:8, :8] = 0.5
    assert evaluation.last_conv_layer_name(model) == "conv"
    cam = evaluation.grad_cam(model, image)
    assert cam.shape == (16, 16)
    assert cam.max() == pytest.approx(1.0)
    assert cam[:6, :6].min() > 0.9 and cam[10:, 10:].max() < 1e-6


def test_grad_cam_looks_at_the_feature_maps_the_classifier_reads() -> None:
    from catdog_utils import models

    # The original CNN: its last convolution, not the pooling that only shrinks it.
    assert evaluation.last_conv_layer_name(models.build_baseline_cnn(64)) == "conv2"
    # The residual network: the last block's output, after the shortcut is added (what
    # global average pooling reads), not the batch norm of its second convolution.
    improved = models.build_improved_cnn(64, blocks_per_stage=1)
    assert evaluation.last_conv_layer_name(improved) == "s4b1_relu"
    heatmap = evaluation.grad_cam(improved, np.full((64, 64, 3), 128.0, "float32"))
    assert heatmap.shape == (64, 64) and np.isfinite(heatmap).all()


def test_grad_cam_is_not_blank_when_the_model_is_certain() -> None:
    import keras

    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(
        2, 1, activation="relu", name="conv", kernel_initializer="ones", use_bias=False
    )(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(conv)
    out = keras.layers.Dense(
        1, activation="sigmoid", kernel_initializer=keras.initializers.Constant(1000.0)
    )(pooled)
    model = keras.Model(inputs, out)
    image = np.zeros((16, 16, 3), "float32")
    image[:8, :8] = 0.5
    assert float(model(image[None])[0, 0]) == 1.0  # saturated: d(prob)/d(x) is exactly 0
    cam = evaluation.grad_cam(model, image)
    assert cam[:6, :6].min() > 0.9 and cam[10:, 10:].max() < 1e-6


def test_flip_tta_averages_each_image_with_its_mirror() -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(2)
    # a model that sees left from right (a dense layer over every pixel)
    model = keras.Sequential(
        [keras.Input((6, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1, "sigmoid")]
    )
    x = np.random.default_rng(8).uniform(0, 255, (5, 6, 8, 3)).astype("float32") / 50

    def plain(images: np.ndarray) -> np.ndarray:
        return np.asarray(model(images, training=False)).reshape(-1)

    expected = (plain(x) + plain(x[:, :, ::-1].copy())) / 2
    assert np.abs(expected - plain(x)).max() > 1e-3  # mirroring changes this model's answers
    got = evaluation.predict_probabilities(model, x, flip_tta=True)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(evaluation.predict_probabilities(model, x), plain(x), rtol=1e-5)
    # a (images, labels) dataset gives the same answers
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(5, "float32"))).batch(2)
    got_ds = evaluation.predict_probabilities(model, ds, flip_tta=True)
    np.testing.assert_allclose(got_ds, expected, rtol=1e-5, atol=1e-6)


def test_mistakes_counts_each_kind() -> None:
    y = np.array([0, 0, 1, 1, 1])
    called_dog = np.array([True, False, False, True, False])
    assert evaluation.mistakes(y, called_dog) == (1, 2)
