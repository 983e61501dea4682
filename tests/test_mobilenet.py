"""catdog_utils.mobilenet: torchvision's MobileNetV2 in Keras gives torchvision's outputs.

``tests/reference/mobilenet_v2_reference.json`` holds torchvision's own ImageNet logits for
eight course photos (written once by ``tests/reference/make_mobilenet_v2_reference.py`` with
torch and torchvision, which the course does not install). The Keras network with the
converted weights must give the same top-5 classes and logits within ``LOGIT_TOLERANCE``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from catdog_utils import mobilenet, weights

REFERENCE = Path(__file__).parent / "reference" / "mobilenet_v2_reference.json"
#: Largest difference allowed between a Keras and a torchvision logit (float32 both; the
#: reference is rounded to 1e-4, and logits range over about +-20).
LOGIT_TOLERANCE = 2e-3


@pytest.fixture(scope="module")
def imagenet_model(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The converted network with its ImageNet classifier, 224 px."""
    pth = weights.installed_wheel_file()
    assert pth is not None, f"the weights package is not installed: {weights.WHEEL_INSTALL}"
    dest = tmp_path_factory.mktemp("weights") / weights.KERAS_WEIGHTS_NAME
    weights.prepare_weights(str(pth), dest, log=lambda _: None)
    return weights.load_weights(mobilenet.build_mobilenet_v2(224), dest)


def _pixels(path: Path) -> np.ndarray:
    """The reference's preprocessing up to the pixels (the model normalises them itself)."""
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    return np.asarray(image.resize((224, 224), Image.BILINEAR), dtype=np.uint8)


def test_same_outputs_as_torchvision(imagenet_model: object, shared_dataset: Path) -> None:
    reference = json.loads(REFERENCE.read_text())
    assert reference["weights_sha256"] == weights.WEIGHTS_SHA256
    photos = reference["photos"]
    pixels = np.stack([_pixels(shared_dataset / p["photo"]) for p in photos])
    for one, p in zip(pixels, photos, strict=True):
        assert hashlib.sha256(one.tobytes()).hexdigest() == p["pixels_sha256"], p["photo"]
    logits = imagenet_model.predict(pixels.astype("float32"), verbose=0)
    expected = np.array([p["logits"] for p in photos], dtype="float32")
    assert np.abs(logits - expected).max() < LOGIT_TOLERANCE
    for row, p in zip(logits, photos, strict=True):
        assert list(np.argsort(-row)[:5]) == p["top5"], p["photo"]


def test_class_names_are_torchvisions() -> None:
    names = mobilenet.imagenet_class_names()
    assert names == json.loads(REFERENCE.read_text())["class_names"]
    assert names[281] == "tabby" and names[254] == "pug" and len(names) == 1000


def test_parameter_counts_and_the_split_network() -> None:
    full = mobilenet.build_mobilenet_v2(224)
    assert full.count_params() == 3_538_984
    trainable = sum(int(np.prod(w.shape)) for w in full.trainable_weights)
    assert trainable == 3_504_872  # torchvision's count
    bottom = mobilenet.build_bottom(13, 96)
    top = mobilenet.build_top(14, tuple(bottom.output.shape[1:]))
    assert bottom.output.shape[1:] == (6, 6, 96)
    assert top.output.shape[1:] == (mobilenet.FEATURES,)
    names = {layer.name for layer in full.layers}
    assert {layer.name for layer in bottom.layers + top.layers} - names <= {top.layers[0].name}


def test_top_of_bottom_is_the_whole_feature_extractor(imagenet_model: object) -> None:
    import keras

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 96, 96, 3)).astype("float32")
    features = keras.Model(imagenet_model.input, imagenet_model.get_layer("pool").output)
    whole = mobilenet.build_mobilenet_v2(96, include_top=False)
    whole.set_weights(features.get_weights())
    bottom = mobilenet.build_bottom(13, 96)
    top = mobilenet.build_top(14, tuple(bottom.output.shape[1:]))
    for part in (bottom, top):
        for layer in part.layers:
            if layer.weights:
                layer.set_weights(whole.get_layer(layer.name).get_weights())
    np.testing.assert_allclose(top(bottom(x)), whole(x), atol=1e-4)
