"""Training: distribution strategies, callbacks, resumable runs and atomic saves.

:func:`train` is what notebooks 03 and 05 and ``catdog train`` call.  It

- builds the model inside a ``tf.distribute`` strategy scope (one device by default,
  ``MirroredStrategy`` across several GPUs, ``MultiWorkerMirroredStrategy`` from
  ``TF_CONFIG``), see :func:`get_strategy`;
- times every epoch (:func:`epoch_timer`);
- writes TensorBoard logs when given a ``log_dir`` (:func:`tensorboard_callback`);
- can resume an interrupted run from its last completed epoch (``BackupAndRestore`` plus a
  per-epoch history file);
- writes the model (``.keras``) and its history (``.json``) atomically: a temporary file
  first, renamed into place only when complete, so a crash never leaves a corrupt file
  where a good one was.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import atomic

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

    from .pipeline import CourseData


def get_strategy(kind: str = "auto") -> tf.distribute.Strategy:
    """Choose a ``tf.distribute`` strategy.

    Args:
        kind: ``auto`` (``MultiWorkerMirroredStrategy`` if ``TF_CONFIG`` is set, else
            ``MirroredStrategy`` if several GPUs are visible, else the default one-device
            strategy), ``default``, ``mirrored`` (all visible GPUs, or all logical CPUs if
            there is no GPU) or ``multiworker``.
    """
    import tensorflow as tf

    if kind == "auto":
        if os.environ.get("TF_CONFIG"):
            kind = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if kind == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown strategy {kind!r}: use auto, default, mirrored or multiworker")


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


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (kept for notebooks: see :mod:`.atomic`)."""
    return atomic.write_bytes(path, data)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (kept for notebook 05: see :mod:`.atomic`)."""
    return atomic.write_text(path, text)


def save_model_atomic(model: keras.Model, path: str | Path) -> Path:
    """Save ``model`` as a ``.keras`` file, atomically (temporary file, then rename)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Model files end in .keras, got {path.name}")
    with atomic.temporary_path(path) as tmp:
        model.save(tmp)
    return path


def history_path(model_path: str | Path) -> Path:
    """The history file beside a model: ``baseline.keras`` -> ``baseline.history.json``."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.history.json")


def save_history(history: dict[str, list[float]], path: str | Path) -> Path:
    """Save a training history (metric name -> list per epoch) as JSON, atomically."""
    clean = {k: [float(v) for v in values] for k, values in history.items()}
    return atomic_write_text(path, json.dumps(clean, indent=1))


def load_history(path: str | Path) -> dict[str, list[float]]:
    """Read a history written by :func:`save_history`."""
    return json.loads(Path(path).read_text())


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    model: keras.Model
    history: dict[str, list[float]]
    model_path: Path | None = None
    epochs_run: int = 0
    resumed_from_epoch: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        """Median wall-clock seconds of the epochs run (the first one excluded if possible).

        For a progressive run (a history with ``image_size``) only the epochs at the last,
        full size count (the first of them left out as well: it traces the model at its new size);
        a median over 64 px and 128 px epochs together describes neither.
        """
        import statistics

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


def _history_recorder(path: Path) -> keras.callbacks.Callback:
    """A callback that appends each finished epoch's logs to ``path`` (atomically)."""
    import keras

    class _Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            history = load_history(path) if path.is_file() else {}
            for key, value in (logs or {}).items():
                history.setdefault(key, [])
                history[key] = history[key][:epoch] + [float(value)]
            save_history(history, path)

    return _Recorder()


def train(
    build_model: Callable[[], keras.Model],
    data: CourseData,
    epochs: int,
    model_path: str | Path | None = None,
    strategy: tf.distribute.Strategy | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    resume: bool = True,
    verbose: int = 2,
    log_dir: str | Path | None = None,
) -> TrainResult:
    """Build, fit and save a model.

    Args:
        build_model: a function returning a *compiled* model; it is called inside the
            strategy's scope so its variables are placed on the right devices.
        data: the pipelines from :func:`catdog_utils.pipeline.load_course_data`.
        epochs: total number of epochs (a resumed run trains only the missing ones).
        model_path: where to save the trained ``.keras`` model and, beside it, its history
            (``NAME.history.json``); ``None`` saves nothing and cannot resume.
        strategy: a ``tf.distribute`` strategy (default: :func:`get_strategy`).
        callbacks: more Keras callbacks (early stopping, for example).
        resume: keep a backup next to ``model_path`` (``NAME.backup/``) after every epoch,
            and continue from it when an earlier run with the same path was interrupted.
        verbose: Keras verbosity (2 = one line per epoch, the notebooks' choice).
        log_dir: a folder for TensorBoard logs (for example
            ``config.runs_dir(profile.name) / "baseline"``); ``None`` writes none.

    Under ``MultiWorkerMirroredStrategy`` (``TF_CONFIG`` set) ``model.fit`` cannot run
    (Keras 3), so training goes through :func:`catdog_utils.multiworker.train_across_workers`:
    same history, callbacks and files, written by the chief (worker 0) only.
    """
    import keras

    from . import multiworker

    strategy = strategy or get_strategy()
    with strategy.scope():
        model = build_model()

    cbs: list[keras.callbacks.Callback] = [epoch_timer(), *callbacks]
    if getattr(model.optimizer, "use_ema", False):
        # validate with the averaged weights (fit leaves the model holding them at the end)
        cbs.append(keras.callbacks.SwapEMAWeights())
    if log_dir is not None:
        cbs.append(tensorboard_callback(log_dir))
    if multiworker.is_multiworker(strategy):  # fit cannot run there: the course's own loop
        path = Path(model_path) if model_path is not None else None
        return multiworker.train_across_workers(
            model, strategy, data, epochs, path, cbs, resume, verbose
        )
    backup_dir = progress_file = None
    resumed_from = 0
    if model_path is not None:
        model_path = Path(model_path)
        model_path.parent.mkdir(parents=True, exist_ok=True)
        backup_dir = model_path.with_name(f"{model_path.stem}.backup")
        progress_file = backup_dir / "history.json"
        if resume and progress_file.is_file():
            resumed_from = len(next(iter(load_history(progress_file).values()), []))
        elif backup_dir.exists():
            shutil.rmtree(backup_dir)  # a stale backup from a run we are not resuming
        if resume:
            cbs.append(keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=False))
            cbs.append(_history_recorder(progress_file))

    fit = model.fit(
        data.train,
        validation_data=data.validation,
        epochs=epochs,
        callbacks=cbs,
        verbose=verbose,
        shuffle=False,  # the pipeline shuffles
    )
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    if progress_file is not None and progress_file.is_file():
        history = load_history(progress_file)  # includes epochs from before a resume
    result = TrainResult(
        model=model,
        history=history,
        model_path=model_path,
        epochs_run=len(fit.history.get("loss", [])),
        resumed_from_epoch=resumed_from,
    )
    if model_path is not None:
        save_model_atomic(model, model_path)
        save_history(history, history_path(model_path))
        if backup_dir is not None and backup_dir.exists():
            shutil.rmtree(backup_dir)
    return result


def train_baseline(
    data: CourseData,
    epochs: int,
    model_path: str | Path | None = None,
    strategy: tf.distribute.Strategy | None = None,
    verbose: int = 2,
    log_dir: str | Path | None = None,
) -> TrainResult:
    """Train the original CNN with the original settings (Adam, batch from ``data``).

    ``log_dir``: where to write TensorBoard logs (``None``: none), as in :func:`train`.
    """
    from . import models

    return train(
        lambda: models.build_baseline_cnn(data.image_size),
        data,
        epochs,
        model_path=model_path,
        strategy=strategy,
        verbose=verbose,
        log_dir=log_dir,
    )


def train_improved(
    data: CourseData,
    epochs: int,
    model_path: str | Path | None = None,
    strategy: tf.distribute.Strategy | None = None,
    budget_minutes: float | None = None,
    patience: int | None = None,
    peak_learning_rate: float = 2e-3,
    ema: bool = True,
    small_images: CourseData | None = None,
    small_share: float = 0.25,
    mixup: float = 0.0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 2,
    log_dir: str | Path | None = None,
    **model_kwargs: Any,
) -> TrainResult:
    """Train the improved CNN with the course's final recipe (chapter 05 and ``catdog train``).

    The recipe: :func:`~catdog_utils.models.build_improved_cnn` (``model_kwargs`` go to it),
    AdamW with warm-up and a cosine decay planned for the whole run, and an exponential
    moving average of the weights (``ema``), which the model holds at the end.  The data's
    training pipeline brings the augmentation.

    With ``budget_minutes`` the run is fitted to a wall-clock budget
    (:func:`train_within_budget`): ``epochs`` is then the most it may train.  With
    ``small_images`` as well (the same photos decoded smaller) it uses *progressive
    resizing* (:func:`train_progressive`): the first ``small_share`` of the budget on the
    small images, where an epoch costs a fraction of the time, the rest at full size.
    ``mixup`` (a Beta alpha such as :data:`~catdog_utils.models.MIXUP_ALPHA`; progressive
    runs only) blends the full-size stage's training photos
    (:func:`~catdog_utils.pipeline.mix_up`).  The recipe leaves it off (``0``): within a
    45-minute budget it kept the network under-fitting, its training accuracy below its
    validation accuracy to the last epoch.

    For the final fit, pass data from :func:`~catdog_utils.pipeline.with_validation_in_training`
    (both sizes): the run then trains on every training photo and validates nothing, and the
    timing trial charges no validation time.

    ``patience`` adds early stopping on ``val_accuracy`` (never the test set); it is off by
    default because the cosine schedule ends at a near-zero learning rate, so the last epoch
    is the natural choice, and because restoring a "best" epoch would throw the averaged
    weights away.  ``log_dir``: TensorBoard logs, as in :func:`train`.
    """
    import keras

    from . import models, pipeline

    if patience is not None and ema:
        raise ValueError("Early stopping restores raw weights: use patience=None with ema=True")
    if mixup and small_images is None:
        raise ValueError(
            "mixup belongs to the progressive recipe (its model is saved uncompiled): "
            "pass small_images as well, or mixup=0"
        )

    def build(run_epochs: int, image_size: int | None = data.image_size) -> keras.Model:
        model = models.build_improved_cnn(image_size, **model_kwargs)
        return models.compile_improved(
            model,
            data.steps_per_epoch,
            run_epochs,
            peak_learning_rate=peak_learning_rate,
            ema=ema,
            blended_labels=bool(mixup),
        )

    callbacks = list(callbacks)
    if patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy",
                mode="max",  # said, not inferred from compiled metrics (none in multiworker)
                patience=patience,
                restore_best_weights=True,
            )
        )
    if small_images is not None:
        if budget_minutes is None:
            raise ValueError("progressive resizing (small_images) needs budget_minutes")
        return train_progressive(
            lambda run_epochs: build(run_epochs, image_size=None),
            lambda: models.build_improved_cnn(data.image_size, **model_kwargs),
            [
                small_images,
                replace(data, train=pipeline.mix_up(data.train, mixup)) if mixup else data,
            ],
            [small_share * budget_minutes * 60, (1 - small_share) * budget_minutes * 60],
            max_epochs=epochs,
            model_path=model_path,
            callbacks=callbacks,
            verbose=verbose,
            log_dir=log_dir,
        )
    if budget_minutes is not None:
        return train_within_budget(
            build,
            data,
            budget_minutes * 60,
            max_epochs=epochs,
            model_path=model_path,
            strategy=strategy,
            callbacks=callbacks,
            verbose=verbose,
            log_dir=log_dir,
        )
    return train(
        lambda: build(epochs),
        data,
        epochs,
        model_path=model_path,
        strategy=strategy,
        callbacks=callbacks,
        verbose=verbose,
        log_dir=log_dir,
    )


#: Validation after every epoch (1,600 photos, forward only) adds about this fraction to
#: the time of a training epoch (6,400 photos, forward and backward), measured on 2 cores.
VALIDATION_OVERHEAD = 0.12


def validation_overhead(data: CourseData) -> float:
    """The share validation adds to an epoch of ``data``: :data:`VALIDATION_OVERHEAD`, or 0
    when it has no validation set (:func:`~catdog_utils.pipeline.with_validation_in_training`)."""
    return 0.0 if data.validation is None else VALIDATION_OVERHEAD


def train_within_budget(
    build_model: Callable[[int], keras.Model],
    data: CourseData,
    budget_seconds: float,
    max_epochs: int,
    model_path: str | Path | None = None,
    strategy: tf.distribute.Strategy | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    margin: float = 0.05,
    verbose: int = 2,
    log_dir: str | Path | None = None,
) -> TrainResult:
    """Train as many epochs as fit ``budget_seconds`` of wall-clock time (at most ``max_epochs``).

    ``build_model(epochs)`` returns a compiled model whose learning-rate schedule is planned
    for ``epochs`` epochs.  Three steps:

    1. time 40 training steps (after 20 warm-up steps) of a throw-away model
       (:func:`measure_seconds_per_epoch`) and add :func:`validation_overhead`: the
       estimated seconds per epoch;
    2. plan the epochs that fit the budget less ``margin`` (:func:`epochs_for_budget`);
    3. train them, with :func:`time_limit` stopping before an epoch that would overrun.

    The result's ``extra`` holds ``estimated_epoch_seconds``, ``planned_epochs`` and
    ``budget_seconds``, so a notebook can show the plan next to what happened.
    """
    train_seconds = measure_seconds_per_epoch(lambda: build_model(10), data)
    estimate = train_seconds * (1.0 + validation_overhead(data))
    planned = epochs_for_budget(estimate, budget_seconds, max_epochs, margin=margin)
    result = train(
        lambda: build_model(planned),
        data,
        planned,
        model_path=model_path,
        strategy=strategy,
        callbacks=[*callbacks, time_limit(budget_seconds)],
        verbose=verbose,
        log_dir=log_dir,
    )
    result.extra.update(
        estimated_epoch_seconds=estimate, planned_epochs=planned, budget_seconds=budget_seconds
    )
    return result


def train_progressive(
    build_model: Callable[[int], keras.Model],
    build_fixed: Callable[[], keras.Model],
    stages: Sequence[CourseData],
    stage_seconds: Sequence[float],
    max_epochs: int,
    model_path: str | Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    margin: float = 0.05,
    verbose: int = 2,
    log_dir: str | Path | None = None,
) -> TrainResult:
    """Progressive resizing: one model trained on the same photos at growing sizes.

    ``stages`` are the same photos decoded at each size (small first) and ``stage_seconds``
    the wall-clock budget of each.  ``build_model(epochs)`` returns a compiled model that
    accepts any image size, with a learning-rate schedule planned for ``epochs`` epochs in
    all; ``build_fixed()`` the same network with the last stage's fixed input size, which
    receives the trained weights and is what is returned and saved (``catdog predict``
    reads the input size from the model).  Steps:

    1. time each stage's epochs on a throw-away model and plan the epochs that fit each
       stage's budget (less ``margin``; at most ``max_epochs`` in all, at least one a stage);
    2. build the model once, with one schedule over all stages' epochs;
    3. fit each stage in turn, continuing the epoch count, the optimizer and its weight
       average (:func:`time_limit` guards each stage's budget);
    4. copy the weights into the fixed-size model and save it with the joined history.

    Small images teach the coarse shapes (outline, ears, posture) at a fraction of the cost;
    the last stage fine-tunes them on full-size detail.  Not resumable: an interrupted run
    starts again.
    """
    import keras

    estimates = [
        measure_seconds_per_epoch(lambda: build_model(10), stage)
        * (1.0 + validation_overhead(stage))
        for stage in stages
    ]
    planned: list[int] = []
    for i, (estimate, seconds) in enumerate(zip(estimates, stage_seconds, strict=True)):
        later_stages = len(stages) - i - 1  # each keeps at least one epoch
        left = max(1, max_epochs - sum(planned) - later_stages)
        planned.append(epochs_for_budget(estimate, seconds, left, margin=margin))
    model = build_model(sum(planned))
    history: dict[str, list[float]] = {}
    done = 0
    for stage, epochs, seconds in zip(stages, planned, stage_seconds, strict=True):
        cbs = [epoch_timer(), *callbacks, time_limit(seconds)]
        if log_dir is not None:  # one log for all stages: the epochs continue
            cbs.append(tensorboard_callback(log_dir))
        if getattr(model.optimizer, "use_ema", False):
            cbs.append(keras.callbacks.SwapEMAWeights())
        fit = model.fit(
            stage.train,
            validation_data=stage.validation,
            initial_epoch=done,
            epochs=done + epochs,
            callbacks=cbs,
            verbose=verbose,
            shuffle=False,
        )
        for key, values in fit.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        history.setdefault("image_size", []).extend([float(stage.image_size)] * len(fit.epoch))
        done += len(fit.epoch)
    fixed = build_fixed()
    fixed.set_weights(model.get_weights())
    if model_path is not None:
        save_model_atomic(fixed, model_path)
        save_history(history, history_path(model_path))
    return TrainResult(
        model=fixed,
        history=history,
        model_path=Path(model_path) if model_path is not None else None,
        epochs_run=done,
        extra={
            "estimated_epoch_seconds": estimates,
            "planned_epochs": planned,
            "budget_seconds": float(sum(stage_seconds)),
            "image_sizes": [stage.image_size for stage in stages],
        },
    )


def cpu_has_bfloat16() -> bool:
    """Whether the CPU has bfloat16 instructions (AVX-512 BF16 or AMX), per ``/proc/cpuinfo``."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def bfloat16_speedup(image_size: int = 64, steps: int = 8, warm_up: int = 3) -> float:
    """How many times faster the improved CNN trains in ``mixed_bfloat16`` than in float32.

    Times ``steps`` training steps (after ``warm_up``) of a throw-away improved CNN on one
    batch of 32 random ``image_size`` photos in each policy, and puts Keras's global policy
    back as it was.  Above 1: bfloat16 is faster.  The answer depends on the CPU, not only on
    its instruction set: a 2-core AMD EPYC with AVX-512 BF16 trained the course's earlier
    separable network 1.26x faster in bfloat16, a 2-core Intel Xeon with the same instructions
    and no AMX 1.6x slower.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from . import models

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, image_size, image_size, 3)).astype("float32")
    y = rng.integers(0, 2, (32, 1)).astype("float32")
    batches = tf.data.Dataset.from_tensors((x, y)).repeat()
    previous = keras.mixed_precision.global_policy()
    seconds = {}
    try:
        for policy in ("float32", "mixed_bfloat16"):
            keras.mixed_precision.set_global_policy(policy)
            model = models.compile_improved(models.build_improved_cnn(image_size), steps, 1)
            seconds[policy] = _seconds_per_step(model, batches, warm_up, steps)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return seconds["float32"] / seconds["mixed_bfloat16"]


#: ``mixed_bfloat16`` must train at least this many times faster to be used: rounding to
#: bfloat16 costs a little accuracy-per-step noise, which a marginal speed-up does not repay.
MIN_BFLOAT16_SPEEDUP = 1.1


def use_bfloat16_if_faster(min_speedup: float = MIN_BFLOAT16_SPEEDUP) -> bool:
    """Switch Keras to ``mixed_bfloat16`` when this CPU trains the course's models faster so.

    A CPU without bfloat16 instructions (:func:`cpu_has_bfloat16`) emulates it, slowly, and
    stays in float32 without a trial.  One that has them is measured
    (:func:`bfloat16_speedup`, about 25 s on 2 cores): having the instructions is not enough, since
    some CPUs run them slower than float32.  Returns whether the policy was switched.
    (This sets Keras's global dtype policy: call it before building a model, and
    ``keras.mixed_precision.set_global_policy("float32")`` to go back.)
    """
    import keras

    if not cpu_has_bfloat16() or bfloat16_speedup() < min_speedup:
        return False
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    return True


def _seconds_per_step(
    model: keras.Model, batches: tf.data.Dataset, warm_up: int, steps: int
) -> float:
    """Typical seconds of one training step of ``model``, timed after ``warm_up`` steps.

    Each step is timed from the end of the batch before it, inside one ``fit`` call, so graph
    tracing and the pipeline's start-up (the first ``warm_up`` steps) are not counted.  The
    median of the step times, not their mean: one step slowed by something else on the
    machine (a garbage collection, another process) must not stretch the estimate, since
    it is multiplied by the steps of every planned epoch.
    """
    import keras
    import numpy as np

    stamps: list[float] = []

    class Stamps(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            stamps.append(time.perf_counter())

    model.fit(
        batches.take(warm_up + steps), epochs=1, verbose=0, callbacks=[Stamps()], shuffle=False
    )
    durations = np.diff(stamps[warm_up - 1 :])
    return float(np.median(durations))


def measure_seconds_per_epoch(
    build_model: Callable[[], keras.Model], data: CourseData, steps: int = 40, warm_up: int = 20
) -> float:
    """Estimate one training epoch's seconds from ``steps`` timed batches.

    The model is built fresh and thrown away.  Batches ``warm_up + 1`` to ``warm_up + steps``
    are timed one by one inside one ``fit`` call, so graph tracing and the pipeline's
    start-up (filling the shuffle buffer) are not counted: they happen once per run, not
    once per epoch.  The median step time (:func:`_seconds_per_step`) times the steps of an
    epoch is the estimate.  Used to choose how many epochs fit a time budget.
    """
    per_step = _seconds_per_step(build_model(), data.train.repeat(), warm_up, steps)
    return per_step * data.steps_per_epoch


def epochs_for_budget(
    seconds_per_epoch: float, budget_seconds: float, max_epochs: int, margin: float = 0.1
) -> int:
    """Epochs that fit ``budget_seconds`` less a safety ``margin``; at most ``max_epochs``."""
    usable = budget_seconds * (1.0 - margin)
    return int(max(1, min(max_epochs, usable // max(seconds_per_epoch, 1e-9))))


def time_limit(budget_seconds: float) -> keras.callbacks.Callback:
    """A callback that stops training before an epoch that would end past the budget.

    After each epoch it predicts the next one from the slowest epoch so far; if that would
    cross ``budget_seconds`` (counted from the start of training) it stops, so a run
    never overshoots its time budget by more than measurement noise.
    """
    import keras

    class TimeLimit(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            self._start = time.perf_counter()
            self._slowest = 0.0
            self._last = self._start
            self.stopped_early = False

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            now = time.perf_counter()
            self._slowest = max(self._slowest, now - self._last)
            self._last = now
            if now - self._start + self._slowest > budget_seconds:
                self.stopped_early = True
                self.model.stop_training = True

    return TimeLimit()
