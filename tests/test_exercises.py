"""Exercise self-checks: the right answer passes, every plausible wrong answer gets "Not yet".

Expected answers are worked out here, by hand or by brute force, never with the code under
test; wherever the committed notebooks print the numbers an exercise uses (the training log
of chapter 03, the confusion matrix of chapter 04, the file sizes of chapter 07 ...), the
cases use those numbers, read from the committed outputs.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from catdog_utils import config, exercises, explore, report

NOTEBOOKS = config.project_root() / "notebooks"


@functools.cache
def committed_history() -> dict[str, list[float]]:
    """Chapter 03's committed training log, epoch by epoch."""
    text = report.notebook_text(NOTEBOOKS / "03_training.ipynb")
    rows = re.findall(r"val_accuracy: ([\d.]+) - val_loss: ([\d.]+)", text)
    assert len(rows) == 25, "chapter 03's committed log has one line per epoch"
    return {
        "val_accuracy": [float(a) for a, _ in rows],
        "val_loss": [float(loss) for _, loss in rows],
    }


def _keras_early_stopping(history: dict[str, list[float]], monitor: str, patience: int) -> int:
    """The epoch (from 1) after which Keras's own EarlyStopping stops, replayed on a log."""
    mode = "max" if "accuracy" in monitor else "min"
    callback = keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, mode=mode)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(history[monitor]):
        callback.on_epoch_end(epoch, {monitor: value})
        if callback.model.stop_training:
            return epoch + 1
    return len(history[monitor])


# --- 01 -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def course_sizes(shared_dataset: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, widths and heights of the course's 10,000 photos (chapter 01's scan)."""
    files = sorted(shared_dataset.glob("training_set/*s/*.jpg"))
    files += sorted(shared_dataset.glob("test_set/*s/*.jpg"))
    assert len(files) == 10_000
    labels = np.array([int(f.parent.name == "dogs") for f in files])
    widths, heights = explore.read_image_sizes(files)
    return labels, widths, heights


def _portrait_dogs(labels: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> float:
    """Dogs among the portrait photos of one split, counted one photo at a time."""
    dogs = [int(y) for y, w, h in zip(labels, widths, heights, strict=True) if h > w]
    return sum(dogs) / len(dogs)


def test_dog_fraction_on_the_course_photos(course_sizes) -> None:  # noqa: ANN001
    labels, widths, heights = course_sizes
    portrait = [int(y) for y, w, h in zip(labels, widths, heights, strict=True) if h > w]
    right = sum(portrait) / len(portrait)  # by brute force: dogs among the portrait photos
    assert abs(right - 0.5) > 0.05, "the question must not be answerable by assuming balance"
    check = functools.partial(
        exercises.check_dog_fraction, labels=labels, widths=widths, heights=heights
    )
    assert check(right).ok and check(round(right, 3)).ok
    wrongs = {
        "cats": 1 - right,
        "balanced guess": 0.5,
        "all photos": float(np.mean(labels)),
        "the whole training set": 0.5,
        "portrait share": float(np.mean(heights > widths)),
        "landscape": float(np.mean(labels[widths > heights])),
        "squares included": float(np.mean(labels[heights >= widths])),
        "percent": 100 * right,
        "a count": sum(portrait),
        "two decimals": round(right, 2),
        "training photos only": _portrait_dogs(labels[:8000], widths[:8000], heights[:8000]),
        "test photos only": _portrait_dogs(labels[8000:], widths[8000:], heights[8000:]),
    }
    for name, wrong in wrongs.items():
        feedback = check(wrong)
        assert feedback.status == "wrong", (name, wrong, feedback)
        assert f"{right:.3f}" not in feedback.message, "a message must not give the answer"


# --- 02 -----------------------------------------------------------------------------------


def test_gap_dense_params_does_not_depend_on_a_notebook_variable() -> None:
    right = 32 * 128 + 128  # 32 averages, 128 units, 128 biases
    check = exercises.check_gap_dense_params
    assert check(right).ok
    wrongs = [802_944, 32 * 128, 6272, 64 * 128 + 128, 128, 4096 + 129]
    for wrong in wrongs:
        assert check(wrong).status == "wrong", wrong


# --- 03 -----------------------------------------------------------------------------------


def _network(  # noqa: ANN202, PLR0913
    size: int = 64,
    rescale: bool = True,
    convs: int = 2,
    conv_activation: str | None = "relu",
    head: str = "flatten",
    dense: int = 128,
    dropout: str = "after_dense",
    rate: float = 0.5,
    out_units: int = 1,
    out_activation: str | None = "sigmoid",
    optimizer: object = "adam",
    loss: object = "binary_crossentropy",
    compiled: bool = True,
):
    """The exercise's network, or one changed the way a learner might change it."""
    layers = keras.layers
    stack: list = [keras.Input((size, size, 3))]
    stack += [layers.Rescaling(1 / 255)] if rescale else []
    for _ in range(convs):
        stack += [layers.Conv2D(32, 3, activation=conv_activation), layers.MaxPooling2D(2)]
    stack += [layers.Flatten() if head == "flatten" else layers.GlobalAveragePooling2D()]
    stack += [layers.Dropout(rate)] if dropout == "after_flatten" else []
    stack += [layers.Dense(dense, activation="relu")]
    stack += [layers.Dropout(rate)] if dropout == "after_dense" else []
    stack += [layers.Dense(out_units, activation=out_activation)]
    model = keras.Sequential(stack)
    if compiled:
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


BROKEN_NETWORKS = {
    "no Rescaling": {"rescale": False},
    "linear output": {"out_activation": None},
    "softmax output": {"out_activation": "softmax"},
    "mse": {"loss": "mse"},
    "categorical cross-entropy": {"loss": "categorical_crossentropy"},
    "no convolutions": {"convs": 0},
    "Dense(64)": {"dense": 64},
    "sgd": {"optimizer": "sgd"},
    "no ReLU": {"conv_activation": None},
    "128 px input": {"size": 128},
    "three convolutions": {"convs": 3},
    "two outputs": {"out_units": 2, "out_activation": "softmax"},
    "logits loss": {"loss": keras.losses.BinaryCrossentropy(from_logits=True)},
    "dropout after Flatten": {"dropout": "after_flatten"},
    "no dropout": {"dropout": "none"},
    "rate 0.2": {"rate": 0.2},
    "global average pooling": {"head": "gap"},
    "not compiled": {"compiled": False},
}


def test_dropout_network_right_in_either_keras_style() -> None:
    assert exercises.check_has_dropout(_network(), rate=0.5).ok
    objects = _network(optimizer=keras.optimizers.Adam(), loss=keras.losses.BinaryCrossentropy())
    assert exercises.check_has_dropout(objects, rate=0.5).ok
    function = _network(loss=keras.losses.binary_crossentropy)
    assert exercises.check_has_dropout(function, rate=0.5).ok


@pytest.mark.parametrize("broken", list(BROKEN_NETWORKS))
def test_dropout_check_refuses_a_broken_network(broken: str) -> None:
    feedback = exercises.check_has_dropout(_network(**BROKEN_NETWORKS[broken]), rate=0.5)
    assert feedback.status == "wrong", (broken, feedback)
    assert "Hint" in feedback.message


def test_early_stopping_epoch_on_the_committed_log() -> None:
    history = committed_history()
    right = _keras_early_stopping(history, "val_loss", patience=3)
    lowest_loss = int(np.argmin(history["val_loss"])) + 1
    best_accuracy = int(np.argmax(history["val_accuracy"])) + 1
    check = functools.partial(exercises.check_early_stopping_epoch, history=history)
    assert check(right).ok
    wrongs = {
        "lowest validation loss": lowest_loss,
        "best validation accuracy": best_accuracy,
        "monitoring val_accuracy": _keras_early_stopping(history, "val_accuracy", 3),
        "patience 2": _keras_early_stopping(history, "val_loss", 2),
        "patience 4": _keras_early_stopping(history, "val_loss", 4),
        "counted from 0": right - 1,
        "the epoch kept by restore_best_weights": int(np.argmin(history["val_loss"][:right])) + 1,
        "the last epoch": len(history["val_loss"]),
    }
    assert right != lowest_loss, "early stopping cannot see the future: the question must show it"
    # a wrong method that lands on the same epoch in this run's log is right by luck; every
    # other wrong method must be refused
    distinct = {name: wrong for name, wrong in wrongs.items() if wrong != right}
    assert len(distinct) >= len(wrongs) - 1, f"too many methods agree with epoch {right}"
    for name, wrong in distinct.items():
        assert check(wrong).status == "wrong", (name, wrong)


# --- 04 -----------------------------------------------------------------------------------

# validation labels and probabilities shaped like the committed run's (800 cats, 800 dogs);
# the probabilities themselves are not in the committed outputs
Y_VAL = np.repeat([0, 1], 800)
P_VAL = 1 / (1 + np.exp(-(1.3 * (2 * Y_VAL - 1) + np.random.default_rng(0).normal(0, 1.6, 1600))))


def _brute_f1(threshold: float, positive: int) -> float:
    called = threshold <= P_VAL if positive == 1 else threshold > P_VAL
    tp = np.sum(called & (positive == Y_VAL))
    fp = np.sum(called & (positive != Y_VAL))
    fn = np.sum(~called & (positive == Y_VAL))
    return 2 * tp / (2 * tp + fp + fn)


def _brute_best(positive: int) -> float:
    candidates = [*np.unique(P_VAL), np.nextafter(P_VAL.max(), 2.0)]
    scores = [_brute_f1(t, positive) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def test_committed_confusion_matrix_precision() -> None:
    text = report.notebook_text(NOTEBOOKS / "04_evaluation.ipynb")
    found = re.findall(r"\[\[\s*(\d+)\s+(\d+)\]\s*\n\s*\[\s*(\d+)\s+(\d+)\]\]", text)
    assert found, "chapter 04 prints its confusion matrix"
    tn, fp, fn, tp = map(int, found[0])  # rows: true cat, true dog; columns: said cat, dog
    check = functools.partial(exercises.check_precision, cm=[[tn, fp], [fn, tp]])
    assert check(tp / (tp + fp)).ok
    wrongs = (tp / (tp + fn), (tn + tp) / (tn + fp + fn + tp), tn / (tn + fn), fp / (fp + tp))
    for wrong in wrongs:
        assert check(wrong).status == "wrong", wrong


def test_best_threshold_by_brute_force() -> None:
    cat, dog = _brute_best(0), _brute_best(1)
    check = functools.partial(exercises.check_best_threshold, y_true=Y_VAL, probs=P_VAL)
    assert check(cat, positive="cat").ok and check(dog).ok
    for wrong in (0.5, dog, 0.9, 0.1):
        feedback = check(wrong, positive="cat")
        assert feedback.status == "wrong", wrong
        assert re.search(r"0\.\d{4}", feedback.message) is None, "no F1 target in a message"
    for wrong in (0.5, cat, 0.99):
        assert check(wrong).status == "wrong", wrong


# --- 06 -----------------------------------------------------------------------------------


def test_labels_changed_and_dog_flap_by_brute_force() -> None:
    moved = sum(1 for p in P_VAL if (p >= 0.5) != (p >= 0.46))
    check = functools.partial(
        exercises.check_labels_changed, y_val=Y_VAL, val_probs=P_VAL, old=0.5, new=0.46
    )
    mistakes = [int(np.sum((t <= P_VAL).astype(int) != Y_VAL)) for t in (0.5, 0.46)]
    assert check(moved).ok
    for wrong in (abs(mistakes[0] - mistakes[1]), mistakes[1], moved + 1):
        assert check(wrong).status == "wrong", wrong
    cats = sorted((float(p) for p, y in zip(P_VAL, Y_VAL, strict=True) if y == 0), reverse=True)
    allowed = int(0.05 * len(cats))
    flap = float(np.nextafter(cats[allowed], 2.0))  # just above the first cat kept out
    dogs_out = int(np.sum((flap > P_VAL) & (Y_VAL == 1)))
    flap_check = functools.partial(
        exercises.check_dog_flap_threshold, y_val=Y_VAL, val_probs=P_VAL, max_cats=0.05
    )
    assert flap_check(flap).ok
    for wrong in (0.5, cats[allowed], 0.99, flap + 0.01):
        feedback = flap_check(wrong)
        assert feedback.status == "wrong", wrong
        assert str(dogs_out) not in feedback.message, "the message must not answer the follow-up"


def test_export_ratio_on_the_committed_sizes(tmp_path: Path) -> None:
    text = report.notebook_text(NOTEBOOKS / "solutions/07_solutions.ipynb")

    def printed(pattern: str) -> int:
        match = re.search(pattern, text)
        assert match, f"solutions 07 prints {pattern}"
        return int(match[1].replace(",", ""))

    keras_bytes = printed(r"\.keras file:\s+([\d,]+) bytes")
    lite_bytes = printed(r"\.tflite file:\s+([\d,]+) bytes")
    n_params = printed(r"float32 weights:\s+[\d,]+ bytes \(([\d,]+) x 4\)")
    keras_file, lite_file = tmp_path / "m.keras", tmp_path / "m.tflite"
    for path, size in ((keras_file, keras_bytes), (lite_file, lite_bytes)):
        with path.open("wb") as f:
            f.truncate(size)
    check = functools.partial(
        exercises.check_export_size_ratio,
        keras_path=keras_file,
        tflite_path=lite_file,
        n_params=n_params,
    )
    assert check(keras_bytes / lite_bytes).ok
    for wrong in (keras_bytes / (4 * n_params), 3, 3.0, lite_bytes / keras_bytes, 3.02, 2.0):
        assert check(wrong).status == "wrong", wrong
    assert check(None).status == "open"
    missing = check(3, keras_path=tmp_path / "gone.keras")
    assert missing.status == "wrong" and "gone.keras" in missing.message


# --- every check: the answer is never in the unanswered or nonsense message --------------


UNANSWERED = {
    "01.1": lambda a: exercises.check_dataset_bytes(a, size=96, count=8000),
    "01.3": lambda a: exercises.check_smallest_photo(a, [500, 60, 57], [374, 39, 50]),
    "02.1": lambda a: exercises.check_param_count(a, filters=64),
    "02.2": lambda a: exercises.check_flatten_size(a, image_size=128),
    "02.3": exercises.check_gap_dense_params,
    "03.1": lambda a: exercises.check_steps_per_epoch(a, 6400, 64),
    "03.3": lambda a: exercises.check_early_stopping_epoch(a, committed_history()),
    "04.2": lambda a: exercises.check_best_threshold(a, Y_VAL, P_VAL, positive="cat"),
    "07.2": lambda a: exercises.check_dog_flap_threshold(a, Y_VAL, P_VAL),
}


@pytest.mark.parametrize("case", list(UNANSWERED))
def test_unanswered_and_nonsense(case: str) -> None:
    check = UNANSWERED[case]
    assert check(None).status == "open"
    assert check("a lot").status == "wrong"


def test_simple_checks_refuse_the_usual_mistakes() -> None:
    assert exercises.check_dataset_bytes(8000 * 96 * 96 * 3).ok
    for wrong in (
        8000 * 96 * 96,
        8000 * 64 * 64 * 3,
        8000 * 128 * 128 * 3,
        221e6,
        8000 * 96 * 96 * 12,
    ):
        assert exercises.check_dataset_bytes(wrong).status == "wrong"
    by_hand = 1792 + 36_928 + 1_605_760 + 129  # chapter 02's table, 64 filters
    assert exercises.check_param_count(by_hand, filters=64).ok
    for wrong in (813_217, by_hand - 128, by_hand - 64 - 64):
        assert exercises.check_param_count(wrong, filters=64).status == "wrong"
    assert exercises.check_flatten_size(30 * 30 * 32).ok
    for wrong in (31 * 31 * 32, 32 * 32 * 32, 6272):
        assert exercises.check_flatten_size(wrong).status == "wrong"
    assert exercises.check_steps_per_epoch(100).ok
    for wrong in (200, 101):
        assert exercises.check_steps_per_epoch(wrong).status == "wrong"


def test_smallest_photo_check() -> None:
    widths, heights = [500, 60, 57, 120], [374, 39, 50, 33]  # 57 and 33 are not the smallest
    check = exercises.check_smallest_photo
    right = check((60, 39), widths, heights)
    assert right.ok and "2,340 pixels" in right.message and "made up" in right.message
    assert check([60, 39], widths, heights).ok  # any pair of numbers will do
    assert "swapped" in check((39, 60), widths, heights).message
    for wrong in ((57, 50), (120, 33), "60x39", 60):
        assert check(wrong, widths, heights).status == "wrong"
    big = check((80, 119), [80, 500], [119, 374])
    assert big.ok and "more than the 4,096" in big.message


def test_no_public_helper_returns_an_answer() -> None:
    for name in (
        "labels_changed",
        "dog_flap_threshold",
        "best_cat_f1_threshold",
        "cat_f1",
        "baseline_param_count",
        "image_bytes",
        "separable_conv_params",
    ):
        assert not hasattr(exercises, name), name
    public = [
        n for n in dir(exercises) if not n.startswith("_") and callable(getattr(exercises, n))
    ]
    assert all(
        n.startswith("check_")
        or n in {"Feedback", "Path", "Sequence", "dataclass"}
        or n[0].isupper()
        for n in public
    ), public


#: Each exercise's answer in the committed full run, as a chapter would print it (worked out by
#: hand or read from the solutions' committed outputs): none may be on the chapter's screen.
ANSWERS_ON_SCREEN = {
    "01_data_exploration": ["221,184,000", "221 MB", "60 x 39", "2,340 pixels", "0.571"],
    "02_building_the_cnn": ["1,644,609", "28,800", "4,224"],
    "03_training": ["stopped after epoch 17", "stops after epoch 17"],
    "04_evaluation": ["0.7088", "0.908"],
    "05_improving_the_model": ["33,920", "294,912", "22 epochs"],  # 05.2: test_exercises_05
    "06_pretrained_network": ["1,281", "880,321", "0.3896"],  # the head, the fine-tuned part
    "07_predicting_new_images": ["0.0845", "1.087", "1.09"],
}


@pytest.mark.parametrize("stem", list(ANSWERS_ON_SCREEN))
def test_no_chapter_shows_its_exercises_answers(stem: str) -> None:
    path = NOTEBOOKS / f"{stem}.ipynb"
    screen = report.notebook_sources(path) + "\n" + report.notebook_text(path)
    shown = [answer for answer in ANSWERS_ON_SCREEN[stem] if answer in screen]
    assert not shown, f"{stem} shows {shown}"
