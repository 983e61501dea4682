"""The course models are what the notebooks promise: the original CNN layer for layer,
its augmentation, and an improved CNN that builds and outputs probabilities."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from catdog_utils import augmentation, models

#: The original repository's CNN at 64x64x3: (layer name, class, output shape, parameters).
BASELINE_LAYERS = [
    ("image", "InputLayer", (None, 64, 64, 3), 0),
    ("rescale", "Rescaling", (None, 64, 64, 3), 0),
    ("conv1", "Conv2D", (None, 62, 62, 32), 3 * 3 * 3 * 32 + 32),
    ("pool1", "MaxPooling2D", (None, 31, 31, 32), 0),
    ("conv2", "Conv2D", (None, 29, 29, 32), 3 * 3 * 32 * 32 + 32),
    ("pool2", "MaxPooling2D", (None, 14, 14, 32), 0),
    ("flatten", "Flatten", (None, 14 * 14 * 32), 0),
    ("dense", "Dense", (None, 128), 6272 * 128 + 128),
    ("dog_probability", "Dense", (None, 1), 128 + 1),
]


@pytest.fixture(scope="module")
def baseline() -> keras.Model:
    return models.build_baseline_cnn()


def _output_shape(layer: keras.Layer) -> tuple:
    return tuple(layer.output.shape)


def test_baseline_has_the_original_parameter_count(baseline: keras.Model) -> None:
    assert models.count_params(baseline) == 813_217
    # all of them trainable, as in the original (no frozen or non-trainable weights)
    assert sum(int(np.prod(w.shape)) for w in baseline.trainable_weights) == 813_217
    assert not baseline.non_trainable_weights


def test_baseline_layer_sequence_and_shapes(baseline: keras.Model) -> None:
    got = [
        (layer.name, type(layer).__name__, _output_shape(layer), layer.count_params())
        for layer in baseline.layers
    ]
    assert got == BASELINE_LAYERS


def test_baseline_layer_settings_match_the_original(baseline: keras.Model) -> None:
    for name in ("conv1", "conv2"):
        conv = baseline.get_layer(name)
        assert conv.filters == 32
        assert tuple(conv.kernel_size) == (3, 3)
        assert tuple(conv.strides) == (1, 1)
        assert conv.padding == "valid"
        assert conv.activation.__name__ == "relu"
    for name in ("pool1", "pool2"):
        pool = baseline.get_layer(name)
        assert tuple(pool.pool_size) == (2, 2)
        assert tuple(pool.strides) == (2, 2)
    assert baseline.get_layer("dense").units == 128
    assert baseline.get_layer("dense").activation.__name__ == "relu"
    out = baseline.get_layer("dog_probability")
    assert out.units == 1
    assert out.activation.__name__ == "sigmoid"
    assert baseline.get_layer("rescale").scale == pytest.approx(1 / 255)


def test_baseline_is_compiled_with_adam_and_binary_crossentropy(baseline: keras.Model) -> None:
    assert isinstance(baseline.optimizer, keras.optimizers.Adam)
    assert float(baseline.optimizer.learning_rate) == pytest.approx(1e-3)
    assert baseline.loss == "binary_crossentropy"


def _assert_takes_raw_pixels(model: keras.Model, size: int) -> None:
    """The model divides 0-255 pixels by 255 itself and ends in one sigmoid unit."""
    x = np.random.default_rng(0).integers(0, 256, (3, size, size, 3)).astype("float32")
    # the rest of the network, fed pixels already scaled to 0-1
    rest = keras.Model(model.get_layer("rescale").output, model.output)
    y = np.asarray(model(x, training=False))
    assert y.shape == (3, 1)
    np.testing.assert_allclose(y, np.asarray(rest(x / 255.0, training=False)), atol=1e-6)
    assert not np.allclose(np.asarray(rest(x, training=False)), y, atol=1e-4)
    assert model.get_layer("dog_probability").activation.__name__ == "sigmoid"


def test_baseline_takes_raw_pixels_and_outputs_probabilities(baseline: keras.Model) -> None:
    _assert_takes_raw_pixels(baseline, 64)


def test_baseline_can_be_built_uncompiled_at_another_size() -> None:
    model = models.build_baseline_cnn(image_size=32, compile_model=False)
    assert not model.compiled
    assert getattr(model, "optimizer", None) is None
    assert model.output.shape == (None, 1)


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (
            lambda seed: models.build_original_augmentation(seed, fused=False),
            {"RandomShear", "RandomZoom", "RandomFlip"},
        ),
        (models.build_original_augmentation, {"ShearZoomFlip"}),
        (
            lambda seed: models.build_strong_augmentation(seed, fused=False),
            {"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast"},
        ),
        (models.build_strong_augmentation, {"FlipRotateZoomShift", "RandomContrast"}),
    ],
)
def test_augmentation_layers_keep_shape_and_dtype(builder, expected: set[str]) -> None:
    augment = builder(seed=1)
    assert {type(layer).__name__ for layer in augment.layers} == expected
    x = np.random.default_rng(1).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    out = np.asarray(augment(x, training=True))
    assert out.shape == x.shape
    assert out.dtype == np.float32
    assert not np.allclose(out, x)  # something was changed ...
    assert out.min() >= -1e-3 and out.max() <= 255 + 1e-3  # ... within the pixel range
    np.testing.assert_allclose(np.asarray(augment(x, training=False)), x)


def test_original_augmentation_matches_image_data_generator_settings() -> None:
    augment = models.build_original_augmentation(seed=0, fused=False)
    shear = augment.get_layer(index=0)
    zoom = augment.get_layer(index=1)
    flip = augment.get_layer(index=2)
    assert shear.x_factor == pytest.approx((-0.0034907, 0.0034907), abs=1e-6)
    assert zoom.height_factor == (-0.2, 0.2)
    assert zoom.width_factor == (-0.2, 0.2)
    assert shear.fill_mode == zoom.fill_mode == "nearest"
    assert flip.mode == "horizontal"


def test_two_pass_resampling_equals_the_projective_transform_kernel() -> None:
    # resample_shear_zoom does in two 1-D passes what TensorFlow's 2-D kernel does
    rng = np.random.default_rng(7)
    n, h, w = 12, 40, 56
    x = rng.uniform(0, 255, (n, h, w, 3)).astype("float32")
    x_scale = (rng.uniform(0.7, 1.3, n) * rng.choice([-1.0, 1.0], n)).astype("float32")
    x_shear = rng.uniform(-0.3, 0.3, n).astype("float32")  # far beyond the original 0.0035
    y_scale = rng.uniform(0.7, 1.3, n).astype("float32")
    got = augmentation.resample_shear_zoom(x, x_scale, x_shear, y_scale).numpy()
    cx, cy = (w - 1) / 2, (h - 1) / 2
    zeros = np.zeros(n, "float32")
    transforms = np.stack(
        [x_scale, x_shear, cx - x_scale * cx - x_shear * cy, zeros, y_scale,
         cy - y_scale * cy, zeros, zeros],
        axis=1,
    )  # fmt: skip
    expected = tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=transforms,
        output_shape=[h, w],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    ).numpy()
    assert got.shape == x.shape
    assert np.abs(got - expected).max() < 0.01


def test_fused_augmentation_flips_and_zooms_like_the_layers() -> None:
    x = np.random.default_rng(3).uniform(0, 255, (24, 32, 40, 3)).astype("float32")
    fused = augmentation.ShearZoomFlip(shear=0.0, zoom=0.2, flip=True, seed=2)
    drawn = fused.get_random_transformation(len(x))
    flips = np.asarray(drawn["flip"])
    assert 0 < flips.sum() < len(x) and np.ptp(np.asarray(drawn["x_zoom"])) > 0.1
    got = np.asarray(fused.transform_images(x, drawn))
    # the same zooms through Keras's RandomZoom, then the same flips through RandomFlip
    zoom = keras.layers.RandomZoom((-0.2, 0.2), (-0.2, 0.2), fill_mode="nearest")
    zoomed = zoom.transform_images(
        x, {"height_zoom": drawn["y_zoom"][:, None], "width_zoom": drawn["x_zoom"][:, None]}
    )
    flip = keras.layers.RandomFlip("horizontal")
    expected = flip.transform_images(zoomed, {"flips": flips[:, None, None, None]})
    assert np.abs(got - np.asarray(expected)).max() < 0.01


def test_fused_augmentation_is_random_per_image_and_seeded() -> None:
    x = np.random.default_rng(4).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    first = augmentation.ShearZoomFlip(0.1, 0.2, seed=5)
    again = augmentation.ShearZoomFlip(0.1, 0.2, seed=5)
    a, b = np.asarray(first(x, training=True)), np.asarray(again(x, training=True))
    np.testing.assert_array_equal(a, b)  # the same seed, the same draws
    assert not np.allclose(np.asarray(first(x, training=True)), a)  # the next batch differs
    np.testing.assert_array_equal(np.asarray(first(x, training=False)), x)


def test_a_model_holding_the_fused_augmentation_saves_and_loads(tmp_path) -> None:
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            augmentation.ShearZoomFlip(0.1, 0.2, flip=True, seed=7),
            keras.layers.Rescaling(1 / 255),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    path = tmp_path / "augmenting.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.layers[0]
    assert isinstance(layer, augmentation.ShearZoomFlip)
    assert layer.get_config() == model.layers[0].get_config()
    assert (layer.shear, layer.zoom, layer.flip, layer.seed) == (0.1, 0.2, True, 7)
    x = np.random.default_rng(6).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # the random state came along too: both draw the same next augmentation
    np.testing.assert_array_equal(
        np.asarray(layer(x, training=True)), np.asarray(model.layers[0](x, training=True))
    )


def _strong_draws(n: int, **values) -> dict:
    draws = {
        "angle": np.zeros(n, "float32"),
        "zoom": np.ones(n, "float32"),
        "x_shift": np.zeros(n, "float32"),
        "y_shift": np.zeros(n, "float32"),
        "flip": np.zeros(n, bool),
    }
    draws.update({key: np.asarray(value) for key, value in values.items()})
    return draws


def test_strong_geometry_flips_shifts_rotates_and_zooms_exactly() -> None:
    x = np.random.default_rng(7).uniform(0, 255, (2, 9, 9, 3)).astype("float32")
    layer = augmentation.FlipRotateZoomShift()

    def apply(**values) -> np.ndarray:
        return np.asarray(layer.transform_images(x, _strong_draws(2, **values)))

    np.testing.assert_allclose(apply(), x)
    np.testing.assert_allclose(apply(flip=[True, True]), x[:, :, ::-1])
    # a shift of 2/9 of the width samples 2 pixels further right
    np.testing.assert_allclose(apply(x_shift=[2 / 9, 2 / 9])[:, :, :7], x[:, :, 2:])
    np.testing.assert_allclose(apply(angle=[np.pi / 2] * 2), np.rot90(x, 1, axes=(1, 2)), atol=1e-3)
    # zooming in (z < 1) needs no filling: the same pixels as the original's fused resampler
    zoomed = augmentation.resample_shear_zoom(x, np.full(2, 0.8), np.zeros(2), np.full(2, 0.8))
    np.testing.assert_allclose(apply(zoom=[0.8, 0.8]), np.asarray(zoomed), atol=1e-3)


def test_strong_geometry_samples_where_its_docstring_says() -> None:
    rng = np.random.default_rng(8)
    n, h, w = 3, 20, 24
    x = rng.uniform(0, 255, (n, h, w, 3)).astype("float32")
    draws = _strong_draws(
        n,
        angle=np.array([0.3, -0.2, 0.45], "float32"),
        zoom=np.array([0.85, 1.1, 1.0], "float32"),
        x_shift=np.array([0.05, -0.08, 0.0], "float32"),
        y_shift=np.array([-0.04, 0.02, 0.09], "float32"),
        flip=np.array([True, False, True]),
    )
    got = np.asarray(augmentation.FlipRotateZoomShift().transform_images(x, draws))
    cx, cy = (w - 1) / 2, (h - 1) / 2
    v, u = np.mgrid[0:h, 0:w].astype("float64")
    u, v = u - cx, v - cy
    checked = 0
    for i in range(n):
        a, z, f = draws["angle"][i], draws["zoom"][i], -1.0 if draws["flip"][i] else 1.0
        x_in = z * (f * np.cos(a) * u - np.sin(a) * v) + cx + draws["x_shift"][i] * w
        y_in = z * (f * np.sin(a) * u + np.cos(a) * v) + cy + draws["y_shift"][i] * h
        inside = (x_in >= 0) & (x_in <= w - 1) & (y_in >= 0) & (y_in <= h - 1)
        x0 = np.clip(np.floor(x_in).astype(int), 0, w - 2)
        y0 = np.clip(np.floor(y_in).astype(int), 0, h - 2)
        dx, dy = (x_in - x0)[..., None], (y_in - y0)[..., None]
        img = x[i].astype("float64")
        expected = (
            img[y0, x0] * (1 - dx) * (1 - dy)
            + img[y0, x0 + 1] * dx * (1 - dy)
            + img[y0 + 1, x0] * (1 - dx) * dy
            + img[y0 + 1, x0 + 1] * dx * dy
        )
        assert np.abs(got[i][inside] - expected[inside]).max() < 0.05
        checked += inside.sum()
    assert checked > n * h * w // 2  # most pixels are checked, not only a corner


def test_strong_geometry_draws_within_its_ranges_and_is_seeded() -> None:
    layer = augmentation.FlipRotateZoomShift(0.08, 0.2, 0.1, seed=3)
    drawn = {k: np.asarray(v) for k, v in layer.get_random_transformation(2000).items()}
    assert np.abs(drawn["angle"]).max() <= 0.08 * 2 * np.pi + 1e-6
    assert np.abs(drawn["angle"]).max() > 0.9 * 0.08 * 2 * np.pi
    assert 0.8 - 1e-6 <= drawn["zoom"].min() < 0.82 and 1.18 < drawn["zoom"].max() <= 1.2 + 1e-6
    for key in ("x_shift", "y_shift"):
        assert 0.09 < np.abs(drawn[key]).max() <= 0.1 + 1e-6
    assert 0.45 < drawn["flip"].mean() < 0.55
    x = np.random.default_rng(9).uniform(0, 255, (6, 16, 16, 3)).astype("float32")
    first = augmentation.FlipRotateZoomShift(0.08, 0.2, 0.1, seed=5)
    again = augmentation.FlipRotateZoomShift(0.08, 0.2, 0.1, seed=5)
    np.testing.assert_array_equal(
        np.asarray(first(x, training=True)), np.asarray(again(x, training=True))
    )
    np.testing.assert_array_equal(np.asarray(first(x, training=False)), x)


def test_a_model_holding_the_strong_geometry_saves_and_loads(tmp_path) -> None:
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), augmentation.FlipRotateZoomShift(0.08, 0.2, 0.1, seed=4)]
    )
    path = tmp_path / "strong.keras"
    model.save(path)
    layer = keras.models.load_model(path).layers[0]
    assert isinstance(layer, augmentation.FlipRotateZoomShift)
    assert (layer.rotation, layer.zoom, layer.shift, layer.flip, layer.seed) == (
        0.08,
        0.2,
        0.1,
        True,
        4,
    )


def test_improved_cnn_builds_at_128_and_outputs_probabilities() -> None:
    model = models.build_improved_cnn(image_size=128)
    assert model.input_shape == (None, 128, 128, 3)
    assert model.output_shape == (None, 1)
    assert models.count_params(model) == 2_800_097  # the docstring's "about 2.8 M"
    _assert_takes_raw_pixels(model, 128)


def test_improved_cnn_has_resnet18s_layout() -> None:
    model = models.build_improved_cnn(image_size=128, widths=(64, 128, 256, 512))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    # 17 3x3 convolutions (stem + 4 stages x 2 blocks x 2) and 3 strided 1x1 shortcuts
    assert sum(layer.kernel_size == (3, 3) for layer in convs) == 17
    assert sum(layer.kernel_size == (1, 1) for layer in convs) == 3
    assert models.count_params(model) == 11_178_945  # about ResNet-18's 11.2 M
    # 128 px -> 32 x 32 after the stem, then 32, 16, 8, 4 through the stages
    assert model.get_layer("stem_pool").output.shape[1:3] == (32, 32)
    assert model.get_layer("s4b2_add").output.shape[1:3] == (4, 4)


def test_compile_improved_uses_adamw_with_a_warmup_schedule() -> None:
    model = models.compile_improved(
        models.build_improved_cnn(image_size=64, widths=(16, 32), blocks_per_stage=1),
        steps_per_epoch=10,
        epochs=5,
    )
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(models.WEIGHT_DECAY)
    # the warm-up starts at a tenth of the peak learning rate (2e-3)
    assert float(model.optimizer.learning_rate) == pytest.approx(2e-4)


def test_compile_improved_decays_filters_but_not_batch_norm_or_biases() -> None:
    model = models.compile_improved(
        models.build_improved_cnn(image_size=32, widths=(8,), blocks_per_stage=1),
        steps_per_epoch=2,
        epochs=2,
        weight_decay=0.05,
    )
    model.optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if model.optimizer._use_weight_decay(v)}
    assert "stem/kernel" in decayed and "s1b1_conv1/kernel" in decayed
    assert "dog_probability/kernel" in decayed
    assert not {p for p in decayed if p.endswith(("/gamma", "/beta", "/bias"))}


def test_compile_improved_label_smoothing_moves_targets_off_zero_and_one() -> None:
    def loss_of(smoothing: float) -> float:
        model = models.compile_improved(
            models.build_improved_cnn(image_size=32, widths=(8,), blocks_per_stage=1),
            steps_per_epoch=1,
            epochs=1,
            label_smoothing=smoothing,
        )
        # a perfectly confident right answer costs nothing only without smoothing
        return float(model.loss(np.array([[1.0]]), np.array([[1.0 - 1e-7]])))

    assert loss_of(0.0) == pytest.approx(0.0, abs=1e-5)
    # with smoothing 0.1 the target is 0.95: the loss is the cross-entropy of 0.95 against ~1
    assert loss_of(0.1) > 0.5


def test_majority_label_accuracy_reads_blended_labels_as_their_larger_part() -> None:
    y_true = np.array([[0.0], [1.0], [0.8], [0.3], [0.9]], dtype=np.float32)
    y_pred = np.array([[0.1], [0.7], [0.6], [0.6], [0.2]], dtype=np.float32)
    right = np.asarray(models.majority_label_accuracy(y_true, y_pred)).ravel()
    assert right.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    # with hard labels it is Keras's own binary accuracy
    hard = y_true.round()
    keras_acc = np.asarray(keras.metrics.binary_accuracy(hard, y_pred)).ravel()
    ours = np.asarray(models.majority_label_accuracy(hard, y_pred)).ravel()
    np.testing.assert_array_equal(ours, keras_acc)


def test_compile_improved_for_blended_labels_keeps_the_accuracy_name() -> None:
    model = models.compile_improved(
        models.build_improved_cnn(image_size=32, widths=(8,), blocks_per_stage=1),
        steps_per_epoch=1,
        epochs=1,
        blended_labels=True,
    )
    history = model.fit(
        np.zeros((4, 32, 32, 3), np.float32), np.array([[0.0], [1.0], [0.9], [0.2]]), verbose=0
    )
    assert set(history.history) == {"loss", "accuracy"}
    assert 0.0 <= history.history["accuracy"][0] <= 1.0
