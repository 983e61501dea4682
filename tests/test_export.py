"""Tests for catdog_utils.export: SavedModel and TFLite exports that answer like Keras.

The model is an untrained baseline CNN (random weights): its outputs still depend on every
pixel, so matching them on real photos checks the whole graph, weights and preprocessing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from catdog_utils import export, predict
from catdog_utils.errors import DestinationError, ModelLoadError


@pytest.fixture(scope="module")
def model() -> object:
    """An untrained baseline CNN (64x64, raw 0-255 pixels in, dog probability out)."""
    import keras

    from catdog_utils import models

    keras.utils.set_random_seed(7)
    return models.build_baseline_cnn(image_size=64)


@pytest.fixture(scope="module")
def photos(shared_photo: Callable[[str, int], Path]) -> np.ndarray:
    """Six real test photos (3 cats, 3 dogs), prepared as ``catdog predict`` does."""
    paths = [shared_photo(c, n) for c in ("cat", "dog") for n in (4001, 4002, 4003)]
    return np.stack([predict.prepare_image(p, 64) for p in paths])


@pytest.fixture(scope="module")
def saved_model(model: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model exported once as a SavedModel folder."""
    return export.export_saved_model(model, tmp_path_factory.mktemp("export") / "baseline")


def _keras_probs(model: object, photos: np.ndarray) -> np.ndarray:
    return np.asarray(model(photos.astype(np.float32), training=False)).reshape(-1)  # type: ignore[operator]


def test_saved_model_answers_like_keras(
    model: object, photos: np.ndarray, saved_model: Path
) -> None:
    assert (saved_model / "saved_model.pb").is_file()
    assert (saved_model / "variables").is_dir()
    expected = _keras_probs(model, photos)
    assert np.ptp(expected) > 1e-4  # the photos give different answers: a real comparison

    predictor = export.load_saved_model_predictor(saved_model)
    assert predictor.image_size == (64, 64)
    got = predictor(photos)  # uint8 pixels are accepted as they are
    assert got.shape == (len(photos),)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(predictor(photos, batch_size=4), got, atol=1e-7)
    assert export.check_export_matches(model, saved_model, photos) <= 1e-5
    assert export.check_export_matches(model, predictor, photos) <= 1e-5


def test_tflite_from_keras_and_from_saved_model_answer_like_keras(
    model: object,
    photos: np.ndarray,
    saved_model: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    expected = _keras_probs(model, photos)
    from_folder = export.export_tflite(saved_model, tmp_path / "a" / "from_folder.tflite")
    from_model = export.export_tflite(model, tmp_path / "from_model.tflite")
    for path in (from_folder, from_model):
        assert path.is_file() and path.stat().st_size > 3_000_000  # 813k float32 weights
        capfd.readouterr()
        got = export.tflite_predict(path, photos, batch_size=4)
        assert "XNNPACK" not in capfd.readouterr().err  # no INFO line in a notebook
        assert got.shape == (len(photos),)
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert export.check_export_matches(model, path, photos) <= 1e-5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "from_model.tflite"]


def test_exports_accept_photo_paths(
    model: object, saved_model: Path, shared_photo: Callable[[str, int], Path]
) -> None:
    paths = [shared_photo("cat", 4010), shared_photo("dog", 4010)]
    reference = [p.probability_dog for p in predict.predict_images(model, paths)]
    predictor = export.load_saved_model_predictor(saved_model)
    np.testing.assert_allclose(predictor(paths), reference, atol=1e-5)
    assert export.check_export_matches(model, saved_model, paths) <= 1e-5


def test_a_different_model_does_not_match(
    photos: np.ndarray, saved_model: Path, tmp_path: Path
) -> None:
    import keras

    from catdog_utils import models

    keras.utils.set_random_seed(8)
    other = models.build_baseline_cnn(image_size=64)
    with pytest.raises(export.ExportMismatchError, match="differ from the Keras model"):
        export.check_export_matches(other, saved_model, photos)


def test_failed_export_leaves_no_partial_folder(
    model: object, photos: np.ndarray, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken_export(path: str, format: str, verbose: bool) -> None:
        (Path(path) / "variables").mkdir(parents=True)
        (Path(path) / "saved_model.pb").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(model, "export", broken_export)
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(model, tmp_path / "new")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a temporary one

    # An older export stays whole when the new one fails.
    old = tmp_path / "old"
    monkeypatch.undo()
    export.export_saved_model(model, old)
    before = sorted(p.relative_to(old) for p in old.rglob("*"))
    monkeypatch.setattr(model, "export", broken_export)
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(model, old)
    monkeypatch.undo()
    assert sorted(p.relative_to(old) for p in old.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    assert export.check_export_matches(model, old, photos) <= 1e-5


def test_failed_tflite_write_leaves_no_file(
    model: object, saved_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "model.tflite"
    target.write_bytes(b"an older export")

    def disk_full(fd: int) -> None:  # the bytes are written, flushing them to disk fails
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="disk full"):
        export.export_tflite(saved_model, target)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]  # no temporary file
    assert target.read_bytes() == b"an older export"  # the older file is untouched


def test_replacing_an_export_and_refusing_other_folders(
    model: object, saved_model: Path, tmp_path: Path
) -> None:
    target = tmp_path / "baseline"
    export.export_saved_model(model, target)
    (target / "left_by_the_older_export.txt").write_text("old")
    export.export_saved_model(model, target)  # an older export is replaced as a whole
    assert not (target / "left_by_the_older_export.txt").exists()
    assert (target / "saved_model.pb").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["baseline"]

    precious = tmp_path / "my_photos"
    precious.mkdir()
    (precious / "cat.jpg").write_bytes(b"keep me")
    with pytest.raises(DestinationError, match="is not a SavedModel export"):
        export.export_saved_model(model, precious)
    assert (precious / "cat.jpg").read_bytes() == b"keep me"
    with pytest.raises(ValueError, match=r"end in \.tflite"):
        export.export_tflite(saved_model, tmp_path / "model.bin")


def test_missing_exports_raise_model_load_errors(tmp_path: Path, model: object) -> None:
    with pytest.raises(ModelLoadError, match="No SavedModel at"):
        export.load_saved_model_predictor(tmp_path / "nothing")
    with pytest.raises(ModelLoadError, match="No SavedModel at"):
        export.export_tflite(tmp_path, tmp_path / "x.tflite")
    with pytest.raises(ModelLoadError, match="No TensorFlow Lite model at"):
        export.tflite_predict(tmp_path / "missing.tflite", np.zeros((1, 64, 64, 3), np.uint8))
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"this is not a flatbuffer")
    with pytest.raises(ModelLoadError, match="is not a TensorFlow Lite model"):
        export.tflite_predict(fake, np.zeros((1, 64, 64, 3), np.uint8))
