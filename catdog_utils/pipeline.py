"""``tf.data`` input pipelines: train / validation / test, decoded once, augmented on the fly.

The original course used ``ImageDataGenerator.flow_from_directory``, which opens, decodes and
resizes every JPEG again in every epoch.  Here each image is decoded and resized exactly
once (in parallel), kept as a ``uint8`` array in memory and, optionally, in a ``.npy`` cache
file beside the data set, so the next notebook starts in a second.  Each epoch then only
shuffles, batches, augments (Keras preprocessing layers, on the fly) and prefetches.

Labels: ``cats`` = 0, ``dogs`` = 1.  Validation is carved deterministically (stratified,
seeded) from ``training_set``; ``test_set`` is never touched until the final evaluation.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import atomic, config
from .errors import DataNotFoundError, DestinationError
from .names import natural_key

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

#: Batches each pipeline prepares ahead of the model (one being used, one ready).
PREFETCH_BATCHES = 2


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def pipeline_options() -> tf.data.Options:
    """The ``tf.data`` options of every course pipeline: fixed parallelism, no autotuning.

    ``tf.data.AUTOTUNE`` starts a tuning thread per iterator, and Keras makes a new iterator
    every epoch.  With TensorFlow 2.21 on a 2-core machine, destroying the previous
    epoch's iterator waited for that thread: 4-7 s with both cores idle, at the start of
    about half the epochs (seen with py-spy in ``RootDataset::Iterator::~Iterator``),
    which is most of a 5-s epoch.  The course's pipelines need no tuning: decoded images
    are already in memory, so a parallel map over the usable cores and
    :data:`PREFETCH_BATCHES` batches of prefetch keep the model fed.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def list_split_files(
    data_dir: str | Path | None = None,
    split: str = "training_set",
    per_class: int | None = None,
) -> tuple[list[Path], np.ndarray]:
    """Image files of one split and their labels (0 = cat, 1 = dog), cats first.

    Args:
        data_dir: the prepared data set (default :func:`config.data_dir`).
        split: ``training_set`` or ``test_set``.
        per_class: keep only the first ``per_class`` files of each class (natural order),
            for quick runs; ``None`` keeps all.

    Raises:
        DataNotFoundError: the data set or one of its class folders is missing or empty.
    """
    root = Path(data_dir) if data_dir is not None else config.data_dir()
    paths: list[Path] = []
    labels: list[int] = []
    for label, class_name in enumerate(config.CLASS_NAMES):
        folder = root / split / class_name
        if not folder.is_dir():
            raise DataNotFoundError(
                f"No folder {folder}: the course data set is missing or incomplete; "
                "run `make data` (offline: `make data SOURCE=/path/to/cats_and_dogs.zip`)"
            )
        files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg"}),
            key=lambda p: natural_key(p.name),
        )
        if not files:
            raise DataNotFoundError(
                f"{folder} holds no .jpg images: rebuild the data set with `make data`"
            )
        if per_class is not None:
            files = files[:per_class]
        paths.extend(files)
        labels.extend([label] * len(files))
    return paths, np.asarray(labels, dtype=np.int32)


def split_train_validation(
    n_labels: np.ndarray, validation_split: float = config.VALIDATION_SPLIT, seed: int = config.SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: indices of training and validation examples.

    Each class gives the same fraction to validation (rounded), chosen by a seeded
    shuffle, so 4000 + 4000 images give 3200 + 3200 for training and 800 + 800 for
    validation, the same every run.
    """
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    rng = np.random.default_rng(seed)
    train_idx: list[np.ndarray] = []
    val_idx: list[np.ndarray] = []
    for label in np.unique(n_labels):
        idx = np.flatnonzero(n_labels == label)
        idx = idx[rng.permutation(len(idx))]
        n_val = int(round(len(idx) * validation_split))
        val_idx.append(np.sort(idx[:n_val]))
        train_idx.append(np.sort(idx[n_val:]))
    return np.concatenate(train_idx), np.concatenate(val_idx)


def _cache_file(paths: Sequence[Path], image_size: int, cache_dir: Path) -> Path:
    digest = hashlib.sha256()
    for p in paths:
        stat = p.stat()
        digest.update(f"{p.parent.name}/{p.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return cache_dir / f"images-{image_size}px-{len(paths)}-{digest.hexdigest()[:16]}.npy"


def resize_uint8(image: np.ndarray | tf.Tensor, size: int | tuple[int, int]) -> tf.Tensor:
    """Resize ``HxWx3`` (or ``NxHxWx3``) pixels to ``size``: the course's one resize.

    Bilinear with antialiasing, aspect ratio not kept (as in the original course), rounded
    and clipped back to ``uint8``.  Training photos (:func:`decode_images`) and a learner's
    photos (``catdog_utils.predict``) both go through it, so the model sees them alike.
    """
    import tensorflow as tf

    height, width = (size, size) if isinstance(size, int) else size
    resized = tf.image.resize(image, (height, width), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def decode_images(
    paths: Sequence[Path], image_size: int, cache_dir: str | Path | None = None
) -> np.ndarray:
    """Decode and resize every file once: a ``(N, size, size, 3)`` ``uint8`` array.

    JPEGs are decoded by TensorFlow in parallel (with the accurate integer DCT, which gives
    the same pixels as Pillow, the decoder ``catdog predict`` uses) and resized by
    :func:`resize_uint8`.  With ``cache_dir`` the array is saved
    as ``.npy`` there (atomically) and reused while the files are unchanged.
    """
    import tensorflow as tf

    cache_path = None
    if cache_dir is not None:
        cache_path = _cache_file(paths, image_size, Path(cache_dir))
        if cache_path.is_file():
            try:
                return np.load(cache_path)
            except (OSError, ValueError):
                cache_path.unlink(missing_ok=True)  # a damaged cache is rebuilt

    def load(path: tf.Tensor) -> tf.Tensor:
        raw = tf.io.read_file(path)
        image = tf.io.decode_jpeg(raw, channels=3, dct_method="INTEGER_ACCURATE")
        return resize_uint8(image, image_size)

    ds = tf.data.Dataset.from_tensor_slices([str(p) for p in paths])
    ds = ds.map(load, num_parallel_calls=usable_cores(), deterministic=True).batch(256)
    ds = ds.with_options(pipeline_options())
    array = np.empty((len(paths), image_size, image_size, 3), dtype=np.uint8)
    start = 0
    for batch in ds.as_numpy_iterator():
        array[start : start + len(batch)] = batch
        start += len(batch)

    if cache_path is not None:
        try:
            with atomic.temporary_path(cache_path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, array)
        except (OSError, DestinationError) as err:  # read-only or full disk: only a speed-up
            warnings.warn(
                f"Could not cache decoded images in {cache_path.parent}: {err}", stacklevel=2
            )
    return array


def to_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = config.BATCH_SIZE,
    shuffle: bool = False,
    augment: keras.Layer | None = None,
    seed: int = config.SEED,
) -> tf.data.Dataset:
    """Batches of ``(float32 pixels 0-255, float32 label)`` from in-memory arrays.

    Shuffling (reshuffled each epoch, seeded) and augmentation happen on the fly, in
    parallel on the usable cores; batches are prefetched so the model never waits for data
    (see :func:`pipeline_options` for why nothing is autotuned).
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.float32)[:, None]))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    if augment is not None:

        def prepare(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return augment(tf.cast(x, tf.float32), training=True), y

    else:

        def prepare(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return tf.cast(x, tf.float32), y

    ds = ds.map(prepare, num_parallel_calls=usable_cores())
    return ds.prefetch(PREFETCH_BATCHES).with_options(pipeline_options())


def mix_up(dataset: tf.data.Dataset, alpha: float, seed: int = config.SEED) -> tf.data.Dataset:
    """Blend every training photo with another photo of its batch (*mixup*).

    Each photo ``a`` becomes ``w * a + (1 - w) * b``, with ``b`` another photo of the same
    batch and ``w ~ Beta(alpha, alpha)`` drawn per photo, and its label is blended the same
    way (``keras.layers.MixUp``): a 0.9 / 0.1 blend of a dog and a cat is labelled 0.9.
    With a small ``alpha`` (0.2) most blends are faint, a few are half and half.  The
    network can no longer memorise single photos, only what cats and dogs have in common;
    compile with ``models.compile_improved(..., blended_labels=True)`` so that ``accuracy``
    reads a 0.9 label as a dog.  For training sets only, after augmentation.
    """
    import keras

    if alpha <= 0:
        raise ValueError(f"mixup's alpha must be positive (0.2 is usual), not {alpha}")
    # float32 whatever the global policy: blending 0-255 pixels and labels needs the precision
    blend = keras.layers.MixUp(alpha=alpha, seed=seed, dtype="float32")

    def mix(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        mixed = blend({"images": x, "labels": y}, training=True)
        return mixed["images"], mixed["labels"]

    mixed = dataset.map(mix, num_parallel_calls=usable_cores())
    return mixed.prefetch(PREFETCH_BATCHES).with_options(pipeline_options())


@dataclass
class CourseData:
    """The course's three data sets and what went into them.

    ``x_*`` / ``y_*`` are the decoded ``uint8`` images and integer labels (handy for
    plots and evaluation); ``train`` / ``validation`` / ``test`` are the batched
    ``tf.data`` pipelines built from them.  ``validation`` is ``None`` (and ``x_val`` /
    ``y_val`` empty) once :func:`with_validation_in_training` has moved those photos into
    training.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_files: list[Path]
    image_size: int
    batch_size: int
    class_names: tuple[str, ...] = field(default=config.CLASS_NAMES)

    @property
    def counts(self) -> dict[str, int]:
        """Number of images in each of train / validation / test."""
        return {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}

    @property
    def steps_per_epoch(self) -> int:
        """Training batches per epoch."""
        return -(-len(self.y_train) // self.batch_size)


def load_course_data(
    data_dir: str | Path | None = None,
    image_size: int = config.IMAGE_SIZE,
    batch_size: int = config.BATCH_SIZE,
    validation_split: float = config.VALIDATION_SPLIT,
    seed: int = config.SEED,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    augment: keras.Layer | None = None,
    cache: bool = True,
) -> CourseData:
    """Train / validation / test pipelines for the prepared course data set.

    Args:
        data_dir: the prepared data set (default ``data/cats_and_dogs``).
        image_size: side of the square images the model sees (64 in the original).
        batch_size: images per batch (32 in the original).
        validation_split: fraction of ``training_set`` held out (stratified, seeded).
        seed: seed for the validation split and the shuffling.
        train_per_class / test_per_class: use only the first N images of each class.
        augment: a Keras layer (see ``models.build_original_augmentation``) applied to
            training batches only.
        cache: keep the decoded arrays in ``data/cache`` for the next run.
    """
    root = Path(data_dir) if data_dir is not None else config.data_dir()
    cache_dir = root.parent / "cache" if cache else None
    train_files, train_labels = list_split_files(root, "training_set", train_per_class)
    test_files, test_labels = list_split_files(root, "test_set", test_per_class)
    x_all = decode_images(train_files, image_size, cache_dir)
    x_test = decode_images(test_files, image_size, cache_dir)
    train_idx, val_idx = split_train_validation(train_labels, validation_split, seed)
    x_train, y_train = x_all[train_idx], train_labels[train_idx]
    x_val, y_val = x_all[val_idx], train_labels[val_idx]
    return CourseData(
        train=to_dataset(x_train, y_train, batch_size, shuffle=True, augment=augment, seed=seed),
        validation=to_dataset(x_val, y_val, batch_size),
        test=to_dataset(x_test, test_labels, batch_size),
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=test_labels,
        test_files=list(test_files),
        image_size=image_size,
        batch_size=batch_size,
    )


def with_validation_in_training(
    course: CourseData, augment: keras.Layer | None = None, seed: int = config.SEED
) -> CourseData:
    """The same course with its validation photos moved into the training set.

    For the *final fit*, once every choice (design, recipe, number of epochs, flip TTA) has
    been made on the validation split: the final model then learns from all the training
    photos (8,000 instead of 6,400 in the full course), a common last step in practice.  The
    result has no validation set (``validation`` is ``None``, ``x_val`` / ``y_val`` are
    empty), so nothing can be validated, or quietly chosen, on photos the model trained on.
    ``augment`` and ``seed`` build the new training pipeline as in :func:`load_course_data`;
    the test photos are untouched.
    """
    if course.validation is None:
        raise ValueError("this course has no validation photos left to move into training")
    x_train = np.concatenate([course.x_train, course.x_val])
    y_train = np.concatenate([course.y_train, course.y_val])
    return replace(
        course,
        train=to_dataset(
            x_train, y_train, course.batch_size, shuffle=True, augment=augment, seed=seed
        ),
        validation=None,
        x_train=x_train,
        y_train=y_train,
        x_val=course.x_val[:0],
        y_val=course.y_val[:0],
    )
