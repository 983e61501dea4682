"""The course's models: the original CNN, an improved CNN, and their augmentation.

Every model takes raw RGB pixels (0-255, any float or integer dtype) and rescales them
itself, so a saved model can be given a photo as it comes from disk.  Outputs are one
sigmoid unit: the probability that the image shows a dog (``cats`` = 0, ``dogs`` = 1).

Augmentation is returned as separate ``keras.Sequential`` blocks that the input pipeline
applies on the fly (``catdog_utils.pipeline``), so the saved models stay plain and fast at
prediction time (the blocks are ordinary Keras layers and could sit inside a model too;
the fused one lives in :mod:`catdog_utils.augmentation`).  Nothing here reads files.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: The original repository's augmentation: ``ImageDataGenerator(shear_range=0.2,
#: zoom_range=0.2, horizontal_flip=True)``.  ``shear_range`` there is an angle in *degrees*,
#: so 0.2 means a shear of at most 0.2 degrees (tan 0.2 deg = 0.0035 of the image width);
#: ``zoom_range=0.2`` scales height and width independently by 0.8-1.2.
ORIGINAL_SHEAR_DEGREES = 0.2
ORIGINAL_ZOOM = 0.2


def build_original_augmentation(seed: int | None = None, fused: bool = True) -> keras.Sequential:
    """The original augmentation (shear 0.2 deg, zoom 0.2, horizontal flip) as Keras layers.

    ``fused=False`` gives the readable version: ``RandomShear``, ``RandomZoom`` and
    ``RandomFlip``, one after the other.  Each of them resamples the whole batch, and on a
    2-core CPU that work competes with training, so the default (``fused=True``) composes
    the three into one affine transform per image
    (:class:`~catdog_utils.augmentation.ShearZoomFlip`): the same random distribution, one
    resampling.  ``fill_mode="nearest"`` matches ``ImageDataGenerator``'s default.
    """
    import keras
    from keras import layers

    shear = math.tan(math.radians(ORIGINAL_SHEAR_DEGREES))
    if fused:
        from .augmentation import ShearZoomFlip

        return keras.Sequential(
            [ShearZoomFlip(shear, ORIGINAL_ZOOM, flip=True, seed=seed)],
            name="original_augmentation",
        )
    return keras.Sequential(
        [
            layers.RandomShear(x_factor=shear, fill_mode="nearest", seed=seed),
            layers.RandomZoom(
                height_factor=(-ORIGINAL_ZOOM, ORIGINAL_ZOOM),
                width_factor=(-ORIGINAL_ZOOM, ORIGINAL_ZOOM),
                fill_mode="nearest",
                seed=seed,
            ),
            layers.RandomFlip("horizontal", seed=seed),
        ],
        name="original_augmentation",
    )


#: The improved recipe's strong augmentation (:func:`build_strong_augmentation`): rotation in
#: turns (0.08 x 360 = 28.8 degrees at most), zoom and shift as fractions of the image,
#: contrast as a factor.
STRONG_ROTATION = 0.08
STRONG_ZOOM = 0.2
STRONG_SHIFT = 0.1
STRONG_CONTRAST = 0.2


def build_strong_augmentation(seed: int | None = None, fused: bool = True) -> keras.Sequential:
    """Stronger augmentation for the improved model: flip, rotate, zoom, shift, contrast.

    ``fused=False`` gives the readable version, five Keras layers one after the other
    (``RandomFlip``, ``RandomRotation``, ``RandomZoom``, ``RandomTranslation``,
    ``RandomContrast``); rotation, zoom and shift each resample the whole batch.  The default
    composes the flip and those three into one affine map per image
    (:class:`~catdog_utils.augmentation.FlipRotateZoomShift`, the same random draws, one
    resampling), then ``RandomContrast``.  Measured side by side on a 2-core Intel Xeon,
    a batch of 32 photos at 128 px took about 150 ms of CPU time the readable way and
    55 ms fused: time the training no longer shares with augmentation, and photos
    resampled once instead of three times are sharper.
    """
    import keras
    from keras import layers

    contrast = layers.RandomContrast(STRONG_CONTRAST, seed=seed)
    if fused:
        from .augmentation import FlipRotateZoomShift

        geometry = [FlipRotateZoomShift(STRONG_ROTATION, STRONG_ZOOM, STRONG_SHIFT, seed=seed)]
    else:
        geometry = [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(STRONG_ROTATION, fill_mode="reflect", seed=seed),
            layers.RandomZoom((-STRONG_ZOOM, STRONG_ZOOM), fill_mode="reflect", seed=seed),
            layers.RandomTranslation(STRONG_SHIFT, STRONG_SHIFT, fill_mode="reflect", seed=seed),
        ]
    return keras.Sequential([*geometry, contrast], name="strong_augmentation")


def build_baseline_cnn(
    image_size: int = 64, learning_rate: float = 1e-3, compile_model: bool = True
) -> keras.Model:
    """The original repository's CNN, layer for layer (813,217 parameters at 64x64x3).

    Conv2D(32, 3x3, ReLU) -> MaxPool(2x2, stride 2) -> Conv2D(32, 3x3, ReLU) ->
    MaxPool(2x2, stride 2) -> Flatten -> Dense(128, ReLU) -> Dense(1, sigmoid),
    compiled with Adam, binary cross-entropy and accuracy.  A ``Rescaling(1/255)`` layer
    (no parameters) replaces the original's ``rescale=1./255`` in the data generator.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = layers.Conv2D(32, 3, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(pool_size=2, strides=2, name="pool1")(x)
    x = layers.Conv2D(32, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(pool_size=2, strides=2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="dog_probability", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="baseline_cnn")
    return compile_adam(model, learning_rate) if compile_model else model


def build_deeper_cnn(
    image_size: int = 64,
    widths: tuple[int, ...] = (32, 64, 128),
    batch_norm: bool = True,
    dropout: float = 0.0,
    learning_rate: float = 1e-3,
    compile_model: bool = True,
) -> keras.Model:
    """The original CNN's idea, one step further: more blocks, batch norm, dropout.

    Each block is Conv2D(3x3, same padding) -> [BatchNorm] -> ReLU -> MaxPool(2); then
    global average pooling (instead of Flatten, which held 99 % of the original's
    parameters), optional dropout and one sigmoid unit.  Compiled with Adam like the
    original unless ``compile_model`` is false.  Chapter 05's study uses it as the network
    without residual shortcuts.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for i, width in enumerate(widths, start=1):
        x = layers.Conv2D(width, 3, padding="same", use_bias=not batch_norm, name=f"conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="dog_probability", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="deeper_cnn")
    return compile_adam(model, learning_rate) if compile_model else model


def build_improved_cnn(
    image_size: int | None = 128,
    widths: tuple[int, ...] = (32, 64, 128, 256),
    blocks_per_stage: int = 2,
    dropout: float = 0.3,
    zero_init_residual: bool = False,
) -> keras.Model:
    """The course's improved network: a ResNet-18 layout at half width (about 2.8 M parameters).

    The stem (a 3x3 convolution with stride 2, batch norm, ReLU, then 3x3 max-pooling with
    stride 2) shrinks a 128 px photo to 32 x 32.  Then one stage per entry of ``widths``,
    each ``blocks_per_stage`` *basic blocks*: two 3x3 convolutions with batch norm whose
    result is added to the block's input (the *residual shortcut*) before the last ReLU.
    Every stage after the first halves the resolution in its first block, whose shortcut is
    then a strided 1x1 convolution with batch norm.  Global average pooling and dropout lead
    to one sigmoid unit.  ``widths=(64, 128, 256, 512)`` gives ResNet-18's own widths
    (He et al., 2016; 11.2 M parameters, with a smaller stem than the paper's 7x7 one for
    224 px photos).  The model is returned uncompiled: see :func:`compile_improved`.

    Every layer works on any image size, so ``image_size=None`` builds the same network for
    images of any size (progressive resizing trains one model at two sizes); a model with a
    fixed size gets the same weights with ``fixed.set_weights(flexible.get_weights())``.

    ``zero_init_residual`` starts each block's last batch-norm scale at 0, so every block
    begins as the identity and the network as a shallow one (Goyal et al., 2017).
    """
    import keras
    from keras import layers

    def conv_bn(
        x: keras.KerasTensor, width: int, strides: int, name: str, relu: bool = True
    ) -> keras.KerasTensor:
        x = layers.Conv2D(width, 3, strides=strides, padding="same", use_bias=False, name=name)(x)
        scale = "zeros" if zero_init_residual and not relu else "ones"  # a block's last one
        x = layers.BatchNormalization(gamma_initializer=scale, name=f"{name}_bn")(x)
        return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = conv_bn(x, widths[0], 2, "stem")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, width in enumerate(widths, start=1):
        for block in range(1, blocks_per_stage + 1):
            name = f"s{stage}b{block}"
            strides = 2 if stage > 1 and block == 1 else 1
            shortcut = x
            if strides > 1 or x.shape[-1] != width:
                shortcut = layers.Conv2D(
                    width, 1, strides=strides, use_bias=False, name=f"{name}_shortcut"
                )(x)
                shortcut = layers.BatchNormalization(name=f"{name}_shortcut_bn")(shortcut)
            y = conv_bn(x, width, strides, f"{name}_conv1")
            y = conv_bn(y, width, 1, f"{name}_conv2", relu=False)
            x = layers.Add(name=f"{name}_add")([y, shortcut])
            x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="dog_probability", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="improved_cnn")


#: The improved recipe's regularisers (:func:`compile_improved`).  Weight decay is AdamW's
#: decoupled decay: each step multiplies a weight by ``1 - learning_rate * WEIGHT_DECAY``.
WEIGHT_DECAY = 0.05
#: Label smoothing trains towards 0.05 / 0.95 instead of 0 / 1 (``LABEL_SMOOTHING / 2`` off
#: each end), so the loss stops rewarding ever more confident answers on training photos.
LABEL_SMOOTHING = 0.1
#: A usual mixup Beta alpha (:func:`catdog_utils.pipeline.mix_up`): most blends faint, a few
#: half and half.  Chapter 05's recipe trains without mixup; pass it to
#: ``training.train_improved(..., mixup=MIXUP_ALPHA)`` to try it on longer runs.
MIXUP_ALPHA = 0.2
#: Variables that weight decay leaves alone (matched against variable names).
NO_WEIGHT_DECAY = ("gamma", "beta", "bias")


def compile_adam(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Compile as the original course did: Adam, binary cross-entropy, accuracy."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def compile_improved(
    model: keras.Model,
    steps_per_epoch: int,
    epochs: int,
    peak_learning_rate: float = 2e-3,
    weight_decay: float = WEIGHT_DECAY,
    warmup_epochs: int = 1,
    ema: bool = True,
    ema_momentum: float = 0.99,
    label_smoothing: float = LABEL_SMOOTHING,
    blended_labels: bool = False,
) -> keras.Model:
    """Compile with AdamW and a warm-up + cosine-decay learning-rate schedule.

    The learning rate rises from ``peak_learning_rate / 10`` to its peak over
    ``warmup_epochs``, then follows a cosine down to 1 % of the peak at the last of
    ``epochs``: the schedule is planned for the whole run, so a run must know its length.
    With ``ema`` the optimizer also keeps an exponential moving average of the weights
    (``ema_momentum=0.99``: roughly the last 100 steps).  :func:`catdog_utils.training.train`
    then validates with the averaged weights (``keras.callbacks.SwapEMAWeights``) and the
    model ends training holding them; averaging irons out the step-to-step noise of the
    last updates, which usually gives a slightly better and steadier model.

    Two regularisers brake memorisation: AdamW's decoupled ``weight_decay`` (filters and
    dense weights only: :data:`NO_WEIGHT_DECAY` names what it leaves alone) and
    ``label_smoothing`` in the binary cross-entropy.  Their defaults are the course recipe's
    (:data:`WEIGHT_DECAY`, :data:`LABEL_SMOOTHING`); pass ``0.0`` to switch either off.

    ``blended_labels``: the model will see mixup's blended labels (``pipeline.mix_up``), so
    its ``accuracy`` reads a label as its larger part
    (:func:`majority_label_accuracy`).  Such a model is compiled with a course function: save
    it uncompiled (``train_progressive`` does) or load it with ``compile=False``.
    """
    import keras

    total = max(1, steps_per_epoch * epochs)
    warmup = min(total - 1, steps_per_epoch * warmup_epochs)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_learning_rate / 10,
        decay_steps=max(1, total - warmup),
        warmup_target=peak_learning_rate,
        warmup_steps=warmup,
        alpha=0.01,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=weight_decay,
        use_ema=ema,
        ema_momentum=ema_momentum,
    )
    # Decay shrinks the filters and dense weights; batch norm's scale and shift and the
    # biases only move each feature up or down, and pulling them to zero would switch
    # features off rather than simplify them.
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing),
        metrics=[keras.metrics.MeanMetricWrapper(majority_label_accuracy, name="accuracy")]
        if blended_labels
        else ["accuracy"],
    )
    return model


def majority_label_accuracy(
    y_true: keras.KerasTensor, y_pred: keras.KerasTensor
) -> keras.KerasTensor:
    """Binary accuracy for blended labels: a label counts as the class it holds more of.

    With hard labels (0 or 1) this is ordinary binary accuracy.  With mixup's blends a 0.8
    label means "mostly dog", and the prediction is right when it is above 0.5 too;
    Keras's own ``accuracy`` would compare 0.8 with 1 and call every blend wrong.
    """
    from keras import ops

    return ops.cast(ops.equal(y_true > 0.5, y_pred > 0.5), "float32")


def count_params(model: keras.Model) -> int:
    """Number of weights in ``model`` (trainable and not)."""
    return int(model.count_params())
