"""Export a trained model for serving: a TensorFlow SavedModel and a TensorFlow Lite file.

    from catdog_utils import export
    folder = export.export_saved_model(model, "models/full/export/baseline")
    tflite = export.export_tflite(folder, "models/full/export/baseline.tflite")
    export.check_export_matches(model, folder, photos)   # max |difference|, or an error
    export.check_export_matches(model, tflite, photos)

A ``.keras`` file needs Python, Keras and the course's layers to run.  The two exports do
not:

- a **SavedModel** folder (``saved_model.pb`` + ``variables/``) is what TensorFlow Serving,
  TF.js converters and other languages' TensorFlow bindings load.  Its signature
  ``serving_default`` takes ``image``: float32 ``(N, H, W, 3)`` raw 0-255 pixels (the model
  rescales them itself) and gives ``output_0``: ``(N, 1)``, the probability of *dog*.
- a **TensorFlow Lite** flat buffer (``.tflite``) is what phones and small boards run.  It
  holds the same float32 weights (no quantization), so its answers match Keras to about
  ``1e-6``.

Both writes are atomic: the export goes to a temporary sibling first and is renamed into
place when complete, so a crash never leaves half an export where a server would load it.

TensorFlow 2.21 still converts with ``tf.lite.TFLiteConverter`` (Keras 3.15's
``model.export(path, format="litert")`` calls the same converter; calling it here directly
also converts a SavedModel folder); its Python *interpreter*
``tf.lite.Interpreter`` works but is deprecated in favour of the separate ``ai-edge-litert``
package (``from ai_edge_litert.interpreter import Interpreter``).  :func:`tflite_predict`
uses that package when it is installed and falls back to ``tf.lite.Interpreter`` (whose
deprecation warning it silences) when it is not; the course does not require it.

Only load SavedModels you exported yourself: a SavedModel is a TensorFlow graph, and graph
ops can read and write files when it runs.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import atomic
from .errors import CatdogError, DestinationError, ModelLoadError, first_line
from .quiet import stderr_silenced

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: Images per forward pass when predicting with an export.
_BATCH = 64
_DEST_FIX = "choose another folder you can write to"
_EXPORT_HINT = "export one with catdog_utils.export (notebook 07)"


class ExportMismatchError(CatdogError):
    """An exported model does not give the same answers as the Keras model it came from."""


# --------------------------------------------------------------------------------------
# Writing


@contextlib.contextmanager
def _quiet_tf_logger() -> Iterator[None]:
    """Hide TensorFlow's Python INFO lines ("Assets written to: <temporary folder>") for a while.

    ``model.export(..., verbose=False)`` still logs where ``tf.saved_model.save`` wrote its
    assets, which would show our temporary folder's name; the logger's level is restored.
    """
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _is_saved_model(folder: Path) -> bool:
    """Whether ``folder`` looks like a SavedModel (holds ``saved_model.pb``)."""
    return (folder / "saved_model.pb").is_file()


def export_saved_model(model: keras.Model, directory: str | Path) -> Path:
    """Export ``model`` as a TensorFlow SavedModel folder, atomically; returns the folder.

    Keras 3's ``model.export(..., format="tf_saved_model")`` writes an inference-only
    SavedModel (signature ``serving_default``: ``image`` -> ``output_0``).  It is written to
    a hidden temporary folder beside ``directory`` and renamed into place when complete; an
    older export at ``directory`` is replaced only then.

    Raises:
        DestinationError: ``directory`` exists and is not a SavedModel (never deleted), or
            its parent cannot be created.
    """
    directory = Path(directory).expanduser()
    if directory.exists() and not (directory.is_dir() and _is_saved_model(directory)):
        raise DestinationError(
            f"{directory} exists and is not a SavedModel export; choose another folder or "
            "delete it first (an export replaces only an older export)"
        )
    atomic.make_parent(directory, fix=_DEST_FIX)
    with atomic.temporary_path(directory) as tmp, _quiet_tf_logger():
        model.export(str(tmp), format="tf_saved_model", verbose=False)
        if not _is_saved_model(tmp):  # pragma: no cover - Keras always writes it
            raise DestinationError(f"Keras wrote no saved_model.pb into {tmp}")
    return directory


def _tflite_bytes(source: keras.Model | str | Path) -> bytes:
    """The ``.tflite`` flat buffer of a Keras model or of a SavedModel folder."""
    import tensorflow as tf

    if isinstance(source, str | Path):
        folder = Path(source).expanduser()
        if not _is_saved_model(folder):
            raise ModelLoadError(f"No SavedModel at {folder} (no saved_model.pb): {_EXPORT_HINT}")
        return tf.lite.TFLiteConverter.from_saved_model(str(folder)).convert()
    # A Keras model: through a throw-away SavedModel (quieter and the same path a server
    # export takes, so both exports come from one graph).
    with tempfile.TemporaryDirectory(prefix="catdog-export-") as scratch:
        folder = Path(scratch) / "saved_model"
        with _quiet_tf_logger():
            source.export(str(folder), format="tf_saved_model", verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(str(folder)).convert()


def export_tflite(model_or_saved_model_dir: keras.Model | str | Path, path: str | Path) -> Path:
    """Convert a Keras model (or a SavedModel folder) to a ``.tflite`` file, atomically.

    The conversion keeps float32 weights (no quantization), so predictions match the Keras
    model to about ``1e-6``.  Returns ``path``.

    Raises:
        ValueError: ``path`` does not end in ``.tflite``.
        ModelLoadError: a folder was given that holds no SavedModel.
        DestinationError: the folder of ``path`` cannot be created.
    """
    path = Path(path).expanduser()
    if path.suffix != ".tflite":
        raise ValueError(f"TensorFlow Lite files end in .tflite, got {path.name}")
    flatbuffer = _tflite_bytes(model_or_saved_model_dir)
    atomic.make_parent(path, fix=_DEST_FIX)
    return atomic.write_bytes(path, flatbuffer)


# --------------------------------------------------------------------------------------
# Predicting with an export


def _as_batch(images: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """A float32 ``(N, H, W, 3)`` batch of 0-255 pixels from an array or photo paths.

    Paths are opened with :func:`catdog_utils.predict.prepare_image` at ``size``.
    """
    if isinstance(images, np.ndarray):
        batch = images
    else:
        items = list(images)
        if items and isinstance(items[0], str | Path):
            if size is None:
                raise ValueError("give images as an (N, H, W, 3) array, or the model's size")
            from .predict import prepare_image

            batch = np.stack([prepare_image(p, size) for p in items])
        else:
            batch = np.asarray(items)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[-1] != 3 or len(batch) == 0:
        raise ValueError(f"expected a non-empty (N, H, W, 3) batch of images, got {batch.shape}")
    return np.ascontiguousarray(batch, dtype=np.float32)


class SavedModelPredictor:
    """A SavedModel's ``serving_default`` signature as ``images -> dog probabilities``.

    Call it with a ``(N, H, W, 3)`` array of 0-255 pixels (``uint8`` or float); it returns
    a float32 array of shape ``(N,)``.  It keeps the loaded SavedModel alive (its variables
    belong to that object).
    """

    def __init__(self, directory: Path) -> None:
        import tensorflow as tf

        self.directory = directory
        self._loaded = tf.saved_model.load(str(directory))
        try:
            self._fn = self._loaded.signatures["serving_default"]
        except KeyError as exc:
            raise ModelLoadError(
                f"{directory} has no serving_default signature: {_EXPORT_HINT}"
            ) from exc
        kwargs = self._fn.structured_input_signature[1]
        if len(kwargs) != 1:
            raise ModelLoadError(
                f"{directory} takes {len(kwargs)} inputs, not one image batch: {_EXPORT_HINT}"
            )
        ((self._input_name, spec),) = kwargs.items()
        shape = tuple(spec.shape)
        if len(shape) != 4 or shape[-1] != 3 or shape[1] is None or shape[2] is None:
            raise ModelLoadError(
                f"{directory} expects input shape {shape}, not (N, H, W, 3) images: {_EXPORT_HINT}"
            )
        #: ``(height, width)`` of the images the export takes.
        self.image_size: tuple[int, int] = (int(shape[1]), int(shape[2]))

    def __call__(self, images: Any, batch_size: int = _BATCH) -> np.ndarray:
        """Dog probabilities, shape ``(N,)``, for a batch of images (or photo paths)."""
        import tensorflow as tf

        batch = _as_batch(images, self.image_size)
        out = []
        for start in range(0, len(batch), batch_size):
            chunk = tf.constant(batch[start : start + batch_size])
            (result,) = self._fn(**{self._input_name: chunk}).values()
            out.append(np.asarray(result, dtype=np.float32).reshape(-1))
        return np.concatenate(out)


def load_saved_model_predictor(directory: str | Path) -> SavedModelPredictor:
    """Load an exported SavedModel folder for prediction (see :class:`SavedModelPredictor`).

    Raises:
        ModelLoadError: there is no SavedModel at ``directory``, or it does not take one
            ``(N, H, W, 3)`` image batch through ``serving_default``.
    """
    directory = Path(directory).expanduser()
    if not _is_saved_model(directory):
        raise ModelLoadError(f"No SavedModel at {directory} (no saved_model.pb): {_EXPORT_HINT}")
    return SavedModelPredictor(directory)


def _tflite_interpreter(path: Path) -> Any:
    """A TFLite interpreter for ``path``: LiteRT's if installed, else ``tf.lite``'s."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated"
            )
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


def tflite_predict(path: str | Path, images: Any, batch_size: int = _BATCH) -> np.ndarray:
    """Dog probabilities, shape ``(N,)``, from a ``.tflite`` file for a batch of images.

    ``images`` is an ``(N, H, W, 3)`` array of 0-255 pixels at the model's size (or a
    list of photo paths, prepared like :func:`catdog_utils.predict.prepare_image`).

    Raises:
        ModelLoadError: the file is missing or is not a TensorFlow Lite model.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"No TensorFlow Lite model at {path}: {_EXPORT_HINT}")
    try:
        with stderr_silenced():  # TFLite's "INFO: Created ... XNNPACK delegate" line
            interpreter = _tflite_interpreter(path)
    except ValueError as exc:
        raise ModelLoadError(
            f"{path} is not a TensorFlow Lite model ({first_line(exc, 100)}): {_EXPORT_HINT}"
        ) from exc
    (source,) = interpreter.get_input_details()
    (target,) = interpreter.get_output_details()
    size = (int(source["shape"][1]), int(source["shape"][2]))
    batch = _as_batch(images, size)
    out = []
    for start in range(0, len(batch), batch_size):
        chunk = batch[start : start + batch_size]
        interpreter.resize_tensor_input(source["index"], list(chunk.shape), strict=False)
        with stderr_silenced():
            interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], chunk)
        interpreter.invoke()
        out.append(np.array(interpreter.get_tensor(target["index"]), np.float32).reshape(-1))
    return np.concatenate(out)


# --------------------------------------------------------------------------------------
# Checking


def _exported_probabilities(
    exported: str | Path | Callable[[np.ndarray], Any], batch: np.ndarray
) -> np.ndarray:
    """Probabilities from a SavedModel folder, a ``.tflite`` file or a callable."""
    if callable(exported):
        return np.asarray(exported(batch), dtype=np.float64).reshape(-1)
    path = Path(exported).expanduser()
    if path.is_dir():
        return load_saved_model_predictor(path)(batch).astype(np.float64)
    if path.suffix == ".tflite":
        return tflite_predict(path, batch).astype(np.float64)
    raise ModelLoadError(
        f"{path} is neither a SavedModel folder nor a .tflite file: {_EXPORT_HINT}"
    )


def check_export_matches(
    model: keras.Model,
    exported: str | Path | Callable[[np.ndarray], Any],
    images: np.ndarray | Sequence[str | Path],
    atol: float = 1e-5,
) -> float:
    """Largest absolute difference between the Keras model's and the export's probabilities.

    Args:
        model: the Keras model the export was made from.
        exported: a SavedModel folder, a ``.tflite`` file, or any callable taking an
            ``(N, H, W, 3)`` float32 batch and returning probabilities.
        images: ``(N, H, W, 3)`` 0-255 pixels at the model's size, or photo paths
            (prepared as :func:`catdog_utils.predict.predict_images` does).
        atol: the largest difference accepted.

    Raises:
        ExportMismatchError: the difference is larger than ``atol`` (a different model
            was exported, or the conversion changed the maths).
    """
    from .predict import model_image_size

    batch = _as_batch(images, model_image_size(model))
    # predict, not model(batch): a compiled function frees each layer's output as it goes,
    # where an eager call keeps them all (about 100 MB per 224 px photo for MobileNetV2)
    reference = np.asarray(model.predict(batch, batch_size=_BATCH, verbose=0), np.float64)
    reference = reference.reshape(-1)
    theirs = _exported_probabilities(exported, batch)
    if theirs.shape != reference.shape:
        raise ExportMismatchError(
            f"The export gave {theirs.size} outputs for {reference.size} images: "
            "export the model again"
        )
    diff = float(np.max(np.abs(theirs - reference)))
    if not diff <= atol:  # also catches NaN
        raise ExportMismatchError(
            f"The export's probabilities differ from the Keras model's by up to {diff:.3g} "
            f"(allowed {atol:g}): was it made from this model? Export it again"
        )
    return diff
