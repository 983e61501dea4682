"""Small helpers for what the notebooks print: counts with their noun, file sizes."""

from __future__ import annotations


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless the count is 1: ``1 epoch``, ``5 epochs``."""
    word = noun if count == 1 else (plural_form or f"{noun}s")
    return f"{count:,} {word}"


def file_size(n_bytes: int) -> str:
    """A size in decimal units that never rounds a non-empty file to zero:
    ``512 bytes``, ``3.4 kB``, ``9.8 MB``, ``1.2 GB``."""
    if n_bytes < 1000:
        return plural(n_bytes, "byte")
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if n_bytes < 1000 * scale or unit == "GB":
            return f"{n_bytes / scale:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover
