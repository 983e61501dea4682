"""The destination folder: can it be written, is it already up to date, and the final swap.

The data set is built in a hidden sibling ``.<name>.tmp-<random>`` and moved into place with
:func:`catdog_utils.atomic.replace_folder`, so an interrupted run never leaves half a data
set; leftovers of such runs are removed by the next one.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import atomic, config
from ..errors import DataNotFoundError, DestinationError
from .dataset import DEST_FIX, MANIFEST_NAME, SOURCE_INFO_NAME, read_manifest, require_dataset


def stale_dirs(dest: Path) -> list[Path]:
    """Leftover temporary / old folders of earlier, interrupted runs beside ``dest``."""
    if not dest.parent.is_dir():
        return []
    prefixes = (f".{dest.name}.tmp-", f".{dest.name}.old-")
    return [p for p in dest.parent.iterdir() if p.name.startswith(prefixes) and p.is_dir()]


def make_temp_dir(dest: Path) -> Path:
    """Create a new, empty hidden folder ``.<dest.name>.tmp-<random>`` beside ``dest``.

    Unlike :func:`tempfile.mkdtemp` it gets the usual permissions (umask), since it becomes
    the data set.
    """
    for _ in range(100):
        path = atomic.sibling_name(dest, "tmp")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"cannot create a temporary folder beside {dest}")


def _looks_like_dataset(folder: Path) -> bool:
    """Whether ``folder`` was written by ``prepare_dataset`` (so it may be replaced)."""
    return (folder / SOURCE_INFO_NAME).is_file() or (folder / MANIFEST_NAME).is_file()


def check_destination(dest: Path) -> None:
    """Raise DestinationError unless a data set can be built beside and moved to ``dest``."""
    if dest.exists() and not dest.is_dir():
        raise DestinationError(f"The destination {dest} is a file, not a folder: {DEST_FIX}")
    if dest.is_dir() and not _looks_like_dataset(dest) and any(dest.iterdir()):
        raise DestinationError(
            f"{dest} holds other files and is not a course data set, so it will not be "
            f"replaced: {DEST_FIX}"
        )
    atomic.make_folder(dest.parent, DEST_FIX)
    try:
        make_temp_dir(dest).rmdir()
    except OSError as exc:
        raise DestinationError(
            f"Cannot write to {dest.parent} ({exc.strerror or exc}): {DEST_FIX}"
        ) from None
    if not os.access(dest.parent, os.W_OK | os.X_OK):
        raise DestinationError(f"Cannot write to {dest.parent} (permission denied): {DEST_FIX}")


def check_space(dest: Path, needed: int) -> None:
    """Raise DestinationError if ``dest``'s folder has less than ``needed`` bytes free."""
    atomic.require_space(dest.parent, needed, DEST_FIX)


def swap_into_place(built: Path, dest: Path) -> None:
    """Move the finished folder ``built`` to ``dest``, replacing any old data set."""
    try:
        atomic.replace_folder(built, dest)
    except OSError as exc:
        raise DestinationError(
            f"Cannot move the new data set to {dest} ({exc.strerror or exc}): {DEST_FIX}"
        ) from None


def write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """Write a CSV file (UTF-8, ``\\n`` line ends) into the folder being built."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(list(header))
        writer.writerows(rows)


def up_to_date(
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
