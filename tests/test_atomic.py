"""Atomic writes: a destination is either the old content or the complete new one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from catdog_utils import atomic
from catdog_utils.errors import DestinationError


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_text_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "history.json"
    atomic.write_text(path, "old")
    atomic.write_text(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert _listing(path.parent) == ["history.json"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    path.write_bytes(b"old model")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic.temporary_path(path) as tmp:
        assert tmp.parent == path.parent and tmp.suffix == ".keras" and not tmp.exists()
        tmp.write_bytes(b"half a mod")
        raise RuntimeError("disk on fire")
    assert path.read_bytes() == b"old model"
    assert _listing(tmp_path) == ["model.keras"]


def test_a_failing_rename_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.tflite"
    path.write_bytes(b"old")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        atomic.write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert _listing(tmp_path) == ["out.tflite"]


def test_the_bytes_are_fsynced_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    atomic.write_bytes(tmp_path / "a.bin", b"data")
    assert "replace" in events
    assert "fsync" in events[: events.index("replace")]


def test_a_file_in_the_way_of_the_parent_is_a_destination_error(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(DestinationError, match=r"Cannot create the folder .*a_file.*: do this"):
        atomic.make_parent(tmp_path / "a_file" / "model.keras", fix="do this")
    with pytest.raises(DestinationError):
        atomic.write_text(tmp_path / "a_file" / "x.json", "{}")


def test_a_folder_written_through_a_temporary_path_replaces_the_old_one(tmp_path: Path) -> None:
    dest = tmp_path / "export"
    dest.mkdir()
    (dest / "old.pb").write_text("old")
    with atomic.temporary_path(dest) as tmp:
        tmp.mkdir()
        (tmp / "saved_model.pb").write_text("new")
    assert _listing(dest) == ["saved_model.pb"]
    assert _listing(tmp_path) == ["export"]


def test_a_failed_folder_swap_puts_the_old_folder_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest, built = tmp_path / "data", tmp_path / ".data.tmp-1"
    dest.mkdir()
    (dest / "manifest.csv").write_text("old")
    built.mkdir()
    (built / "manifest.csv").write_text("new")
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if Path(src) == built:
            raise OSError(18, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(OSError, match="cross-device"):
        atomic.replace_folder(built, dest)
    assert (dest / "manifest.csv").read_text() == "old"
    assert _listing(tmp_path) == [".data.tmp-1", "data"]


def test_nothing_written_is_an_error_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.npy"
    path.write_bytes(b"old")
    with pytest.raises(FileNotFoundError), atomic.temporary_path(path):
        pass
    assert path.read_bytes() == b"old"


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record, in order, each fsync (as the path it flushed) and each rename."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(f"replace {Path(src).name} -> {Path(dst).name}")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    return events


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name the fds")
def test_the_folder_swap_flushes_every_file_and_folder_before_and_the_parent_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest, built = tmp_path / "data", tmp_path / ".data.tmp-1"
    dest.mkdir()
    (dest / "manifest.csv").write_text("old")
    (built / "cats").mkdir(parents=True)
    (built / "manifest.csv").write_text("new")
    (built / "cats" / "cat.1.jpg").write_bytes(b"jpeg")
    events = _record_fsyncs(monkeypatch)
    atomic.replace_folder(built, dest)
    swap = events.index(f"replace {built.name} -> data")
    before, after = events[:swap], events[swap + 1 :]
    flushed = {str(built / p) for p in ("manifest.csv", "cats/cat.1.jpg", "cats", "")}
    assert flushed | {str(tmp_path)} <= {e.rstrip("/") for e in before}
    assert before.index(str(built / "cats" / "cat.1.jpg")) < before.index(str(built / "cats"))
    assert str(tmp_path) in after  # the rename itself reaches the disk
    assert (dest / "manifest.csv").read_text() == "new"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name the fds")
def test_a_file_swap_flushes_the_file_and_its_folder_around_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _record_fsyncs(monkeypatch)
    with atomic.temporary_path(tmp_path / "model.keras") as tmp:
        tmp.write_bytes(b"model")
    swap = next(i for i, e in enumerate(events) if e.startswith("replace"))
    assert str(tmp) in events[:swap] and str(tmp_path) in events[:swap]
    assert str(tmp_path) in events[swap + 1 :]


def test_make_folder_and_require_space_raise_destination_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert atomic.make_folder(tmp_path / "a" / "b").is_dir()
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(DestinationError, match=r"Cannot create the folder .*a_file.*: do this"):
        atomic.make_folder(tmp_path / "a_file" / "sub", fix="do this")
    atomic.require_space(tmp_path, 1)
    with pytest.raises(DestinationError, match=r"Not enough space in .*: free some space or x"):
        atomic.require_space(tmp_path, 2**62, fix="x")
