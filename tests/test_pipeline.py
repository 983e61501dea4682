"""The tf.data pipeline on real photos: split sizes, determinism, labels, caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catdog_utils import config, models, pipeline
from catdog_utils.errors import DataNotFoundError


def test_full_course_split_arithmetic(shared_dataset: Path) -> None:
    paths, labels = pipeline.list_split_files(shared_dataset, "training_set")
    assert len(paths) == 8000 and labels.sum() == 4000
    train_idx, val_idx = pipeline.split_train_validation(labels, config.VALIDATION_SPLIT, 1337)
    assert (len(train_idx), len(val_idx)) == (6400, 1600)
    assert labels[val_idx].sum() == 800  # stratified: 800 cats, 800 dogs
    assert not set(train_idx) & set(val_idx)
    again = pipeline.split_train_validation(labels, config.VALIDATION_SPLIT, 1337)
    assert np.array_equal(again[1], val_idx)  # deterministic
    other = pipeline.split_train_validation(labels, config.VALIDATION_SPLIT, 7)
    assert not np.array_equal(other[1], val_idx)  # and the seed matters
    test_paths, test_labels = pipeline.list_split_files(shared_dataset, "test_set")
    assert len(test_paths) == 2000 and test_labels.sum() == 1000


def test_files_in_natural_order_with_labels(shared_dataset: Path) -> None:
    paths, labels = pipeline.list_split_files(shared_dataset, "training_set", per_class=12)
    assert [p.name for p in paths[:3]] == ["cat.1.jpg", "cat.2.jpg", "cat.3.jpg"]
    assert paths[11].name == "cat.12.jpg" and paths[12].name == "dog.1.jpg"
    assert labels.tolist() == [0] * 12 + [1] * 12  # cats = 0, dogs = 1


def test_load_course_data_small_subset(shared_dataset: Path, tmp_path: Path) -> None:
    data = pipeline.load_course_data(
        shared_dataset,
        image_size=32,
        batch_size=8,
        train_per_class=20,
        test_per_class=6,
        augment=models.build_original_augmentation(1),
        cache=False,
    )
    assert data.counts == {"train": 32, "validation": 8, "test": 12}
    assert data.x_train.dtype == np.uint8 and data.x_train.shape == (32, 32, 32, 3)
    assert data.steps_per_epoch == 4
    x, y = next(iter(data.train))
    assert x.shape == (8, 32, 32, 3) and x.dtype.name == "float32" and y.shape == (8, 1)
    assert float(np.min(x)) >= 0.0 and float(np.max(x)) <= 255.0
    # validation and test batches are not augmented: they equal the stored arrays
    xv, yv = next(iter(data.validation))
    assert np.array_equal(xv.numpy(), data.x_val[:8].astype("float32"))
    assert np.array_equal(yv.numpy()[:, 0], data.y_val[:8])
    assert sorted(set(data.y_test.tolist())) == [0, 1]


def test_training_batches_are_reshuffled_each_epoch(shared_dataset: Path) -> None:
    paths, labels = pipeline.list_split_files(shared_dataset, "training_set", per_class=16)
    images = pipeline.decode_images(paths, 16)
    ds = pipeline.to_dataset(images, labels, batch_size=32, shuffle=True, seed=3)
    first = next(iter(ds))[1].numpy().ravel()
    second = next(iter(ds))[1].numpy().ravel()
    assert sorted(first.tolist()) == sorted(labels.tolist())
    assert not np.array_equal(first, second)


def test_pipelines_are_not_autotuned(shared_dataset: Path) -> None:
    # autotuning made every new epoch's iterator wait seconds for the last one's tuning
    # thread (see pipeline.pipeline_options); every course pipeline turns it off
    paths, labels = pipeline.list_split_files(shared_dataset, "training_set", per_class=4)
    images = pipeline.decode_images(paths, 16)
    augment = models.build_original_augmentation(seed=1)
    for ds in (
        pipeline.to_dataset(images, labels, batch_size=4),
        pipeline.to_dataset(images, labels, batch_size=4, shuffle=True, augment=augment),
    ):
        assert ds.options().autotune.enabled is False
        x, y = next(iter(ds))
        assert x.shape == (4, 16, 16, 3) and x.dtype.name == "float32" and y.shape == (4, 1)
    assert pipeline.usable_cores() >= 1


def test_decode_cache_is_reused_and_matches(shared_dataset: Path, tmp_path: Path) -> None:
    paths, _ = pipeline.list_split_files(shared_dataset, "test_set", per_class=5)
    fresh = pipeline.decode_images(paths, 24, cache_dir=tmp_path)
    cached_files = list(tmp_path.glob("*.npy"))
    assert len(cached_files) == 1
    again = pipeline.decode_images(paths, 24, cache_dir=tmp_path)
    assert np.array_equal(fresh, again)
    cached_files[0].write_bytes(b"garbage")  # a damaged cache is rebuilt, not trusted
    assert np.array_equal(pipeline.decode_images(paths, 24, cache_dir=tmp_path), fresh)


def test_unwritable_cache_only_warns(shared_dataset: Path, tmp_path: Path) -> None:
    paths, _ = pipeline.list_split_files(shared_dataset, "test_set", per_class=2)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="Could not cache"):
        images = pipeline.decode_images(paths, 16, cache_dir=blocker)
    assert images.shape == (4, 16, 16, 3)
    assert blocker.read_text().startswith("a file")  # nothing was damaged


def test_missing_data_says_run_make_data(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="make data"):
        pipeline.list_split_files(tmp_path / "nowhere", "training_set")
    (tmp_path / "training_set" / "cats").mkdir(parents=True)
    (tmp_path / "training_set" / "dogs").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="make data"):
        pipeline.list_split_files(tmp_path, "training_set")


def test_mix_up_blends_photos_and_labels_alike() -> None:
    # cats are black (0) and dogs white (255), so a blend's brightness *is* its dog share
    labels = np.array([0, 1] * 16, dtype=np.float32)
    images = np.repeat(labels * 255, 8 * 8 * 3).reshape(32, 8, 8, 3).astype(np.uint8)
    mixed = pipeline.mix_up(pipeline.to_dataset(images, labels, batch_size=32), alpha=0.4, seed=3)
    epochs = [next(iter(mixed)) for _ in range(2)]
    for x, y in epochs:
        x, y = x.numpy(), y.numpy()
        assert x.shape == (32, 8, 8, 3) and y.shape == (32, 1)
        np.testing.assert_allclose(x[:, 0, 0, 0] / 255, y[:, 0], atol=1e-4)
        # one blend per photo: every pixel of a photo has the same value
        np.testing.assert_allclose(x.min(axis=(1, 2, 3)), x.max(axis=(1, 2, 3)))
        assert ((y > 0.02) & (y < 0.98)).any()  # some real blends, not just copies
        assert y.min() >= 0 and y.max() <= 1
    assert not np.allclose(epochs[0][1], epochs[1][1])  # new blends every epoch


def test_mix_up_refuses_a_non_positive_alpha() -> None:
    ds = pipeline.to_dataset(np.zeros((2, 4, 4, 3), np.uint8), np.zeros(2), batch_size=2)
    with pytest.raises(ValueError, match="alpha must be positive"):
        pipeline.mix_up(ds, alpha=0.0)


def test_with_validation_in_training_moves_every_validation_photo_once(
    shared_dataset: Path,
) -> None:
    course = pipeline.load_course_data(
        shared_dataset,
        image_size=24,
        batch_size=8,
        cache=False,
        train_per_class=10,
        test_per_class=2,
    )
    merged = pipeline.with_validation_in_training(course)
    assert merged.validation is None and merged.counts == {
        "train": course.counts["train"] + course.counts["validation"],
        "validation": 0,
        "test": course.counts["test"],
    }
    seen = np.concatenate([x for x, _ in merged.train])
    assert len(seen) == 20  # one pass of the pipeline: each photo once
    expected = np.concatenate([course.x_train, course.x_val]).astype("float32")
    assert sorted(map(bytes, seen.astype("uint8"))) == sorted(map(bytes, expected.astype("uint8")))
    np.testing.assert_array_equal(merged.x_test, course.x_test)
    with pytest.raises(ValueError, match="no validation photos"):
        pipeline.with_validation_in_training(merged)
