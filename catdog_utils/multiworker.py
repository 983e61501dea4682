"""Multi-worker training: the course's own distributed loop for ``TF_CONFIG`` runs.

Keras 3's ``model.fit`` cannot train under ``tf.distribute.MultiWorkerMirroredStrategy``
(TensorFlow 2.16 to 2.21 at least: it fails at once with ``Attempt to convert a value
(PerReplica:...) ... to a Tensor``, also when given an already distributed data set or with
auto-sharding off; keras-team/keras #20585).  :func:`fit_distributed` does what ``fit`` does
for the course's models, the way TensorFlow's custom-training-loop guide prescribes:

- ``strategy.experimental_distribute_dataset`` splits every *global* batch (the batch size the
  learner asked for) between all replicas of all workers; each worker builds the same seeded
  pipeline and keeps only its slice of each batch (``AutoShardPolicy.DATA``), so the
  batches, their order and their augmentation are those of a one-process run;
- ``strategy.run`` of a ``tf.GradientTape`` step whose loss is averaged over the global batch
  (``tf.nn.compute_average_loss``) plus the model's own losses scaled per replica
  (``tf.nn.scale_regularization_loss``); the optimizer sums the replicas' gradients;
- ``strategy.reduce`` of the loss, correct-answer and example counts gives every worker the
  same ``loss`` / ``accuracy`` / ``val_loss`` / ``val_accuracy`` each epoch;
- the Keras callbacks get the hooks ``fit`` calls (``on_train_begin`` ... ``on_epoch_end``
  with the logs), through a ``keras.callbacks.CallbackList``, and ``model.stop_training`` is
  honoured once all workers agree on it (a time budget measured on one worker's clock still
  stops every worker after the same epoch);
- each worker checkpoints after every epoch into its own folder
  (``tf.train.CheckpointManager``), so an interrupted run resumes where all workers agree.

The one-process path does not come here: :func:`catdog_utils.training.train` keeps
``model.fit`` and only sends a ``MultiWorkerMirroredStrategy`` to this module.  Both end a
run the same way, through :mod:`.runs` (callbacks, run-folder names, :func:`~.runs.finish_run`);
this module never imports :mod:`.training`.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import runs
from .errors import CatdogError
from .runs import History, TrainResult

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

    from .pipeline import CourseData


class MultiWorkerError(CatdogError):
    """A multi-worker run cannot go on as configured."""


def is_multiworker(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` spans several worker processes (``MultiWorkerMirroredStrategy``)."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """This process's ``task.index`` in ``TF_CONFIG`` (0 for a one-process strategy)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_id = getattr(resolver, "task_id", None)
    return int(task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the results: worker 0 (the chief), or a lone process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    return task_type in (None, "chief") or (task_type == "worker" and worker_index(strategy) == 0)


def _per_example_loss(model: keras.Model) -> Any:
    """The compiled loss as a function ``(y_true, y_pred) -> loss per example``."""
    import keras

    loss = model.loss
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return loss.call
    if callable(loss):
        return loss
    raise MultiWorkerError(
        f"The model was compiled with loss {model.loss!r}; multi-worker training needs one "
        "loss function: compile it with loss='binary_crossentropy'"
    )


def _check_dtype_policy(model: keras.Model) -> None:
    """Refuse ``mixed_float16`` (its loss scaling is ``fit``'s job); bfloat16 needs none."""
    policy = getattr(getattr(model, "dtype_policy", None), "name", "")
    if policy == "mixed_float16":
        raise MultiWorkerError(
            "Multi-worker training does not support the mixed_float16 policy (no loss "
            "scaling in the course's loop): call "
            'keras.mixed_precision.set_global_policy("float32") or "mixed_bfloat16" first'
        )


def _shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with each worker keeping its slice of every global batch."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


class _Loop:
    """The compiled step functions of one run (built inside the strategy's scope)."""

    def __init__(self, model: keras.Model, strategy: tf.distribute.Strategy) -> None:
        import tensorflow as tf

        self.model = model
        self.strategy = strategy
        self.epoch: tf.Variable | None = None
        loss_fn = _per_example_loss(model)
        optimizer = model.optimizer

        def counts(y: tf.Tensor, p: tf.Tensor, per_example: tf.Tensor) -> tuple[tf.Tensor, ...]:
            y = tf.reshape(tf.cast(y, tf.float32), tf.shape(p))
            hits = tf.cast(tf.equal(tf.cast(p > 0.5, tf.float32), y), tf.float32)
            n = tf.cast(tf.shape(per_example)[0], tf.float32)
            return tf.reduce_sum(per_example), tf.reduce_sum(hits), n

        def train_replica(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, ...]:
            ctx = tf.distribute.get_replica_context()
            # the examples in this *global* batch (the last batch of an epoch is smaller)
            local_n = tf.cast(tf.shape(x)[0], tf.float32)
            global_n = ctx.all_reduce(tf.distribute.ReduceOp.SUM, local_n)
            with tf.GradientTape() as tape:
                p = tf.cast(model(x, training=True), tf.float32)
                per_example = tf.cast(loss_fn(tf.reshape(y, tf.shape(p)), p), tf.float32)
                per_example = tf.reshape(per_example, [-1])
                loss = tf.reduce_sum(per_example) / tf.maximum(global_n, 1.0)
                if model.losses:  # regularisers: counted once over all replicas
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return counts(y, p, per_example)

        def eval_replica(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, ...]:
            p = tf.cast(model(x, training=False), tf.float32)
            per_example = tf.cast(loss_fn(tf.reshape(y, tf.shape(p)), p), tf.float32)
            return counts(y, p, tf.reshape(per_example, [-1]))

        def reduced(fn: Any) -> Any:
            def step(batch: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
                per_replica = strategy.run(fn, args=batch)
                return tf.stack(
                    [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in per_replica]
                )

            return tf.function(step)

        def agree(value: tf.Tensor) -> tf.Tensor:
            per_replica = strategy.run(lambda v: tf.identity(v), args=(value,))
            return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

        # Batch-norm moving statistics are not aggregated (Keras 3 creates them with
        # aggregation "none"): each replica follows its own slice of each batch.  Their update
        # is linear, so averaging them over the replicas after an epoch gives exactly the
        # statistics of averaged per-step updates, and identical weights on every worker.
        stats = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]

        def sync_stats() -> None:
            local = strategy.run(lambda: [tf.identity(v.value) for v in stats])
            for variable, value in zip(stats, local, strict=True):
                variable.assign(strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None))

        self.sync_stats = tf.function(sync_stats) if stats else (lambda: None)
        self.train_step = reduced(train_replica)
        self.eval_step = reduced(eval_replica)
        self.agree = tf.function(agree)

    def run_epoch(self, dataset: Any, callbacks: Any = None) -> dict[str, float]:
        """One pass over a distributed data set: summed loss, hits and count -> means."""
        import numpy as np

        totals = np.zeros(3)
        step = self.train_step if callbacks is not None else self.eval_step
        for batch_index, batch in enumerate(dataset):
            if callbacks is not None:
                callbacks.on_train_batch_begin(batch_index)
            totals += step(batch).numpy()
            if callbacks is not None:
                n = max(totals[2], 1.0)
                callbacks.on_train_batch_end(
                    batch_index, {"loss": totals[0] / n, "accuracy": totals[1] / n}
                )
        n = max(totals[2], 1.0)
        return {"loss": float(totals[0] / n), "accuracy": float(totals[1] / n)}

    def all_agree(self, value: float) -> bool:
        """Whether every worker holds the same ``value`` (their mean equals it)."""
        import tensorflow as tf

        return abs(float(self.agree(tf.constant(float(value)))) - float(value)) < 1e-6

    def any_wants(self, flag: bool) -> bool:
        """Whether at least one worker set ``flag`` (so all stop together)."""
        import tensorflow as tf

        return float(self.agree(tf.constant(1.0 if flag else 0.0))) > 0.0


def fit_distributed(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    train_data: tf.data.Dataset,
    validation_data: tf.data.Dataset | None,
    epochs: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 2,
    checkpoint_dir: str | Path | None = None,
) -> tuple[dict[str, list[float]], int, int]:
    """Train a compiled ``model`` like ``model.fit`` does, under any ``strategy``.

    Args:
        model: a compiled model built inside ``strategy.scope()`` (loss per example, such as
            binary cross-entropy; the reported accuracy is the binary one at 0.5).
        strategy: the ``tf.distribute`` strategy (``MultiWorkerMirroredStrategy`` in use).
        train_data / validation_data: batched data sets, batches of the *global* size.
        epochs: total epochs (a resumed run trains only the missing ones).
        callbacks: Keras callbacks; they see the same hooks and logs as under ``fit``.
        verbose: 0 silent, 1 progress bar, 2 one line per epoch (as ``fit``).
        checkpoint_dir: this worker's own folder for a checkpoint after every epoch; an
            earlier interrupted run's checkpoint there is resumed.  ``None``: no resuming.

    Returns:
        ``(history, epochs_run, resumed_from_epoch)``; ``history`` maps each metric
        (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` and what callbacks add) to
        one value per epoch, including the epochs before a resume.

    Raises:
        MultiWorkerError: the model cannot be trained this way, or the workers' checkpoints
            are of different epochs.
    """
    import tensorflow as tf

    _check_dtype_policy(model)
    with strategy.scope():
        loop = _Loop(model, strategy)
        model.optimizer.build(model.trainable_variables)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    loop.epoch = epoch_var  # checkpointed with the weights: where a resumed run starts
    manager, past, start = _resume(model, epoch_var, checkpoint_dir)
    if not loop.all_agree(start):
        raise MultiWorkerError(
            f"Worker {worker_index(strategy)} would resume from epoch {start} but another "
            "worker from a different one: delete every worker's *.backup folder and run "
            "`catdog train` again on all workers"
        )
    cbs = _callback_list(model, callbacks, verbose, epochs, _known_steps(train_data))
    data = [_distribute(strategy, d) for d in (train_data, validation_data)]
    history, epochs_run, logs = _run_epochs(loop, cbs, data, range(start, epochs), past, manager)
    if getattr(model.optimizer, "use_ema", False):
        # as fit does: the model ends holding the moving average of its weights (the
        # epochs' validation used the raw weights: this loop does not swap them in)
        with strategy.scope():
            model.optimizer.finalize_variable_values(model.trainable_variables)
    cbs.on_train_end(logs)
    return history, epochs_run, start


def _known_steps(dataset: tf.data.Dataset) -> int | None:
    """The batches in one pass over ``dataset`` when TensorFlow knows them, else ``None``.

    Only the progress bar uses it; a pipeline of unknown length just shows no total.
    """
    count = int(dataset.cardinality())
    return count if count >= 0 else None


def _distribute(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset | None) -> Any:
    """``dataset`` split between the replicas, each worker keeping its slice of each batch."""
    if dataset is None:
        return None
    return strategy.experimental_distribute_dataset(_shard_by_data(dataset))


def _callback_list(
    model: keras.Model,
    callbacks: Sequence[keras.callbacks.Callback],
    verbose: int,
    epochs: int,
    steps: int | None,
) -> keras.callbacks.CallbackList:
    """The callbacks as ``fit`` would hold them: a ``History`` and, unless quiet, a progress bar."""
    import keras

    return keras.callbacks.CallbackList(
        list(callbacks),
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps,
    )


def _run_epochs(
    loop: _Loop,
    cbs: keras.callbacks.CallbackList,
    data: list[Any],
    epochs: range,
    past: History,
    manager: tf.train.CheckpointManager | None,
) -> tuple[History, int, dict[str, float]]:
    """Train ``epochs`` on the distributed ``data`` (train, validation or ``None``).

    Calls the callbacks' hooks as ``fit`` does, checkpoints after every epoch (with the
    history so far, ``past`` included) and stops once a worker set ``model.stop_training``.
    Returns the history, the epochs run and the last epoch's logs.
    """
    import keras

    model = loop.model
    recorder = next(c for c in cbs.callbacks if isinstance(c, keras.callbacks.History))
    model.stop_training = False
    cbs.on_train_begin()
    history: History = {k: list(v) for k, v in past.items()}
    logs: dict[str, float] = {}
    epochs_run = 0
    for epoch in epochs:
        cbs.on_epoch_begin(epoch)
        logs = loop.run_epoch(data[0], cbs)
        loop.sync_stats()
        if data[1] is not None:
            logs.update({f"val_{k}": v for k, v in loop.run_epoch(data[1]).items()})
        cbs.on_epoch_end(epoch, logs)  # the callbacks' additions reach `recorder`, not `logs`
        epochs_run += 1
        history = {
            key: [*past.get(key, []), *(float(v) for v in values)]
            for key, values in recorder.history.items()
        }
        if manager is not None:
            loop.epoch.assign(epoch + 1)
            manager.save(checkpoint_number=epoch + 1)
            runs.save_history(history, runs.progress_path(manager.directory))
        if loop.any_wants(bool(model.stop_training)):
            break
    return history, epochs_run, logs


def _resume(
    model: keras.Model, epoch_var: tf.Variable, checkpoint_dir: str | Path | None
) -> tuple[tf.train.CheckpointManager | None, dict[str, list[float]], int]:
    """This worker's checkpoint manager, the history before a resume and the epoch to start.

    An earlier interrupted run's checkpoint in ``checkpoint_dir`` is restored into ``model``
    (weights and optimizer) and ``epoch_var``; ``None`` means no checkpoints at all.
    """
    import tensorflow as tf

    if checkpoint_dir is None:
        return None, {}, 0
    folder = Path(checkpoint_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=epoch_var)
    manager = tf.train.CheckpointManager(ckpt, str(folder), max_to_keep=1)
    if not manager.latest_checkpoint:
        return manager, {}, 0
    ckpt.restore(manager.latest_checkpoint).expect_partial()
    start = int(epoch_var.numpy())
    return manager, {k: v[:start] for k, v in runs.load_progress(folder).items()}, start


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Wait until every worker reaches this point (a tiny all-reduce)."""
    import tensorflow as tf

    @tf.function
    def meet() -> tf.Tensor:
        ones = strategy.run(lambda: tf.constant(1.0))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)

    meet()


def weights_checksum(model: keras.Model) -> str:
    """SHA-256 of all the model's weights: equal on workers that trained in sync."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    return digest.hexdigest()


def train_across_workers(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    data: CourseData,
    epochs: int,
    model_path: Path | None,
    callbacks: Sequence[keras.callbacks.Callback],
    resume: bool,
    verbose: int,
) -> TrainResult:
    """:func:`catdog_utils.training.train` for a multi-worker strategy (``TF_CONFIG``).

    ``callbacks`` come from :func:`catdog_utils.runs.build_callbacks`.  Each worker
    checkpoints into its own ``NAME.backup/worker-<index>/`` after every epoch (so resuming
    needs no storage shared between machines); at the end every worker ends the run with
    :func:`catdog_utils.runs.finish_run`, the chief (worker 0) into ``model_path``, the others
    into a temporary folder they delete, as TensorFlow's multi-worker guide prescribes (a
    save may take part in collective operations).  ``result.extra`` holds ``worker``,
    ``chief``, ``replicas`` and the ``weights_sha256`` of the final weights.
    """
    index, chief = worker_index(strategy), is_chief(strategy)
    checkpoint_dir = _checkpoint_dir(model_path, index, resume)
    history, epochs_run, resumed_from = fit_distributed(
        model,
        strategy,
        data.train,
        data.validation,
        epochs,
        callbacks=callbacks,
        verbose=verbose,
        checkpoint_dir=checkpoint_dir,
    )
    if model_path is not None:
        _finish_worker(model, history, model_path, strategy, checkpoint_dir)
    return TrainResult(
        model=model,
        history=history,
        model_path=model_path if chief else None,
        epochs_run=epochs_run,
        resumed_from_epoch=resumed_from,
        extra={
            "worker": index,
            "chief": chief,
            "replicas": int(strategy.num_replicas_in_sync),
            "weights_sha256": weights_checksum(model),
        },
    )


def _checkpoint_dir(model_path: Path | None, index: int, resume: bool) -> Path | None:
    """This worker's checkpoint folder, ``NAME.backup/worker-<index>`` (``None``: no resume).

    Without ``resume`` an earlier checkpoint of this worker is deleted.
    """
    if model_path is None:
        return None
    folder = runs.backup_path(model_path) / f"worker-{index}"
    if resume:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    return None


def _finish_worker(
    model: keras.Model,
    history: History,
    model_path: Path,
    strategy: tf.distribute.Strategy,
    checkpoint_dir: Path | None,
) -> None:
    """End the run on this worker: save (the chief for real), drop the checkpoint, meet.

    Once every worker has deleted its checkpoint the chief removes the emptied backup.
    """
    import tempfile

    if is_chief(strategy):
        runs.finish_run(model, history, model_path, backup=checkpoint_dir)
    else:
        scratch = Path(tempfile.mkdtemp(prefix=f"catdog-worker{worker_index(strategy)}-"))
        try:
            runs.finish_run(model, history, scratch / model_path.name, backup=checkpoint_dir)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    barrier(strategy)  # every worker has finished with its checkpoint folder
    backup = runs.backup_path(model_path)
    if is_chief(strategy) and backup.is_dir() and not any(backup.iterdir()):
        backup.rmdir()
