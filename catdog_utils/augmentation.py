"""Fused augmentation: each random geometric change composed into one resampling.

Two serialisable Keras layers, one per augmentation of the course:

* :class:`ShearZoomFlip`, the original course's shear, zoom and flip;
* :class:`FlipRotateZoomShift`, the geometric part of the improved recipe's strong
  augmentation (flip, rotation, zoom, shift).

``ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True)`` shears,
zooms and flips each image.  Keras's ``RandomShear``, ``RandomZoom`` and ``RandomFlip`` do
the same one after the other, each resampling the whole batch; :class:`ShearZoomFlip`
composes the three into one affine map per image and resamples once.  It is an ordinary
Keras layer: it works in a ``tf.data`` pipeline (how the course uses it, see
:func:`catdog_utils.models.build_original_augmentation`), inside a model, and a model
holding it saves to ``.keras`` and loads back (the classes are registered as
``catdog>ShearZoomFlip`` and ``catdog>FlipRotateZoomShift`` when this module is imported).

Why fuse: every Keras ``Random*`` layer resamples the whole batch, and each resampling both
costs time on the two cores that also train the network and blurs the photo a little more.

Importing this module imports Keras and TensorFlow, since the layer subclasses
``keras.layers.Layer``; the rest of the package imports it only inside the functions that
build augmentation, so ``import catdog_utils.models`` stays free of TensorFlow.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf


class _OneResampling(keras.layers.Layer):
    """What both fused layers share: a flip switch, a seeded random stream, and ``call``.

    A subclass draws each image's random change (``get_random_transformation``) and applies
    it (``transform_images``), with the same method names as Keras's own image layers.
    """

    def __init__(self, flip: bool = True, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flip = bool(flip)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images: tf.Tensor, training: bool = True) -> tf.Tensor:
        """Augment a batch ``(N, H, W, C)`` when training; return it unchanged otherwise."""
        if not training:
            return images
        images = tf.convert_to_tensor(images)
        transformation = self.get_random_transformation(tf.shape(images)[0])
        return self.transform_images(images, transformation)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Augmentation keeps the shape."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, for saving and cloning."""
        config = super().get_config()
        config.update(flip=self.flip, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="catdog")
class ShearZoomFlip(_OneResampling):
    """``ImageDataGenerator``'s shear, zoom and flip in one resampling.

    Per image: a shear ``s ~ U(-shear, shear)`` along x, zooms ``zx, zy ~ U(1 - zoom,
    1 + zoom)`` drawn independently (as ``ImageDataGenerator`` does), and, with ``flip``,
    a left-right flip (``f = -1``) with probability 1/2, composed into one affine map about
    the image centre and applied with bilinear interpolation, edges filled with the nearest
    pixel.  Output pixel ``(x, y)`` samples the input at
    ``x_in = zx * (f * (x - cx) + s * (y - cy)) + cx`` and ``y_in = zy * (y - cy) + cy``
    (:func:`resample_shear_zoom`).  Active only with ``training=True``; random numbers come
    from a ``keras.random.SeedGenerator``, so a ``seed`` makes the sequence repeatable.

    Args:
        shear: the largest shear, as a tangent (``tan(0.2 deg)`` for the original).
        zoom: the largest zoom change (0.2: each axis scaled by 0.8-1.2).
        flip: also flip left-right half the time.
        seed: seed of the layer's random numbers (``None``: a different run each time).
    """

    def __init__(
        self,
        shear: float = 0.0,
        zoom: float = 0.0,
        flip: bool = True,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "shear_zoom_flip")
        super().__init__(flip=flip, seed=seed, **kwargs)
        self.shear = float(shear)
        self.zoom = float(zoom)

    def get_random_transformation(self, batch_size: int | tf.Tensor) -> dict[str, tf.Tensor]:
        """Draw each image's ``shear``, ``x_zoom``, ``y_zoom`` and ``flip`` (a boolean)."""
        r = keras.random.uniform((batch_size, 4), seed=self.seed_generator)
        return {
            "shear": (2.0 * r[:, 0] - 1.0) * self.shear,
            "x_zoom": 1.0 + (2.0 * r[:, 1] - 1.0) * self.zoom,
            "y_zoom": 1.0 + (2.0 * r[:, 2] - 1.0) * self.zoom,
            "flip": r[:, 3] < 0.5 if self.flip else tf.zeros_like(r[:, 3], dtype=tf.bool),
        }

    def transform_images(
        self, images: tf.Tensor, transformation: dict[str, tf.Tensor]
    ) -> tf.Tensor:
        """Apply a :meth:`get_random_transformation` to ``images`` (same dtype out)."""
        images = tf.convert_to_tensor(images)
        zx = tf.cast(transformation["x_zoom"], tf.float32)
        f = tf.where(transformation["flip"], -1.0, 1.0)
        out = resample_shear_zoom(
            images,
            x_scale=zx * f,
            x_shear=zx * tf.cast(transformation["shear"], tf.float32),
            y_scale=tf.cast(transformation["y_zoom"], tf.float32),
        )
        return tf.cast(out, images.dtype)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, for saving and cloning."""
        config = super().get_config()
        config.update(shear=self.shear, zoom=self.zoom)
        return config


@keras.saving.register_keras_serializable(package="catdog")
class FlipRotateZoomShift(_OneResampling):
    """Keras's ``RandomFlip``, ``RandomRotation``, ``RandomZoom``, ``RandomTranslation`` fused.

    Per image: a left-right flip (``f = -1``) with probability 1/2, an angle
    ``a ~ U(-rotation, rotation)`` in turns (0.08: at most 0.08 x 360 = 28.8 degrees), a
    zoom ``z ~ U(1 - zoom, 1 + zoom)`` on both axes (``z > 1`` zooms out, as in
    ``RandomZoom``) and a shift ``(tx, ty)`` of at most ``shift`` of the width and the height.
    Output pixel ``(x, y)`` samples the input, bilinearly, at::

        x_in = z * (f * cos(a) * u - sin(a) * v) + cx + tx * width
        y_in = z * (f * sin(a) * u + cos(a) * v) + cy + ty * height

    with ``u = x - cx``, ``v = y - cy`` and ``(cx, cy)`` the image centre; the outside is
    filled by reflecting the photo at its edges (``fill_mode="reflect"``, as the course's
    Keras layers did).  Same draws as the four Keras layers one after the other, one
    resampling instead of three (the flip alone needs none): sharper photos and, on 2 cores,
    fewer of the training's CPU cycles (measured in
    :func:`catdog_utils.models.build_strong_augmentation`).
    Active only with ``training=True``; a ``seed`` makes the sequence repeatable.
    """

    def __init__(
        self,
        rotation: float = 0.0,
        zoom: float = 0.0,
        shift: float = 0.0,
        flip: bool = True,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "flip_rotate_zoom_shift")
        super().__init__(flip=flip, seed=seed, **kwargs)
        self.rotation = float(rotation)
        self.zoom = float(zoom)
        self.shift = float(shift)

    def get_random_transformation(self, batch_size: int | tf.Tensor) -> dict[str, tf.Tensor]:
        """Draw each image's ``angle`` (radians), ``zoom``, ``x_shift``, ``y_shift``, ``flip``."""
        r = keras.random.uniform((batch_size, 5), seed=self.seed_generator)
        turns = (2.0 * r[:, 0] - 1.0) * self.rotation
        return {
            "angle": turns * 2.0 * math.pi,
            "zoom": 1.0 + (2.0 * r[:, 1] - 1.0) * self.zoom,
            "x_shift": (2.0 * r[:, 2] - 1.0) * self.shift,
            "y_shift": (2.0 * r[:, 3] - 1.0) * self.shift,
            "flip": r[:, 4] < 0.5 if self.flip else tf.zeros_like(r[:, 4], dtype=tf.bool),
        }

    def transform_images(
        self, images: tf.Tensor, transformation: dict[str, tf.Tensor]
    ) -> tf.Tensor:
        """Apply a :meth:`get_random_transformation` to ``images`` (same dtype out)."""
        images = tf.convert_to_tensor(images)
        shape = tf.shape(images)
        height = tf.cast(shape[1], tf.float32)
        width = tf.cast(shape[2], tf.float32)
        cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
        angle = tf.cast(transformation["angle"], tf.float32)
        zoom = tf.cast(transformation["zoom"], tf.float32)
        f = tf.where(transformation["flip"], -1.0, 1.0)
        cos, sin = tf.cos(angle), tf.sin(angle)
        a0, a1 = zoom * f * cos, -zoom * sin
        b0, b1 = zoom * f * sin, zoom * cos
        a2 = cx + tf.cast(transformation["x_shift"], tf.float32) * width - a0 * cx - a1 * cy
        b2 = cy + tf.cast(transformation["y_shift"], tf.float32) * height - b0 * cx - b1 * cy
        zeros = tf.zeros_like(a0)
        matrix = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        out = keras.ops.image.affine_transform(
            tf.cast(images, tf.float32),
            matrix,
            interpolation="bilinear",
            fill_mode="reflect",
            data_format="channels_last",
        )
        return tf.cast(out, images.dtype)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, for saving and cloning."""
        config = super().get_config()
        config.update(rotation=self.rotation, zoom=self.zoom, shift=self.shift)
        return config


def resample_shear_zoom(
    images: tf.Tensor, x_scale: tf.Tensor, x_shear: tf.Tensor, y_scale: tf.Tensor
) -> tf.Tensor:
    """Resample a batch through a per-image affine map with no y-on-x term (float32 out).

    Output pixel ``(x, y)`` of image ``i`` is the input sampled bilinearly at
    ``x_in = x_scale[i] * (x - cx) + x_shear[i] * (y - cy) + cx`` and
    ``y_in = y_scale[i] * (y - cy) + cy`` (``cx, cy``: the image centre), coordinates
    outside the image clamped to its edge (``fill_mode="nearest"``).  A negative
    ``x_scale`` flips the image left-right.

    This is what ``keras.ops.image.affine_transform(..., fill_mode="nearest")`` (TF's
    ``ImageProjectiveTransformV3``) computes for such a map (the tests check it to 0.01 of a
    grey level), in two one-dimensional passes: since ``y_in`` does not depend on ``x``,
    interpolating every column at ``y_in`` first and then every row at ``x_in`` is exact.
    Each pass is two gathers and one blend.  Measured side by side in one run (TF 2.21,
    2 shared cores, median of a few hundred ms of calls): a 32x64x64x3 batch took 3.5-4.1 ms
    (4.0 CPU ms) here against 4.9-5.6 ms (5.2-5.6 CPU ms) with ``affine_transform``; a
    32x128x128x3 batch 17-20 ms against 26-47 ms (both about 17 CPU ms).  At the course's
    64x64 that is about 1.3x less CPU time, which matters when augmentation shares two
    cores with training, so the two-pass resampler stays.
    """
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    h, w = shape[1], shape[2]
    cy = (tf.cast(h, tf.float32) - 1.0) / 2.0
    cx = (tf.cast(w, tf.float32) - 1.0) / 2.0
    ys = tf.range(tf.cast(h, tf.float32)) - cy  # (h,)
    xs = tf.range(tf.cast(w, tf.float32)) - cx  # (w,)
    # 1. every column, sampled at the output rows' y_in: (n, h) coordinates on axis 1
    rows = _interpolate_along(images, y_scale[:, None] * ys[None, :] + cy, h, batch_dims=1)
    # 2. every row, sampled at x_in (which shears with y): (n, h, w) coordinates on axis 2
    x_in = (
        x_scale[:, None, None] * xs[None, None, :] + x_shear[:, None, None] * ys[None, :, None] + cx
    )
    return _interpolate_along(rows, x_in, w, batch_dims=2)


def _interpolate_along(
    images: tf.Tensor, coords: tf.Tensor, size: tf.Tensor, batch_dims: int
) -> tf.Tensor:
    """Linear interpolation of ``images`` at fractional ``coords`` on axis ``batch_dims``.

    ``coords`` has the shape of the first ``batch_dims + 1`` axes of the result; they are
    clamped to ``[0, size - 1]`` first, which fills the outside with the edge pixel.
    """
    coords = tf.clip_by_value(coords, 0.0, tf.cast(size - 1, tf.float32))
    lower = tf.floor(coords)
    i0 = tf.cast(lower, tf.int32)
    i1 = tf.minimum(i0 + 1, size - 1)
    weight = coords - lower
    for _ in range(images.shape.rank - coords.shape.rank):
        weight = weight[..., None]
    before = tf.gather(images, i0, batch_dims=batch_dims)
    after = tf.gather(images, i1, batch_dims=batch_dims)
    return before + (after - before) * weight
