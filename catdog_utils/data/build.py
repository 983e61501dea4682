"""Acquire the course data set: from a URL, a zip or a folder to ``data/cats_and_dogs``.

``prepare_dataset`` is what ``make data`` runs.  It

1. takes photos from a source: a URL (Microsoft's public zip by default, downloaded with a
   progress bar, resumable), a local zip (read in place, member names checked first) or a
   local folder, in either the *PetImages* layout (``PetImages/Cat``, ``PetImages/Dog``) or
   the *course* layout (``training_set|test_set/{cats,dogs}``);
2. decodes every file it uses once with Pillow (through :mod:`catdog_utils.images`) and
   checks that TensorFlow decodes the ones it keeps; a plain RGB JPEG is kept byte for byte,
   anything else Pillow can read (PNG or GIF content, grayscale, CMYK, transparency, EXIF
   rotation, a JPEG TensorFlow rejects) is re-encoded as an RGB JPEG, and what cannot be
   read (empty, truncated, not an image, too many pixels) is rejected;
3. makes the deterministic course split and writes ``{training_set,test_set}/{cats,dogs}/``,
   ``manifest.csv`` (file, class, split, sha256), ``rejects.csv`` and ``source.json``.

Everything is built in a hidden folder beside the destination and renamed into place when
complete, so an interrupted run never leaves half a data set; a second run from the same
source with the same settings does nothing.  The source is never modified.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import json
import os
import posixpath
import re
import secrets
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config, images
from .errors import (
    DataNotFoundError,
    DestinationError,
    DownloadError,
    ImageDecodeError,
    SourceError,
    UnsafeArchiveError,
)

#: Size in bytes of Microsoft's ``kagglecatsanddogs_5340.zip``.  Unknown here (this project
#: was built offline, so it could not be measured); set it to check downloads of the default
#: URL.  ``None`` means "not checked".
EXPECTED_SIZE: int | None = None
#: SHA-256 of Microsoft's zip, unknown for the same reason; checked when set.
EXPECTED_SHA256: str | None = None

MANIFEST_NAME = "manifest.csv"
REJECTS_NAME = "rejects.csv"
SOURCE_INFO_NAME = "source.json"
MANIFEST_COLUMNS: tuple[str, ...] = ("file", "class", "split", "sha256")
REJECTS_COLUMNS: tuple[str, ...] = ("source", "reason", "action")
#: Bump when the processing changes, so existing data sets are rebuilt once.
FORMAT_VERSION = 1
#: Quality of re-encoded JPEGs.
JPEG_QUALITY = 95
#: A single source file larger than this is rejected without being read (zip bombs).
MAX_FILE_BYTES = 64 * 1024 * 1024

_OFFLINE_FIX = (
    "`make data SOURCE=/path/to/kagglecatsanddogs_5340.zip` (or SOURCE=/path/to/a/folder)"
)
_DATA_FIX = "run `make data` (or `make data SOURCE=/path/to/cats_and_dogs.zip` offline)"
_DEST_FIX = "choose a writable folder, e.g. `CATDOG_DATA_DIR=$HOME/catdog/cats_and_dogs make data`"
_CLASS_ALIASES = {"cat": "cats", "cats": "cats", "dog": "dogs", "dogs": "dogs"}
_SPLIT_ALIASES = {"training_set": "training_set", "test_set": "test_set"}
_FILE_PREFIX = {"cats": "cat", "dogs": "dog"}
#: How deep a layout may sit inside the source (e.g. ``top/PetImages/Cat``).
_MAX_PREFIX_DEPTH = 3
_CHUNK_BYTES = 1 << 20
#: Share of a PetImages class that goes to training when it has fewer photos than asked for.
_FALLBACK_TRAIN_FRACTION = 0.8


# --------------------------------------------------------------------------------------
# Public records


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


@dataclass
class PrepareResult:
    """What :func:`prepare_dataset` did.

    Attributes:
        dest: the data set folder.
        counts: images per ``(split, class)``, e.g. ``{("training_set", "cats"): 4000, ...}``.
        n_rejected: source files left out (unreadable, truncated, not images, too large).
        n_converted: source files re-encoded as RGB JPEG.
        skipped: ``True`` when the data set was already prepared from the same source with
            the same settings, so nothing was done.
        message: one line summarising the above (printed when ``progress`` is on).
        seconds: wall time of the call.
    """

    dest: Path
    counts: dict[tuple[str, str], int]
    n_rejected: int
    n_converted: int
    skipped: bool
    message: str
    seconds: float = 0.0

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------
# The prepared data set


def require_dataset(dest: str | Path | None = None) -> Path:
    """Return the prepared data set folder, after checking it is there.

    Args:
        dest: the data set folder (default :func:`config.data_dir`).

    Raises:
        DataNotFoundError: the folder, its ``manifest.csv`` or one of its four image folders
            is missing; the message says to run ``make data``.
    """
    dest = Path(dest) if dest is not None else config.data_dir()
    if not dest.is_dir():
        raise DataNotFoundError(f"No course data set at {dest}: {_DATA_FIX}")
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
            f"{_DATA_FIX}"
        )
    return dest


def read_manifest(dest: str | Path | None = None) -> list[ManifestRow]:
    """Read ``manifest.csv`` of a prepared data set.

    Args:
        dest: the data set folder (default :func:`config.data_dir`).

    Raises:
        DataNotFoundError: no manifest, or one that is damaged.
    """
    dest = Path(dest) if dest is not None else config.data_dir()
    path = dest / MANIFEST_NAME
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
        raise DataNotFoundError(f"No manifest at {path}: {_DATA_FIX}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataNotFoundError(damaged) from exc
    return rows


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
    links are refused.

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
# Download


class _ReadTimeoutMixin:
    """Connect with a short timeout, then read with a longer one."""

    read_timeout: float = 30.0
    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock.settimeout(self.read_timeout)


class _HTTPConnection(_ReadTimeoutMixin, http.client.HTTPConnection):
    """HTTP connection whose socket switches to the read timeout once connected."""


class _HTTPSConnection(_ReadTimeoutMixin, http.client.HTTPSConnection):
    """HTTPS connection whose socket switches to the read timeout once connected."""


def _opener(read_timeout: float) -> urllib.request.OpenerDirector:
    """A urllib opener (proxies, redirects) with separate connect and read timeouts."""

    def connection(base: type) -> Callable[..., http.client.HTTPConnection]:
        def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            conn = base(*args, **kwargs)
            conn.read_timeout = read_timeout
            return conn

        return make

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(connection(_HTTPConnection), req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(connection(_HTTPSConnection), req, context=self._context)

    return urllib.request.build_opener(HTTPHandler, HTTPSHandler)


def _sha256_file(path: Path) -> str:
    """SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _check_complete(
    path: Path, url: str, expected_size: int | None, expected_sha256: str | None
) -> None:
    """Raise DownloadError if a downloaded file has the wrong size or checksum."""
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise DownloadError(
            f"Download of {url} has {size:,} bytes, expected {expected_size:,}: run "
            f"`make data` again, or offline {_OFFLINE_FIX}"
        )
    if expected_sha256 is not None and _sha256_file(path) != expected_sha256.lower():
        raise DownloadError(
            f"Download of {url} has the wrong SHA-256 checksum: run `make data` again, or "
            f"offline {_OFFLINE_FIX}"
        )


def download(
    url: str,
    dest_file: str | Path,
    *,
    expected_size: int | None = None,
    expected_sha256: str | None = None,
    progress: bool = True,
    timeout: float = 30,
    connect_timeout: float = 10,
) -> Path:
    """Download ``url`` to ``dest_file`` through ``dest_file.part``, resuming if possible.

    The bytes go to ``<dest_file>.part``, renamed to ``dest_file`` only when complete (the
    size the server announced, and ``expected_size`` / ``expected_sha256`` when given).  If a
    ``.part`` from the same URL exists, the download resumes with an HTTP ``Range`` request
    when the server allows it (206), else starts again.  An existing complete ``dest_file``
    is reused.

    Args:
        url: an ``http://`` or ``https://`` address.
        dest_file: where the complete file goes.
        expected_size: exact size in bytes, checked when given.
        expected_sha256: SHA-256 in hex, checked when given.
        progress: show a tqdm progress bar.
        timeout: seconds a read may wait for data.
        connect_timeout: seconds to wait for the server to answer at all (kept short, so
            being offline fails at once).

    Returns:
        ``dest_file`` as a :class:`~pathlib.Path`.

    Raises:
        DownloadError: the host cannot be reached, answers with an error, the transfer is
            cut off, or the result has the wrong size or checksum.
        DestinationError: the download folder cannot be written or lacks space.
    """
    from tqdm.std import tqdm

    dest_file = Path(dest_file)
    part = dest_file.with_name(dest_file.name + ".part")
    meta_path = dest_file.with_name(dest_file.name + ".part.json")
    if dest_file.is_file():
        try:
            _check_complete(dest_file, url, expected_size, expected_sha256)
            return dest_file
        except DownloadError:
            dest_file.unlink()  # not the file we want: fetch it again
    start, meta = 0, {}
    if part.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        if meta.get("url") == url:
            start = part.stat().st_size
    if not start:
        part.unlink(missing_ok=True)
        meta = {}
    headers = {"User-Agent": "catdog-course/0.1"}
    if start:
        headers["Range"] = f"bytes={start}-"
        validator = meta.get("etag") or meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator

    host = urllib.parse.urlsplit(url).netloc or url
    request = urllib.request.Request(url, headers=headers)
    try:
        response = _opener(timeout).open(request, timeout=connect_timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # our .part is no prefix of this file: start again
            part.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            return download(
                url,
                dest_file,
                expected_size=expected_size,
                expected_sha256=expected_sha256,
                progress=progress,
                timeout=timeout,
                connect_timeout=connect_timeout,
            )
        raise DownloadError(
            f"Download of {url} failed: HTTP {exc.code} {exc.reason}: try `make data` again "
            f"later, or offline {_OFFLINE_FIX}"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(
            f"Cannot reach {host} ({reason}); are you offline? Use {_OFFLINE_FIX}"
        ) from None

    with response:
        status = getattr(response, "status", 200)
        length = response.headers.get("Content-Length")
        total: int | None = int(length) if length and length.isdigit() else None
        content_range = response.headers.get("Content-Range") or ""
        match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", content_range)
        if status == 206 and start and match and int(match.group(1)) == start:
            mode = "ab"
            if match.group(2) != "*":
                total = int(match.group(2))
            elif total is not None:
                total += start
        else:  # a full answer (or a range we did not ask for): start clean
            start, mode = 0, "wb"
        try:
            dest_file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DestinationError(
                f"Cannot create the download folder {dest_file.parent} ({exc.strerror}): "
                f"{_DEST_FIX}"
            ) from None
        needed = (total or 0) - start
        free = shutil.disk_usage(dest_file.parent).free
        if needed > free:
            raise DestinationError(
                f"Not enough space in {dest_file.parent} for {url} ({needed / 2**20:,.0f} MiB "
                f"needed, {free / 2**20:,.0f} MiB free): free some space or {_DEST_FIX}"
            )
        meta = {
            "url": url,
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
            "total": total,
        }
        try:
            meta_path.write_text(json.dumps(meta), encoding="utf-8")
            handle = part.open(mode)
        except OSError as exc:
            raise DestinationError(f"Cannot write {part} ({exc.strerror}): {_DEST_FIX}") from None
        received = start
        bar = tqdm(
            total=total,
            initial=start,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=dest_file.name,
            disable=not progress,
        )
        try:
            with handle, bar:
                while chunk := response.read(_CHUNK_BYTES):
                    handle.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except (http.client.HTTPException, OSError) as exc:
            raise DownloadError(
                f"Download of {url} was cut off after {received:,} bytes ({exc}): run "
                f"`make data` again to resume, or offline {_OFFLINE_FIX}"
            ) from None
    if total is not None and received != total:
        raise DownloadError(
            f"Download of {url} was cut off at {received:,} of {total:,} bytes: run "
            f"`make data` again to resume, or offline {_OFFLINE_FIX}"
        )
    try:
        _check_complete(part, url, expected_size, expected_sha256)
    except DownloadError:
        part.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        raise
    os.replace(part, dest_file)
    meta_path.unlink(missing_ok=True)
    return dest_file


# --------------------------------------------------------------------------------------
# Sources: a folder or a zip, seen as a tree of relative paths


def _natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders ``2.jpg`` before ``10.jpg`` (numbers compared as numbers)."""
    return tuple(
        int(token) if token.isdigit() else token.lower() for token in re.split(r"(\d+)", text)
    )


def _ignored(parts: tuple[str, ...]) -> bool:
    """Whether a path is hidden, macOS metadata or similar."""
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


@dataclass(frozen=True)
class _Entry:
    """A file in a source: its key for reading, its display name and size."""

    key: str
    name: str
    size: int
    mtime_ns: int = 0


class _Source:
    """A tree of files to read photos from (see :class:`_FolderSource`, :class:`_ZipSource`)."""

    kind = "source"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[tuple[str, ...], _Entry] = {}
        self.dirs: set[tuple[str, ...]] = set()

    @property
    def description(self) -> str:
        """A short human description, e.g. ``zip /data/pets.zip``."""
        return f"{self.kind} {self.path}"

    def read(self, entry: _Entry) -> bytes:
        """The bytes of one file."""
        raise NotImplementedError

    def fingerprint(self, entries: Iterable[_Entry]) -> dict[str, Any]:
        """What identifies this source's content, for the "nothing to do" check."""
        raise NotImplementedError

    def close(self) -> None:
        """Release open files."""

    def _add_file(self, parts: tuple[str, ...], entry: _Entry) -> None:
        """Record a file and its parent folders."""
        self.files[parts] = entry
        for depth in range(1, len(parts)):
            self.dirs.add(parts[:depth])


class _FolderSource(_Source):
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
                if _ignored(parts) or not images.is_image_name(filename):
                    continue
                try:
                    stat = os.stat(os.path.join(root, filename))
                except OSError:
                    stat = None
                self._add_file(
                    parts,
                    _Entry(
                        key="/".join(parts),
                        name="/".join(parts),
                        size=stat.st_size if stat else -1,
                        mtime_ns=stat.st_mtime_ns if stat else 0,
                    ),
                )

    def read(self, entry: _Entry) -> bytes:
        """Read one file's bytes."""
        return self.path.joinpath(*entry.key.split("/")).read_bytes()

    def fingerprint(self, entries: Iterable[_Entry]) -> dict[str, Any]:
        """Hash of the sorted (relative path, size, mtime) of the files used."""
        digest = hashlib.sha256()
        for entry in sorted(entries, key=lambda e: e.key):
            digest.update(f"{entry.key}\0{entry.size}\0{entry.mtime_ns}\n".encode())
        return {"kind": self.kind, "files": digest.hexdigest()}


class _ZipSource(_Source):
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
                    parts, _Entry(key=info.filename, name="/".join(parts), size=info.file_size)
                )
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
                    f"with `make data`, or {_OFFLINE_FIX}"
                ) from None
            self._local.zf = zf
            with self._lock:
                self._opened.append(zf)
        return zf

    def read(self, entry: _Entry) -> bytes:
        """Read (and decompress) one member."""
        return self._zipfile().read(entry.key)

    def fingerprint(self, entries: Iterable[_Entry]) -> dict[str, Any]:
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
class _Layout:
    """Which files of a source are which class (and, for the course layout, split)."""

    name: str  # "course" or "petimages"
    prefix: tuple[str, ...]
    # (split or None, class) -> files in natural order
    groups: dict[tuple[str | None, str], list[_Entry]] = field(default_factory=dict)


def _find_layout(source: _Source) -> _Layout:
    """Recognise the PetImages or course layout in ``source`` (or raise SourceError)."""
    where = source.path
    fix = f"give a zip or folder with PetImages/Cat and PetImages/Dog, or {_OFFLINE_FIX}"
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
        layout = _Layout("course", prefix)
        wanted = [(s, c) for s in config.SPLITS for c in config.CLASS_NAMES]
        for key in wanted:
            if key not in found:
                folder = "/".join((*prefix, *key))
                raise SourceError(
                    f"{where} has a course layout but no {folder} folder: add it, or {fix}"
                )
            layout.groups[key] = _files_in(source, found[key], where, fix)
        return layout
    complete = {p: f for p, f in pets.items() if set(f) == set(config.CLASS_NAMES)}
    if complete:
        prefix = shallowest(complete)
        layout = _Layout("petimages", prefix)
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


def _files_in(
    source: _Source, folders: list[tuple[str, ...]], where: Path, fix: str
) -> list[_Entry]:
    """Image files directly inside ``folders``, in natural order; SourceError if none."""
    wanted = set(folders)
    entries = [entry for parts, entry in source.files.items() if parts[:-1] in wanted]
    if not entries:
        shown = "/".join(folders[0])
        raise SourceError(
            f"The folder {shown} in {where} has no images "
            f"({', '.join(sorted(images.IMAGE_EXTENSIONS))}): put the photos there, or {fix}"
        )
    return sorted(entries, key=lambda e: (_natural_key(e.name.rsplit("/", 1)[-1]), e.name))


# --------------------------------------------------------------------------------------
# Processing one file


@dataclass
class _Outcome:
    """What happened to one source file."""

    entry: _Entry
    action: str  # "keep", "convert" or "reject"
    reason: str = ""
    staged: Path | None = None
    sha256: str = ""
    out_name: str = ""


def _import_tensorflow() -> Any:
    """Import TensorFlow (lazily: only the data and model code need it)."""
    import tensorflow as tf

    return tf


def _describe(info: images.ImageInfo) -> str:
    """Why a readable image is not kept as it is, e.g. ``PNG content`` or ``CMYK JPEG``."""
    mode_names = {
        "L": "grayscale",
        "1": "black-and-white",
        "P": "palette",
        "CMYK": "CMYK",
        "RGBA": "RGBA",
        "LA": "grayscale+alpha",
        "I;16": "16-bit grayscale",
        "I": "32-bit grayscale",
    }
    mode = mode_names.get(info.mode, info.mode)
    if info.format == "JPEG":
        return f"{mode} JPEG"
    return f"{info.format or 'unknown'} content ({mode})"


class _Processor:
    """Decode, check and stage single files (called from worker threads)."""

    def __init__(self, source: _Source, max_pixels: int, tf: Any) -> None:
        self.source = source
        self.max_pixels = max_pixels
        self.tf = tf

    def _tf_decodes(self, data: bytes, width: int, height: int) -> bool:
        """Whether TensorFlow decodes ``data`` to a ``height x width x 3`` image."""
        tf = self.tf
        try:
            tensor = tf.io.decode_image(data, channels=3, expand_animations=False)
        except tf.errors.OpError:
            return False
        return tuple(tensor.shape) == (height, width, 3)

    def __call__(self, job: tuple[_Entry, Path]) -> _Outcome:
        """Read, check and (if usable) write one file to ``job[1]``; never raises for bad
        input, the outcome says what happened."""
        entry, staged = job
        if entry.size > MAX_FILE_BYTES:
            return _Outcome(entry, "reject", f"file too large ({entry.size:,} bytes)")
        try:
            data = self.source.read(entry)
        except (
            OSError,
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            RuntimeError,
            NotImplementedError,
        ) as exc:
            return _Outcome(entry, "reject", f"cannot read it from the source ({exc})")
        if not data:
            return _Outcome(entry, "reject", "empty file (0 bytes)")
        try:
            info = images.inspect_image(data, max_pixels=self.max_pixels, name=entry.name)
        except ImageDecodeError as exc:
            return _Outcome(entry, "reject", exc.reason)
        reason = ""
        if not info.is_rgb_jpeg:
            reason = _describe(info)
        elif info.orientation != 1:
            reason = f"EXIF orientation {info.orientation} applied"
        elif not self._tf_decodes(data, info.width, info.height):
            reason = "TensorFlow cannot decode this JPEG"
        action = "keep"
        if reason:
            action = "convert"
            try:
                pixels = images.load_image(data, max_pixels=self.max_pixels, name=entry.name)
            except ImageDecodeError as exc:
                return _Outcome(entry, "reject", exc.reason)
            data = images.encode_jpeg(pixels, quality=JPEG_QUALITY)
            if not self._tf_decodes(data, pixels.shape[1], pixels.shape[0]):
                return _Outcome(entry, "reject", f"{reason}; TensorFlow cannot decode it")
        staged.write_bytes(data)
        return _Outcome(
            entry,
            action,
            reason,
            staged=staged,
            sha256=hashlib.sha256(data).hexdigest(),
            out_name=staged.name,
        )


def _output_names(entries: list[_Entry], cls: str, keep_names: bool) -> list[str]:
    """File names in the data set for ``entries`` (unique, safe, ending in ``.jpg``)."""
    used: set[str] = set()
    names = []
    for entry in entries:
        base = entry.name.rsplit("/", 1)[-1]
        stem = base.rsplit(".", 1)[0]
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"
        # course layout keeps its names; PetImages: Cat/123.jpg -> cat.123.jpg
        name = f"{stem}.jpg" if keep_names else f"{_FILE_PREFIX[cls]}.{stem}.jpg"
        candidate, n = name, 2
        while candidate.lower() in used:
            candidate = f"{name[:-4]}-{n}.jpg"
            n += 1
        used.add(candidate.lower())
        names.append(candidate)
    return names


def _scan(
    entries: list[_Entry],
    targets: list[Path],
    quota: int,
    executor: ThreadPoolExecutor,
    work: _Processor,
    tick: Callable[[], None],
) -> tuple[list[_Outcome], list[_Outcome]]:
    """Process ``entries`` in order until ``quota`` usable images are found.

    Returns the usable outcomes (at most ``quota``, in source order) and the rejected or
    converted outcomes up to the last one used, so the report does not depend on how many
    files were decoded ahead.
    """
    used: list[_Outcome] = []
    report: list[_Outcome] = []
    position = 0
    while len(used) < quota and position < len(entries):
        missing = quota - len(used)
        size = missing + max(4, missing // 50)
        end = position + size
        jobs = list(zip(entries[position:end], targets[position:end], strict=True))
        position += len(jobs)
        for outcome in executor.map(work, jobs):
            if len(used) >= quota:
                continue  # decoded ahead; not needed
            tick()
            if outcome.action == "reject":
                report.append(outcome)
            else:
                used.append(outcome)
                if outcome.action == "convert":
                    report.append(outcome)
    return used, report


# --------------------------------------------------------------------------------------
# Destination handling


def _stale_dirs(dest: Path) -> list[Path]:
    """Leftover temporary / old folders of earlier, interrupted runs beside ``dest``."""
    if not dest.parent.is_dir():
        return []
    prefixes = (f".{dest.name}.tmp-", f".{dest.name}.old-")
    return [p for p in dest.parent.iterdir() if p.name.startswith(prefixes) and p.is_dir()]


def _make_temp_dir(dest: Path, kind: str) -> Path:
    """Create a new, empty hidden folder ``.<dest.name>.<kind>-<random>`` beside ``dest``.

    Unlike :func:`tempfile.mkdtemp` it gets the usual permissions (umask), since it becomes
    the data set.
    """
    for _ in range(100):
        path = dest.parent / f".{dest.name}.{kind}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"cannot create a temporary folder beside {dest}")


def _looks_like_dataset(folder: Path) -> bool:
    """Whether ``folder`` was written by :func:`prepare_dataset` (so it may be replaced)."""
    return (folder / SOURCE_INFO_NAME).is_file() or (folder / MANIFEST_NAME).is_file()


def _check_destination(dest: Path) -> None:
    """Raise DestinationError unless a data set can be built beside and moved to ``dest``."""
    if dest.exists() and not dest.is_dir():
        raise DestinationError(f"The destination {dest} is a file, not a folder: {_DEST_FIX}")
    if dest.is_dir() and not _looks_like_dataset(dest) and any(dest.iterdir()):
        raise DestinationError(
            f"{dest} holds other files and is not a course data set, so it will not be "
            f"replaced: {_DEST_FIX}"
        )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        probe = _make_temp_dir(dest, "tmp")
        probe.rmdir()
    except OSError as exc:
        raise DestinationError(
            f"Cannot write to {dest.parent} ({exc.strerror or exc}): {_DEST_FIX}"
        ) from None
    if not os.access(dest.parent, os.W_OK | os.X_OK):
        raise DestinationError(f"Cannot write to {dest.parent} (permission denied): {_DEST_FIX}")


def _swap_into_place(built: Path, dest: Path) -> None:
    """Move the finished folder ``built`` to ``dest``, replacing any old data set."""
    old = None
    if dest.exists():
        old = _make_temp_dir(dest, "old")
        os.replace(dest, old / dest.name)
    try:
        os.replace(built, dest)
    except OSError as exc:
        if old is not None:
            os.replace(old / dest.name, dest)  # put the previous data set back
            old.rmdir()
        raise DestinationError(
            f"Cannot move the new data set to {dest} ({exc.strerror or exc}): {_DEST_FIX}"
        ) from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """Write a CSV file (UTF-8, ``\\n`` line ends)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(list(header))
        writer.writerows(rows)


def _up_to_date(
    dest: Path, fingerprint: dict[str, Any] | None, settings: dict[str, Any]
) -> dict | None:
    """The saved ``source.json`` if ``dest`` is intact and was built the same way, else None.

    ``fingerprint=None`` accepts any source (the learner named none).
    """
    try:
        saved = json.loads((dest / SOURCE_INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict):
        return None
    if fingerprint is not None and saved.get("fingerprint") != fingerprint:
        return None
    if saved.get("settings") != settings:
        return None
    try:
        require_dataset(dest)
        rows = read_manifest(dest)
    except DataNotFoundError:
        return None
    listed = {row.file for row in rows}
    present = {
        f"{split}/{cls}/{p.name}"
        for split in config.SPLITS
        for cls in config.CLASS_NAMES
        for p in (dest / split / cls).iterdir()
        if p.is_file()
    }
    return saved if listed == present else None


def _counts_from(saved: dict[str, Any]) -> dict[tuple[str, str], int]:
    """``{(split, class): n}`` from the ``counts`` of a ``source.json``."""
    out = {}
    for key, value in saved.get("counts", {}).items():
        split, _, cls = key.partition("/")
        out[(split, cls)] = int(value)
    return out


# --------------------------------------------------------------------------------------
# prepare_dataset


def _is_url(text: str) -> bool:
    """Whether ``text`` looks like ``scheme://...``."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) is not None


def _open_source(path: Path) -> _Source:
    """Open a local zip or folder as a source (SourceError when missing or not a zip)."""
    if path.is_dir():
        return _FolderSource(path)
    if not path.exists():
        raise SourceError(
            f"No such file or folder: {path}: check the path, e.g. {_OFFLINE_FIX}, or run "
            "`make data` to download the photos"
        )
    try:
        if not zipfile.is_zipfile(path):
            raise SourceError(
                f"{path} is not a zip file (or is damaged or cut short): download it again, "
                f"or use {_OFFLINE_FIX}"
            )
    except OSError as exc:
        raise SourceError(
            f"Cannot read {path} ({exc.strerror}): check it, or {_OFFLINE_FIX}"
        ) from None
    return _ZipSource(path)


def _inside(child: Path, parent: Path) -> bool:
    """Whether ``child`` is ``parent`` or lies below it."""
    return child == parent or parent in child.parents


def _split_counts(n: int, train: int, test: int) -> tuple[int, int, bool]:
    """How many of ``n`` usable images go to training and test (and whether it fell short)."""
    if n >= train + test:
        return train, test, False
    n_train = min(n - 1, max(1, round(n * _FALLBACK_TRAIN_FRACTION))) if n > 1 else n
    return n_train, n - n_train, True


def prepare_dataset(
    source: str | Path | None = None,
    dest: str | Path | None = None,
    *,
    train_per_class: int = config.TRAIN_PER_CLASS,
    test_per_class: int = config.TEST_PER_CLASS,
    progress: bool = True,
    download_dir: Path | None = None,
    max_pixels: int = config.MAX_IMAGE_PIXELS,
    workers: int | None = None,
) -> PrepareResult:
    """Build the course data set at ``dest`` from a URL, zip or folder of cat and dog photos.

    Args:
        source: an ``http(s)://`` URL of a zip, a local zip, or a local folder, in the
            PetImages layout (``PetImages/Cat``, ``PetImages/Dog``) or the course layout
            (``training_set|test_set/{cats,dogs}``), possibly inside one top folder.
            Default: :func:`config.default_source` (Microsoft's zip), except that with no
            source named at all (no argument, no ``$CATDOG_DATA_SOURCE``) an intact data set
            already at ``dest`` is kept, whatever it was built from.
        dest: the data set folder to create (default :func:`config.data_dir`).
        train_per_class: training images per class.  A course-layout source keeps its own
            split (up to this many); a PetImages source gives each class's first
            ``train_per_class`` usable photos (by number) to training, the next
            ``test_per_class`` to test, or 80 % / 20 % of what it has if that is fewer.
        test_per_class: test images per class.
        progress: show progress bars and print the summary line.
        download_dir: where a URL is downloaded (default ``<dest.parent>/downloads``).
        max_pixels: images declaring more pixels are rejected.
        workers: decoding threads (default 2 to 4, by CPU count).

    Returns:
        A :class:`PrepareResult`; ``skipped`` is ``True`` when ``dest`` was already built
        from the same source with the same settings.

    Raises:
        SourceError: the source is missing, not a zip, damaged, empty or in no known layout
            (``UnsafeArchiveError`` for a zip with unsafe member names, ``DownloadError``
            when a download fails).
        DestinationError: ``dest`` cannot be written.
    """
    started = time.perf_counter()
    if train_per_class < 1 or test_per_class < 1:
        raise ValueError("train_per_class and test_per_class must be at least 1")
    dest = (Path(dest) if dest is not None else config.data_dir()).expanduser().resolve()
    settings = {
        "format_version": FORMAT_VERSION,
        "train_per_class": train_per_class,
        "test_per_class": test_per_class,
        "max_pixels": max_pixels,
    }
    say = print if progress else (lambda *_: None)

    def skipped(saved: dict[str, Any]) -> PrepareResult:
        return PrepareResult(
            dest=dest,
            counts=_counts_from(saved),
            n_rejected=int(saved.get("n_rejected", 0)),
            n_converted=int(saved.get("n_converted", 0)),
            skipped=True,
            message=f"{dest} already prepared from {saved.get('source')}; nothing to do",
            seconds=time.perf_counter() - started,
        )

    def already_done(fingerprint: dict[str, Any] | None) -> PrepareResult | None:
        """The no-op result when ``dest`` was built from this source, else None."""
        saved = _up_to_date(dest, fingerprint, settings)
        if saved is None:
            return None
        result = skipped(saved)
        say(result.message)
        return result

    if source is None and not os.environ.get("CATDOG_DATA_SOURCE"):
        # No source named: an intact data set built from any source is kept as it is, so
        # `make run-notebooks` after `make data SOURCE=...` never goes online.
        done = already_done(None)
        if done is not None:
            return done
    source = config.default_source() if source is None else source

    url = str(source) if isinstance(source, str) and _is_url(source) else None
    if url is not None:
        if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
            raise SourceError(f"Cannot download {url}: only http(s) URLs work; use {_OFFLINE_FIX}")
        description = f"URL {url}"
        fingerprint: dict[str, Any] = {"kind": "url", "url": url}
        done = already_done(fingerprint)
        if done is not None:
            return done
        _check_destination(dest)
        folder = Path(download_dir) if download_dir is not None else dest.parent / "downloads"
        if _inside(folder.resolve(), dest):
            raise DestinationError(f"The download folder {folder} is inside {dest}: {_DEST_FIX}")
        filename = Path(urllib.parse.urlsplit(url).path).name or "download.zip"
        filename = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).lstrip(".") or "download.zip"
        is_default = url == config.DEFAULT_SOURCE_URL
        zip_path = download(
            url,
            folder / filename,
            expected_size=EXPECTED_SIZE if is_default else None,
            expected_sha256=EXPECTED_SHA256 if is_default else None,
            progress=progress,
        )
        try:
            opened: _Source = _open_source(zip_path)
        except UnsafeArchiveError:
            raise
        except SourceError:
            zip_path.unlink(missing_ok=True)
            raise SourceError(
                f"The download from {url} is not a zip (deleted it): run `make data` again, "
                f"or {_OFFLINE_FIX}"
            ) from None
    else:
        path = Path(source).expanduser().resolve()
        if path.exists() and (_inside(path, dest) or _inside(dest, path)):
            raise DestinationError(
                f"The destination {dest} overlaps the source {path}, which must stay "
                f"untouched: {_DEST_FIX}"
            )
        opened = _open_source(path)
        description = opened.description
        fingerprint = {}

    try:
        layout = _find_layout(opened)
        all_entries = [e for group in layout.groups.values() for e in group]
        if url is None:
            fingerprint = opened.fingerprint(all_entries)
            done = already_done(fingerprint)
            if done is not None:
                return done
        _check_destination(dest)
        for stale in _stale_dirs(dest):
            shutil.rmtree(stale, ignore_errors=True)
        estimate = _estimate_bytes(layout, train_per_class, test_per_class)
        free = shutil.disk_usage(dest.parent).free
        if estimate > free:
            raise DestinationError(
                f"Not enough space in {dest.parent} ({estimate / 2**20:,.0f} MiB needed, "
                f"{free / 2**20:,.0f} MiB free): free some space or {_DEST_FIX}"
            )
        built = _make_temp_dir(dest, "tmp")
        try:
            result = _build(
                opened,
                layout,
                built,
                dest,
                train_per_class=train_per_class,
                test_per_class=test_per_class,
                max_pixels=max_pixels,
                workers=workers,
                progress=progress,
                description=description,
                fingerprint=fingerprint,
                settings=settings,
            )
            _swap_into_place(built, dest)
        finally:
            if built.exists():
                shutil.rmtree(built, ignore_errors=True)
    finally:
        opened.close()
    result.seconds = time.perf_counter() - started
    result.message += f" in {result.seconds:.1f} s"
    say(result.message)
    return result


def _quota(split: str | None, train: int, test: int) -> int:
    """Images wanted from one source group (a split's class, or a whole PetImages class)."""
    if split is None:
        return train + test
    return train if split == "training_set" else test


def _estimate_bytes(layout: _Layout, train: int, test: int) -> int:
    """A generous estimate of the bytes the data set will take."""
    total = 0
    for (split, _), entries in layout.groups.items():
        quota = _quota(split, train, test)
        sizes = [max(e.size, 0) for e in entries]
        if sizes:
            total += int(sum(sizes) / len(sizes) * min(quota, len(sizes)) * 1.2)
    return total + (16 << 20)


def _build(
    opened: _Source,
    layout: _Layout,
    built: Path,
    dest: Path,
    *,
    train_per_class: int,
    test_per_class: int,
    max_pixels: int,
    workers: int | None,
    progress: bool,
    description: str,
    fingerprint: dict[str, Any],
    settings: dict[str, Any],
) -> PrepareResult:
    """Decode, select and write the data set into the empty folder ``built``."""
    from tqdm.std import tqdm

    tf = _import_tensorflow()  # once, before the worker threads start
    staging = built / ".staging"
    staging.mkdir()
    for split in config.SPLITS:
        for cls in config.CLASS_NAMES:
            (built / split / cls).mkdir(parents=True)
    work = _Processor(opened, max_pixels, tf)
    n_workers = workers or max(2, min(4, os.cpu_count() or 2))
    quotas = {key: _quota(key[0], train_per_class, test_per_class) for key in layout.groups}
    total = sum(min(q, len(layout.groups[k])) for k, q in quotas.items())
    bar = tqdm(total=total, unit="img", desc="checking photos", disable=not progress)
    placed: list[tuple[str, str, _Outcome]] = []  # (split, class, outcome)
    report: list[_Outcome] = []
    notes: list[str] = []
    executor = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="catdog-data")
    try:
        for (split, cls), entries in layout.groups.items():
            group_dir = staging / (split or "all") / cls
            group_dir.mkdir(parents=True)
            names = _output_names(entries, cls, keep_names=layout.name == "course")
            targets = [group_dir / name for name in names]
            used, reported = _scan(
                entries, targets, quotas[(split, cls)], executor, work, lambda: bar.update(1)
            )
            report.extend(reported)
            if split is not None:
                placed.extend((split, cls, o) for o in used)
                if len(used) < quotas[(split, cls)]:
                    notes.append(f"{split}/{cls} has only {len(used)} usable images")
                continue
            n_train, n_test, short = _split_counts(len(used), train_per_class, test_per_class)
            if len(used) < 2:
                raise SourceError(
                    f"{opened.path} has only {len(used)} usable {cls} photo(s): give a source "
                    f"with more, e.g. {_OFFLINE_FIX}"
                )
            if short:
                notes.append(
                    f"only {len(used)} usable {cls} photos: split 80/20 as {n_train}/{n_test}"
                )
            placed.extend(("training_set", cls, o) for o in used[:n_train])
            placed.extend(("test_set", cls, o) for o in used[n_train : n_train + n_test])
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()

    rows = []
    for split, cls, outcome in placed:
        assert outcome.staged is not None
        os.replace(outcome.staged, built / split / cls / outcome.out_name)
        rows.append((f"{split}/{cls}/{outcome.out_name}", cls, split, outcome.sha256))
    shutil.rmtree(staging)
    order = {s: i for i, s in enumerate(config.SPLITS)}
    rows.sort(key=lambda r: (order[r[2]], r[1], _natural_key(r[0])))
    counts = {(s, c): 0 for s in config.SPLITS for c in config.CLASS_NAMES}
    for _, cls, split, _ in rows:
        counts[(split, cls)] += 1
    n_rejected = sum(1 for o in report if o.action == "reject")
    n_converted = sum(1 for o in report if o.action == "convert")
    _write_csv(built / MANIFEST_NAME, MANIFEST_COLUMNS, rows)
    _write_csv(
        built / REJECTS_NAME,
        REJECTS_COLUMNS,
        (
            (o.entry.name, o.reason, "rejected" if o.action == "reject" else "converted")
            for o in report
        ),
    )
    info = {
        "source": description,
        "layout": layout.name,
        "fingerprint": fingerprint,
        "settings": settings,
        "counts": {f"{s}/{c}": n for (s, c), n in counts.items()},
        "n_rejected": n_rejected,
        "n_converted": n_converted,
        "notes": notes,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (built / SOURCE_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    summary = ", ".join(
        f"{split} {counts[(split, 'cats')]} cats + {counts[(split, 'dogs')]} dogs"
        for split in config.SPLITS
    )
    message = (
        f"Prepared {dest} from {description} ({layout.name} layout): {summary}; "
        f"{n_rejected} rejected, {n_converted} converted (see {REJECTS_NAME})"
    )
    if notes:
        message += "; note: " + "; ".join(notes)
    return PrepareResult(
        dest=dest,
        counts=counts,
        n_rejected=n_rejected,
        n_converted=n_converted,
        skipped=False,
        message=message,
    )
