"""Shared test fixtures: the real photos beside the checkout, and small subsets of them.

The shared data set lives in ``../shared/datasets/cats_and_dogs`` next to the checkout
(``training_set/{cats,dogs}/cat.1.jpg ...``, ``test_set/...``).  Tests use a few dozen of
those photos, copied into a temporary folder, so they stay fast and never touch the original.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import skip_or_fail

#: The shared, read-only course photos (10,000 JPEGs in the course layout).
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cats_and_dogs"

#: Numbering of the shared set: cat.1-4000 / dog.1-4000 train, 4001-5000 test.
_FIRST_TEST_ID = 4001


@pytest.fixture(scope="session")
def shared_dataset() -> Path:
    """The shared course data set folder (tests using it are skipped if it is absent, and
    fail under ``CI=true``)."""
    if not (SHARED / "training_set" / "cats").is_dir():
        skip_or_fail(f"shared photos not found at {SHARED}")
    return SHARED


def _photo_path(shared: Path, cls: str, number: int) -> Path:
    """Path of photo ``cat.<number>.jpg`` or ``dog.<number>.jpg`` in the shared set."""
    split = "training_set" if number < _FIRST_TEST_ID else "test_set"
    return shared / split / f"{cls}s" / f"{cls}.{number}.jpg"


@pytest.fixture(scope="session")
def shared_photo(shared_dataset: Path) -> Callable[[str, int], Path]:
    """Factory: ``shared_photo("cat", 7)`` is the path of the shared ``cat.7.jpg``."""

    def find(cls: str, number: int) -> Path:
        return _photo_path(shared_dataset, cls, number)

    return find


def copy_course_subset(shared: Path, dest: Path, train_per_class: int, test_per_class: int) -> Path:
    """Copy the first photos of each class/split of ``shared`` to ``dest`` (course layout).

    Training images are ``cat.1 .. cat.<train_per_class>``, test images
    ``cat.4001 .. cat.<4000 + test_per_class>`` (same for dogs).  Returns ``dest``.
    """
    for cls in ("cat", "dog"):
        for split, first, n in (
            ("training_set", 1, train_per_class),
            ("test_set", _FIRST_TEST_ID, test_per_class),
        ):
            folder = dest / split / f"{cls}s"
            folder.mkdir(parents=True, exist_ok=True)
            for number in range(first, first + n):
                shutil.copy2(_photo_path(shared, cls, number), folder / f"{cls}.{number}.jpg")
    return dest


@pytest.fixture
def make_course_subset(shared_dataset: Path, tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_course_subset(train_per_class=12, test_per_class=4, name="course")``
    copies that many real photos per class into ``tmp_path/name`` in the course layout."""

    def make(train_per_class: int = 12, test_per_class: int = 4, name: str = "course") -> Path:
        return copy_course_subset(shared_dataset, tmp_path / name, train_per_class, test_per_class)

    return make


@pytest.fixture
def course_folder(make_course_subset: Callable[..., Path]) -> Path:
    """A fresh course-layout folder: 12 + 12 training and 4 + 4 test photos (a private copy)."""
    return make_course_subset(12, 4)


@pytest.fixture(scope="session")
def tiny_dataset(shared_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A *prepared* data set (manifest and all) of 12 + 12 training and 4 + 4 test photos.

    Built once per test session with :func:`catdog_utils.data.prepare_dataset`; treat it as
    read-only.
    """
    from catdog_utils import data

    root = tmp_path_factory.mktemp("tiny")
    source = copy_course_subset(shared_dataset, root / "source", 12, 4)
    return data.prepare_dataset(
        source, root / "cats_and_dogs", train_per_class=12, test_per_class=4, progress=False
    ).dest


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the course at an empty project folder in ``tmp_path`` (no profile, no source)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CATDOG_HOME", str(home))
    monkeypatch.setenv("CATDOG_DATA_DIR", str(home / "data" / "cats_and_dogs"))
    for name in ("CATDOG_PROFILE", "CATDOG_DATA_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    return home
