"""Tests for catdog_utils.cli: the ``catdog`` command's success paths and its error contract.

The contract: a learner's mistake gives exit code 2 and exactly one line on standard error
(``catdog: error: <what is wrong>: <the command that fixes it>``), never a traceback.  Most
tests call :func:`catdog_utils.cli.main` in this process (TensorFlow is imported once); a
few run the real command in a subprocess to prove the exit code and the clean stderr.
Every test points ``CATDOG_HOME`` and ``CATDOG_DATA_DIR`` at temporary folders, so the
repository's own data and models are never touched.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import assert_one_line_error, catdog_env, run_catdog, run_cli, skip_or_fail

from catdog_utils import cli, config, data, runs, training

# ---------------------------------------------------------------------------------------
# Helpers


# Every test here runs with the course pointed at an empty folder (conftest.isolated_home).
pytestmark = pytest.mark.usefixtures("isolated_home")


def save_untrained_baseline(path: Path) -> Path:
    """An untrained baseline CNN (64x64 input), saved the way training saves models."""
    from catdog_utils import models

    return training.save_model_atomic(models.build_baseline_cnn(64), path)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained baseline ``.keras`` file: enough to test the plumbing."""
    return save_untrained_baseline(tmp_path_factory.mktemp("cli_model") / "baseline.keras")


@pytest.fixture(scope="module")
def single_prediction(shared_dataset: Path) -> Path:
    """The shared ``single_prediction`` folder (four photos)."""
    folder = shared_dataset / "single_prediction"
    if not folder.is_dir():
        skip_or_fail(f"no single_prediction folder in {shared_dataset}")
    return folder


# ---------------------------------------------------------------------------------------
# catdog data


def test_data_builds_the_default_folder_then_has_nothing_to_do(
    course_folder: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = config.data_dir()  # $CATDOG_DATA_DIR, inside the temporary home
    size = ("--train-per-class", 12, "--test-per-class", 4)
    code, out, err = run_cli(capsys, "data", "--source", course_folder, *size)
    assert code == 0, err
    assert f"Prepared {dest}" in out and "training_set 12 cats + 12 dogs" in out
    assert "test_set 4 cats + 4 dogs" in out and "0 rejected" in out
    assert "checking photos" in err  # the progress bar goes to stderr
    assert data.require_dataset() == dest
    assert len(data.read_manifest(dest)) == 32
    mtimes = {p: p.stat().st_mtime_ns for p in dest.rglob("*")}

    code, out, err = run_cli(capsys, "data", "--source", course_folder, *size, "--no-progress")
    assert (code, err) == (0, "")
    assert out.count("\n") == 1 and out.rstrip().endswith("nothing to do")
    assert f"{dest} already prepared from folder {course_folder}" in out
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*")} == mtimes


# ---------------------------------------------------------------------------------------
# catdog predict


def test_predict_json_lines(
    tiny_model: Path, single_prediction: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "predict", single_prediction, "--model", tiny_model, "--json", "--threshold", 0.3
    )
    assert (code, err) == (0, "")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["file"]).name for r in rows] == [f"cat_or_dog_{i}.jpg" for i in range(1, 5)]
    for row in rows:
        assert set(row) == {"file", "label", "probability_dog", "error"}
        assert row["error"] is None and 0.0 <= row["probability_dog"] <= 1.0
        assert row["label"] == ("dog" if row["probability_dog"] >= 0.3 else "cat")

    # the plain format: file <TAB> label <TAB> probability, same numbers
    code, out, err = run_cli(
        capsys, "predict", single_prediction, "--model", tiny_model, "--threshold", 0.3
    )
    assert (code, err) == (0, "")
    for line, row in zip(out.splitlines(), rows, strict=True):
        assert line == f"{row['file']}\t{row['label']}\t{row['probability_dog']:.4f}"


def test_predict_points_to_the_profile_that_has_a_model(
    tiny_model: Path,
    single_prediction: Path,
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Trained with --profile class, predicting with the default (full) profile."""
    photo = single_prediction / "cat_or_dog_1.jpg"
    code, out, err = run_cli(capsys, "predict", photo)
    assert (code, out) == (2, "")
    assert_one_line_error(err, "No model at", "train one first with")  # no model anywhere

    class_model = isolated_home / "models" / "class" / "baseline.keras"
    class_model.parent.mkdir(parents=True)
    class_model.write_bytes(tiny_model.read_bytes())
    code, out, err = run_cli(capsys, "predict", photo)
    assert (code, out) == (2, "")
    assert_one_line_error(err, f"but there is one at {class_model}", "add --profile class")
    code, out, err = run_cli(capsys, "predict", photo, "--profile", "class")
    assert (code, err) == (0, "") and out.startswith(f"{photo}\t")


@pytest.mark.parametrize("threshold", [1.5, 0, 1, -0.2, math.nan], ids=str)
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_threshold_outside_zero_one_is_one_line(
    command: str, threshold: float, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", "photo.jpg"] if command == "predict" else ["evaluate"]
    code, out, err = run_cli(capsys, *argv, "--threshold", threshold)
    assert (code, out) == (2, "")
    assert_one_line_error(err, "--threshold must be between 0 and 1", "--threshold 0.5")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "required: command"),
        (["fly"], "invalid choice: 'fly'"),
        (["train", "--epochs", "0"], "--epochs: must be at least 1, got 0"),
        (["train", "--batch-size", "-4"], "--batch-size: must be at least 1"),
        (["train", "--image-size", "8"], "--image-size: must be at least 32"),
        (["data", "--train-per-class", "many"], "'many' is not a whole number"),
        (["evaluate", "--profile", "huge"], "invalid choice: 'huge'"),
        (["predict"], "required: IMAGE_OR_FOLDER"),
    ],
    ids=["no-command", "unknown-command", "epochs-0", "negative-batch", "tiny-image",
         "not-a-number", "unknown-profile", "predict-nothing"],
)  # fmt: skip
def test_usage_errors_are_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    out, err = capsys.readouterr()
    assert (caught.value.code, out) == (2, "")
    assert_one_line_error(err, expected, "--help`")


# ---------------------------------------------------------------------------------------
# catdog evaluate / train


def test_evaluate_prints_test_accuracy(
    tiny_dataset: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "evaluate", "--model", tiny_model, "--data-dir", tiny_dataset, "--profile", "quick"
    )
    assert (code, err) == (0, "")
    assert re.search(r"^Test accuracy: (0\.\d{4}|1\.0000)$", out, re.MULTILINE), out
    assert "Test images: 8" in out and "(813,217 parameters, 64x64 input)" in out
    assert re.search(r"^Confusion matrix .*: \[\[\d+, \d+\], \[\d+, \d+\]\]$", out, re.MULTILINE)


@pytest.mark.parametrize(
    ("out_name", "expected"),
    [("model.h5", "must end in .keras"), ("a_file/model.keras", "Cannot create the folder")],
    ids=["not-keras", "parent-is-a-file"],
)
def test_train_checks_out_before_training(
    tiny_dataset: Path,
    tmp_path: Path,
    out_name: str,
    expected: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "a_file").write_text("a file, not a folder\n")

    def must_not_train(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started before --out was checked")

    monkeypatch.setattr(training, "train", must_not_train)
    code, out, err = run_cli(
        capsys, "train", "--data-dir", tiny_dataset, "--out", tmp_path / out_name
    )
    assert (code, out) == (2, "")
    assert_one_line_error(err, expected)


def test_train_interrupted_then_resumed_from_last_epoch(
    tiny_dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C during epoch 2 of 2: exit 130 with a hint; the same command finishes epoch 2."""
    import keras

    model_path = tmp_path / "models" / "baseline.keras"
    argv = ["train", "--data-dir", tiny_dataset, "--profile", "quick", "--epochs", 2,
            "--batch-size", 8, "--out", model_path]  # fmt: skip
    started: list[int] = []
    original_timer = runs.epoch_timer

    class Recorder(keras.callbacks.Callback):
        """The usual epoch timer, plus a record of the epochs begun (and an optional Ctrl-C)."""

        def __init__(self, interrupt_at: int | None) -> None:
            super().__init__()
            self.timer = original_timer()
            self.interrupt_at = interrupt_at

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            started.append(epoch)
            if epoch == self.interrupt_at:
                raise KeyboardInterrupt  # as if the learner pressed Ctrl-C
            self.timer.on_epoch_begin(epoch, logs)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.timer.on_epoch_end(epoch, logs)

    def timer_that_records(interrupt_at: int | None) -> Callable[[], keras.callbacks.Callback]:
        return lambda: Recorder(interrupt_at)

    monkeypatch.setattr(runs, "epoch_timer", timer_that_records(interrupt_at=1))
    code, out, err = run_cli(capsys, *argv)
    assert code == 130 and started == [0, 1]
    assert err.splitlines()[-1] == "catdog: interrupted; run the same command again to continue"
    assert not model_path.exists()  # no half-trained model where the model goes
    assert (tmp_path / "models" / "baseline.backup" / "history.json").is_file()

    started.clear()
    monkeypatch.setattr(runs, "epoch_timer", timer_that_records(interrupt_at=None))
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert started == [1]  # only the missing epoch ran
    assert f"Saved {model_path} after 2 epochs" in out
    history = training.load_history(training.history_path(model_path))
    assert len(history["loss"]) == len(history["val_accuracy"]) == 2
    assert not (tmp_path / "models" / "baseline.backup").exists()


# ---------------------------------------------------------------------------------------
# The real command, in a subprocess


def test_real_command_without_data_says_make_data(tmp_path: Path, isolated_home: Path) -> None:
    """No data yet: exit 2, one line naming `make data`, and no TensorFlow start-up noise."""
    empty = tmp_path / "empty_data"
    empty.mkdir()
    entry = Path(sys.executable).with_name("catdog")
    argv: list[object] = ["evaluate"]
    if entry.is_file():  # the installed console script, when the venv has it
        result = subprocess.run(
            [str(entry), *argv],
            env=catdog_env(isolated_home, empty),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    else:  # pragma: no cover - depends on the install
        result = run_catdog(argv, isolated_home, empty)
    assert (result.returncode, result.stdout) == (2, "")
    assert_one_line_error(
        result.stderr, f"The course data set at {empty} is incomplete", "make data"
    )
