"""Multi-worker training: two real worker processes on localhost train one model in sync,
and the course's distributed loop keeps fit's history, callbacks and resume contract."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import Interrupted, crash_in_epoch

from catdog_utils import models, multiworker, pipeline, training

#: Real photos per class in the two-process run (about 100 training images, 4 batches).
WORKER_TRAIN_PER_CLASS = 64
#: Seconds the two worker processes may take together before both are killed.
WORKERS_TIMEOUT = 150

_REPORT = re.compile(r"Worker (\d+): (\d+) replicas in sync, weights sha256 ([0-9a-f]{64})")


def _free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports that are free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def run_workers(
    argv: list[str], tmp_path: Path, timeout: float = WORKERS_TIMEOUT
) -> list[subprocess.CompletedProcess]:
    """Run ``argv`` as worker 0 and worker 1 of one ``TF_CONFIG`` cluster on free ports.

    Both get their own ``TMPDIR`` under ``tmp_path``; if they are not both done within
    ``timeout`` seconds both are killed and the test fails.
    """
    ports = _free_ports(2)
    procs = []
    for index in range(2):
        scratch = tmp_path / f"tmp-worker{index}"
        scratch.mkdir(parents=True)
        env = {
            **os.environ,
            "TF_CONFIG": _tf_config(ports, index),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "CUDA_VISIBLE_DEVICES": "",
            "TMPDIR": str(scratch),
        }
        procs.append(
            subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
        )
    results = []
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the two workers did not finish within {timeout} s (both killed)")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


@pytest.fixture(scope="module")
def worker_dataset(shared_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared data set of 64 + 64 training and 4 + 4 test real photos."""
    from conftest import copy_course_subset

    from catdog_utils import data

    root = tmp_path_factory.mktemp("workers")
    source = copy_course_subset(shared_dataset, root / "source", WORKER_TRAIN_PER_CLASS, 4)
    return data.prepare_dataset(
        source,
        root / "cats_and_dogs",
        train_per_class=WORKER_TRAIN_PER_CLASS,
        test_per_class=4,
        progress=False,
    ).dest


def test_two_worker_processes_train_one_model_with_catdog_train(
    worker_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "models" / "baseline.keras"
    catdog = [sys.executable, "-m", "catdog_utils.cli"]
    argv = [*catdog, "train", "--profile", "quick", "--epochs", "3", "--data-dir"]
    results = run_workers([*argv, str(worker_dataset), "--out", str(out)], tmp_path)

    reports = {}
    for index, proc in enumerate(results):
        assert proc.returncode == 0, f"worker {index}: {proc.stderr[-3000:]}"
        found = _REPORT.search(proc.stdout)
        assert found, proc.stdout
        assert int(found[1]) == index
        reports[index] = (int(found[2]), found[3])
    assert reports[0][0] == reports[1][0] == 2  # both workers: 2 replicas in sync
    assert reports[0][1] == reports[1][1]  # identical final weights
    assert f"Saved {out}" in results[0].stdout
    assert "worker 0 saves the model" in results[1].stdout

    # only the chief wrote: the model, its history, no backup; the other left nothing behind
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "baseline.history.json",
        "baseline.keras",
    ]
    assert list((tmp_path / "tmp-worker1").glob("catdog-worker*")) == []
    saved = keras.models.load_model(out)
    assert multiworker.weights_checksum(saved) == reports[0][1]
    history = training.load_history(training.history_path(out))
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(history)
    assert all(len(values) == 3 for values in history.values())
    assert history["loss"][-1] < history["loss"][0], history  # three epochs: noise can't hide it


_IMPROVED_SCRIPT = """
import json, sys
from catdog_utils import training

strategy = training.get_strategy()  # before any TensorFlow op: TF_CONFIG's two workers
import keras
from catdog_utils import models, multiworker, pipeline

keras.utils.set_random_seed(11)
data = pipeline.load_course_data(
    sys.argv[1], image_size=32, cache=False, train_per_class=32, test_per_class=4
)
result = training.train_improved(
    data, 2, sys.argv[2], strategy=strategy, verbose=0, widths=(8, 16), blocks_per_stage=1
)
print(json.dumps({**result.extra, "history": result.history}))
"""


def test_two_workers_train_the_improved_model_with_batch_norm_in_sync(
    worker_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "improved.keras"
    argv = [sys.executable, "-c", _IMPROVED_SCRIPT, str(worker_dataset), str(out)]
    results = run_workers(argv, tmp_path)
    reports = []
    for index, proc in enumerate(results):
        assert proc.returncode == 0, f"worker {index}: {proc.stderr[-3000:]}"
        reports.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert [r["worker"] for r in reports] == [0, 1]
    assert [r["chief"] for r in reports] == [True, False]
    assert all(r["replicas"] == 2 for r in reports)
    # AdamW, its schedule and the batch-norm statistics: identical on both workers
    assert reports[0]["weights_sha256"] == reports[1]["weights_sha256"]
    del reports[0]["history"]["seconds"], reports[1]["history"]["seconds"]
    assert reports[0]["history"] == reports[1]["history"]
    assert len(reports[0]["history"]["val_accuracy"]) == 2
    assert sorted(p.name for p in tmp_path.glob("improved*")) == [
        "improved.history.json",
        "improved.keras",
    ]


_RESUME_SCRIPT = """
import json, sys
from catdog_utils import training

strategy = training.get_strategy()  # before any TensorFlow op: TF_CONFIG's two workers
import keras
from catdog_utils import models, pipeline


class Crash(keras.callbacks.Callback):  # both workers stop at the same point, as if killed
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == int(sys.argv[3]):
            raise SystemExit(3)


keras.utils.set_random_seed(7)
data = pipeline.load_course_data(
    sys.argv[1], image_size=32, cache=False, train_per_class=32, test_per_class=4
)
result = training.train(
    lambda: models.build_baseline_cnn(32), data, 2, sys.argv[2], strategy=strategy,
    callbacks=[Crash()], verbose=0,
)
print(json.dumps({**result.extra, "history": result.history,
                  "resumed_from": result.resumed_from_epoch, "epochs_run": result.epochs_run}))
"""


def test_an_interrupted_two_worker_run_resumes_from_each_workers_checkpoint(
    worker_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "models" / "run.keras"
    script = [sys.executable, "-c", _RESUME_SCRIPT, str(worker_dataset), str(out)]
    first = run_workers([*script, "1"], tmp_path / "first")  # stopped before epoch 2
    assert [p.returncode for p in first] == [3, 3], first[0].stderr[-3000:]
    assert not out.exists()
    for index in range(2):
        progress = training.load_history(
            out.parent / "run.backup" / f"worker-{index}" / "history.json"
        )
        assert len(progress["loss"]) == 1

    second = run_workers([*script, "-1"], tmp_path / "second")
    reports = []
    for index, proc in enumerate(second):
        assert proc.returncode == 0, f"worker {index}: {proc.stderr[-3000:]}"
        reports.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert all(r["resumed_from"] == 1 and r["epochs_run"] == 1 for r in reports)
    assert all(len(v) == 2 for r in reports for v in r["history"].values())
    assert reports[0]["weights_sha256"] == reports[1]["weights_sha256"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["run.history.json", "run.keras"]


@pytest.fixture(scope="module")
def small_data(shared_dataset: Path) -> pipeline.CourseData:
    """51 training / 13 validation real photos, decoded in memory (no cache)."""
    return pipeline.load_course_data(
        data_dir=shared_dataset, cache=False, train_per_class=32, test_per_class=4
    )


def _compiled_baseline(seed: int = 5) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return models.build_baseline_cnn()


def test_loop_matches_fit_on_the_same_batches(small_data: pipeline.CourseData) -> None:
    train = pipeline.to_dataset(small_data.x_train, small_data.y_train, 32)  # fixed order
    val = pipeline.to_dataset(small_data.x_val, small_data.y_val, 32)
    fit = _compiled_baseline().fit(
        train,
        validation_data=val,
        epochs=2,
        verbose=0,
        shuffle=False,
        callbacks=[training.epoch_timer()],
    )
    model = _compiled_baseline()
    history, epochs_run, resumed = multiworker.fit_distributed(
        model,
        tf.distribute.get_strategy(),
        train,
        val,
        2,
        callbacks=[training.epoch_timer()],
        verbose=0,
    )
    assert set(history) == set(fit.history)  # loss, accuracy, val_*, seconds
    assert (epochs_run, resumed) == (2, 0)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert history[key] == pytest.approx(fit.history[key], rel=1e-4), key
    assert all(s > 0 for s in history["seconds"])


class _StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_train_begin(self, logs: dict | None = None) -> None:
        self.calls = ["train_begin"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.calls.append(f"epoch_end {epoch} val_loss={'val_loss' in (logs or {})}")
        self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self.calls.append("train_end")


def test_loop_calls_the_callbacks_and_honours_stop_training(
    small_data: pipeline.CourseData, tmp_path: Path
) -> None:
    stopper = _StopAfterFirstEpoch()
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))  # a generic callback
    history, epochs_run, _ = multiworker.fit_distributed(
        _compiled_baseline(),
        tf.distribute.get_strategy(),
        small_data.train,
        small_data.validation,
        5,
        callbacks=[stopper, board],
        verbose=0,
    )
    assert epochs_run == 1 and len(history["loss"]) == 1
    assert stopper.calls == ["train_begin", "epoch_end 0 val_loss=True", "train_end"]
    assert list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
    assert list((tmp_path / "logs" / "validation").glob("events.out.tfevents.*"))


def test_interrupted_loop_resumes_from_its_checkpoint(
    small_data: pipeline.CourseData, tmp_path: Path
) -> None:
    strategy = tf.distribute.get_strategy()
    path = tmp_path / "run.keras"
    model = _compiled_baseline()
    with pytest.raises(Interrupted):
        multiworker.train_across_workers(
            model, strategy, small_data, 3, path, [crash_in_epoch(2)], resume=True, verbose=0
        )
    checkpoint = tmp_path / "run.backup" / "worker-0"
    assert not path.exists()
    assert len(training.load_history(checkpoint / "history.json")["loss"]) == 2

    fresh = _compiled_baseline(seed=99)  # different start: the checkpoint must win
    before = [w.copy() for w in fresh.get_weights()]
    result = multiworker.train_across_workers(
        fresh, strategy, small_data, 3, path, [], resume=True, verbose=0
    )
    assert result.resumed_from_epoch == 2 and result.epochs_run == 1
    assert all(len(values) == 3 for values in result.history.values())
    assert not all(np.array_equal(a, b) for a, b in zip(before, fresh.get_weights(), strict=True))
    assert int(fresh.optimizer.iterations.numpy()) == 3 * small_data.steps_per_epoch
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.history.json", "run.keras"]
    assert result.extra["chief"] and result.extra["replicas"] == 1


def test_loop_trains_the_improved_model_in_bfloat16(small_data: pipeline.CourseData) -> None:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(3)
        model = models.compile_improved(
            models.build_improved_cnn(64, widths=(16, 32), blocks_per_stage=1),
            small_data.steps_per_epoch,
            2,
        )
        history, epochs_run, _ = multiworker.fit_distributed(
            model,
            tf.distribute.get_strategy(),
            small_data.train,
            small_data.validation,
            2,
            verbose=0,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert epochs_run == 2
    assert all(np.isfinite(history["loss"])) and all(np.isfinite(history["val_loss"]))


def test_loop_refuses_float16_mixed_precision(small_data: pipeline.CourseData) -> None:
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models.build_baseline_cnn()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    with pytest.raises(multiworker.MultiWorkerError, match="mixed_float16.*set_global_policy"):
        multiworker.fit_distributed(
            model, tf.distribute.get_strategy(), small_data.train, None, 1, verbose=0
        )
