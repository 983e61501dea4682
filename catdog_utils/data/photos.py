"""Checking photos: decode every file once, keep it, convert it or reject it.

:class:`Processor` reads one source file, decodes it with Pillow (through
:mod:`catdog_utils.images`) and checks that TensorFlow decodes it too.  A plain RGB JPEG is
kept byte for byte; anything else Pillow can read (PNG or GIF content, grayscale, CMYK,
transparency, EXIF rotation, a JPEG TensorFlow rejects) is re-encoded as an RGB JPEG; what
cannot be read (empty, truncated, not an image, too many pixels, too large) is rejected.
:func:`scan` runs it over a class's files, in order, until it has the photos it needs.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import images
from ..errors import ImageDecodeError
from .sources import Entry, Source

#: Quality of re-encoded JPEGs.
JPEG_QUALITY = 95
#: A single source file larger than this is rejected without being read (zip bombs).
MAX_FILE_BYTES = 64 * 1024 * 1024

_FILE_PREFIX = {"cats": "cat", "dogs": "dog"}


# Processing one file


@dataclass
class Outcome:
    """What happened to one source file."""

    entry: Entry
    action: str  # "keep", "convert" or "reject"
    reason: str = ""
    staged: Path | None = None
    sha256: str = ""
    out_name: str = ""


def import_tensorflow() -> Any:
    """Import TensorFlow (lazily: only the data and model code need it), without its start-up
    chatter in the data command's output (:mod:`catdog_utils.quiet`)."""
    from ..quiet import import_tensorflow as quiet_import

    return quiet_import()


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


class Processor:
    """Decode, check and stage single files (called from worker threads)."""

    def __init__(self, source: Source, max_pixels: int, tf: Any) -> None:
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

    def __call__(self, job: tuple[Entry, Path]) -> Outcome:
        """Read, check and (if usable) write one file to ``job[1]``; never raises for bad
        input, the outcome says what happened."""
        entry, staged = job
        if entry.size > MAX_FILE_BYTES:
            return Outcome(entry, "reject", f"file too large ({entry.size:,} bytes)")
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
            return Outcome(entry, "reject", f"cannot read it from the source ({exc})")
        if not data:
            return Outcome(entry, "reject", "empty file (0 bytes)")
        try:
            info = images.inspect_image(data, max_pixels=self.max_pixels, name=entry.name)
        except ImageDecodeError as exc:
            return Outcome(entry, "reject", exc.reason)
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
                return Outcome(entry, "reject", exc.reason)
            data = images.encode_jpeg(pixels, quality=JPEG_QUALITY)
            if not self._tf_decodes(data, pixels.shape[1], pixels.shape[0]):
                return Outcome(entry, "reject", f"{reason}; TensorFlow cannot decode it")
        staged.write_bytes(data)
        return Outcome(
            entry,
            action,
            reason,
            staged=staged,
            sha256=hashlib.sha256(data).hexdigest(),
            out_name=staged.name,
        )


def output_names(entries: list[Entry], cls: str, keep_names: bool) -> list[str]:
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


def scan(
    entries: list[Entry],
    targets: list[Path],
    quota: int,
    executor: ThreadPoolExecutor,
    work: Processor,
    tick: Callable[[], None],
) -> tuple[list[Outcome], list[Outcome]]:
    """Process ``entries`` in order until ``quota`` usable images are found.

    Returns the usable outcomes (at most ``quota``, in source order) and the rejected or
    converted outcomes up to the last one used, so the report does not depend on how many
    files were decoded ahead.
    """
    used: list[Outcome] = []
    report: list[Outcome] = []
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
