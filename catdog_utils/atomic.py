"""Atomic writes: a file or folder appears complete, or not at all.

Every write of something valuable (a model, its history, an export, the decoded-image
cache, the data set) goes through this module:

- :func:`write_bytes` / :func:`write_text`: a temporary file in the same folder, flushed and
  ``fsync``-ed, then renamed over the destination with :func:`os.replace`;
- :func:`temporary_path`: the same for writers that want a path (``model.save``, a
  SavedModel export, ``np.save``): write to the path it gives, and it is renamed into place
  when the ``with`` block ends without an error;
- :func:`replace_folder`: move a finished folder to its destination, replacing an older
  one (renamed aside first, put back if the move fails);
- :func:`make_folder` / :func:`make_parent`: create a folder (a destination's folder) or
  raise :class:`~catdog_utils.errors.DestinationError` saying how to fix it, and
  :func:`require_space`: the same error when a folder's disk has too little room.

Every rename is durable: what is renamed (each file, each folder) and the folder that
receives it are ``fsync``-ed before the rename, and that folder again after it
(:func:`flush`), so a power cut leaves the old version or the complete new one, never a
folder of empty files under the real name.

Temporary names are hidden siblings of the destination, ``.<name>.tmp-<random><suffix>``
(and ``.<name>.old-<random>`` for a folder being replaced), so a rename never crosses file
systems and a crash leaves only hidden leftovers, never a half-written file under the real
name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import DestinationError

#: What a learner can do when a destination cannot be written.
DEFAULT_FIX = "choose a writable folder (or fix its permissions) and run the command again"


def make_folder(folder: str | Path, fix: str = DEFAULT_FIX) -> Path:
    """Create ``folder`` (and its parents) unless it exists; returns it.

    Raises:
        DestinationError: the folder cannot be created (a file is in the way, no
            permission, read-only disk); the message ends with ``fix``.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DestinationError(
            f"Cannot create the folder {folder} ({exc.strerror or exc}): {fix}"
        ) from None
    return folder


def make_parent(path: str | Path, fix: str = DEFAULT_FIX) -> Path:
    """Create the folder that will hold ``path`` (:func:`make_folder`); returns ``path``."""
    path = Path(path)
    make_folder(path.parent, fix)
    return path


def require_space(folder: str | Path, needed: int, fix: str = DEFAULT_FIX) -> None:
    """Raise :class:`~catdog_utils.errors.DestinationError` unless ``folder``'s disk has
    ``needed`` bytes free; the message gives both sizes and ends with ``fix``."""
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DestinationError(
            f"Not enough space in {folder} ({needed / 2**20:,.0f} MiB needed, "
            f"{free / 2**20:,.0f} MiB free): free some space or {fix}"
        )


def sibling_name(path: Path, kind: str, suffix: str = "") -> Path:
    """A new hidden name beside ``path``: ``.<name>.<kind>-<random><suffix>``."""
    return path.with_name(f".{path.name}.{kind}-{secrets.token_hex(4)}{suffix}")


def _fsync_file(path: Path) -> None:
    """Flush one file's contents to the disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def flush(path: Path) -> None:
    """Flush ``path`` to the disk: a file, or a folder with every file and folder in it.

    Folders are flushed after their contents, so their entries name complete files.
    """
    if not path.is_dir() or path.is_symlink():
        _fsync_file(path)
        return
    inside = sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True)
    for item in inside:
        if item.is_symlink():
            continue
        if item.is_dir():
            _fsync_folder(item)
        else:
            _fsync_file(item)
    _fsync_folder(path)


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename) to the disk where the system allows it."""
    if os.name != "posix":  # pragma: no cover - Windows cannot open a folder
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Delete a file or folder if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def replace_folder(built: str | Path, dest: str | Path) -> Path:
    """Move the finished folder ``built`` to ``dest``, replacing a folder already there.

    ``built`` (every file and folder in it) and ``dest``'s parent are flushed to the disk
    first (:func:`flush`), the parent again after the rename.  A folder cannot be renamed
    over a non-empty one, so an old ``dest`` is first renamed aside
    (``.<name>.old-<random>``), deleted once the new folder is in place, and put back if the
    move fails (the :class:`OSError` is raised again).  Returns ``dest``.
    """
    built, dest = Path(built), Path(dest)
    flush(built)
    _fsync_folder(dest.parent)
    old = None
    if dest.is_dir() and not dest.is_symlink():
        old = sibling_name(dest, "old")
        os.replace(dest, old)
    try:
        os.replace(built, dest)
    except OSError:
        if old is not None:
            os.replace(old, dest)
        raise
    _fsync_folder(dest.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest


@contextlib.contextmanager
def temporary_path(path: str | Path, fsync: bool = True) -> Iterator[Path]:
    """Write through a temporary sibling of ``path``, renamed into place on success.

    Yields a path that does not exist yet, in the same folder and with the same suffix as
    ``path`` (``model.save`` insists on ``.keras``).  The caller writes a file or a folder
    there; when the block ends without an error the result is flushed to disk (a file
    unless ``fsync=False``, said by a writer that flushed it itself) and renamed over
    ``path`` (a folder through :func:`replace_folder`, which flushes it), the parent folder
    flushed before and after.
    On an error the temporary file or folder is deleted and ``path`` is left as it was.
    The parent folder is created by :func:`make_parent`.
    """
    path = make_parent(path)
    tmp = sibling_name(path, "tmp", path.suffix)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        if tmp.is_dir():
            replace_folder(tmp, path)
        else:
            if fsync:
                _fsync_file(tmp)
            _fsync_folder(path.parent)
            os.replace(tmp, path)
            _fsync_folder(path.parent)
    finally:
        _remove(tmp)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename); returns it."""
    with temporary_path(path, fsync=False) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return write_bytes(path, text.encode("utf-8"))
