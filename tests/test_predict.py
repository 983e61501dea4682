"""Tests for catdog_utils.predict: safe model loading, folder expansion, per-file predictions.

Only plumbing is tested, so the models are untrained (random weights): their outputs still
depend on every pixel, which is what the EXIF and round-trip checks need.
"""

from __future__ import annotations

import json
import math
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import lambda_model, skip_or_fail
from PIL import Image

from catdog_utils import images, predict
from catdog_utils.errors import CatdogError, InputNotFoundError, ModelLoadError

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def shared_photos(shared_dataset: Path) -> Path:
    """The shared course photos, with ``single_prediction`` (skipped when absent)."""
    if not (shared_dataset / "single_prediction").is_dir():
        skip_or_fail(f"single_prediction photos not found in {shared_dataset}")
    return shared_dataset


@pytest.fixture(scope="module")
def single_photos(shared_photos: Path) -> list[Path]:
    """The four photos of ``single_prediction`` (1 cat, 2 dog, 3 dog, 4 cat)."""
    return [shared_photos / "single_prediction" / f"cat_or_dog_{i}.jpg" for i in range(1, 5)]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """An untrained baseline CNN (64x64) and its ``.keras`` file, saved atomically."""
    from catdog_utils import models, training

    model = models.build_baseline_cnn(image_size=64)
    path = training.save_model_atomic(model, tmp_path_factory.mktemp("model") / "baseline.keras")
    return model, path


@pytest.fixture(scope="module")
def loaded(baseline: tuple[object, Path]) -> object:
    """The baseline model as :func:`predict.load_model` gives it back."""
    return predict.load_model(baseline[1])


def _save_keras(model: object, path: Path) -> Path:
    from catdog_utils import training

    return training.save_model_atomic(model, path)  # type: ignore[arg-type]


def _photo(shared_photos: Path, name: str = "cat.1.jpg") -> Path:
    return shared_photos / "training_set" / f"{name.split('.')[0]}s" / name


# ------------------------------------------------------------------------- load_model


def test_round_trip_gives_identical_predictions(
    baseline: tuple[object, Path], loaded: object, single_photos: list[Path]
) -> None:
    model, _ = baseline
    before = predict.predict_images(model, single_photos)
    after = predict.predict_images(loaded, single_photos)
    assert [p.file for p in after] == single_photos
    assert all(p.ok and p.label in ("cat", "dog") for p in after)
    assert all(0.0 <= p.probability_dog <= 1.0 for p in after)
    np.testing.assert_allclose(
        [p.probability_dog for p in after], [p.probability_dog for p in before], atol=1e-6
    )
    assert predict.model_image_size(loaded) == (64, 64)


def test_batch_size_does_not_change_predictions(loaded: object, single_photos: list[Path]) -> None:
    one = predict.predict_images(loaded, single_photos, batch_size=1)
    many = predict.predict_images(loaded, single_photos, batch_size=3)
    np.testing.assert_allclose(
        [p.probability_dog for p in one], [p.probability_dog for p in many], atol=1e-5
    )
    single = predict.predict_image(loaded, single_photos[0])
    assert single.probability_dog == pytest.approx(one[0].probability_dog, abs=1e-5)


def test_missing_model_says_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"No model at .*catdog train"):
        predict.load_model(tmp_path / "models" / "full" / "baseline.keras")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("notes.keras", b"just some text\n", "not a zip archive"),
        ("empty.keras", b"", "not a zip archive"),
        ("random.keras", None, "no config.json"),
        ("model.h5", b"\x89HDF\r\n\x1a\n", r"\.h5 is the old Keras 2 format"),
        ("model.pb", b"x", r"not a \.keras file"),
    ],
)
def test_files_that_are_not_keras_models_are_refused(
    tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("weights.bin", b"\0" * 64)
    else:
        path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=expected) as info:
        predict.load_model(path)
    assert "`.keras` files saved by Keras 3" in str(info.value)
    assert "\n" not in str(info.value)


def test_savedmodel_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "exported"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"\0")
    with pytest.raises(ModelLoadError, match="is a folder"):
        predict.load_model(folder)


def test_real_h5_model_is_refused(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    path = tmp_path / "old.h5"
    model.save(path)
    with pytest.raises(ModelLoadError, match=r"\.h5 is the old Keras 2 format"):
        predict.load_model(path)


def test_damaged_keras_files_are_refused_with_cause(
    baseline: tuple[object, Path], tmp_path: Path
) -> None:
    good = baseline[1]
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="not a zip archive") as info:
        predict.load_model(truncated)
    assert isinstance(info.value.__cause__, zipfile.BadZipFile)

    bad_weights = tmp_path / "bad_weights.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad_weights, "w") as dst:
        for member in src.namelist():
            data = src.read(member)
            dst.writestr(member, data[:1000] if member.endswith(".h5") else data)
    with pytest.raises(ModelLoadError, match="is damaged") as info:
        predict.load_model(bad_weights)
    assert isinstance(info.value.__cause__, OSError)  # what h5py raises


def test_wrong_input_shape_is_refused(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(1, activation="sigmoid")])
    path = _save_keras(model, tmp_path / "tabular.keras")
    with pytest.raises(ModelLoadError, match=r"expects input shape \(None, 10\); .*\(H, W, 3\)"):
        predict.load_model(path)


def test_wrong_output_shape_is_refused(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")]
    )
    path = _save_keras(model, tmp_path / "two_classes.keras")
    with pytest.raises(ModelLoadError, match=r"output shape \(None, 2\); .*one probability"):
        predict.load_model(path)


def test_outputs_that_are_not_probabilities_are_refused(single_photos: list[Path]) -> None:
    import keras

    logits = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(1, kernel_initializer="ones"),  # the sum of the pixels
        ]
    )
    with pytest.raises(ModelLoadError, match=r"not a probability in \[0, 1\]"):
        predict.predict_images(logits, single_photos[:1])


@pytest.fixture
def lambda_model_file(tmp_path: Path) -> tuple[Path, Path]:
    """A ``.keras`` file with Python bytecode in a Lambda, and the marker it would write."""
    marker = tmp_path / "marker.txt"
    path = _save_keras(lambda_model(marker), tmp_path / "lambda.keras")
    assert marker.exists()  # building the model ran the lambda once, here
    marker.unlink()
    with zipfile.ZipFile(path) as zf:  # the file really carries the lambda's bytecode
        assert '"class_name": "__lambda__"' in zf.read("config.json").decode()
    return path, marker


def test_lambda_with_python_code_is_refused(lambda_model_file: tuple[Path, Path]) -> None:
    path, marker = lambda_model_file
    with pytest.raises(ModelLoadError, match="Lambda layer with Python code"):
        predict.load_model(path)
    assert not marker.exists()


def test_keras_safe_mode_holds_even_when_switched_off_globally(
    lambda_model_file: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without our config scan, Keras' safe mode (forced on) still refuses the lambda."""
    import keras

    # Private Keras state, only to put the global setting back afterwards.
    from keras.src.backend.common import global_state
    from keras.src.saving.serialization_lib import in_safe_mode

    path, marker = lambda_model_file
    monkeypatch.setattr(predict, "_has_python_lambda", lambda _config: False)
    before = in_safe_mode()
    keras.config.enable_unsafe_deserialization()  # as a notebook might have done
    try:
        with pytest.raises(ModelLoadError, match="Lambda layer with Python code") as info:
            predict.load_model(path)
    finally:
        global_state.set_global_attribute("safe_mode_saving", before)
    assert isinstance(info.value.__cause__, ValueError)
    assert not marker.exists()


# ---------------------------------------------------------------------- expand_inputs


def test_folder_expansion_is_natural_sorted_filtered_and_deduplicated(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / ".ipynb_checkpoints").mkdir()
    for name in ["img10.jpg", "img2.JPG", "img1.png", "notes.txt", ".hidden.jpg", "._img3.jpg"]:
        (folder / name).write_bytes(b"x")
    (folder / "sub" / "img3.jpeg").write_bytes(b"x")
    (folder / ".ipynb_checkpoints" / "img4.jpg").write_bytes(b"x")

    names = [p.name for p in predict.expand_inputs([folder])]
    assert names == ["img1.png", "img2.JPG", "img10.jpg"]

    deep = predict.expand_inputs([folder], recursive=True)
    assert [p.relative_to(folder).as_posix() for p in deep] == [
        "img1.png",
        "img2.JPG",
        "img10.jpg",
        "sub/img3.jpeg",
    ]
    # a file named explicitly is taken whatever its name; a repeat is kept once
    mixed = predict.expand_inputs([folder / "notes.txt", folder, str(folder / "img1.png")])
    assert [p.name for p in mixed] == ["notes.txt", "img1.png", "img2.JPG", "img10.jpg"]


def test_missing_and_empty_inputs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="No such photo or folder: .*nope.jpg"):
        predict.expand_inputs([tmp_path / "nope.jpg"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputNotFoundError, match="No photos in folder"):
        predict.expand_inputs([empty])
    (empty / "readme.txt").write_text("hi")
    (empty / "deeper").mkdir()
    with pytest.raises(InputNotFoundError, match=r"1 other files skipped.*subfolders") as info:
        predict.expand_inputs([empty])
    assert isinstance(info.value, CatdogError)
    with pytest.raises(InputNotFoundError, match="Nothing to predict"):
        predict.expand_inputs([])


# ---------------------------------------------------------------------- predict_images


def test_mixed_folder_reports_bad_files_and_predicts_the_rest(
    loaded: object, shared_photos: Path, tmp_path: Path
) -> None:
    real = _photo(shared_photos, "dog.1.jpg")
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(real, folder / "a_real.jpg")
    Image.open(real).save(folder / "b_photo.png")
    (folder / "c_empty.jpg").write_bytes(b"")
    (folder / "d_text.jpg").write_text("this is not a photo\n")
    (folder / "e_truncated.jpg").write_bytes(real.read_bytes()[: real.stat().st_size // 2])
    (folder / "f_notes.txt").write_text("ignored: not an image name\n")

    files = predict.expand_inputs([folder])
    assert [p.name for p in files] == [
        "a_real.jpg",
        "b_photo.png",
        "c_empty.jpg",
        "d_text.jpg",
        "e_truncated.jpg",
    ]
    results = predict.predict_images(loaded, files, batch_size=2)
    by_name = {r.file.name: r for r in results}
    assert [r.file for r in results] == files
    for good in ("a_real.jpg", "b_photo.png"):
        assert by_name[good].ok and 0.0 <= by_name[good].probability_dog <= 1.0
    # a lossless PNG of the same JPEG pixels gives the same answer
    assert by_name["b_photo.png"].probability_dog == pytest.approx(
        by_name["a_real.jpg"].probability_dog, abs=1e-5
    )
    for bad, reason in [
        ("c_empty.jpg", "empty file"),
        ("d_text.jpg", "not an image"),
        ("e_truncated.jpg", "truncated"),
    ]:
        result = by_name[bad]
        assert result.label is None and result.probability_dog is None
        assert bad in result.error and reason in result.error


def test_exif_orientation_is_honoured(loaded: object, shared_photos: Path, tmp_path: Path) -> None:
    upright = images.load_image(_photo(shared_photos, "cat.2.jpg"))
    assert upright.shape[0] != upright.shape[1]
    # Orientation 6: the stored pixels must be turned 90 degrees clockwise to stand upright.
    stored = np.asarray(Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90))
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(upright).save(tmp_path / "upright.png")
    Image.fromarray(stored).save(tmp_path / "tagged.png", exif=exif)
    Image.fromarray(stored).save(tmp_path / "untagged.png")

    size = predict.model_image_size(loaded)
    np.testing.assert_array_equal(
        predict.prepare_image(tmp_path / "tagged.png", size),
        predict.prepare_image(tmp_path / "upright.png", size),
    )
    up, tagged, untagged = predict.predict_images(
        loaded, [tmp_path / n for n in ("upright.png", "tagged.png", "untagged.png")]
    )
    assert tagged.probability_dog == pytest.approx(up.probability_dog, abs=1e-5)
    # without the tag the model is given other pixels (an untrained model's answers for the
    # two could agree by chance, so compare what it is given, not what it says)
    assert not np.array_equal(
        predict.prepare_image(tmp_path / "untagged.png", size),
        predict.prepare_image(tmp_path / "upright.png", size),
    )


def test_any_colour_mode_is_predicted(loaded: object, shared_photos: Path, tmp_path: Path) -> None:
    photo = Image.open(_photo(shared_photos, "cat.3.jpg"))
    grey = photo.convert("L")
    rgba = photo.convert("RGBA")
    rgba.putalpha(200)
    files = {
        "grey.png": grey,
        "rgba.png": rgba,
        "cmyk.jpg": photo.convert("CMYK"),
        "palette.png": photo.convert("P"),
        "sixteen.png": Image.fromarray(np.asarray(grey, dtype=np.uint16) * 257),
        "grey_as_rgb.png": Image.merge("RGB", (grey, grey, grey)),
    }
    for name, image in files.items():
        image.save(tmp_path / name)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")

    results = {
        r.file.name: r for r in predict.predict_images(loaded, [tmp_path / n for n in files])
    }
    assert all(r.ok and 0.0 <= r.probability_dog <= 1.0 for r in results.values()), results
    assert results["grey.png"].probability_dog == pytest.approx(
        results["grey_as_rgb.png"].probability_dog, abs=1e-6
    )
    assert results["sixteen.png"].probability_dog == pytest.approx(
        results["grey.png"].probability_dog, abs=1e-6
    )


def test_preprocessing_matches_the_training_pipeline(shared_photos: Path) -> None:
    """Same resize as ``pipeline.decode_images``; only the JPEG decoders differ, slightly.

    The pipeline decodes with ``tf.io.decode_jpeg`` (fast integer DCT by default), Pillow
    with the accurate one: at most a few levels apart.  With
    ``decode_jpeg(..., dct_method="INTEGER_ACCURATE")`` in the pipeline they are identical.
    """
    from catdog_utils import pipeline

    paths = [_photo(shared_photos, f"{c}.{i}.jpg") for c in ("cat", "dog") for i in (1, 2)]
    reference = pipeline.decode_images(paths, 64)
    ours = np.stack([predict.prepare_image(p, 64) for p in paths])
    assert ours.shape == reference.shape and ours.dtype == np.uint8
    diff = np.abs(ours.astype(np.int16) - reference.astype(np.int16))
    assert diff.max() <= 1  # same decoder maths (accurate DCT) and the same resize


def test_threshold_decides_the_label(loaded: object, single_photos: list[Path]) -> None:
    p = predict.predict_image(loaded, single_photos[0]).probability_dog
    assert 0.0 < p < 1.0
    assert predict.predict_image(loaded, single_photos[0], threshold=p).label == "dog"
    above = math.nextafter(p, 1.0) + 1e-6
    assert predict.predict_image(loaded, single_photos[0], threshold=above).label == "cat"


@pytest.mark.parametrize("threshold", [0, 1, 0.0, 1.0, -0.1, 1.5, float("nan"), "half", None])
def test_threshold_must_be_inside_zero_one(
    loaded: object, single_photos: list[Path], threshold: object
) -> None:
    with pytest.raises(ValueError, match="threshold"):
        predict.predict_images(loaded, single_photos[:1], threshold=threshold)  # type: ignore[arg-type]


def test_batch_size_must_be_positive(loaded: object, single_photos: list[Path]) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        predict.predict_images(loaded, single_photos[:1], batch_size=0)


def test_prediction_to_json_is_one_line(tmp_path: Path) -> None:
    good = predict.Prediction(Path("photos/cat 1.jpg"), "cat", 0.25, None)
    bad = predict.Prediction(tmp_path / "x.jpg", None, None, "Cannot use image x.jpg: empty")
    for prediction in (good, bad):
        line = prediction.to_json()
        assert "\n" not in line
        assert json.loads(line) == {
            "file": str(prediction.file),
            "label": prediction.label,
            "probability_dog": prediction.probability_dog,
            "error": prediction.error,
        }
    assert good.describe() == "photos/cat 1.jpg: cat (probability of dog 0.250)"
    assert bad.describe().endswith("error: Cannot use image x.jpg: empty")
    assert good.ok and not bad.ok


def test_labels_csv_of_a_photo_folder(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    from catdog_utils.errors import CatdogError

    assert predict.read_labels_csv(tmp_path) == {}
    (tmp_path / "labels.csv").write_text("file,label\na.jpg,cat\nb.jpg, Dogs\n", encoding="utf-8")
    known = predict.read_labels_csv(tmp_path)
    assert known == {"a.jpg": 0, "b.jpg": 1}
    assert predict.labels_for([tmp_path / "b.jpg", "a.jpg"], known) == [1, 0]
    assert predict.labels_for(["a.jpg", "c.jpg"], known) is None  # c.jpg has no label
    (tmp_path / "labels.csv").write_text("file,label\na.jpg,kitten\n", encoding="utf-8")
    with pytest.raises(CatdogError, match="line 2"):
        predict.read_labels_csv(tmp_path)


def test_default_photo_folder(tmp_path, monkeypatch) -> None:  # noqa: ANN001 - pytest fixtures
    monkeypatch.setenv("CATDOG_SINGLE_PREDICTION_DIR", str(tmp_path / "env"))
    assert predict.default_photo_folder(tmp_path / "mine") == tmp_path / "mine"
    assert predict.default_photo_folder() == tmp_path / "env"


# --------------------------------------------------------------------- best_model_path


def test_best_model_path_prefers_pretrained_then_improved_then_baseline(
    isolated_home: Path,
) -> None:
    folder = isolated_home / "models" / "quick"
    folder.mkdir(parents=True)
    (isolated_home / "models" / "full").mkdir()
    (isolated_home / "models" / "full" / "pretrained.keras").touch()  # another profile's
    found = []
    for name in ("baseline", "improved", "pretrained"):
        (folder / f"{name}.keras").touch()  # empty: only existence is checked, nothing loaded
        found.append(predict.best_model_path("quick"))
    assert found == [
        folder / "baseline.keras",
        folder / "improved.keras",
        folder / "pretrained.keras",
    ]
    (folder / "pretrained.keras").unlink()
    assert predict.best_model_path("quick") == folder / "improved.keras"


def test_best_model_path_ignores_folders_and_other_names(isolated_home: Path) -> None:
    folder = isolated_home / "models" / "class"
    (folder / "pretrained.keras").mkdir(parents=True)  # a folder is not a model file
    (folder / "improved.h5").touch()
    (folder / "baseline.keras").touch()
    assert predict.best_model_path("class") == folder / "baseline.keras"


def test_best_model_path_without_any_model_says_how_to_train(isolated_home: Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        predict.best_model_path("quick")
    message = str(info.value)
    assert str(isolated_home / "models" / "quick") in message
    assert "pretrained.keras, improved.keras, baseline.keras" in message
    assert "catdog train --profile quick" in message
    assert isinstance(info.value, CatdogError)
