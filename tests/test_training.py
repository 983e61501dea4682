"""Training: a short real run learns, an interrupted run resumes, saves are atomic, and the
strategies (one device, MirroredStrategy over two logical CPUs) work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import Interrupted, crash_in_epoch

from catdog_utils import models, pipeline, training

TRAIN_PER_CLASS = 64


@pytest.fixture(scope="module")
def small_data(shared_dataset: Path) -> pipeline.CourseData:
    """102 training / 26 validation / 16 test real photos, decoded in memory (no cache)."""
    return pipeline.load_course_data(
        data_dir=shared_dataset, cache=False, train_per_class=TRAIN_PER_CLASS, test_per_class=8
    )


def _baseline_from(weights: list[np.ndarray]):
    def build() -> keras.Model:
        model = models.build_baseline_cnn()
        model.set_weights(weights)
        return model

    return build


def test_short_training_run_lowers_the_training_loss(
    small_data: pipeline.CourseData, tmp_path: Path
) -> None:
    keras.utils.set_random_seed(1337)
    same_batches = pipeline.to_dataset(small_data.x_train, small_data.y_train, 32)
    start = models.build_baseline_cnn()
    loss_before = start.evaluate(same_batches, verbose=0)[0]

    path = tmp_path / "baseline.keras"
    result = training.train(_baseline_from(start.get_weights()), small_data, 8, path, verbose=0)

    loss_after = result.model.evaluate(same_batches, verbose=0)[0]
    assert loss_after < loss_before - 0.03, (loss_before, loss_after)
    assert result.epochs_run == 8 and result.resumed_from_epoch == 0
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(result.history)
    assert all(len(values) == 8 for values in result.history.values())
    assert result.seconds_per_epoch > 0 and result.total_seconds >= result.seconds_per_epoch
    # the saved model and history are the trained ones; no backup is left behind
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        reloaded.predict(small_data.x_val[:8].astype("float32"), verbose=0),
        result.model.predict(small_data.x_val[:8].astype("float32"), verbose=0),
        atol=1e-5,
    )
    assert training.load_history(training.history_path(path)) == result.history
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "baseline.history.json",
        "baseline.keras",
    ]


def test_interrupted_run_resumes_from_the_last_completed_epoch(
    small_data: pipeline.CourseData, tmp_path: Path
) -> None:
    keras.utils.set_random_seed(7)
    path = tmp_path / "run.keras"
    with pytest.raises(Interrupted):
        training.train(
            models.build_baseline_cnn, small_data, 4, path, callbacks=[crash_in_epoch(2)], verbose=0
        )
    assert not path.exists()  # nothing half-trained where the final model goes
    backup = path.with_name("run.backup")
    assert len(training.load_history(backup / "history.json")["loss"]) == 2

    result = training.train(models.build_baseline_cnn, small_data, 4, path, verbose=0)

    assert result.resumed_from_epoch == 2
    assert result.epochs_run == 2  # only epochs 3 and 4 were trained again
    assert all(len(values) == 4 for values in result.history.values())
    assert training.load_history(training.history_path(path)) == result.history
    assert path.is_file() and not backup.exists()


def test_a_fresh_run_ignores_a_stale_backup_when_resume_is_off(
    small_data: pipeline.CourseData, tmp_path: Path
) -> None:
    path = tmp_path / "run.keras"
    with pytest.raises(Interrupted):
        training.train(
            models.build_baseline_cnn, small_data, 3, path, callbacks=[crash_in_epoch(1)], verbose=0
        )
    result = training.train(models.build_baseline_cnn, small_data, 1, path, resume=False, verbose=0)
    assert result.resumed_from_epoch == 0 and result.epochs_run == 1
    assert len(result.history["loss"]) == 1


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_failed_save_keeps_the_previous_good_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras.utils.set_random_seed(3)
    path = tmp_path / "model.keras"
    good = models.build_baseline_cnn()
    training.save_model_atomic(good, path)
    good_bytes = path.read_bytes()
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    expected = good.predict(x, verbose=0)

    def broken_save(self: keras.Model, filepath: str | Path, *args: object, **kwargs: object):
        Path(filepath).write_bytes(b"half a model")  # the disk fills up mid-write
        raise OSError("No space left on device")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(OSError, match="No space"):
        training.save_model_atomic(models.build_baseline_cnn(), path)
    monkeypatch.undo()

    assert path.read_bytes() == good_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary files
    np.testing.assert_allclose(
        keras.models.load_model(path).predict(x, verbose=0), expected, atol=1e-6
    )


def test_save_model_atomic_wants_a_keras_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.keras"):
        training.save_model_atomic(models.build_baseline_cnn(), tmp_path / "model.h5")


def test_history_json_round_trip(tmp_path: Path) -> None:
    history = {"loss": [0.7, np.float32(0.5)], "accuracy": [0.5, 0.75], "seconds": [1.25, 1.0]}
    model_path = tmp_path / "models" / "baseline.keras"
    path = training.history_path(model_path)
    assert path == tmp_path / "models" / "baseline.history.json"

    training.save_history(history, path)

    loaded = training.load_history(path)
    assert set(loaded) == set(history)
    for key, values in history.items():
        assert loaded[key] == pytest.approx([float(v) for v in values])
    assert all(isinstance(v, float) for vs in loaded.values() for v in vs)
    assert json.loads(path.read_text())["accuracy"] == [0.5, 0.75]
    assert [p.name for p in path.parent.iterdir()] == ["baseline.history.json"]


def test_get_strategy_default_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    strategy = training.get_strategy("default")
    assert isinstance(strategy, tf.distribute.Strategy)
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if len(tf.config.list_logical_devices("GPU")) <= 1:
        assert training.get_strategy("auto") is strategy
    with pytest.raises(ValueError, match="Unknown strategy"):
        training.get_strategy("tpu-pod")


def test_epoch_timer_records_seconds() -> None:
    timer = training.epoch_timer()
    logs: dict[str, float] = {}
    timer.on_epoch_begin(0)
    timer.on_epoch_end(0, logs)
    assert 0 <= logs["seconds"] < 1


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    import keras
    from catdog_utils import models, pipeline, training

    keras.utils.set_random_seed(1337)
    strategy = training.get_strategy("mirrored")
    data = pipeline.load_course_data(
        data_dir=sys.argv[1], cache=False, train_per_class=48, test_per_class=4
    )
    same_batches = pipeline.to_dataset(data.x_train, data.y_train, 32)
    with strategy.scope():
        start = models.build_baseline_cnn()
    before = start.evaluate(same_batches, verbose=0)[0]
    weights = start.get_weights()

    def build():
        model = models.build_baseline_cnn()
        model.set_weights(weights)
        return model

    result = training.train(build, data, epochs=8, strategy=strategy, verbose=0)
    after = result.model.evaluate(same_batches, verbose=0)[0]
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "devices": list(strategy.extended.worker_devices),
        "strategy": type(strategy).__name__,
        "variable_type": type(result.model.trainable_variables[0].value).__name__,
        "loss_before": float(before),
        "loss_after": float(after),
        "epochs": len(result.history["loss"]),
    }))
    """
)


def test_mirrored_strategy_trains_on_two_logical_cpus(shared_dataset: Path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT, str(shared_dataset)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["strategy"] == "MirroredStrategy"
    assert report["replicas"] == 2
    assert [d.rsplit(":", 2)[-2:] for d in report["devices"]] == [["CPU", "0"], ["CPU", "1"]]
    assert report["epochs"] == 8
    assert report["loss_after"] < report["loss_before"] - 0.02, report


class _Clock:
    """A stand-in for the ``time`` module whose ``perf_counter`` reads out given stamps."""

    def __init__(self, stamps: list[float]) -> None:
        self._stamps = iter(stamps)

    def perf_counter(self) -> float:
        return next(self._stamps)


def _tiny_model() -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    return model


def test_epochs_for_budget_fits_the_budget_less_its_margin() -> None:
    assert training.epochs_for_budget(10.0, 100.0, max_epochs=50) == 9  # 90 s usable
    assert training.epochs_for_budget(10.0, 100.0, max_epochs=50, margin=0.0) == 10
    assert training.epochs_for_budget(10.0, 100.0, max_epochs=5) == 5  # capped
    assert training.epochs_for_budget(500.0, 100.0, max_epochs=5) == 1  # always one epoch
    assert training.epochs_for_budget(0.0, 100.0, max_epochs=7) == 7  # no division by zero


@pytest.mark.parametrize(
    ("epoch_ends", "budget"),
    [
        # 30-s epochs: after 60 s another one still fits (90 <= 100), after 90 s it would not
        ([30.0, 60.0, 90.0], 100.0),
        # a slow first epoch (50 s), then quick ones: at 70 s the next may take 50 s again
        ([50.0, 60.0, 70.0], 115.0),
    ],
    ids=["steady-epochs", "judged-by-the-slowest-epoch"],
)
def test_time_limit_stops_before_an_epoch_that_would_cross_the_budget(
    epoch_ends: list[float], budget: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "time", _Clock([0.0, *epoch_ends]))  # training starts at 0
    model = _tiny_model()
    limit = training.time_limit(budget_seconds=budget)
    limit.set_model(model)
    limit.on_train_begin()
    stops = []
    for epoch in range(len(epoch_ends)):
        limit.on_epoch_end(epoch)
        stops.append(bool(model.stop_training))
    assert stops == [False, False, True]
    assert limit.stopped_early


def test_measure_seconds_per_epoch_leaves_out_the_warm_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # four slow warm-up batches (5 s each: tracing, filling buffers), then 0.25 s a batch
    stamps = [5.0 * (i + 1) for i in range(4)] + [20.0 + 0.25 * (i + 1) for i in range(8)]
    monkeypatch.setattr(training, "time", _Clock(stamps))
    x = np.zeros((4, 3), "float32")
    batches = tf.data.Dataset.from_tensors((x, np.zeros((4, 1), "float32"))).repeat()
    data = type("Data", (), {"train": batches, "steps_per_epoch": 50})()
    built: list[keras.Model] = []

    def build() -> keras.Model:
        built.append(_tiny_model())
        return built[-1]

    seconds = training.measure_seconds_per_epoch(build, data, steps=8, warm_up=4)
    assert seconds == pytest.approx(0.25 * 50)
    assert len(built) == 1  # a fresh model, built once


def test_measure_seconds_per_epoch_ignores_a_stray_slow_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # after the warm-up, one step stalls for 10 s (another process, a garbage collection):
    # a mean would estimate (7 * 0.25 + 10) / 8 = 1.47 s a step, the median keeps 0.25
    steps = [0.25] * 3 + [10.0] + [0.25] * 4
    stamps = [5.0 * (i + 1) for i in range(4)] + list(20.0 + np.cumsum(steps))
    monkeypatch.setattr(training, "time", _Clock(stamps))
    x = np.zeros((4, 3), "float32")
    batches = tf.data.Dataset.from_tensors((x, np.zeros((4, 1), "float32"))).repeat()
    data = type("Data", (), {"train": batches, "steps_per_epoch": 50})()
    seconds = training.measure_seconds_per_epoch(_tiny_model, data, steps=8, warm_up=4)
    assert seconds == pytest.approx(0.25 * 50)


def test_train_improved_trains_saves_and_watches_validation(
    small_data: pipeline.CourseData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras.utils.set_random_seed(5)
    path = tmp_path / "improved.keras"
    seen: dict[str, object] = {}
    real_train = training.train

    def recording_train(*args: object, **kwargs: object) -> training.TrainResult:
        seen.update(kwargs)
        return real_train(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(training, "train", recording_train)
    result = training.train_improved(
        small_data, epochs=1, model_path=path, verbose=0, widths=(8,), blocks_per_stage=1
    )
    assert result.model.name == "improved_cnn"
    assert isinstance(result.model.optimizer, keras.optimizers.AdamW)
    assert result.epochs_run == 1
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(result.history)
    reloaded = keras.models.load_model(path)  # the trained weights were saved
    for saved, trained in zip(reloaded.get_weights(), result.model.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, trained)
    assert training.load_history(training.history_path(path))["val_accuracy"] == pytest.approx(
        result.history["val_accuracy"]
    )
    # the recipe keeps the last epoch's averaged weights: no early stopping by default
    assert result.model.optimizer.use_ema
    assert not [c for c in seen["callbacks"] if isinstance(c, keras.callbacks.EarlyStopping)]
    # asked for, early stopping watches the validation accuracy (never the test set)
    seen.clear()
    training.train_improved(
        small_data, epochs=1, verbose=0, patience=4, ema=False, widths=(8,), blocks_per_stage=1,
    )  # fmt: skip
    (stopper,) = [c for c in seen["callbacks"] if isinstance(c, keras.callbacks.EarlyStopping)]
    assert stopper.monitor == "val_accuracy" and stopper.restore_best_weights
    assert stopper.patience == 4


def test_seconds_per_epoch_of_a_progressive_run_counts_the_full_size_epochs() -> None:
    plain = training.TrainResult(model=None, history={"seconds": [9.0, 4.0, 5.0, 6.0]})
    assert plain.seconds_per_epoch == 5.0  # the first (tracing) epoch left out
    progressive = training.TrainResult(
        model=None,
        history={
            "seconds": [50.0, 30.0, 31.0, 32.0, 120.0, 130.0, 125.0],
            "image_size": [64.0, 64.0, 64.0, 64.0, 128.0, 128.0, 128.0],
        },
    )
    assert progressive.seconds_per_epoch == 127.5  # 128 px only, its first (tracing) one left out
    assert progressive.total_seconds == 518.0
