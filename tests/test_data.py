"""Tests for catdog_utils.data: acquiring the course data set from a folder, zip or URL."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import RangeServer, encoded, serve, write_zip
from PIL import Image

from catdog_utils import config, data
from catdog_utils.data import destination, fetch, progress
from catdog_utils.errors import (
    DataNotFoundError,
    DestinationError,
    DownloadError,
    SourceError,
    UnsafeArchiveError,
)

SMALL = {"train_per_class": 12, "test_per_class": 4, "progress": False}
COURSE_COUNTS = {
    ("training_set", "cats"): 12,
    ("training_set", "dogs"): 12,
    ("test_set", "cats"): 4,
    ("test_set", "dogs"): 4,
}

# ---------------------------------------------------------------------------------------
# Helpers


def tree_hashes(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` (or of ``root`` itself)."""
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def tree_mtimes(root: Path) -> dict[str, int]:
    """``{relative path: mtime_ns}`` of everything under ``root``."""
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*")}


def read_rejects(dest: Path) -> dict[str, tuple[str, str]]:
    """``{source name: (reason, action)}`` from ``rejects.csv``."""
    return {row["source"]: (row["reason"], row["action"]) for row in data.read_rejects(dest)}


def check_manifest(dest: Path) -> list[data.ManifestRow]:
    """Assert the manifest lists exactly the image files, with their SHA-256."""
    rows = data.read_manifest(dest)
    listed = {row.file for row in rows}
    present = {
        p.relative_to(dest).as_posix()
        for split in ("training_set", "test_set")
        for p in (dest / split).rglob("*")
        if p.is_file()
    }
    assert listed == present
    for row in rows:
        path = row.path(dest)
        assert path.parent.name == row.class_name and path.parent.parent.name == row.split
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row.sha256
    return rows


def leftovers(parent: Path) -> list[str]:
    """Hidden temporary / old folders a run may have left beside the data set."""
    return sorted(p.name for p in parent.iterdir() if re.match(r"\..*\.(tmp|old)-", p.name))


#: The planted files in PetImages/Cat, by id, and what must happen to them.
PLANTED = {
    "2.jpg": ("rejected", "empty"),
    "4.jpg": ("rejected", "truncated"),
    "6.jpg": ("rejected", "not an image"),
    "8.jpg": ("converted", "PNG content"),
    "10.jpg": ("converted", "grayscale JPEG"),
    "12.jpg": ("converted", "CMYK JPEG"),
    "14.png": ("converted", "PNG content (RGBA)"),
}


def petimages_members(photo: Callable[[str, int], Path]) -> dict[str, bytes]:
    """A small PetImages tree: 19 cat files (7 planted bad ones) and 16 dog photos."""
    members: dict[str, bytes] = {"readme[1].txt": b"Kaggle cats and dogs\n"}
    with Image.open(photo("cat", 100)) as im:
        sample = im.convert("RGB")
    real = photo("cat", 101).read_bytes()
    rgba = sample.convert("RGBA")
    rgba.putalpha(128)
    planted = {
        "2.jpg": b"",
        "4.jpg": real[: len(real) // 2],
        "6.jpg": b"<html>this is not a photo</html>\n",
        "8.jpg": encoded(sample, "PNG"),
        "10.jpg": encoded(sample.convert("L"), "JPEG"),
        "12.jpg": encoded(sample.convert("CMYK"), "JPEG"),
        "14.png": encoded(rgba, "PNG"),
    }
    real_ids = iter(range(1, 100))
    for number in range(1, 20):
        name = next((n for n in planted if n.split(".")[0] == str(number)), None)
        if name is not None:
            members[f"PetImages/Cat/{name}"] = planted[name]
        else:
            members[f"PetImages/Cat/{number}.jpg"] = photo("cat", next(real_ids)).read_bytes()
    members["PetImages/Cat/Thumbs.db"] = b"\0" * 100
    exif = Image.Exif()
    exif[0x0112] = 6
    for number in range(1, 17):
        content = photo("dog", number).read_bytes()
        if number == 5:  # a phone photo lying on its side
            with Image.open(io.BytesIO(content)) as im:
                content = encoded(im, "JPEG", exif=exif, quality=95)
        members[f"PetImages/Dog/{number}.jpg"] = content
    return members


@pytest.fixture(scope="module")
def petimages_zip(
    shared_photo: Callable[[str, int], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A small PetImages zip with real photos and planted bad files (read-only for tests)."""
    return write_zip(
        tmp_path_factory.mktemp("zips") / "PetImages.zip", petimages_members(shared_photo)
    )


@pytest.fixture
def http_server(petimages_zip: Path) -> Iterator[RangeServer]:
    """An HTTP server on 127.0.0.1 serving the PetImages zip as ``/PetImages.zip``."""
    with serve({"/PetImages.zip": petimages_zip.read_bytes()}) as server:
        yield server


# ---------------------------------------------------------------------------------------
# Acquisition


def test_from_course_folder(course_folder: Path, tmp_path: Path) -> None:
    before = tree_hashes(course_folder)
    dest = tmp_path / "out" / "cats_and_dogs"
    result = data.prepare_dataset(course_folder, dest, **SMALL)
    assert result.dest == dest.resolve() and not result.skipped
    assert result.counts == COURSE_COUNTS
    assert (result.n_rejected, result.n_converted) == (0, 0)
    assert "12 cats + 12 dogs" in result.message
    assert data.require_dataset(dest) == dest.resolve()
    rows = check_manifest(dest)
    assert len(rows) == 32
    # kept byte for byte, with their own names and split
    for row in rows:
        assert row.sha256 == before[row.file]
    assert (dest / "test_set" / "dogs" / "dog.4004.jpg").is_file()
    assert read_rejects(dest) == {}
    info = json.loads((dest / data.SOURCE_INFO_NAME).read_text())
    assert info["layout"] == "course" and info["fingerprint"]["kind"] == "folder"
    assert info["counts"]["training_set/cats"] == 12
    assert tree_hashes(course_folder) == before
    assert leftovers(dest.parent) == []


def test_course_folder_takes_first_images_in_number_order(
    make_course_subset: Callable[..., Path], tmp_path: Path
) -> None:
    source = make_course_subset(12, 4)
    result = data.prepare_dataset(
        source, tmp_path / "d", train_per_class=10, test_per_class=2, progress=False
    )
    names = sorted(p.name for p in (result.dest / "training_set" / "cats").iterdir())
    assert names == sorted(f"cat.{i}.jpg" for i in range(1, 11))  # not cat.1, cat.10, cat.11
    assert result.counts[("test_set", "dogs")] == 2


def test_from_petimages_zip(petimages_zip: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    before = tree_hashes(petimages_zip)
    dest = tmp_path / "cats_and_dogs"
    result = data.prepare_dataset(petimages_zip, dest, **SMALL)
    assert result.counts == COURSE_COUNTS
    assert result.n_rejected == 3 and result.n_converted == 5  # 4 cats + 1 rotated dog
    rejects = read_rejects(dest)
    for name, (action, reason) in PLANTED.items():
        got_reason, got_action = rejects[f"PetImages/Cat/{name}"]
        assert got_action == action and reason in got_reason, (name, got_reason)
    assert "EXIF orientation" in rejects["PetImages/Dog/5.jpg"][0]
    assert not any("Thumbs" in name or "readme" in name for name in rejects)
    # deterministic split by number: usable cats 1,3,5,7,8,9,...,15 train; 16..19 test
    train_cats = {p.name for p in (dest / "training_set" / "cats").iterdir()}
    assert train_cats == {f"cat.{i}.jpg" for i in (1, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15)}
    test_cats = {p.name for p in (dest / "test_set" / "cats").iterdir()}
    assert test_cats == {f"cat.{i}.jpg" for i in (16, 17, 18, 19)}
    # converted files are RGB JPEGs that TensorFlow decodes to 3 channels
    for number in (8, 10, 12, 14):
        path = dest / "training_set" / "cats" / f"cat.{number}.jpg"
        with Image.open(path) as im:
            assert (im.format, im.mode) == ("JPEG", "RGB")
        decoded = tf.io.decode_jpeg(path.read_bytes(), channels=3)
        assert decoded.shape[2] == 3 and decoded.dtype == tf.uint8
    with Image.open(dest / "training_set" / "dogs" / "dog.5.jpg") as im:
        assert im.getexif().get(0x0112, 1) == 1  # rotation applied, tag gone
    check_manifest(dest)
    assert tree_hashes(petimages_zip) == before


def test_petimages_with_too_few_photos_splits_80_20(petimages_zip: Path, tmp_path: Path) -> None:
    result = data.prepare_dataset(
        petimages_zip, tmp_path / "d", train_per_class=20, test_per_class=5, progress=False
    )
    assert result.counts[("training_set", "cats")] == 13  # 16 usable: 13 / 3
    assert result.counts[("test_set", "cats")] == 3
    assert "80/20" in result.message


def test_from_http_url(http_server: RangeServer, petimages_zip: Path, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    dest = tmp_path / "cats_and_dogs"
    url = http_server.url("/PetImages.zip")
    result = data.prepare_dataset(url, dest, download_dir=downloads, **SMALL)
    assert result.counts == COURSE_COUNTS and result.n_rejected == 3
    assert "PetImages/Cat/2.jpg" in read_rejects(dest)
    assert (downloads / "PetImages.zip").read_bytes() == petimages_zip.read_bytes()
    assert sorted(p.name for p in downloads.iterdir()) == ["PetImages.zip"]
    check_manifest(dest)
    served = len(http_server.requests)
    again = data.prepare_dataset(url, dest, download_dir=downloads, **SMALL)
    assert again.skipped and len(http_server.requests) == served  # no network needed


@pytest.mark.parametrize("ranges", [True, False], ids=["resume", "restart"])
def test_download_cut_off_then_completed(
    http_server: RangeServer, petimages_zip: Path, tmp_path: Path, ranges: bool
) -> None:
    downloads = tmp_path / "downloads"
    dest = tmp_path / "cats_and_dogs"
    http_server.cut = True
    with pytest.raises(DownloadError, match="cut off") as caught:
        data.prepare_dataset(
            http_server.url("/PetImages.zip"), dest, download_dir=downloads, **SMALL
        )
    assert "SOURCE=" in str(caught.value)
    assert not (downloads / "PetImages.zip").exists()  # never used as complete
    assert (downloads / "PetImages.zip.part").is_file()
    assert not dest.exists()
    http_server.cut, http_server.ranges = False, ranges
    result = data.prepare_dataset(
        http_server.url("/PetImages.zip"), dest, download_dir=downloads, **SMALL
    )
    assert result.counts == COURSE_COUNTS
    assert http_server.requests[-1][1] is not None  # asked to resume with a Range request
    assert (downloads / "PetImages.zip").read_bytes() == petimages_zip.read_bytes()
    assert not (downloads / "PetImages.zip.part").exists()


def test_download_checks_size_and_reuses_complete_file(
    http_server: RangeServer, petimages_zip: Path, tmp_path: Path
) -> None:
    target = tmp_path / "x.zip"
    size = petimages_zip.stat().st_size
    with pytest.raises(DownloadError, match="expected"):
        data.download(
            http_server.url("/PetImages.zip"), target, expected_size=size + 1, progress=False
        )
    assert not target.exists() and not target.with_name("x.zip.part").exists()
    sha = hashlib.sha256(petimages_zip.read_bytes()).hexdigest()
    data.download(http_server.url("/PetImages.zip"), target, expected_sha256=sha, progress=False)
    served = len(http_server.requests)
    assert data.download(http_server.url("/PetImages.zip"), target, progress=False) == target
    assert len(http_server.requests) == served
    with pytest.raises(DownloadError, match="HTTP 404"):
        data.download(http_server.url("/nope.zip"), tmp_path / "n.zip", progress=False)


def test_part_longer_than_the_file_starts_again(
    http_server: RangeServer, petimages_zip: Path, tmp_path: Path
) -> None:
    """A ``.part`` of the same URL that is no prefix of the file (HTTP 416): start afresh."""
    url, target = http_server.url("/PetImages.zip"), tmp_path / "x.zip"
    body = petimages_zip.read_bytes()
    target.with_name("x.zip.part").write_bytes(body + b"stale tail")
    target.with_name("x.zip.part.json").write_text(json.dumps({"url": url}))
    assert data.download(url, target, progress=False) == target
    assert target.read_bytes() == body
    assert [r for _, r in http_server.requests] == [f"bytes={len(body) + 10}-", None]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.zip"]


def test_offline_url_fails_fast_naming_the_alternative(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(DownloadError) as caught:
        data.prepare_dataset(
            f"http://127.0.0.1:{port}/kagglecatsanddogs_5340.zip", tmp_path / "d", **SMALL
        )
    assert time.perf_counter() - started < 5
    message = str(caught.value)
    assert "SOURCE=" in message and "\n" not in message
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------------------------------
# Idempotence and atomic replacement


def test_second_run_is_a_no_op(course_folder: Path, tmp_path: Path) -> None:
    dest = tmp_path / "cats_and_dogs"
    data.prepare_dataset(course_folder, dest, **SMALL)
    source_before = tree_hashes(course_folder)
    mtimes = tree_mtimes(dest)
    time.sleep(0.01)
    again = data.prepare_dataset(course_folder, dest, **SMALL)
    assert again.skipped
    assert again.message.endswith("; nothing to do") and "already prepared from" in again.message
    assert again.counts == COURSE_COUNTS
    assert tree_mtimes(dest) == mtimes
    assert tree_hashes(course_folder) == source_before


def test_no_source_named_keeps_an_existing_data_set_offline(
    course_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "cats_and_dogs"
    data.prepare_dataset(course_folder, dest, **SMALL)
    monkeypatch.delenv("CATDOG_DATA_SOURCE", raising=False)
    # the default source is a URL: any attempt to download would fail here
    monkeypatch.setattr(config, "DEFAULT_SOURCE_URL", "http://127.0.0.1:9/never.zip")
    again = data.prepare_dataset(None, dest, **SMALL)
    assert again.skipped and str(course_folder) in again.message
    with pytest.raises(SourceError, match="SOURCE="):  # an empty destination still needs one
        data.prepare_dataset(None, tmp_path / "empty", **SMALL)


def test_rebuild_when_settings_change_or_dataset_damaged(
    course_folder: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "cats_and_dogs"
    data.prepare_dataset(course_folder, dest, **SMALL)
    smaller = data.prepare_dataset(
        course_folder, dest, train_per_class=10, test_per_class=3, progress=False
    )
    assert not smaller.skipped and smaller.counts[("training_set", "cats")] == 10
    assert len(list((dest / "training_set" / "cats").iterdir())) == 10
    (dest / "training_set" / "cats" / "cat.1.jpg").unlink()
    repaired = data.prepare_dataset(
        course_folder, dest, train_per_class=10, test_per_class=3, progress=False
    )
    assert not repaired.skipped and (dest / "training_set" / "cats" / "cat.1.jpg").is_file()
    assert leftovers(tmp_path) == []


def test_crash_leaves_old_dataset_and_no_half_one(
    course_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "cats_and_dogs"
    data.prepare_dataset(course_folder, dest, train_per_class=5, test_per_class=2, progress=False)
    before = tree_hashes(dest)

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(destination, "write_csv", crash)
    with pytest.raises(KeyboardInterrupt):
        data.prepare_dataset(course_folder, dest, **SMALL)
    assert tree_hashes(dest) == before
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    stale = tmp_path / ".cats_and_dogs.tmp-deadbeef"
    (stale / "training_set").mkdir(parents=True)
    result = data.prepare_dataset(course_folder, dest, **SMALL)
    assert result.counts == COURSE_COUNTS
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------
# Unsafe and broken sources


def test_path_traversal_zip_is_refused_before_writing(
    petimages_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before any photo is read or any file written, inside or outside the work
    folder (the absolute member names a file under ``tmp_path``, where it would land)."""
    from catdog_utils.data import photos

    read: list[str] = []
    checked = photos.Processor.__call__

    def spy(self: photos.Processor, job: tuple[object, Path]) -> photos.Outcome:
        read.append(str(job[1]))
        return checked(self, job)  # type: ignore[arg-type]

    monkeypatch.setattr(photos.Processor, "__call__", spy)
    with zipfile.ZipFile(petimages_zip) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    jpeg = members["PetImages/Dog/1.jpg"]
    absolute = (tmp_path / "abs.jpg").as_posix()
    for bad in ("../evil.jpg", absolute):
        evil = write_zip(tmp_path / "evil.zip", {**members, bad: jpeg})
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        with pytest.raises(UnsafeArchiveError, match=re.escape(repr(bad))):
            data.prepare_dataset(evil, work / "cats_and_dogs", **SMALL)
        assert list(work.iterdir()) == []
    assert read == []  # not one photo was read
    assert not (tmp_path / "evil.jpg").exists() and not Path(absolute).exists()


@pytest.mark.parametrize(
    "name",
    ["../x.jpg", "a/../../x.jpg", "a/b/../../../x.jpg", "/etc/x.jpg", "C:/x.jpg",
     "C:x.jpg", "..\\x.jpg", "a\\..\\..\\x.jpg", "\\\\server\\x.jpg"],
)  # fmt: skip
def test_safe_zip_members_refuses(tmp_path: Path, name: str) -> None:
    path = write_zip(tmp_path / "z.zip", {"ok/a.jpg": b"1", name: b"2"})
    with zipfile.ZipFile(path) as zf, pytest.raises(UnsafeArchiveError):
        data.safe_zip_members(zf)


def test_safe_zip_members_accepts_and_refuses_symlinks(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "z.zip", {"PetImages/Cat/1.jpg": b"1", "a/./b.jpg": b"2"})
    with zipfile.ZipFile(path) as zf:
        assert [m.filename for m in data.safe_zip_members(zf)] == [
            "PetImages/Cat/1.jpg",
            "a/./b.jpg",
        ]
    link = zipfile.ZipInfo("PetImages/Cat/link.jpg")
    link.external_attr = (0o120777 << 16) | 0
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(link, "/etc/passwd")
    with zipfile.ZipFile(path) as zf, pytest.raises(UnsafeArchiveError, match="symbolic"):
        data.safe_zip_members(zf)


def test_not_a_zip_and_truncated_zip(petimages_zip: Path, tmp_path: Path) -> None:
    fake = tmp_path / "photos.zip"
    fake.write_text("not a zip\n")
    with pytest.raises(SourceError, match="not a zip") as caught:
        data.prepare_dataset(fake, tmp_path / "d", **SMALL)
    assert "SOURCE=" in str(caught.value)
    cut = tmp_path / "cut.zip"
    content = petimages_zip.read_bytes()
    cut.write_bytes(content[: len(content) // 2])
    with pytest.raises(SourceError, match="not a zip"):
        data.prepare_dataset(cut, tmp_path / "d", **SMALL)
    assert not (tmp_path / "d").exists()


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="No such file or folder") as caught:
        data.prepare_dataset(tmp_path / "nowhere", tmp_path / "d", **SMALL)
    assert "SOURCE=" in str(caught.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="No cat and dog photos"):
        data.prepare_dataset(empty, tmp_path / "d", **SMALL)
    with pytest.raises(SourceError, match="only http"):
        data.prepare_dataset("ftp://example.org/x.zip", tmp_path / "d", **SMALL)
    assert not (tmp_path / "d").exists()


def test_class_folder_without_images(
    course_folder: Path, petimages_zip: Path, tmp_path: Path
) -> None:
    pets = tmp_path / "pets" / "PetImages"
    (pets / "Cat").mkdir(parents=True)
    (pets / "Cat" / "Thumbs.db").write_bytes(b"\0")
    (pets / "Dog").mkdir()
    (pets / "Dog" / "1.jpg").write_bytes(
        (course_folder / "training_set/dogs/dog.1.jpg").read_bytes()
    )
    with pytest.raises(SourceError, match=r"PetImages/Cat .*no images"):
        data.prepare_dataset(tmp_path / "pets", tmp_path / "d", **SMALL)
    (pets / "Cat").rename(pets / "Kitten")
    with pytest.raises(SourceError, match="no Cat folder"):
        data.prepare_dataset(tmp_path / "pets", tmp_path / "d", **SMALL)
    for p in (course_folder / "test_set" / "cats").iterdir():
        p.unlink()
    with pytest.raises(SourceError, match=r"test_set/cats .*no images"):
        data.prepare_dataset(course_folder, tmp_path / "d", **SMALL)
    (course_folder / "test_set" / "cats").rmdir()
    with pytest.raises(SourceError, match=r"no test_set/cats folder"):
        data.prepare_dataset(course_folder, tmp_path / "d", **SMALL)


def test_nested_petimages_folder_with_lowercase_names(course_folder: Path, tmp_path: Path) -> None:
    top = tmp_path / "src" / "kagglecatsanddogs" / "petimages"
    for cls in ("cats", "dogs"):
        (top / cls).mkdir(parents=True)
        for p in sorted((course_folder / "training_set" / cls).iterdir())[:6]:
            number = p.name.split(".")[1]
            (top / cls / f"{number}.jpg").write_bytes(p.read_bytes())
    (tmp_path / "src" / "__MACOSX" / "petimages" / "cats").mkdir(parents=True)
    result = data.prepare_dataset(
        tmp_path / "src", tmp_path / "d", train_per_class=4, test_per_class=2, progress=False
    )
    assert result.counts[("training_set", "dogs")] == 4
    assert result.counts[("test_set", "cats")] == 2
    assert (tmp_path / "d" / "training_set" / "dogs" / "dog.1.jpg").is_file()


# ---------------------------------------------------------------------------------------
# Destination


def test_unwritable_destination(course_folder: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("I am a file\n")
    with pytest.raises(DestinationError, match="CATDOG_DATA_DIR"):
        data.prepare_dataset(course_folder, blocker / "cats_and_dogs", **SMALL)
    with pytest.raises(DestinationError, match="is a file"):
        data.prepare_dataset(course_folder, blocker, **SMALL)
    with pytest.raises(DestinationError, match="overlaps the source"):
        data.prepare_dataset(course_folder, course_folder / "out", **SMALL)
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work\n")
    with pytest.raises(DestinationError, match="not a course data set"):
        data.prepare_dataset(course_folder, precious, **SMALL)
    assert (precious / "thesis.txt").is_file()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_read_only_destination_folder(course_folder: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(DestinationError):
            data.prepare_dataset(course_folder, locked / "cats_and_dogs", **SMALL)
    finally:
        locked.chmod(0o700)


def test_require_dataset_and_manifest(tiny_dataset: Path, tmp_path: Path) -> None:
    assert data.require_dataset(tiny_dataset) == tiny_dataset
    rows = data.read_manifest(tiny_dataset)
    assert len(rows) == 32 and {r.label for r in rows} == {0, 1}
    with pytest.raises(DataNotFoundError, match="make data") as caught:
        data.require_dataset(tmp_path / "missing")
    assert "\n" not in str(caught.value)
    partial = tmp_path / "partial"
    (partial / "training_set" / "cats").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match=r"incomplete.*make data"):
        data.require_dataset(partial)
    (partial / "manifest.csv").write_text("nonsense\n")
    with pytest.raises(DataNotFoundError, match="damaged"):
        data.read_manifest(partial)


def test_read_rejects(tiny_dataset: Path, tmp_path: Path) -> None:
    assert data.read_rejects(tiny_dataset) == []  # real photos: nothing left out
    with pytest.raises(DataNotFoundError, match="make data"):
        data.read_rejects(tmp_path)


# ---------------------------------------------------------------------------------------
# The pinned download and readable progress


def test_default_download_is_checked_against_the_pinned_figures(
    http_server: RangeServer, petimages_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong file served at the default URL is deleted and reported in one line."""
    url = http_server.url("/PetImages.zip")
    monkeypatch.setattr(config, "DEFAULT_SOURCE_URL", url)
    downloads = tmp_path / "downloads"
    args = {"download_dir": downloads, **SMALL}
    with pytest.raises(DownloadError, match=f"expected {fetch.EXPECTED_SIZE:,}") as caught:
        data.prepare_dataset(url, tmp_path / "d", **args)
    assert "\n" not in str(caught.value) and "SOURCE=" in str(caught.value)
    assert list(downloads.glob("*")) == [] and not (tmp_path / "d").exists()
    # the right size but not Microsoft's bytes: the SHA-256 catches it
    monkeypatch.setattr(fetch, "EXPECTED_SIZE", petimages_zip.stat().st_size)
    with pytest.raises(DownloadError, match="wrong SHA-256"):
        data.prepare_dataset(url, tmp_path / "d", **args)
    assert list(downloads.glob("*")) == [] and not (tmp_path / "d").exists()
    # the same file under another URL is not checked against Microsoft's figures
    http_server.files["/other.zip"] = http_server.files["/PetImages.zip"]
    result = data.prepare_dataset(http_server.url("/other.zip"), tmp_path / "d", **args)
    assert result.counts == COURSE_COUNTS
    # ... and with the pinned figures matching, the default URL is accepted
    monkeypatch.setattr(
        fetch, "EXPECTED_SHA256", hashlib.sha256(petimages_zip.read_bytes()).hexdigest()
    )
    assert data.prepare_dataset(url, tmp_path / "d2", **args).counts == COURSE_COUNTS


def test_progress_in_a_log_is_a_few_lines(
    course_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Output that is not a terminal gets whole lines every 10 %, no carriage returns."""
    log = io.StringIO()
    bar = progress.progress_bar(1000, "checking photos", "img", stream=log)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 10  # 10 %, ..., 90 %, then done
    assert lines[0].startswith("checking photos: 10 % (100 of 1,000 img)")
    assert lines[-1].startswith("checking photos: 100 % (1,000 of 1,000 img)")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert type(progress.progress_bar(10, "x", "B", stream=Terminal())).__name__ == "tqdm"
    data.prepare_dataset(
        course_folder, tmp_path / "d", train_per_class=12, test_per_class=4, progress=True
    )
    err = capsys.readouterr().err
    assert "\r" not in err and 1 <= len(err.splitlines()) <= 12, err
