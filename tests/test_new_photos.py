"""Tests for the data set's ``new_photos/`` folder: labelled photos in neither split."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import write_zip

from catdog_utils import data, predict
from catdog_utils.errors import CatdogError, NewPhotosNotFoundError

SMALL = {"train_per_class": 12, "test_per_class": 4, "progress": False}


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def course_with_new(course_folder: Path, shared_dataset: Path) -> Path:
    """The small course-layout folder plus the shared ``single_prediction`` folder."""
    shared = shared_dataset / "single_prediction"
    if not (shared / "labels.csv").is_file():
        pytest.skip(f"no single_prediction folder in {shared_dataset}")
    shutil.copytree(shared, course_folder / "single_prediction")
    return course_folder


def test_course_source_gives_its_single_prediction_photos(
    course_with_new: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "cats_and_dogs"
    result = data.prepare_dataset(course_with_new, dest, **SMALL)
    photos = data.new_photos(dest)
    assert [(p.name, label) for p, label in photos] == [
        ("cat_or_dog_1.jpg", "cat"),
        ("cat_or_dog_2.jpg", "dog"),
        ("cat_or_dog_3.jpg", "dog"),
        ("cat_or_dog_4.jpg", "cat"),
    ]
    for path, _ in photos:
        assert path.parent == dest.resolve() / data.NEW_PHOTOS_NAME
        assert sha256(path) == sha256(course_with_new / "single_prediction" / path.name)
    assert result.n_new == 4 and "4 new photos (2 cats + 2 dogs, in new_photos/)" in result.message
    assert len(data.read_manifest(dest)) == 32  # the splits are unchanged
    assert json.loads((dest / data.SOURCE_INFO_NAME).read_text())["n_new"] == 4
    # the labels file reads as the one `catdog predict` and chapter 07 understand
    labels = predict.read_labels_csv(dest / data.NEW_PHOTOS_NAME)
    assert labels == {"cat_or_dog_1.jpg": 0, "cat_or_dog_2.jpg": 1, "cat_or_dog_3.jpg": 1,
                      "cat_or_dog_4.jpg": 0}  # fmt: skip
    again = data.prepare_dataset(course_with_new, dest, **SMALL)
    assert again.skipped and again.n_new == 4
    photos[0][0].unlink()  # a damaged new_photos folder is rebuilt
    repaired = data.prepare_dataset(course_with_new, dest, **SMALL)
    assert not repaired.skipped and photos[0][0].is_file()


def test_course_layout_zip_gives_its_single_prediction_photos(
    course_with_new: Path, tmp_path: Path
) -> None:
    members = {
        f"cats_and_dogs/{p.relative_to(course_with_new).as_posix()}": p.read_bytes()
        for p in sorted(course_with_new.rglob("*"))
        if p.is_file()
    }
    source = write_zip(tmp_path / "course.zip", members)
    result = data.prepare_dataset(source, tmp_path / "d", **SMALL)
    labels = [label for _, label in data.new_photos(result.dest)]
    assert labels == ["cat", "dog", "dog", "cat"] and result.n_new == 4


def test_course_source_without_single_prediction(course_folder: Path, tmp_path: Path) -> None:
    dest = tmp_path / "cats_and_dogs"
    result = data.prepare_dataset(course_folder, dest, **SMALL)
    assert result.n_new == 0 and data.new_photos(dest) == []
    assert "no new photos (the source has no single_prediction folder)" in result.message
    assert data.prepare_dataset(course_folder, dest, **SMALL).skipped


def test_unlabelled_single_prediction_photos_are_left_out(
    course_with_new: Path, tmp_path: Path
) -> None:
    labels = course_with_new / "single_prediction" / "labels.csv"
    labels.write_text("file,label\ncat_or_dog_2.jpg,dog\ncat_or_dog_4.jpg,Cats\n")
    result = data.prepare_dataset(course_with_new, tmp_path / "d", **SMALL)
    assert [(p.name, label) for p, label in data.new_photos(result.dest)] == [
        ("cat_or_dog_2.jpg", "dog"),
        ("cat_or_dog_4.jpg", "cat"),
    ]
    assert "2 single_prediction photo(s) without a label" in result.message


def test_petimages_zip_gives_photos_beyond_the_course(
    shared_photo: Callable[[str, int], Path], tmp_path: Path
) -> None:
    members = {f"PetImages/Cat/{n}.jpg": shared_photo("cat", n).read_bytes() for n in range(1, 22)}
    members["PetImages/Cat/18.jpg"] = b""  # unreadable, beyond the course's 16 cats
    members |= {f"PetImages/Dog/{n}.jpg": shared_photo("dog", n).read_bytes() for n in range(1, 21)}
    source = write_zip(tmp_path / "PetImages.zip", members)
    dest = tmp_path / "cats_and_dogs"
    result = data.prepare_dataset(source, dest, **SMALL)
    photos = data.new_photos(dest)
    assert [(p.name, label) for p, label in photos] == [
        *((f"cat.{n}.jpg", "cat") for n in (17, 19, 20, 21)),
        *((f"dog.{n}.jpg", "dog") for n in (17, 18, 19, 20)),
    ]
    in_splits = {row.sha256 for row in data.read_manifest(dest)}
    assert len(in_splits) == 32
    assert not in_splits & {sha256(path) for path, _ in photos}
    assert sha256(photos[0][0]) == sha256(shared_photo("cat", 17))
    rejects = {row["source"]: row for row in data.read_rejects(dest)}
    assert list(rejects) == ["PetImages/Cat/18.jpg"] and result.n_rejected == 1
    assert result.n_new == 8 and "8 new photos (4 cats + 4 dogs, in new_photos/)" in result.message


def test_data_set_built_before_new_photos_is_rebuilt(
    course_with_new: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "cats_and_dogs"
    data.prepare_dataset(course_with_new, dest, **SMALL)
    # what format 1 left: no new_photos folder, no n_new, format_version 1
    shutil.rmtree(dest / data.NEW_PHOTOS_NAME)
    info_path = dest / data.SOURCE_INFO_NAME
    info = json.loads(info_path.read_text())
    info["settings"]["format_version"] = 1
    del info["n_new"]
    info_path.write_text(json.dumps(info))
    monkeypatch.setenv("CATDOG_DATA_DIR", str(dest))
    monkeypatch.delenv("CATDOG_SINGLE_PREDICTION_DIR", raising=False)
    with pytest.raises(NewPhotosNotFoundError, match="make data") as caught:
        data.new_photos()
    assert isinstance(caught.value, CatdogError) and "\n" not in str(caught.value)
    assert predict.default_photo_folder() is None
    rebuilt = data.prepare_dataset(course_with_new, dest, **SMALL)
    assert not rebuilt.skipped and len(data.new_photos()) == 4
    assert predict.default_photo_folder() == dest / data.NEW_PHOTOS_NAME
    assert predict.default_photo_folder(tmp_path / "mine") == tmp_path / "mine"
    monkeypatch.setenv("CATDOG_DATA_DIR", str(tmp_path / "elsewhere"))
    assert predict.default_photo_folder() is None
    assert predict.default_photo_folder(None, dest) == dest / data.NEW_PHOTOS_NAME


def test_new_photos_missing_or_damaged(tmp_path: Path) -> None:
    with pytest.raises(NewPhotosNotFoundError, match="make data"):
        data.new_photos(tmp_path / "nowhere")
    folder = tmp_path / "d" / data.NEW_PHOTOS_NAME
    folder.mkdir(parents=True)
    for text in ("name,class\n", "file,label\n../cat.1.jpg,cat\n", "file,label\nx.jpg,bird\n",
                 "file,label\nmissing.jpg,cat\n"):  # fmt: skip
        (folder / data.NEW_LABELS_NAME).write_text(text)
        with pytest.raises(NewPhotosNotFoundError, match="make data"):
            data.new_photos(tmp_path / "d")
