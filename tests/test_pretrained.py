"""catdog_utils.pretrained and ``catdog train --model pretrained``: chapter 06's recipe on a
few real photos, then the model through evaluate, predict and the exports."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import run_cli

from catdog_utils import export, pipeline, predict, pretrained, weights


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted ImageNet weights, in a folder of this module's own."""
    pth = weights.installed_wheel_file()
    assert pth is not None, f"the weights package is not installed: {weights.WHEEL_INSTALL}"
    dest = tmp_path_factory.mktemp("w") / weights.KERAS_WEIGHTS_NAME
    return weights.prepare_weights(str(pth), dest, log=lambda _: None)


def test_assemble_is_bottom_top_head(weights_file: Path) -> None:
    bottom, top = pretrained.build_parts(64, path=str(weights_file))
    head = pretrained.build_head()
    x = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype("float32")
    parts = head(top(bottom(x), training=False), training=False)
    whole = pretrained.assemble(bottom, top, head)(x, training=False)
    np.testing.assert_allclose(whole, parts, atol=1e-5)
    assert bottom.trainable is False


def test_fine_tune_sees_each_photo_once_per_epoch_in_one_orientation() -> None:
    acts = pretrained.Activations(np.zeros((100, 1, 1, 1)), np.ones((100, 1, 1, 1)), np.zeros(1))
    picks = pretrained.random_flips(acts, np.random.default_rng(1)).ravel()
    assert picks.shape == (100,) and set(np.unique(picks)) == {0.0, 1.0}
    assert 30 < picks.sum() < 70  # about half mirrored


def test_the_challenger_must_win_beyond_chance() -> None:
    y = np.array([1] * 100 + [0] * 100)
    simple = np.where(y == 1, 0.9, 0.1)  # right on all 200
    challenger = simple.copy()
    wrong_simple = simple.copy()
    wrong_simple[:12] = 0.2  # the simple model misses 12 dogs that the challenger gets
    assert pretrained.beats_beyond_noise(y, wrong_simple, challenger) == (12, 0, True)
    challenger[100:104] = 0.8  # the challenger misses 4 cats: lead 8, noise 2 x sqrt(16) = 8
    assert pretrained.beats_beyond_noise(y, wrong_simple, challenger) == (12, 4, False)
    challenger[100:104] = 0.1
    challenger[100:102] = 0.8  # lead 10 against noise 2 x sqrt(14) = 7.5
    assert pretrained.beats_beyond_noise(y, wrong_simple, challenger) == (12, 2, True)
    assert pretrained.beats_beyond_noise(y, challenger, challenger) == (0, 0, False)


def test_recipe_learns_on_real_photos(tiny_dataset: Path, weights_file: Path) -> None:
    keras.utils.set_random_seed(0)
    course = pipeline.load_course_data(tiny_dataset, image_size=96, cache=False)
    result = pretrained.train(course, head_epochs=8, fine_tune_epochs=1, path=str(weights_file))
    assert set(result.seconds) == {"activations", "head", "fine-tuning"}
    lead, noise = result.wins - result.losses, 2 * np.sqrt(result.wins + result.losses)
    assert result.fine_tuned == (lead > noise)
    assert len(result.history["head_loss"]) == 8 and len(result.history["tune_loss"]) == 1
    assert result.history["head_loss"][-1] < result.history["head_loss"][0]
    probs = result.model.predict(course.x_test, verbose=0).ravel()
    # ImageNet features tell these 8 test photos apart even with 19 training photos
    assert np.mean((probs >= 0.5) == course.y_test) >= 0.75


def test_cli_train_evaluate_predict(
    tiny_dataset: Path,
    weights_file: Path,
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
    shared_dataset: Path,
) -> None:
    target = weights.default_path()
    target.parent.mkdir(parents=True)
    for name in (weights_file.name, weights_file.name + ".json"):
        (target.parent / name).write_bytes((weights_file.parent / name).read_bytes())
    out = isolated_home / "pretrained.keras"
    argv = ["train", "--model", "pretrained", "--profile", "quick", "--data-dir", tiny_dataset]
    code, text, err = run_cli(capsys, *argv, "--out", out)
    assert code == 0, err
    assert "Training the pretrained MobileNetV2" in text and "96px" in text
    assert out.is_file() and out.with_name("pretrained.history.json").is_file()
    code, text, _ = run_cli(capsys, "evaluate", "--model", out, "--data-dir", tiny_dataset)
    assert code == 0 and "Test images: 8" in text and "(2,259,265 parameters, 96x96 input)" in text
    photo = shared_dataset / "single_prediction" / "cat_or_dog_2.jpg"
    code, text, _ = run_cli(capsys, "predict", photo, "--model", out)
    assert code == 0 and text.split("\t")[1] in ("cat", "dog")


def test_cli_train_pretrained_needs_the_weights(
    tiny_dataset: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--model", "pretrained", "--profile", "quick", "--data-dir", tiny_dataset]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and "catdog weights" in err and err.count("\n") == 1


def test_exports_agree_with_keras(tmp_path: Path, weights_file: Path) -> None:
    bottom, top = pretrained.build_parts(64, path=str(weights_file))
    model = pretrained.assemble(bottom, top, pretrained.build_head())
    path = tmp_path / "pretrained.keras"
    model.save(path)
    loaded = predict.load_model(path)  # safe mode: every layer is a standard Keras layer
    x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    expected = model.predict(x, verbose=0).ravel()
    assert expected.std() > 1e-3  # ImageNet's features vary from one photo to the next
    np.testing.assert_allclose(loaded.predict(x, verbose=0).ravel(), expected, atol=1e-6)
    tflite = export.export_tflite(loaded, tmp_path / "pretrained.tflite")
    np.testing.assert_allclose(export.tflite_predict(tflite, x), expected, atol=1e-4)
