"""What the notebooks print: counts with their noun, file sizes that never read 0.0."""

from __future__ import annotations

from catdog_utils import text


def test_plural() -> None:
    assert text.plural(1, "epoch") == "1 epoch"
    assert text.plural(5, "epoch") == "5 epochs"
    assert text.plural(0, "photo") == "0 photos"
    assert text.plural(2, "batch", "batches") == "2 batches"
    assert text.plural(8000, "photo") == "8,000 photos"


def test_file_size() -> None:
    assert text.file_size(0) == "0 bytes"
    assert text.file_size(1) == "1 byte"
    assert text.file_size(2_345) == "2.3 kB"  # a history file: not "0.0 MB"
    assert text.file_size(9_802_023) == "9.8 MB"
    assert text.file_size(824_887_076) == "824.9 MB"
    assert text.file_size(3_000_000_000) == "3.0 GB"
