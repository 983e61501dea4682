"""MobileNetV2 exactly as torchvision builds it, in Keras (for its ImageNet weights).

``keras.applications.MobileNetV2`` is not the same function as torchvision's network: Keras
pads its stride-2 convolutions only at the bottom and right, torchvision pads one pixel on
every side, and batch norm's epsilon is 1e-3 in Keras against 1e-5 in PyTorch. The pretrained
weights this course uses are torchvision's (:mod:`catdog_utils.weights`), so this module
builds torchvision's network layer for layer: symmetric padding, epsilon 1e-5, ReLU6, the
same block settings, and the ImageNet mean / standard deviation applied inside the model,
so it takes photos as 0-255 pixels like every other model of the course.

Every layer is named after the PyTorch module it mirrors, with ``_`` for ``.``
(``features.3.conv.1.0`` is the layer ``features_3_conv_1_0``), which is how the weight
converter pairs them. Nothing here touches the disk.
"""

from __future__ import annotations

import math

import keras
from keras import layers

#: torchvision's ImageNet normalisation, per RGB channel, for pixels scaled to 0-1.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: PyTorch's batch-norm epsilon (Keras defaults to 1e-3).
BN_EPSILON = 1e-5
#: The inverted-residual stages: expansion t, output channels c, blocks n, first stride s.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
#: Channels of the last 1x1 convolution: the length of the feature vector the head reads.
FEATURES = 1280
#: The layer whose output is the pooled 1280-number description of a photo.
POOL_LAYER = "pool"
#: ImageNet-1k classes.
IMAGENET_CLASSES = 1000


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, groups: bool = False,
             relu: bool = True):  # fmt: skip
    """Conv (or depthwise conv) + batch norm (+ ReLU6), padded like PyTorch.

    ``name`` is the PyTorch prefix of the pair: the convolution is ``<name>_0`` and the batch
    norm ``<name>_1`` (torchvision's ``ConvBNReLU``), ReLU6 has no weights.
    """
    if kernel == 3:  # PyTorch pads one pixel on every side, whatever the stride
        x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    if groups:
        x = layers.DepthwiseConv2D(kernel, stride, use_bias=False, name=f"{name}_0")(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, use_bias=False, name=f"{name}_0")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_1")(x)
    if relu:
        x = layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x)
    return x


def _inverted_residual(x, in_ch: int, out_ch: int, stride: int, expand: int, index: int):
    """torchvision's ``InvertedResidual`` number ``index`` of ``features``.

    Expand with a 1x1 convolution (skipped when ``expand`` is 1), filter each channel with a
    3x3 depthwise convolution, project back with a linear 1x1 convolution; add the input
    when shape allows (stride 1, same channels).
    """
    prefix = f"features_{index}_conv"
    y, part = x, 0
    if expand != 1:
        y = _conv_bn(y, in_ch * expand, 1, 1, f"{prefix}_{part}")
        part += 1
    y = _conv_bn(y, in_ch * expand, 3, stride, f"{prefix}_{part}", groups=True)
    y = layers.Conv2D(out_ch, 1, use_bias=False, name=f"{prefix}_{part + 1}")(y)
    y = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}_{part + 2}")(y)
    if stride == 1 and in_ch == out_ch:
        y = layers.Add(name=f"features_{index}_add")([x, y])
    return y


def imagenet_normalization() -> layers.Normalization:
    """0-255 RGB pixels -> torchvision's input, ``(x / 255 - mean) / std``, in one layer."""
    return layers.Normalization(
        mean=[255.0 * m for m in IMAGENET_MEAN],
        variance=[(255.0 * s) ** 2 for s in IMAGENET_STD],
        name="imagenet_normalize",
    )


def _block_table() -> list[tuple[int, int, int, int, int]]:
    """``(index, in_channels, out_channels, stride, expansion)`` of ``features_1..17``."""
    table, in_ch, index = [], 32, 1
    for expand, out_ch, blocks, first_stride in STAGES:
        for block in range(blocks):
            table.append((index, in_ch, out_ch, first_stride if block == 0 else 1, expand))
            in_ch, index = out_ch, index + 1
    return table


#: The last block index of ``features`` (the 1x1 convolution to 1280 channels).
LAST_BLOCK = 18


def _features(x, first: int, last: int):
    """Apply ``features_<first>`` to ``features_<last>`` (inclusive) to ``x``."""
    if first == 0:
        x = _conv_bn(x, 32, 3, 2, "features_0")
    for index, in_ch, out_ch, stride, expand in _block_table():
        if first <= index <= last:
            x = _inverted_residual(x, in_ch, out_ch, stride, expand, index)
    if last == LAST_BLOCK:
        x = _conv_bn(x, FEATURES, 1, 1, f"features_{LAST_BLOCK}")
    return x


def build_mobilenet_v2(image_size: int | None = 224, include_top: bool = True) -> keras.Model:
    """torchvision's MobileNetV2 (width 1.0) in Keras, untrained.

    Args:
        image_size: side of the square input in pixels (``None``: any size); 224 is the
            size ImageNet was trained at.
        include_top: end with the ImageNet classifier (dropout 0.2, 1000 logits, no
            softmax); otherwise end at the pooled 1280 features (layer ``pool``).

    Returns:
        A functional model taking 0-255 RGB pixels; with the top, it has 3,538,984
        parameters (3,504,872 trainable: PyTorch's count, plus batch norm's moving statistics).
    """
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = _features(imagenet_normalization()(inputs), 0, LAST_BLOCK)
    x = layers.GlobalAveragePooling2D(name=POOL_LAYER)(x)
    if include_top:
        x = layers.Dropout(0.2, name="classifier_0")(x)
        x = layers.Dense(IMAGENET_CLASSES, name="classifier_1")(x)
    return keras.Model(inputs, x, name="mobilenet_v2")


def build_bottom(last_block: int, image_size: int | None = 224) -> keras.Model:
    """The network from the pixels up to ``features_<last_block>``: the part kept frozen."""
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = _features(imagenet_normalization()(inputs), 0, last_block)
    return keras.Model(inputs, x, name=f"mobilenet_v2_to_{last_block}")


def build_top(first_block: int, input_shape: tuple[int, int, int]) -> keras.Model:
    """The network from ``features_<first_block>`` to the pooled 1280 features.

    ``input_shape`` is the shape of what :func:`build_bottom` ``(first_block - 1)`` gives,
    so ``top(bottom(x))`` is the whole feature extractor.
    """
    inputs = keras.Input(input_shape, name=f"features_{first_block - 1}_output")
    x = _features(inputs, first_block, LAST_BLOCK)
    x = layers.GlobalAveragePooling2D(name=POOL_LAYER)(x)
    return keras.Model(inputs, x, name=f"mobilenet_v2_from_{first_block}")


def block_names(model: keras.Model) -> list[str]:
    """The ``features`` blocks of ``model`` in order (``features_0`` ... ``features_18``)."""
    seen: list[str] = []
    for layer in model.layers:
        parts = layer.name.split("_")
        if parts[0] == "features" and len(parts) > 1:
            block = f"features_{parts[1]}"
            if block not in seen:
                seen.append(block)
    return seen


def set_trainable_from(model: keras.Model, first_block: int) -> int:
    """Freeze every layer before ``features_<first_block>``; train it and what follows.

    Batch-norm layers stay frozen everywhere (their statistics and scales are ImageNet's;
    :func:`catdog_utils.pretrained` calls the base with ``training=False`` as well).

    Returns:
        The number of trainable weights left (parameters, not tensors).
    """
    trainable = False
    for layer in model.layers:
        parts = layer.name.split("_")
        if parts[0] == "features" and len(parts) > 1 and int(parts[1]) >= first_block:
            trainable = True
        if parts[0] not in ("features", "imagenet"):
            trainable = True  # whatever sits after the base: pooling, the head
        layer.trainable = trainable and not isinstance(layer, layers.BatchNormalization)
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in the classifier's order (torchvision's names)."""
    from importlib import resources

    text = resources.files(__package__).joinpath("imagenet_classes.txt").read_text("utf-8")
    return text.splitlines()
