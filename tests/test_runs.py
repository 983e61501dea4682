"""The run every training path shares: callbacks, run-folder names, the atomic ending."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from catdog_utils import multiworker, runs, training


def _tiny(ema: bool = False) -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2, use_ema=ema), loss="binary_crossentropy")
    return model


def _tiny_data() -> SimpleNamespace:
    """Just what training reads of a CourseData: pipelines, image size, steps."""
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    return SimpleNamespace(train=ds, validation=ds, image_size=3, steps_per_epoch=2)


def test_run_folder_names() -> None:
    assert runs.history_path("m/baseline.keras") == Path("m/baseline.history.json")
    assert runs.backup_path("m/baseline.keras") == Path("m/baseline.backup")
    assert runs.progress_path(Path("m/baseline.backup")) == Path("m/baseline.backup/history.json")


def test_build_callbacks_puts_the_timer_first_then_the_callers_then_ema_and_tensorboard(
    tmp_path: Path,
) -> None:
    mine = keras.callbacks.Callback()
    plain = runs.build_callbacks(_tiny(), [mine])
    assert [type(c).__name__ for c in plain] == ["EpochTimer", "Callback"] and plain[1] is mine
    with_all = runs.build_callbacks(_tiny(ema=True), [mine], log_dir=tmp_path / "logs")
    assert [type(c).__name__ for c in with_all] == [
        "EpochTimer",
        "Callback",
        "SwapEMAWeights",
        "TensorBoard",
    ]


def test_finish_run_saves_model_and_history_then_removes_the_backup(tmp_path: Path) -> None:
    model, path = _tiny(), tmp_path / "models" / "tiny.keras"
    backup = runs.backup_path(path)
    backup.mkdir(parents=True)
    (backup / "checkpoint").write_text("old")
    assert runs.finish_run(model, {"loss": [np.float32(0.5), 0.25]}, path, backup) == path
    assert keras.models.load_model(path, compile=False).count_params() == model.count_params()
    assert runs.load_history(runs.history_path(path)) == {"loss": [0.5, 0.25]}
    assert not backup.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.history.json", "tiny.keras"]


def test_a_failed_save_keeps_the_backup_for_resuming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tiny.keras"
    backup = runs.backup_path(path)
    backup.mkdir()

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "save_history", full_disk)
    with pytest.raises(OSError, match="No space"):
        runs.finish_run(_tiny(), {"loss": [1.0]}, path, backup)
    assert backup.is_dir()


def test_progress_recorder_replaces_an_epoch_that_runs_again(tmp_path: Path) -> None:
    recorder = runs.progress_recorder(tmp_path)
    recorder.on_epoch_end(0, {"loss": 0.9, "seconds": 2.0})
    recorder.on_epoch_end(1, {"loss": 0.7, "seconds": 2.0})
    recorder.on_epoch_end(1, {"loss": 0.6, "seconds": 3.0})  # epoch 2 again, after a resume
    assert json.loads(runs.progress_path(tmp_path).read_text()) == {
        "loss": [0.9, 0.6],
        "seconds": [2.0, 3.0],
    }
    assert runs.load_progress(tmp_path / "nothing here") == {}


def test_every_training_path_builds_callbacks_and_ends_through_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_build, real_finish = runs.build_callbacks, runs.finish_run

    def build_callbacks(*args: object, **kwargs: object) -> list[keras.callbacks.Callback]:
        calls.append("build_callbacks")
        return real_build(*args, **kwargs)

    def finish_run(*args: object, **kwargs: object) -> Path:
        calls.append("finish_run")
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(runs, "build_callbacks", build_callbacks)
    monkeypatch.setattr(runs, "finish_run", finish_run)
    data = _tiny_data()
    training.train(_tiny, data, 1, tmp_path / "one.keras", verbose=0)
    assert calls == ["build_callbacks", "finish_run"]
    calls.clear()
    monkeypatch.setattr(training, "measure_seconds_per_epoch", lambda build, stage: 1.0)
    training.train_progressive(
        lambda epochs: _tiny(), _tiny, [data, data], [60, 60], 2, tmp_path / "p.keras", verbose=0
    )
    assert calls == ["build_callbacks", "build_callbacks", "finish_run"]
    calls.clear()
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        model = _tiny()
    multiworker.train_across_workers(
        model, strategy, data, 1, tmp_path / "mw.keras", runs.build_callbacks(model), True, 0
    )
    assert calls == ["build_callbacks", "finish_run"]
    assert runs.history_path(tmp_path / "mw.keras").is_file()
    assert not runs.backup_path(tmp_path / "mw.keras").exists()
