"""Predictions on a learner's own photos: safe model loading, then files or folders -> label.

    model = load_model("models/full/baseline.keras")
    for p in predict_images(model, expand_inputs(["my_photos/"])):
        print(p.describe())

- :func:`load_model` opens only ``.keras`` files saved by Keras 3, always in Keras' *safe
  mode*: a file carrying Python code (a ``Lambda`` layer with a ``lambda``) is refused before
  anything in it runs, even if a notebook switched safe mode off globally.  It also checks
  that the model takes ``(H, W, 3)`` images and gives one probability.
- :func:`expand_inputs` turns files and folders into the list of photos to predict on.
- :func:`predict_images` opens every photo through :func:`catdog_utils.images.load_image`
  (the same door the training photos go through: EXIF orientation, any colour mode, a
  pixel limit), resizes it exactly as the input pipeline does
  (:func:`catdog_utils.pipeline.resize_uint8`) and
  predicts in batches.  A file that cannot be read becomes a :class:`Prediction` whose
  ``error`` says why, so one bad file never stops a folder.

Labels: the model's output is the probability of ``dog``; ``dog`` when it is at least the
threshold (0.5 by default), else ``cat``.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import config, images
from .errors import ImageError, InputNotFoundError, ModelLoadError, first_line
from .names import natural_key
from .pipeline import resize_uint8
from .quiet import tensorflow_warnings_hidden

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: Label for an output below / at or above the threshold (label 0 = cat, 1 = dog).
LABELS: tuple[str, str] = (
    config.singular(config.CLASS_NAMES[0]),
    config.singular(config.CLASS_NAMES[1]),
)
#: The default decision threshold on the probability of "dog".
DEFAULT_THRESHOLD = 0.5

_TRAIN_ONE = "train one first with `make run-notebooks` (notebook 03) or `catdog train`"
_KERAS_ONLY = (
    "catdog loads only `.keras` files saved by Keras 3 (`model.save('name.keras')`); "
    "get one with `catdog train` or `make run-notebooks`"
)
#: A ``config.json`` larger than this is not a course model (and could be a zip bomb).
_MAX_CONFIG_BYTES = 64 * 1024 * 1024


# --------------------------------------------------------------------------------------
# Loading a model
# --------------------------------------------------------------------------------------


def _read_keras_config(path: Path) -> Any:
    """The parsed ``config.json`` of a ``.keras`` zip, or a ModelLoadError saying what it is."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ModelLoadError(
            f"{path} is not a Keras model file (not a zip archive: a text file, a renamed "
            f".h5 file, or a download cut short?): {_KERAS_ONLY}"
        ) from exc
    except OSError as exc:
        raise ModelLoadError(
            f"Cannot read {path} ({first_line(exc)}): check its permissions"
        ) from exc
    with archive:
        try:
            info = archive.getinfo("config.json")
        except KeyError as exc:
            raise ModelLoadError(
                f"{path} is a zip archive but not a Keras model (no config.json inside): "
                f"{_KERAS_ONLY}"
            ) from exc
        if info.file_size > _MAX_CONFIG_BYTES:
            raise ModelLoadError(
                f"{path} declares a {info.file_size:,}-byte config.json, far too large for a "
                f"course model: {_KERAS_ONLY}"
            )
        try:
            raw = archive.read(info)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise ModelLoadError(
                f"{path} is damaged ({first_line(exc)}): save or download it again, or {_TRAIN_ONE}"
            ) from exc
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(
            f"{path} holds an unreadable config.json ({first_line(exc)}): {_KERAS_ONLY}"
        ) from exc


def _has_python_lambda(config_tree: Any) -> bool:
    """Whether a Keras config holds a serialized Python ``lambda`` (bytecode that would run)."""
    stack = [config_tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class_name") == "__lambda__":
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _unsafe_message(path: Path) -> str:
    return (
        f"Refusing to load {path}: it contains a Lambda layer with Python code, which could run "
        f"anything on this computer; use a model built from standard Keras layers ({_TRAIN_ONE})"
    )


def _safe_mode_scope() -> contextlib.AbstractContextManager[Any]:
    """Keras' safe-mode scope, forced on.

    ``keras.config.enable_unsafe_deserialization()`` (a notebook may have called it) turns
    safe mode off globally, and that global wins over ``load_model(safe_mode=True)``; this
    scope restores safe mode for the duration of our load.  Keras does not export it
    publicly, so if it moves, the config scan in :func:`load_model` still refuses lambdas.
    """
    try:
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # pragma: no cover - depends on the Keras version
        return contextlib.nullcontext()
    return SafeModeScope(True)


def _input_hw(model: keras.Model, where: str) -> tuple[int, int]:
    """``(height, width)`` of the model's single ``(None, H, W, 3)`` input, else ModelLoadError."""
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError, TypeError) as exc:
        raise ModelLoadError(
            f"{where} has no fixed input shape; catdog predicts on (H, W, 3) images ({_TRAIN_ONE})"
        ) from exc
    if len(inputs) != 1:
        raise ModelLoadError(
            f"{where} takes {len(inputs)} inputs; catdog predicts with a model that takes one "
            f"(H, W, 3) image ({_TRAIN_ONE})"
        )
    shape = tuple(inputs[0].shape)
    if (
        len(shape) != 4
        or shape[-1] != 3
        or not isinstance(shape[1], int)
        or not isinstance(shape[2], int)
    ):
        raise ModelLoadError(
            f"{where} expects input shape {shape}; catdog predicts on (H, W, 3) images "
            f"with a fixed size ({_TRAIN_ONE})"
        )
    return int(shape[1]), int(shape[2])


def _check_output(model: keras.Model, where: str) -> None:
    """ModelLoadError unless the model gives one number per image."""
    try:
        outputs = list(model.outputs)
    except (AttributeError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"{where} has no defined output ({_TRAIN_ONE})") from exc
    shapes = [tuple(o.shape) for o in outputs]
    if len(shapes) != 1 or shapes[0][1:] != (1,):
        shown = shapes[0] if len(shapes) == 1 else shapes
        raise ModelLoadError(
            f"{where} gives output shape {shown}; catdog needs one probability per image "
            f"(a final Dense(1, activation='sigmoid')) ({_TRAIN_ONE})"
        )


def load_model(path: str | Path) -> keras.Model:
    """Load a ``.keras`` model for prediction, safely (never runs code stored in the file).

    The model comes back uncompiled (prediction needs no optimizer).

    Raises:
        ModelLoadError: the file is missing, is not a ``.keras`` file saved by Keras 3
            (a text file, a random zip, an ``.h5`` file, a SavedModel folder), is damaged,
            carries Python code (a ``Lambda`` layer), or does not take ``(H, W, 3)`` images
            and give one probability.  Keras' own exception is chained as ``__cause__``.
    """
    import keras

    path = Path(path).expanduser()
    if not path.exists():
        raise ModelLoadError(f"No model at {path}: {_TRAIN_ONE}")
    if path.is_dir():
        raise ModelLoadError(
            f"{path} is a folder (a TensorFlow SavedModel?), not a model file: {_KERAS_ONLY}"
        )
    if path.suffix != ".keras":
        old = " (.h5 is the old Keras 2 format)" if path.suffix.lower() in {".h5", ".hdf5"} else ""
        raise ModelLoadError(f"{path} is not a .keras file{old}: {_KERAS_ONLY}")

    # Our own check first: the serialized lambda is refused before Keras sees the file.
    if _has_python_lambda(_read_keras_config(path)):
        raise ModelLoadError(_unsafe_message(path))

    try:
        with _safe_mode_scope():
            model = keras.models.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:  # also json.JSONDecodeError, and safe mode's refusal
        if "safe_mode" in str(exc):
            raise ModelLoadError(_unsafe_message(path)) from exc
        raise ModelLoadError(
            f"{path} cannot be loaded as a Keras model ({first_line(exc)}): {_KERAS_ONLY}"
        ) from exc
    except (TypeError, KeyError, AttributeError) as exc:  # unknown layer class, odd config
        raise ModelLoadError(
            f"{path} uses layers or settings this Keras cannot rebuild (custom code, or another "
            f"Keras version?) ({first_line(exc)}): {_KERAS_ONLY}"
        ) from exc
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:  # weights damaged
        raise ModelLoadError(
            f"{path} is damaged ({first_line(exc)}): save or download it again, or {_TRAIN_ONE}"
        ) from exc

    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"{path} holds a {type(model).__name__}, not a model: {_KERAS_ONLY}")
    _input_hw(model, str(path))
    _check_output(model, str(path))
    return model


#: The models a profile may hold, best first: chapter 06's pretrained MobileNetV2, chapter 05's
#: improved network, chapter 03's original CNN (``models/<profile>/<name>.keras``).
MODEL_PREFERENCE: tuple[str, ...] = ("pretrained", "improved", "baseline")


def best_model_path(profile: str = "full") -> Path:
    """The best trained model of ``profile`` that exists: the first file of
    :data:`MODEL_PREFERENCE` found in :func:`config.models_dir` (``pretrained.keras``, else
    ``improved.keras``, else ``baseline.keras``).

    Only checks that the file exists; :func:`load_model` opens and checks it.

    Raises:
        ModelLoadError: the profile has none of them yet (the message says how to train one).
    """
    folder = config.models_dir(profile)
    for name in MODEL_PREFERENCE:
        path = folder / f"{name}.keras"
        if path.is_file():
            return path
    wanted = ", ".join(f"{name}.keras" for name in MODEL_PREFERENCE)
    raise ModelLoadError(
        f"No trained model in {folder} (looked for {wanted}): train one first with "
        f"`make run-notebooks PROFILE={profile}` (notebook 03) or "
        f"`catdog train --profile {profile}`"
    )


def model_image_size(model: keras.Model) -> tuple[int, int]:
    """``(height, width)`` of the images ``model`` takes, e.g. ``(64, 64)``.

    Raises:
        ModelLoadError: the model does not take one ``(H, W, 3)`` image of a fixed size.
    """
    return _input_hw(model, f"Model {getattr(model, 'name', '')!s}".strip())


# --------------------------------------------------------------------------------------
# Choosing the photos
# --------------------------------------------------------------------------------------


def _path_key(path: Path, root: Path) -> list[list[object]]:
    """Natural sort key of ``path`` relative to ``root``, folder by folder."""
    return [natural_key(part) for part in path.relative_to(root).parts]


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    """Image files of ``folder`` (and, if ``recursive``, its non-hidden subfolders), sorted."""
    if recursive:
        files = [
            f
            for f in folder.rglob("*")
            if f.is_file()
            and not any(part.startswith(".") for part in f.relative_to(folder).parts[:-1])
        ]
    else:
        files = [f for f in folder.iterdir() if f.is_file()]
    found = sorted(
        (f for f in files if images.is_image_name(f)), key=lambda f: _path_key(f, folder)
    )
    if not found:
        skipped = f" ({len(files)} other files skipped)" if files else ""
        subfolders = (
            "; photos in subfolders are not included"
            if not recursive and any(p.is_dir() for p in folder.iterdir())
            else ""
        )
        kinds = ", ".join(sorted(images.IMAGE_EXTENSIONS))
        raise InputNotFoundError(
            f"No photos in folder {folder}{skipped}{subfolders}: put {kinds} files there, "
            "or name the photos themselves"
        )
    return found


def expand_inputs(paths: Sequence[str | Path] | str | Path, recursive: bool = False) -> list[Path]:
    """The photos to predict on, from files and folders, in the order given.

    A file is taken as it is, whatever its name (if it is not an image, its prediction
    reports that).  A folder gives its image files (``images.is_image_name``: ``.jpg``,
    ``.png``, ...; hidden files skipped) in natural order (``2.jpg`` before ``10.jpg``);
    with ``recursive`` also those of its subfolders (hidden ones such as
    ``.ipynb_checkpoints`` skipped).  A file named twice is kept once.

    Raises:
        InputNotFoundError: nothing was given, a path does not exist, or a folder holds no
            image files.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    if not paths:
        raise InputNotFoundError(
            "Nothing to predict: name one or more photos or folders (catdog predict photo.jpg)"
        )
    result: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            candidates = _images_in(path, recursive)
        elif path.exists():
            candidates = [path]
        else:
            raise InputNotFoundError(
                f"No such photo or folder: {path} (check the spelling; a folder of photos "
                "works too)"
            )
        for file in candidates:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                result.append(file)
    return result


# --------------------------------------------------------------------------------------
# Predicting
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """What the model says about one file.

    Attributes:
        file: the photo, as it was given.
        label: ``"cat"`` or ``"dog"``; ``None`` when the file could not be used.
        probability_dog: the model's output, in [0, 1]; ``None`` when the file could not
            be used.
        error: why the file could not be used (one line), else ``None``.
    """

    file: Path
    label: str | None
    probability_dog: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the file was predicted (no error)."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The prediction as plain JSON-ready values (``file`` as a string)."""
        return {
            "file": str(self.file),
            "label": self.label,
            "probability_dog": self.probability_dog,
            "error": self.error,
        }

    def to_json(self) -> str:
        """One line of JSON with the keys ``file``, ``label``, ``probability_dog``, ``error``."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def describe(self) -> str:
        """One human-readable line, e.g. ``cat.1.jpg: cat (probability of dog 0.123)``."""
        if self.error is not None:
            return f"{self.file}: error: {self.error}"
        return f"{self.file}: {self.label} (probability of dog {self.probability_dog:.3f})"


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` as a float if it lies strictly between 0 and 1.

    Raises:
        ValueError: it is not a number in (0, 1).
    """
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number between 0 and 1, got {threshold!r}") from None
    if not 0.0 < value < 1.0:  # also false for NaN
        raise ValueError(f"threshold must be between 0 and 1 (exclusive), got {threshold!r}")
    return value


def label_for(probability_dog: float, threshold: float = DEFAULT_THRESHOLD) -> str:
    """``"dog"`` if ``probability_dog >= threshold``, else ``"cat"``."""
    return LABELS[1] if probability_dog >= threshold else LABELS[0]


def prepare_image(
    source: images.ImageSource,
    size: int | tuple[int, int],
    *,
    max_pixels: int = config.MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Open a photo (``images.load_image``: EXIF orientation, any mode -> RGB) and resize it.

    Returns the ``(height, width, 3)`` ``uint8`` array the model is given.

    Raises:
        ImageError: the file is missing, empty, not an image, truncated or too large.
    """
    pixels = images.load_image(source, max_pixels=max_pixels, exif_transpose=True)
    return resize_uint8(pixels, size).numpy()


def _probabilities(model: keras.Model, batch: np.ndarray) -> np.ndarray:
    """The model's outputs for a ``uint8`` batch, checked to be probabilities.

    ``predict_on_batch`` runs a compiled graph: an eager ``model(batch)`` would keep every
    layer's output of the batch alive at once (about 3 GB for 32 photos through MobileNetV2
    at 224 px).  A last, smaller batch or another model traces a new graph, so TensorFlow's
    "retracing" warning is expected here and hidden.
    """
    with tensorflow_warnings_hidden():
        output = model.predict_on_batch(batch.astype(np.float32))
    values = np.asarray(output, dtype=np.float64).reshape(-1)
    if values.shape[0] != batch.shape[0]:
        raise ModelLoadError(
            f"The model gave {values.shape[0]} outputs for {batch.shape[0]} images; catdog "
            f"needs one probability per image ({_TRAIN_ONE})"
        )
    bad = ~np.isfinite(values) | (values < -1e-6) | (values > 1 + 1e-6)
    if bad.any():
        raise ModelLoadError(
            f"The model's output {values[bad][0]:.4g} is not a probability in [0, 1]: it must "
            f"end with Dense(1, activation='sigmoid') ({_TRAIN_ONE})"
        )
    return np.clip(values, 0.0, 1.0)


def predict_images(
    model: keras.Model,
    paths: Iterable[str | Path],
    threshold: float = DEFAULT_THRESHOLD,
    batch_size: int = config.BATCH_SIZE,
    *,
    max_pixels: int = config.MAX_IMAGE_PIXELS,
) -> list[Prediction]:
    """Predict cat or dog for each file, in order; one :class:`Prediction` per file.

    Each photo is opened with :func:`prepare_image` and the model sees ``batch_size``
    photos at a time, so memory stays small for any number of files.  A file that cannot
    be used (empty, not an image, truncated, too many pixels) gives a ``Prediction`` with
    ``error`` set instead of raising.

    Args:
        model: a model from :func:`load_model` (or any model taking raw 0-255 pixels of
            shape ``(H, W, 3)`` and giving the probability of "dog").
        paths: photo files (see :func:`expand_inputs` for folders).
        threshold: "dog" when the probability is at least this, in (0, 1).
        batch_size: photos per forward pass.
        max_pixels: refuse photos that declare more pixels than this (before decoding).

    Raises:
        ValueError: ``threshold`` is not in (0, 1) or ``batch_size`` is below 1.
        ModelLoadError: the model does not take ``(H, W, 3)`` images or does not output
            probabilities.
    """
    threshold = check_threshold(threshold)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}")
    files = [Path(p) for p in paths]
    size = model_image_size(model)
    results: list[Prediction | None] = [None] * len(files)
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        probabilities = _probabilities(model, np.stack([pixels for _, pixels in pending]))
        for (index, _), probability in zip(pending, probabilities, strict=True):
            p = float(probability)
            results[index] = Prediction(files[index], label_for(p, threshold), p, None)
        pending.clear()

    for index, file in enumerate(files):
        try:
            pixels = prepare_image(file, size, max_pixels=max_pixels)
        except ImageError as exc:
            results[index] = Prediction(file, None, None, str(exc))
            continue
        pending.append((index, pixels))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return [r for r in results if r is not None]


def predict_image(
    model: keras.Model, path: str | Path, threshold: float = DEFAULT_THRESHOLD
) -> Prediction:
    """Predict one photo (see :func:`predict_images`); a bad file sets ``error``, never raises."""
    return predict_images(model, [path], threshold=threshold, batch_size=1)[0]


def default_photo_folder(
    folder: str | Path | None = None, dataset: str | Path | None = None
) -> Path | None:
    """The folder of new photos to classify: ``folder`` if given, else
    ``$CATDOG_SINGLE_PREDICTION_DIR``, else the ``new_photos`` folder of the data set
    ``dataset`` (default :func:`config.data_dir`): labelled photos in neither split, set apart
    by ``make data``, when it holds any.  ``None`` when there is none (no data set, one built
    before ``new_photos`` existed, or from a source without such photos)."""
    import os

    chosen = folder or os.environ.get("CATDOG_SINGLE_PREDICTION_DIR")
    if chosen:
        return Path(chosen).expanduser()
    root = Path(dataset) if dataset is not None else config.data_dir()
    photos = root / config.NEW_PHOTOS_NAME
    return photos if photos.is_dir() and read_labels_csv(photos) else None


def read_labels_csv(folder: str | Path) -> dict[str, int]:
    """``labels.csv`` beside a folder's photos (``file,label`` rows) as file name -> 0 cat / 1 dog.

    ``cat``/``cats``/``dog``/``dogs`` in any case are accepted; no file gives ``{}``.
    """
    import csv

    path = Path(folder) / "labels.csv"
    if not path.is_file():
        return {}
    known: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            name = (row.get("label") or "").strip().lower().removesuffix("s")
            if name not in LABELS or not row.get("file"):
                raise InputNotFoundError(
                    f"{path} line {line}: expected 'file,label' with label cat or dog, got "
                    f"{dict(row)}; fix the line (or delete labels.csv to predict without labels)"
                )
            known[row["file"].strip()] = LABELS.index(name)
    return known


def labels_for(files: Sequence[str | Path], known: dict[str, int]) -> list[int] | None:
    """The label of every file (by name) from :func:`read_labels_csv`, or ``None`` if any
    photo has none (then nobody can say which answers are right)."""
    labels = [known.get(Path(f).name) for f in files]
    return None if any(label is None for label in labels) else [int(x) for x in labels]  # type: ignore[arg-type]
