"""The prepared data set on disk: its file names, its records and how to read them back.

A prepared data set is a folder ``{training_set,test_set}/{cats,dogs}/`` plus three files
that :func:`catdog_utils.data.prepare_dataset` writes beside the photos: ``manifest.csv``
(file, class, split, sha256), ``rejects.csv`` (what was left out or converted, and why) and
``source.json`` (where it came from, with which settings).  Beside them, ``new_photos/``
holds a few labelled photos that are in neither split (with ``labels.csv``: ``file,label``,
label ``cat`` or ``dog``), for "predict new photos"; :func:`new_photos` reads them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..errors import DataNotFoundError, NewPhotosNotFoundError

MANIFEST_NAME = "manifest.csv"
REJECTS_NAME = "rejects.csv"
SOURCE_INFO_NAME = "source.json"
MANIFEST_COLUMNS: tuple[str, ...] = ("file", "class", "split", "sha256")
REJECTS_COLUMNS: tuple[str, ...] = ("source", "reason", "action")
#: The folder of labelled photos in neither split, its labels file and that file's columns.
NEW_PHOTOS_NAME = config.NEW_PHOTOS_NAME
NEW_LABELS_NAME = "labels.csv"
NEW_LABELS_COLUMNS: tuple[str, ...] = ("file", "label")
#: The labels written in ``new_photos/labels.csv``, by class folder.
NEW_LABELS = {"cats": "cat", "dogs": "dog"}

#: How to get photos without the network (ends most source and download messages).
OFFLINE_FIX = "`make data SOURCE=/path/to/kagglecatsanddogs_5340.zip` (or SOURCE=/path/to/a/folder)"
#: How to (re)build a missing or damaged data set.
DATA_FIX = "run `make data` (or `make data SOURCE=/path/to/cats_and_dogs.zip` offline)"
#: How to choose another destination.
DEST_FIX = "choose a writable folder, e.g. `CATDOG_DATA_DIR=$HOME/catdog/cats_and_dogs make data`"


@dataclass(frozen=True)
class ManifestRow:
    """One image of the prepared data set, as listed in ``manifest.csv``.

    Attributes:
        file: path relative to the data set folder, with ``/`` (``training_set/cats/cat.1.jpg``).
        class_name: ``cats`` or ``dogs`` (the ``class`` column).
        split: ``training_set`` or ``test_set``.
        sha256: SHA-256 of the file's bytes, in hex.
    """

    file: str
    class_name: str
    split: str
    sha256: str

    @property
    def label(self) -> int:
        """The class index: 0 for cats, 1 for dogs (as in :data:`config.CLASS_NAMES`)."""
        return config.CLASS_NAMES.index(self.class_name)

    def path(self, dest: str | Path) -> Path:
        """The file's full path inside the data set folder ``dest``."""
        return Path(dest).joinpath(*self.file.split("/"))


def _folder(dest: str | Path | None) -> Path:
    """``dest`` as a Path, or the course's data folder when ``None``."""
    return Path(dest) if dest is not None else config.data_dir()


def require_dataset(dest: str | Path | None = None) -> Path:
    """Return the prepared data set folder, after checking it is there.

    Args:
        dest: the data set folder (default :func:`config.data_dir`).

    Raises:
        DataNotFoundError: the folder, its ``manifest.csv`` or one of its four image folders
            is missing; the message says to run ``make data``.
    """
    dest = _folder(dest)
    if not dest.is_dir():
        raise DataNotFoundError(f"No course data set at {dest}: {DATA_FIX}")
    missing = [MANIFEST_NAME] if not (dest / MANIFEST_NAME).is_file() else []
    missing += [
        f"{split}/{cls}"
        for split in config.SPLITS
        for cls in config.CLASS_NAMES
        if not (dest / split / cls).is_dir()
    ]
    if missing:
        raise DataNotFoundError(
            f"The course data set at {dest} is incomplete (missing {', '.join(missing)}): "
            f"{DATA_FIX}"
        )
    return dest


def read_manifest(dest: str | Path | None = None) -> list[ManifestRow]:
    """Read ``manifest.csv`` of a prepared data set.

    Args:
        dest: the data set folder (default :func:`config.data_dir`).

    Raises:
        DataNotFoundError: no manifest, or one that is damaged.
    """
    path = _folder(dest) / MANIFEST_NAME
    damaged = f"The manifest {path} is damaged: rebuild the data set with `make data`"
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(header) != MANIFEST_COLUMNS:
                raise DataNotFoundError(damaged)
            rows = []
            for record in reader:
                if len(record) != len(MANIFEST_COLUMNS):
                    raise DataNotFoundError(damaged)
                file, cls, split, sha = record
                if cls not in config.CLASS_NAMES or split not in config.SPLITS:
                    raise DataNotFoundError(damaged)
                rows.append(ManifestRow(file=file, class_name=cls, split=split, sha256=sha))
    except FileNotFoundError:
        raise DataNotFoundError(f"No manifest at {path}: {DATA_FIX}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataNotFoundError(damaged) from exc
    return rows


def read_rejects(dest: str | Path | None = None) -> list[dict[str, str]]:
    """The rows of a prepared data set's ``rejects.csv`` (``source``, ``reason``, ``action``).

    Args:
        dest: the data set folder (default :func:`config.data_dir`).

    Raises:
        DataNotFoundError: the data set has no ``rejects.csv``.
    """
    path = _folder(dest) / REJECTS_NAME
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [dict(row) for row in csv.DictReader(handle)]
    except FileNotFoundError:
        raise DataNotFoundError(
            f"No rejects report at {path}: rebuild the data set with `make data`"
        ) from None


def _plain_name(name: str) -> bool:
    """Whether ``name`` is a file name without any folder part (``cat.1.jpg``)."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\")


def new_photos(dest: str | Path | None = None) -> list[tuple[Path, str]]:
    """The data set's new photos (in neither split) and their labels, in file-name order.

    Args:
        dest: the data set folder (default :func:`config.data_dir`).

    Returns:
        ``[(path, "cat" or "dog"), ...]`` from ``new_photos/labels.csv``; empty when the
        data set was built from a source that had none (a course-layout folder without
        ``single_prediction``).

    Raises:
        NewPhotosNotFoundError: no ``new_photos`` folder (a data set built before it existed),
            or its ``labels.csv`` is damaged or names a missing photo; the message says to
            run ``make data``.
    """
    folder = _folder(dest) / NEW_PHOTOS_NAME
    path = folder / NEW_LABELS_NAME
    damaged = f"The new photos' labels {path} are damaged: rebuild the data set with `make data`"
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            if tuple(next(reader, ())) != NEW_LABELS_COLUMNS:
                raise NewPhotosNotFoundError(damaged)
            rows = list(reader)
    except FileNotFoundError:
        raise NewPhotosNotFoundError(
            f"No new photos at {folder} (the data set is older than them): {DATA_FIX}"
        ) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise NewPhotosNotFoundError(damaged) from exc
    photos = []
    for row in rows:
        if len(row) != 2 or row[1] not in NEW_LABELS.values() or not _plain_name(row[0]):
            raise NewPhotosNotFoundError(damaged)
        if not (folder / row[0]).is_file():
            raise NewPhotosNotFoundError(f"The new photo {folder / row[0]} is missing: {DATA_FIX}")
        photos.append((folder / row[0], row[1]))
    return photos
