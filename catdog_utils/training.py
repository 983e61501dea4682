"""Training: distribution strategies, time budgets, progressive resizing.

:func:`train` is what notebooks 03 and 05 and ``catdog train`` call.  It

- builds the model inside a ``tf.distribute`` strategy scope (one device by default,
  ``MirroredStrategy`` across several GPUs, ``MultiWorkerMirroredStrategy`` from
  ``TF_CONFIG``), see :func:`get_strategy`;
- fits it with the run's callbacks (:func:`catdog_utils.runs.build_callbacks`: epoch timer,
  EMA swap, TensorBoard when given a ``log_dir``);
- can resume an interrupted run from its last completed epoch (``BackupAndRestore`` plus a
  per-epoch history file);
- ends the run with :func:`catdog_utils.runs.finish_run`: the model (``.keras``) and its
  history (``.json``) written atomically.

The result type, callbacks, run-folder names and saving live in :mod:`.runs`, below this
module and :mod:`.multiworker`; their names stay importable from here for the notebooks.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import atomic, multiworker, runs
from .runs import (
    TrainResult,
    epoch_timer,
    history_path,
    load_history,
    save_history,
    save_model_atomic,
    tensorboard_callback,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

    from .pipeline import CourseData

__all__ = [
    "TrainResult",
    "atomic_write_bytes",
    "atomic_write_text",
    "epoch_timer",
    "epochs_for_budget",
    "get_strategy",
    "history_path",
    "load_history",
    "save_history",
    "save_model_atomic",
    "tensorboard_callback",
    "time_limit",
    "train",
    "train_baseline",
    "train_improved",
    "train_progressive",
    "train_within_budget",
    "fit_stages",
    "plan_stages",
    "use_bfloat16_if_faster",
]


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


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (kept for notebooks: see :mod:`.atomic`)."""
    return atomic.write_bytes(path, data)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (kept for notebook 05: see :mod:`.atomic`)."""
    return atomic.write_text(path, text)


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
    same callbacks, history and files, written by the chief (worker 0) only.
    """
    strategy = strategy or get_strategy()
    with strategy.scope():
        model = build_model()
    cbs = runs.build_callbacks(model, callbacks, log_dir)
    path = Path(model_path) if model_path is not None else None
    if multiworker.is_multiworker(strategy):  # fit cannot run there: the course's own loop
        return multiworker.train_across_workers(
            model, strategy, data, epochs, path, cbs, resume, verbose
        )
    return _fit_one_process(model, data, epochs, path, cbs, resume, verbose)


def _prepare_backup(model_path: Path | None, resume: bool) -> tuple[Path | None, int]:
    """The backup folder to keep (``None``: no resuming) and the epochs it already holds.

    A backup left by a run that is not being resumed is deleted.
    """
    if model_path is None:
        return None, 0
    atomic.make_parent(model_path)
    backup = runs.backup_path(model_path)
    if resume and runs.progress_path(backup).is_file():
        return backup, len(next(iter(runs.load_progress(backup).values()), []))
    shutil.rmtree(backup, ignore_errors=True)
    return (backup if resume else None), 0


def _fit_one_process(
    model: keras.Model,
    data: CourseData,
    epochs: int,
    model_path: Path | None,
    callbacks: list[keras.callbacks.Callback],
    resume: bool,
    verbose: int,
) -> TrainResult:
    """:func:`train` in one process: ``model.fit``, resumable, ended by ``finish_run``."""
    import keras

    backup, resumed_from = _prepare_backup(model_path, resume)
    if backup is not None:
        callbacks = [
            *callbacks,
            keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False),
            runs.progress_recorder(backup),
        ]
    fit = model.fit(
        data.train,
        validation_data=data.validation,
        epochs=epochs,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the pipeline shuffles
    )
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    if backup is not None and runs.progress_path(backup).is_file():
        history = runs.load_progress(backup)  # includes epochs from before a resume
    if model_path is not None:
        runs.finish_run(model, history, model_path, backup=runs.backup_path(model_path))
    return TrainResult(
        model=model,
        history=history,
        model_path=model_path,
        epochs_run=len(fit.history.get("loss", [])),
        resumed_from_epoch=resumed_from,
    )


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


def _check_recipe(
    patience: int | None, ema: bool, mixup: float, small_images: Any, budget: float | None
) -> None:
    """Refuse combinations of :func:`train_improved`'s options that cannot work."""
    if patience is not None and ema:
        raise ValueError("Early stopping restores raw weights: use patience=None with ema=True")
    if mixup and small_images is None:
        raise ValueError(
            "mixup belongs to the progressive recipe (its model is saved uncompiled): "
            "pass small_images as well, or mixup=0"
        )
    if small_images is not None and budget is None:
        raise ValueError("progressive resizing (small_images) needs budget_minutes")


def _early_stopping(patience: int | None) -> list[keras.callbacks.Callback]:
    """Early stopping on ``val_accuracy`` after ``patience`` epochs (none for ``None``)."""
    import keras

    if patience is None:
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy",
            mode="max",  # said, not inferred from compiled metrics (none in multiworker)
            patience=patience,
            restore_best_weights=True,
        )
    ]


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
    compiled by :func:`~catdog_utils.models.compile_improved` (AdamW, warm-up and a cosine
    decay planned for the whole run, an exponential moving average of the weights when
    ``ema``).  The data's training pipeline brings the augmentation.  Three ways to run:

    - ``epochs`` only: :func:`train` for that many epochs;
    - with ``budget_minutes``: :func:`train_within_budget`, ``epochs`` being the most;
    - with ``small_images`` as well (the same photos decoded smaller):
      :func:`train_progressive`, the first ``small_share`` of the budget on the small
      images; ``mixup`` (a Beta alpha, off by default) blends the full-size stage's
      training photos (:func:`~catdog_utils.pipeline.mix_up`).

    ``patience`` adds early stopping on ``val_accuracy``; it cannot be combined with ``ema``,
    since restoring a "best" epoch would throw the averaged weights away.  Data from
    :func:`~catdog_utils.pipeline.with_validation_in_training` trains on every training
    photo and validates nothing.  ``log_dir``: TensorBoard logs, as in :func:`train`.
    """
    from . import models, pipeline

    _check_recipe(patience, ema, mixup, small_images, budget_minutes)

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

    run: dict[str, Any] = dict(
        model_path=model_path,
        callbacks=[*callbacks, *_early_stopping(patience)],
        verbose=verbose,
        log_dir=log_dir,
    )
    if small_images is not None and budget_minutes is not None:
        full = replace(data, train=pipeline.mix_up(data.train, mixup)) if mixup else data
        seconds = budget_minutes * 60
        return train_progressive(
            lambda run_epochs: build(run_epochs, image_size=None),
            lambda: models.build_improved_cnn(data.image_size, **model_kwargs),
            [small_images, full],
            [small_share * seconds, (1 - small_share) * seconds],
            max_epochs=epochs,
            **run,
        )
    if budget_minutes is not None:
        return train_within_budget(
            build, data, budget_minutes * 60, max_epochs=epochs, strategy=strategy, **run
        )
    return train(lambda: build(epochs), data, epochs, strategy=strategy, **run)


#: The fraction validation after every epoch (a quarter as many photos as training, forward
#: only) adds to the time of a training epoch (forward and backward) in the planner.
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

    1. plan each stage's epochs within its budget (:func:`plan_stages`);
    2. build the model once, with one schedule over all stages' epochs;
    3. fit each stage in turn, continuing the epoch count, the optimizer and its weight
       average (:func:`fit_stages`; :func:`time_limit` guards each stage's budget);
    4. copy the weights into the fixed-size model and save it with the joined history
       (:func:`catdog_utils.runs.finish_run`).

    Not resumable: an interrupted run starts again.
    """
    estimates, planned = plan_stages(build_model, stages, stage_seconds, max_epochs, margin)
    model = build_model(sum(planned))
    history, done = fit_stages(model, stages, planned, stage_seconds, callbacks, verbose, log_dir)
    fixed = build_fixed()
    fixed.set_weights(model.get_weights())
    path = Path(model_path) if model_path is not None else None
    if path is not None:
        runs.finish_run(fixed, history, path)
    return TrainResult(
        model=fixed,
        history=history,
        model_path=path,
        epochs_run=done,
        extra={
            "estimated_epoch_seconds": estimates,
            "planned_epochs": planned,
            "budget_seconds": float(sum(stage_seconds)),
            "image_sizes": [stage.image_size for stage in stages],
        },
    )


def plan_stages(
    build_model: Callable[[int], keras.Model],
    stages: Sequence[CourseData],
    stage_seconds: Sequence[float],
    max_epochs: int,
    margin: float = 0.05,
) -> tuple[list[float], list[int]]:
    """Each stage's estimated seconds per epoch and its planned epochs (progressive resizing).

    Each stage's epochs are timed on a throw-away model; its plan fits its budget less
    ``margin``, at most ``max_epochs`` in all and at least one epoch a stage.
    """
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
    return estimates, planned


def fit_stages(
    model: keras.Model,
    stages: Sequence[CourseData],
    epochs: Sequence[int],
    seconds: Sequence[float],
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 2,
    log_dir: str | Path | None = None,
) -> tuple[runs.History, int]:
    """Progressive resizing's fit: ``model`` trained on each stage in turn (the same photos
    at growing sizes), ``epochs[i]`` epochs within ``seconds[i]`` of wall-clock time.

    One ``model.fit`` per stage; the epoch count continues from stage to stage, and so do the
    optimizer, its learning-rate schedule and its weight average.  :func:`time_limit` stops
    a stage before an epoch that would overrun its time; the run's usual callbacks
    (:func:`catdog_utils.runs.build_callbacks`) come with each fit, and one TensorBoard log
    holds all stages.  Returns the joined history (with each epoch's ``image_size``) and the
    number of epochs run.  Chapter 05 shows this function as Keras code.
    """
    history, done = {}, 0
    for stage, stage_epochs, stage_seconds in zip(stages, epochs, seconds, strict=True):
        fit = model.fit(
            stage.train,
            validation_data=stage.validation,
            initial_epoch=done,
            epochs=done + stage_epochs,
            callbacks=runs.build_callbacks(model, [*callbacks, time_limit(stage_seconds)], log_dir),
            verbose=verbose,
            shuffle=False,  # the dataset shuffles itself
        )
        for key, values in fit.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        history.setdefault("image_size", []).extend([float(stage.image_size)] * len(fit.epoch))
        done += len(fit.epoch)
    return history, done


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
    its instruction set: CPUs with the same bfloat16 instructions can be faster or slower in
    it than in float32.
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
    (:func:`bfloat16_speedup`): having the instructions is not enough, since some CPUs run
    them slower than float32.  Returns whether the policy was switched.
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
