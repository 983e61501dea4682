"""Where the photos come from: a folder or a zip, read as a tree of relative paths.

A source is opened with :func:`open_source` (a zip's member names are all checked first,
:func:`safe_zip_members`), then :func:`find_layout` recognises which of its folders hold
which class: the *PetImages* layout (``PetImages/Cat``, ``PetImages/Dog``) or the *course*
layout (``training_set|test_set/{cats,dogs}``), possibly inside a few top folders.  Files are
taken in natural order (:func:`natural_key`: ``2.jpg`` before ``10.jpg``).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config, images
from ..errors import SourceError, UnsafeArchiveError
from ..names import natural_key
from .dataset import OFFLINE_FIX

_CLASS_ALIASES = {"cat": "cats", "cats": "cats", "dog": "dogs", "dogs": "dogs"}
#: The course layout's folder of labelled photos in neither split, and its labels file.
NEW_PHOTOS_SOURCE = "single_prediction"
LABELS_FILE = "labels.csv"
_SPLIT_ALIASES = {"training_set": "training_set", "test_set": "test_set"}
#: How deep a layout may sit inside the source (e.g. ``top/PetImages/Cat``).
_MAX_PREFIX_DEPTH = 3


# --------------------------------------------------------------------------------------
# Zip safety


def _unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member could land outside the destination if extracted, or ``None``."""
    name = info.filename
    if "\x00" in name:
        return "NUL character in name"
    if name.startswith(("/", "\\")):
        return "absolute path"
    if re.match(r"^[A-Za-z]:", name):
        return "drive letter"
    parts = re.split(r"[/\\]", name)
    if ".." in parts:
        return "'..' in path"
    normal = posixpath.normpath(name.replace("\\", "/"))
    if normal == ".." or normal.startswith("../") or posixpath.isabs(normal):
        return "resolves outside the archive"
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        return "symbolic link"
    return None


def safe_zip_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Return all members of ``zf`` after checking every name is safe.

    All members are checked before the caller reads or writes anything: absolute paths,
    drive letters, ``..`` components, names resolving outside the archive and symbolic
    links are refused.  The data code reads members in place and names its own files, so
    such a name could not write outside the data folder here; but no genuine photo archive
    has one, so the zip is not the data set (tampered, or hostile to anyone who unpacks it)
    and nothing of it is used.

    Raises:
        UnsafeArchiveError: at least one member is unsafe (the message names the first).
    """
    members = zf.infolist()
    bad = [(info.filename, reason) for info in members if (reason := _unsafe_member_reason(info))]
    if bad:
        name, reason = bad[0]
        raise UnsafeArchiveError(
            f"Refusing zip {zf.filename}: {len(bad)} member(s) point outside it, e.g. "
            f"{name!r} ({reason}); use the original download (`make data`) or "
            "`make data SOURCE=/path/to/a/trusted.zip`"
        )
    return members


# --------------------------------------------------------------------------------------
# Sources: a folder or a zip, seen as a tree of relative paths


def _ignored(parts: tuple[str, ...]) -> bool:
    """Whether a path is hidden, macOS metadata or similar."""
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


@dataclass(frozen=True)
class Entry:
    """A file in a source: its key for reading, its display name and size."""

    key: str
    name: str
    size: int
    mtime_ns: int = 0


class Source:
    """A tree of files to read photos from (see :class:`_FolderSource`, :class:`_ZipSource`)."""

    kind = "source"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[tuple[str, ...], Entry] = {}
        self.dirs: set[tuple[str, ...]] = set()
        self.labels: dict[tuple[str, ...], Entry] = {}  # the labels.csv files

    @property
    def description(self) -> str:
        """A short human description, e.g. ``zip /data/pets.zip``."""
        return f"{self.kind} {self.path}"

    def read(self, entry: Entry) -> bytes:
        """The bytes of one file."""
        raise NotImplementedError

    def fingerprint(self, entries: Iterable[Entry]) -> dict[str, Any]:
        """What identifies this source's content, for the "nothing to do" check."""
        raise NotImplementedError

    def close(self) -> None:
        """Release open files."""

    def _add_file(self, parts: tuple[str, ...], entry: Entry) -> None:
        """Record a file and its parent folders."""
        self.files[parts] = entry
        for depth in range(1, len(parts)):
            self.dirs.add(parts[:depth])


class _FolderSource(Source):
    """Photos in a folder on disk."""

    kind = "folder"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        # Layout folders sit at most _MAX_PREFIX_DEPTH + 2 deep; files one below.
        max_depth = _MAX_PREFIX_DEPTH + 2
        for root, dirnames, filenames in os.walk(path):
            rel = Path(root).relative_to(path).parts
            dirnames[:] = sorted(d for d in dirnames if not _ignored((d,)) and len(rel) < max_depth)
            for dirname in dirnames:
                self.dirs.add((*rel, dirname))
            for filename in filenames:
                parts = (*rel, filename)
                is_labels = filename.lower() == LABELS_FILE
                if _ignored(parts) or not (is_labels or images.is_image_name(filename)):
                    continue
                try:
                    stat = os.stat(os.path.join(root, filename))
                except OSError:
                    stat = None
                entry = Entry(
                    key="/".join(parts),
                    name="/".join(parts),
                    size=stat.st_size if stat else -1,
                    mtime_ns=stat.st_mtime_ns if stat else 0,
                )
                if is_labels:
                    self.labels[parts] = entry
                else:
                    self._add_file(parts, entry)

    def read(self, entry: Entry) -> bytes:
        """Read one file's bytes."""
        return self.path.joinpath(*entry.key.split("/")).read_bytes()

    def fingerprint(self, entries: Iterable[Entry]) -> dict[str, Any]:
        """Hash of the sorted (relative path, size, mtime) of the files used."""
        digest = hashlib.sha256()
        for entry in sorted(entries, key=lambda e: e.key):
            digest.update(f"{entry.key}\0{entry.size}\0{entry.mtime_ns}\n".encode())
        return {"kind": self.kind, "files": digest.hexdigest()}


class _ZipSource(Source):
    """Photos inside a zip, read in place (never extracted)."""

    kind = "zip"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._local = threading.local()
        self._opened: list[zipfile.ZipFile] = []
        self._lock = threading.Lock()
        zf = self._zipfile()
        for info in safe_zip_members(zf):  # every name checked before anything else
            parts = tuple(p for p in re.split(r"[/\\]", info.filename) if p not in ("", "."))
            if not parts or _ignored(parts):
                continue
            if info.is_dir():
                self.dirs.add(parts)
            elif images.is_image_name(parts[-1]):
                self._add_file(
                    parts, Entry(key=info.filename, name="/".join(parts), size=info.file_size)
                )
            elif parts[-1].lower() == LABELS_FILE:
                self.labels[parts] = Entry(key=info.filename, name="/".join(parts), size=0)
            else:
                for depth in range(1, len(parts)):
                    self.dirs.add(parts[:depth])

    def _zipfile(self) -> zipfile.ZipFile:
        """This thread's own handle on the zip (ZipFile reads are not thread-safe)."""
        zf = getattr(self._local, "zf", None)
        if zf is None:
            try:
                zf = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                raise SourceError(
                    f"{self.path} is not a zip file or is damaged ({exc}): download it again "
                    f"with `make data`, or {OFFLINE_FIX}"
                ) from None
            self._local.zf = zf
            with self._lock:
                self._opened.append(zf)
        return zf

    def read(self, entry: Entry) -> bytes:
        """Read (and decompress) one member."""
        return self._zipfile().read(entry.key)

    def fingerprint(self, entries: Iterable[Entry]) -> dict[str, Any]:
        """Name, size and modification time of the zip file."""
        stat = self.path.stat()
        return {
            "kind": self.kind,
            "name": self.path.name,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }

    def close(self) -> None:
        """Close every thread's handle."""
        with self._lock:
            for zf in self._opened:
                zf.close()
            self._opened.clear()


# --------------------------------------------------------------------------------------
# Layout


@dataclass
class Layout:
    """Which files of a source are which class (and, for the course layout, split)."""

    name: str  # "course" or "petimages"
    prefix: tuple[str, ...]
    # (split or None, class) -> files in natural order
    groups: dict[tuple[str | None, str], list[Entry]] = field(default_factory=dict)
    # course layout: the photos of its single_prediction folder and their labels.csv
    new: list[Entry] = field(default_factory=list)
    new_labels: Entry | None = None

    def entries(self) -> list[Entry]:
        """Every file the data set may be built from (for a folder's fingerprint)."""
        used = [e for group in self.groups.values() for e in group] + self.new
        return used + ([self.new_labels] if self.new_labels else [])


def find_layout(source: Source) -> Layout:
    """Recognise the PetImages or course layout in ``source`` (or raise SourceError)."""
    where = source.path
    fix = f"give a zip or folder with PetImages/Cat and PetImages/Dog, or {OFFLINE_FIX}"
    course: dict[tuple[str, ...], dict[tuple[str, str], list[tuple[str, ...]]]] = {}
    pets: dict[tuple[str, ...], dict[str, list[tuple[str, ...]]]] = {}
    for parts in sorted(source.dirs):
        if _ignored(parts):
            continue
        cls = _CLASS_ALIASES.get(parts[-1].lower())
        if cls is None:
            continue
        split = _SPLIT_ALIASES.get(parts[-2].lower()) if len(parts) >= 2 else None
        if split is not None and len(parts) - 2 <= _MAX_PREFIX_DEPTH:
            course.setdefault(parts[:-2], {}).setdefault((split, cls), []).append(parts)
        elif split is None and len(parts) - 1 <= _MAX_PREFIX_DEPTH:
            pets.setdefault(parts[:-1], {}).setdefault(cls, []).append(parts)

    def shallowest(candidates: dict[tuple[str, ...], Any]) -> tuple[str, ...]:
        depth = min(len(p) for p in candidates)
        best = sorted(p for p in candidates if len(p) == depth)
        if len(best) > 1:
            shown = " and ".join("/".join(p) or "." for p in best[:2])
            raise SourceError(
                f"{where} holds more than one data set ({shown}): point SOURCE at one of them, "
                "e.g. `make data SOURCE=/path/to/one/of/them`"
            )
        return best[0]

    if course:
        prefix = shallowest(course)
        found = course[prefix]
        layout = Layout("course", prefix)
        wanted = [(s, c) for s in config.SPLITS for c in config.CLASS_NAMES]
        for key in wanted:
            if key not in found:
                folder = "/".join((*prefix, *key))
                raise SourceError(
                    f"{where} has a course layout but no {folder} folder: add it, or {fix}"
                )
            layout.groups[key] = _files_in(source, found[key], where, fix)
        _find_new_photos(source, layout)
        return layout
    complete = {p: f for p, f in pets.items() if set(f) == set(config.CLASS_NAMES)}
    if complete:
        prefix = shallowest(complete)
        layout = Layout("petimages", prefix)
        for cls in config.CLASS_NAMES:
            layout.groups[(None, cls)] = _files_in(source, complete[prefix][cls], where, fix)
        return layout
    if pets:
        prefix = shallowest(pets)
        have = next(iter(pets[prefix]))
        other = "Dog" if have == "cats" else "Cat"
        raise SourceError(
            f"{where} has a {'/'.join((*prefix, have))} folder but no {other} folder: {fix}"
        )
    raise SourceError(
        f"No cat and dog photos found in {where} (expected PetImages/Cat and PetImages/Dog, "
        f"or training_set and test_set with cats and dogs): {fix}"
    )


def _find_new_photos(source: Source, layout: Layout) -> None:
    """Record a course layout's ``single_prediction`` photos and ``labels.csv``, if any."""
    folders = [
        parts
        for parts in sorted(source.dirs)
        if parts[:-1] == layout.prefix and parts[-1].lower() == NEW_PHOTOS_SOURCE
    ]
    if not folders:
        return
    folder = folders[0]
    entries = [entry for parts, entry in source.files.items() if parts[:-1] == folder]
    layout.new = sorted(entries, key=lambda e: (natural_key(e.name.rsplit("/", 1)[-1]), e.name))
    layout.new_labels = next(
        (entry for parts, entry in sorted(source.labels.items()) if parts[:-1] == folder), None
    )


def _files_in(source: Source, folders: list[tuple[str, ...]], where: Path, fix: str) -> list[Entry]:
    """Image files directly inside ``folders``, in natural order; SourceError if none."""
    wanted = set(folders)
    entries = [entry for parts, entry in source.files.items() if parts[:-1] in wanted]
    if not entries:
        shown = "/".join(folders[0])
        raise SourceError(
            f"The folder {shown} in {where} has no images "
            f"({', '.join(sorted(images.IMAGE_EXTENSIONS))}): put the photos there, or {fix}"
        )
    return sorted(entries, key=lambda e: (natural_key(e.name.rsplit("/", 1)[-1]), e.name))


def open_source(path: Path) -> Source:
    """Open a local zip or folder as a source (SourceError when missing or not a zip)."""
    if path.is_dir():
        return _FolderSource(path)
    if not path.exists():
        raise SourceError(
            f"No such file or folder: {path}: check the path, e.g. {OFFLINE_FIX}, or run "
            "`make data` to download the photos"
        )
    try:
        if not zipfile.is_zipfile(path):
            raise SourceError(
                f"{path} is not a zip file (or is damaged or cut short): download it again, "
                f"or use {OFFLINE_FIX}"
            )
    except OSError as exc:
        raise SourceError(
            f"Cannot read {path} ({exc.strerror}): check it, or {OFFLINE_FIX}"
        ) from None
    return _ZipSource(path)
