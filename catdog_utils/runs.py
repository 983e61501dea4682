"""A training run: its result, its callbacks, its files, and how it ends.

What every way of training shares, below all of them (:mod:`.training` for one process and
progressive resizing, :mod:`.multiworker` for ``TF_CONFIG`` runs, a new training path):

- :class:`TrainResult`: what a training function returns;
- run-folder naming: ``NAME.keras`` has its history in ``NAME.history.json``
  (:func:`history_path`) and its resume backup in ``NAME.backup/`` (:func:`backup_path`),
  whose ``history.json`` (:func:`progress_path`) records the epochs done so far;
- :func:`build_callbacks`: the one callback list (epoch timer, the caller's callbacks, the
  EMA swap, TensorBoard), in one order;
- :func:`finish_run`: the one ending, model and history saved atomically, backup removed.

Nothing here imports another training module; only :mod:`.atomic` and TensorFlow/Keras
(inside the functions that use them).
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import atomic

if TYPE_CHECKING:  # pragma: no cover
    import keras

History = dict[str, list[float]]


@dataclass
class TrainResult:
    """What a training function returns: the model, its history and where it was saved."""

    model: keras.Model
    history: History
    model_path: Path | None = None
    epochs_run: int = 0
    resumed_from_epoch: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        """Median wall-clock seconds of the epochs run (the first one excluded if possible).

        For a progressive run (a history with ``image_size``) only the epochs at the last,
        full size count (the first of them left out as well: it traces the model at its new
        size); a median over small and full-size epochs together describes neither.
        """
        secs = self.history.get("seconds", [])
        sizes = self.history.get("image_size", [])
        if secs and len(sizes) == len(secs):
            secs = [s for s, size in zip(secs, sizes, strict=True) if size == sizes[-1]]
        if not secs:
            return float("nan")
        return float(statistics.median(secs[1:] if len(secs) > 1 else secs))

    @property
    def total_seconds(self) -> float:
        """Sum of the epochs' wall-clock seconds."""
        return float(sum(self.history.get("seconds", [])))


def history_path(model_path: str | Path) -> Path:
    """The history file beside a model: ``baseline.keras`` -> ``baseline.history.json``."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.history.json")


def backup_path(model_path: str | Path) -> Path:
    """The resume backup folder beside a model: ``baseline.keras`` -> ``baseline.backup/``."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.backup")


def progress_path(folder: str | Path) -> Path:
    """The per-epoch history kept in a backup or checkpoint ``folder``."""
    return Path(folder) / "history.json"


def save_model_atomic(model: keras.Model, path: str | Path) -> Path:
    """Save ``model`` as a ``.keras`` file, atomically (temporary file, then rename)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Model files end in .keras, got {path.name}")
    with atomic.temporary_path(path) as tmp:
        model.save(tmp)
    return path


def save_history(history: History, path: str | Path) -> Path:
    """Save a training history (metric name -> list per epoch) as JSON, atomically."""
    clean = {k: [float(v) for v in values] for k, values in history.items()}
    return atomic.write_text(path, json.dumps(clean, indent=1))


def load_history(path: str | Path) -> History:
    """Read a history written by :func:`save_history`."""
    return json.loads(Path(path).read_text())


def load_progress(folder: str | Path) -> History:
    """The history recorded in a backup or checkpoint folder (empty if there is none)."""
    path = progress_path(folder)
    return load_history(path) if path.is_file() else {}


def epoch_timer() -> keras.callbacks.Callback:
    """A Keras callback that records each epoch's wall-clock seconds in ``logs['seconds']``."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if logs is not None:
                logs["seconds"] = time.perf_counter() - self._start

    return EpochTimer()


def tensorboard_callback(log_dir: str | Path) -> keras.callbacks.Callback:
    """A ``keras.callbacks.TensorBoard`` writing per-epoch scalars and the model's graph.

    The event files go to ``log_dir/train`` and ``log_dir/validation``: ``epoch_loss``,
    ``epoch_accuracy``, ... once per epoch, and the Keras model (TensorBoard's Graphs tab
    draws its layers).  No histograms and no profiler (both slow a CPU run down).  Open
    them with ``make tensorboard`` or ``tensorboard --logdir runs``.
    """
    import keras

    return keras.callbacks.TensorBoard(
        log_dir=str(log_dir),
        histogram_freq=0,
        write_graph=True,
        write_images=False,
        update_freq="epoch",
        profile_batch=0,
    )


def progress_recorder(folder: str | Path) -> keras.callbacks.Callback:
    """A callback that records each finished epoch's logs in ``folder``'s ``history.json``.

    Kept instead of ``keras.callbacks.CSVLogger``: an epoch run again after a resume
    replaces its entry (CSVLogger appends a second row), and every write is atomic
    (CSVLogger can leave half a line), so the file always matches the backup's epochs.
    """
    import keras

    path = progress_path(folder)

    class ProgressRecorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            history = load_progress(folder)
            for key, value in (logs or {}).items():
                history[key] = history.get(key, [])[:epoch] + [float(value)]
            save_history(history, path)

    return ProgressRecorder()


def build_callbacks(
    model: keras.Model,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    log_dir: str | Path | None = None,
) -> list[keras.callbacks.Callback]:
    """The callbacks of a run, in one order: epoch timer, ``callbacks``, EMA swap, TensorBoard.

    The timer comes first so the others see ``logs['seconds']``; a model whose optimizer
    keeps a moving average of its weights validates with the averaged weights
    (``SwapEMAWeights``); ``log_dir`` adds TensorBoard logs (``None``: none).
    """
    import keras

    cbs: list[keras.callbacks.Callback] = [epoch_timer(), *callbacks]
    if getattr(model.optimizer, "use_ema", False):
        cbs.append(keras.callbacks.SwapEMAWeights())
    if log_dir is not None:
        cbs.append(tensorboard_callback(log_dir))
    return cbs


def finish_run(
    model: keras.Model, history: History, model_path: Path, backup: Path | None = None
) -> Path:
    """End a run: save ``model`` and its history atomically, then delete ``backup``.

    The model goes to ``model_path`` and its history beside it (:func:`history_path`), each
    through a temporary file renamed into place; the resume ``backup`` folder (if any) is
    removed only once both are saved.  Returns ``model_path``.
    """
    save_model_atomic(model, model_path)
    save_history(history, history_path(model_path))
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    return model_path
