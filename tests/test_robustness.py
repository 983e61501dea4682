"""Every bad input gets a clear answer, and nothing is lost: the Python API and ``catdog``.

Each table below lists bad inputs a learner can meet (a data source, a photo, a model file)
and checks both doors: the Python function raises (or reports) a clear, one-line error, and
the ``catdog`` command gives exit code 2 with that same line on stderr (per-file problems
are reported on the file's own line instead).  Data cases also check that nothing was
written.  A few tests run the real command in a subprocess to prove there is no traceback
and no start-up noise; the rest call :func:`catdog_utils.cli.main` in this process.
``CATDOG_HOME`` and ``CATDOG_DATA_DIR`` always point at temporary folders.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from helpers import (
    RangeServer,
    assert_one_line_error,
    encoded,
    lambda_model,
    run_catdog,
    run_cli,
    run_python,
    serve,
    write_zip,
)
from PIL import Image

if TYPE_CHECKING:
    import keras

from catdog_utils import cli, data, predict, training
from catdog_utils.errors import (
    CatdogError,
    DataNotFoundError,
    DestinationError,
    DownloadError,
    ModelLoadError,
    SourceError,
    UnsafeArchiveError,
)

SIZE = {"train_per_class": 2, "test_per_class": 1}
SIZE_ARGS = ("--train-per-class", "2", "--test-per-class", "1")

# ---------------------------------------------------------------------------------------
# Helpers


# Every test here runs with the course pointed at an empty folder (conftest.isolated_home).
pytestmark = pytest.mark.usefixtures("isolated_home")


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Everything under ``folder``: path -> bytes (``None`` for a folder)."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def real_photos(shared_photo: Callable[[str, int], Path]) -> dict[str, bytes]:
    """Bytes of three real cat and three real dog photos, as ``PetImages/Cat/1.jpg`` ..."""
    return {
        f"PetImages/{cls.title()}/{n}.jpg": shared_photo(cls, n).read_bytes()
        for cls in ("cat", "dog")
        for n in (1, 2, 3)
    }


def write_tree(root: Path, members: dict[str, bytes]) -> Path:
    """A folder holding ``members`` (relative paths)."""
    for name, content in members.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


# ---------------------------------------------------------------------------------------
# Data sources and destinations: API and `catdog data`


@dataclass(frozen=True)
class DataCase:
    """A bad ``catdog data`` call: how to set it up and what the learner must read."""

    make: Callable[[Path, Path, dict[str, bytes]], tuple[str, Path]]  # (src, work, photos)
    error: type[CatdogError]
    says: str  # what went wrong
    fix: str  # part of the command that fixes it


def _closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/kagglecatsanddogs_5340.zip"


def _unsafe_zip(member: str) -> Callable[[Path, Path, dict[str, bytes]], tuple[str, Path]]:
    def make(src: Path, work: Path, photos: dict[str, bytes]) -> tuple[str, Path]:
        evil = {**photos, member: photos["PetImages/Dog/1.jpg"]}
        return str(write_zip(src / "evil.zip", evil)), work / "cats_and_dogs"

    return make


def _half_zip(src: Path, work: Path, photos: dict[str, bytes]) -> tuple[str, Path]:
    whole = write_zip(src / "whole.zip", photos).read_bytes()
    (src / "cut.zip").write_bytes(whole[: len(whole) // 2])
    return str(src / "cut.zip"), work / "cats_and_dogs"


def _no_cat_images(src: Path, work: Path, photos: dict[str, bytes]) -> tuple[str, Path]:
    dogs = {k: v for k, v in photos.items() if "/Dog/" in k}
    write_tree(src / "pets", {**dogs, "PetImages/Cat/Thumbs.db": b"\0" * 16})
    return str(src / "pets"), work / "cats_and_dogs"


def _good_source_to(dest: Callable[[Path], Path]) -> Callable[..., tuple[str, Path]]:
    def make(src: Path, work: Path, photos: dict[str, bytes]) -> tuple[str, Path]:
        return str(write_tree(src / "pets", photos)), dest(work)

    return make


def _file_at(path: Path) -> Path:
    path.write_text("I am a file, not a folder\n")
    return path


def _precious_folder(work: Path) -> Path:
    (work / "home").mkdir()
    (work / "home" / "thesis.txt").write_text("years of work\n")
    return work / "home"


DATA_CASES = {
    "missing-source": DataCase(
        lambda src, work, _: (str(src / "nowhere"), work / "cats_and_dogs"),
        SourceError, "No such file or folder", "make data SOURCE=",
    ),
    "empty-folder": DataCase(
        lambda src, work, _: (str(src), work / "cats_and_dogs"),
        SourceError, "No cat and dog photos found", "make data SOURCE=",
    ),
    "class-folder-without-images": DataCase(
        _no_cat_images, SourceError, "PetImages/Cat in", "put the photos there",
    ),
    "not-a-zip": DataCase(
        lambda src, work, _: (str(_file_at(src / "photos.zip")), work / "cats_and_dogs"),
        SourceError, "is not a zip file", "make data SOURCE=",
    ),
    "truncated-zip": DataCase(_half_zip, SourceError, "is not a zip file", "download it again"),
    "zip-with-dotdot": DataCase(
        _unsafe_zip("../evil.jpg"), UnsafeArchiveError, "'../evil.jpg' ('..' in path)",
        "make data SOURCE=/path/to/a/trusted.zip",
    ),
    "zip-with-absolute-path": DataCase(
        _unsafe_zip("/tmp/catdog-evil.jpg"), UnsafeArchiveError, "(absolute path)",
        "make data SOURCE=/path/to/a/trusted.zip",
    ),
    "dest-parent-is-a-file": DataCase(
        _good_source_to(lambda work: _file_at(work / "a_file") / "cats_and_dogs"),
        DestinationError, "Cannot create the folder", "CATDOG_DATA_DIR=",
    ),
    "dest-is-a-file": DataCase(
        _good_source_to(lambda work: _file_at(work / "cats_and_dogs")),
        DestinationError, "is a file, not a folder", "CATDOG_DATA_DIR=",
    ),
    "dest-holds-other-files": DataCase(
        _good_source_to(_precious_folder),
        DestinationError, "is not a course data set, so it will not be replaced",
        "CATDOG_DATA_DIR=",
    ),
    "offline-url": DataCase(
        lambda src, work, _: (_closed_port_url(), work / "cats_and_dogs"),
        DownloadError, "are you offline?", "make data SOURCE=",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", DATA_CASES.values(), ids=DATA_CASES.keys())
def test_bad_data_source_or_destination(
    case: DataCase,
    real_photos: dict[str, bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src, work = tmp_path / "src", tmp_path / "work"
    src.mkdir()
    work.mkdir()
    source, dest = case.make(src, work, real_photos)
    before_work, before_src = snapshot(work), snapshot(src)

    with pytest.raises(case.error) as caught:
        data.prepare_dataset(source, dest, progress=False, **SIZE)
    message = str(caught.value)
    assert case.says in message and case.fix in message and "\n" not in message

    code, out, err = run_cli(
        capsys, "data", "--source", source, "--dest", dest, *SIZE_ARGS, "--no-progress"
    )
    assert (code, out) == (2, "")
    assert assert_one_line_error(err) == message  # the same words through both doors
    # nothing written, nothing left behind, the source untouched
    assert snapshot(work) == before_work and snapshot(src) == before_src
    assert not Path("/tmp/catdog-evil.jpg").exists() and not (tmp_path / "evil.jpg").exists()


@pytest.mark.parametrize("state", ["missing", "empty", "half-built"])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_no_data_yet_says_make_data(
    command: str, state: str, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = isolated_home / "data" / "cats_and_dogs"  # $CATDOG_DATA_DIR
    if state != "missing":
        dest.mkdir(parents=True)
    if state == "half-built":
        (dest / "training_set" / "cats").mkdir(parents=True)
    with pytest.raises(DataNotFoundError) as caught:
        data.require_dataset()
    code, out, err = run_cli(capsys, command, "--profile", "quick")
    assert (code, out) == (2, "")
    assert assert_one_line_error(err, str(dest), "run `make data`") == str(caught.value)
    assert not (isolated_home / "models").exists()  # nothing trained, nothing saved


@pytest.fixture
def zip_server(real_photos: dict[str, bytes], tmp_path: Path) -> Iterator[RangeServer]:
    """A local HTTP server handing out a small PetImages zip as ``/pets.zip``."""
    with serve(
        {"/pets.zip": write_zip(tmp_path / "served.zip", real_photos).read_bytes()}
    ) as server:
        yield server


def test_download_cut_off_then_resumed_by_the_same_command(
    zip_server: RangeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = zip_server.url("/pets.zip")
    body = zip_server.files["/pets.zip"]
    dest = tmp_path / "work" / "cats_and_dogs"
    downloads = dest.parent / "downloads"
    argv = ("data", "--source", url, "--dest", dest, *SIZE_ARGS, "--no-progress")
    zip_server.cut = True
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert_one_line_error(err, "was cut off", "run `make data` again to resume")
    assert not dest.exists() and not (downloads / "pets.zip").exists()  # partial not used
    part = downloads / "pets.zip.part"
    assert 0 < part.stat().st_size < len(body)

    cut_at = part.stat().st_size

    zip_server.cut = False
    code, out, err = run_cli(capsys, *argv)
    assert (code, err) == (0, "")
    assert out.startswith(f"Prepared {dest} from URL {url}")
    assert zip_server.requests[-1][1] == f"bytes={cut_at}-"  # resumed where it was cut off
    assert (downloads / "pets.zip").read_bytes() == body and not part.exists()
    assert len(data.read_manifest(dest)) == 6


# ---------------------------------------------------------------------------------------
# Photos given to `catdog predict`: per-file answers


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width x height`` RGB pixels (a few KB on disk)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + 3 * width) * 4)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


def jpeg_header_bomb(width: int, height: int) -> bytes:
    """A small JPEG whose start-of-frame is patched to declare ``width x height``."""
    jpeg = bytearray(encoded(Image.new("RGB", (16, 16), (200, 120, 40)), "JPEG"))
    at = 2
    while jpeg[at + 1] not in (0xC0, 0xC1, 0xC2):  # walk the segments to the frame header
        at += 2 + struct.unpack(">H", jpeg[at + 2 : at + 4])[0]
    jpeg[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(jpeg)


def _exif_rotated(photo: Image.Image) -> bytes:
    """A phone-style JPEG: pixels stored on their side, EXIF orientation 6 to stand up."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(photo.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)


def _with_alpha(photo: Image.Image) -> Image.Image:
    rgba = photo.convert("RGBA")
    rgba.putalpha(160)
    return rgba


#: file content (from the photo's pixels and its JPEG bytes) -> expected answer:
#: "same" (the photo's own pixels: same probability as the reference PNG), "ok", or the
#: reason the file's line must give.
IMAGE_CASES: dict[str, tuple[Callable[[Image.Image, bytes], bytes], str]] = {
    "zero-byte": (lambda im, raw: b"", "empty file (0 bytes)"),
    "truncated-jpeg": (lambda im, raw: raw[: len(raw) // 2], "truncated or corrupt image"),
    "text-named-jpg": (lambda im, raw: b"<html>404 not found</html>\n", "not an image"),
    "png-content": (lambda im, raw: encoded(im, "PNG"), "same"),
    "bmp-content": (lambda im, raw: encoded(im, "BMP"), "same"),
    "webp-content": (lambda im, raw: encoded(im, "WEBP", lossless=True), "same"),
    "gif-content": (lambda im, raw: encoded(im, "GIF"), "ok"),
    "grayscale": (lambda im, raw: encoded(im.convert("L"), "JPEG"), "ok"),
    "cmyk": (lambda im, raw: encoded(im.convert("CMYK"), "JPEG"), "ok"),
    "palette": (lambda im, raw: encoded(im.convert("P"), "PNG"), "ok"),
    "rgba": (lambda im, raw: encoded(_with_alpha(im), "PNG"), "ok"),
    "two-by-two": (lambda im, raw: encoded(im.resize((2, 2)), "PNG"), "ok"),
    "exif-orientation": (lambda im, raw: _exif_rotated(im), "upright"),
    "bomb-png-20000x20000": (lambda im, raw: png_header_bomb(20_000, 20_000), "too many pixels"),
    "bomb-jpeg-20000x20000": (lambda im, raw: jpeg_header_bomb(20_000, 20_000), "too many pixels"),
    "bomb-png-10000x10000": (
        lambda im, raw: png_header_bomb(10_000, 10_000),
        "too many pixels (10000x10000 > 40,000,000 allowed)",
    ),
}


@dataclass
class PhotoRun:
    """The photo folder, the API's and the command's answers for each file name."""

    folder: Path
    model: keras.Model
    api: dict[str, predict.Prediction]
    cli_json: dict[str, dict]
    cli_plain: dict[str, list[str]]
    cli_codes: tuple[int, int]
    cli_stderr: str
    reference: float  # probability of the photo's own pixels (a PNG)
    upright: float  # probability of the EXIF case's upright pixels


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained baseline CNN's ``.keras`` file (its output depends on every pixel)."""
    from catdog_utils import models

    folder = tmp_path_factory.mktemp("robust_model")
    return training.save_model_atomic(models.build_baseline_cnn(64), folder / "baseline.keras")


@pytest.fixture(scope="module")
def photo_run(
    model_file: Path,
    shared_photo: Callable[[str, int], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> PhotoRun:
    """Write one file per case into a folder; predict it through the API and the command."""
    import contextlib

    root = tmp_path_factory.mktemp("photos")
    folder, refs = root / "bad_and_odd", root / "refs"
    folder.mkdir()
    refs.mkdir()
    raw = shared_photo("dog", 7).read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        photo = im.convert("RGB")
    for name, (make, _) in IMAGE_CASES.items():
        (folder / f"{name}.jpg").write_bytes(make(photo, raw))  # every one named .jpg
    photo.save(refs / "reference.png")
    with Image.open(folder / "exif-orientation.jpg") as stored:  # decode, then stand it up
        stored.convert("RGB").transpose(Image.Transpose.ROTATE_270).save(refs / "upright.png")

    model = predict.load_model(model_file)
    files = predict.expand_inputs([folder])
    with warnings.catch_warnings():  # Pillow's own warning for the 100 Mpx bomb; ours is the error
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        api = {p.file.stem: p for p in predict.predict_images(model, files)}
    reference, upright = predict.predict_images(
        model, [refs / "reference.png", refs / "upright.png"]
    )

    outputs = []
    for extra in (["--json"], []):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["predict", str(folder), "--model", str(model_file), *extra])
        outputs.append((code, out.getvalue(), err.getvalue()))
    (code_json, out_json, err_json), (code_plain, out_plain, _) = outputs
    return PhotoRun(
        folder=folder,
        model=model,
        api=api,
        cli_json={Path(r["file"]).stem: r for r in map(json.loads, out_json.splitlines())},
        cli_plain={Path(f.split("\t")[0]).stem: f.split("\t") for f in out_plain.splitlines()},
        cli_codes=(code_json, code_plain),
        cli_stderr=err_json,
        reference=float(reference.probability_dog),
        upright=float(upright.probability_dog),
    )


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # ours is the error
@pytest.mark.parametrize("name", IMAGE_CASES)
def test_photo_gets_an_answer_on_its_own_line(photo_run: PhotoRun, name: str) -> None:
    expected = IMAGE_CASES[name][1]
    api, line, plain = photo_run.api[name], photo_run.cli_json[name], photo_run.cli_plain[name]
    assert line == api.to_dict()
    if expected in ("ok", "same", "upright"):
        assert api.ok and api.label in ("cat", "dog") and 0.0 <= api.probability_dog <= 1.0
        assert plain[1:] == [api.label, f"{api.probability_dog:.4f}"]
        if expected == "same":  # another format, the same pixels: the same answer
            assert api.probability_dog == pytest.approx(photo_run.reference, abs=1e-5)
        if expected == "upright":  # EXIF orientation honoured
            assert api.probability_dog == pytest.approx(photo_run.upright, abs=1e-5)
            # ... and not ignored: the model is given the upright pixels, not the stored ones
            # (pixels, not probabilities: an untrained model's answers for the two can agree
            # to 1e-5, depending on its random weights)
            refs = photo_run.folder.parent / "refs"
            given = predict.prepare_image(photo_run.folder / f"{name}.jpg", 64)
            assert np.array_equal(given, predict.prepare_image(refs / "upright.png", 64))
            assert not np.array_equal(given, predict.prepare_image(refs / "reference.png", 64))
    else:
        assert api.label is None and api.probability_dog is None
        if "too many pixels" in expected:  # refused from the header, without decoding
            started = time.perf_counter()
            assert predict.predict_image(photo_run.model, photo_run.folder / f"{name}.jpg").error
            assert time.perf_counter() - started < 1.0
        assert expected in api.error and f"{name}.jpg" in api.error
        assert "use a JPEG or PNG photo" in api.error and "\n" not in api.error
        assert plain[1:] == ["error", api.error]


def test_mixed_folder_exit_code_and_summary(photo_run: PhotoRun) -> None:
    n_bad = sum(1 for _, answer in IMAGE_CASES.values() if answer not in ("ok", "same", "upright"))
    assert photo_run.cli_codes == (0, 0)  # at least one photo worked
    assert (
        photo_run.cli_stderr == f"catdog: {n_bad} of {len(IMAGE_CASES)} file(s) could not be read\n"
    )


def test_folder_where_nothing_works_exits_1(
    photo_run: PhotoRun, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = ["zero-byte", "text-named-jpg", "bomb-png-20000x20000"]
    paths = [photo_run.folder / f"{name}.jpg" for name in bad]
    code, out, err = run_cli(capsys, "predict", *paths, "--model", model_file)
    assert code == 1 and len(out.splitlines()) == 3
    assert all(line.split("\t")[1] == "error" for line in out.splitlines())
    assert err == "catdog: 3 of 3 file(s) could not be read\n"


_MIXED_FOLDER_SCRIPT = """
import sys
from catdog_utils import cli

model, warm_up, folder = sys.argv[1:]
cli.main(["predict", warm_up, "--model", model])  # TensorFlow, the model and one photo
sys.exit(cli.main(["predict", folder, "--model", model]))
"""

_BOMB_UNDER_MEMORY_LIMIT = """
import resource, sys
from catdog_utils import errors, images

with open("/proc/self/statm") as fh:
    in_use = int(fh.read().split()[0]) * resource.getpagesize()
limit = in_use + 300 * 2**20  # the 20000 x 20000 photo would need 1.2 GB once decoded
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
for path in sys.argv[1:]:
    try:
        images.load_image(path)
    except errors.ImageError as err:
        print("refused:", err)
    else:
        sys.exit(f"decoded {path}")
"""


def test_real_command_on_mixed_folder_gives_clean_stderr(
    photo_run: PhotoRun, model_file: Path, isolated_home: Path
) -> None:
    """A fresh process runs ``catdog predict`` on the whole folder, bombs included.

    Exit code 0 (some photos worked), exactly one line on stderr (no traceback, no
    TensorFlow start-up noise, no Pillow warning), one stdout line per file.
    """
    warm_up = photo_run.folder / "png-content.jpg"
    result = run_python(_MIXED_FOLDER_SCRIPT, isolated_home, model_file, warm_up, photo_run.folder)
    assert result.returncode == 0, result.stderr
    assert result.stderr == photo_run.cli_stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{warm_up}\t") and len(lines) == len(IMAGE_CASES) + 1
    assert lines[1:] == ["\t".join(fields) for fields in photo_run.cli_plain.values()]


def test_bombs_are_refused_within_a_small_memory_limit(
    photo_run: PhotoRun, isolated_home: Path
) -> None:
    """Under an address-space limit 300 MB above what the process uses, each bomb is refused
    with an ImageError: decoding one (1.2 GB) would fail with MemoryError instead."""
    bombs = [photo_run.folder / f"{name}.jpg" for name in IMAGE_CASES if name.startswith("bomb")]
    assert len(bombs) >= 2
    result = run_python(_BOMB_UNDER_MEMORY_LIMIT, isolated_home, *bombs)
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.count("refused:") == len(bombs)
    assert "too many pixels" in result.stdout


# ---------------------------------------------------------------------------------------
# Model files: API and `catdog predict --model`


def _keras_model(input_shape: tuple[int, ...], units: int = 1) -> object:
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(units, activation="sigmoid")(x))


def _save(model: object, path: Path) -> Path:
    return training.save_model_atomic(model, path)  # type: ignore[arg-type]


MODEL_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda d: d / "nowhere.keras", "No model at"),
    "text-file": (
        lambda d: _write(d / "notes.keras", b"my best model\n"),
        "is not a Keras model file (not a zip archive",
    ),
    "zip-without-config": (
        lambda d: write_zip(d / "photos.keras", {"cat.jpg": b"x"}),
        "no config.json inside",
    ),
    "h5-file": (lambda d: _write(d / "model.h5", b"\x89HDF\r\n\x1a\n"), ".h5 is the old Keras 2"),
    "folder": (lambda d: _mkdir(d / "saved_model"), "is a folder (a TensorFlow SavedModel?)"),
    "grayscale-input": (
        lambda d: _save(_keras_model((64, 64, 1)), d / "grey.keras"),
        "expects input shape (None, 64, 64, 1)",
    ),
    "two-outputs": (
        lambda d: _save(_keras_model((64, 64, 3), units=2), d / "two.keras"),
        "gives output shape (None, 2)",
    ),
    "unsafe-lambda": (
        lambda d: _save(lambda_model(d / "marker.txt"), d / "lambda.keras"),
        "Lambda layer with Python code",
    ),
}


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    (path / "saved_model.pb").write_bytes(b"\0")
    return path


@pytest.mark.parametrize("name", MODEL_CASES)
def test_bad_model_file(
    name: str,
    photo_run: PhotoRun,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make, says = MODEL_CASES[name]
    path = make(tmp_path)
    (tmp_path / "marker.txt").unlink(missing_ok=True)  # building the Lambda model ran it once
    with pytest.raises(ModelLoadError) as caught:
        predict.load_model(path)
    message = str(caught.value)
    assert says in message and "\n" not in message
    assert "catdog train" in message or "check its permissions" in message  # a way out
    photo = photo_run.folder / "png-content.jpg"
    for command in (["predict", photo], ["evaluate"]):
        code, out, err = run_cli(capsys, *command, "--model", path)
        assert (code, out) == (2, "")
        if command[0] == "predict":
            assert assert_one_line_error(err) == message
        else:  # evaluate checks the data first: no data here, so it says `make data`
            assert_one_line_error(err, "make data")
    assert not (tmp_path / "marker.txt").exists()  # the Lambda's code never ran


def test_real_command_refuses_unsafe_model_in_one_line(
    photo_run: PhotoRun, tmp_path: Path, isolated_home: Path
) -> None:
    marker = tmp_path / "marker.txt"
    path = _save(lambda_model(marker), tmp_path / "lambda.keras")
    marker.unlink()
    photo = photo_run.folder / "png-content.jpg"
    result = run_catdog(["predict", photo, "--model", path], isolated_home)
    assert (result.returncode, result.stdout) == (2, "")
    assert_one_line_error(result.stderr, f"Refusing to load {path}", "Lambda layer")
    assert not marker.exists()


# ---------------------------------------------------------------------------------------
# Training outputs: a crash while saving never replaces a good file with a broken one


def test_ctrl_c_while_saving_model_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/test_training.py covers a full disk (OSError); Ctrl-C is a BaseException."""
    folder = tmp_path / "models"
    path = _save(_keras_model((16, 16, 3)), folder / "model.keras")
    good = path.read_bytes()
    newer = _keras_model((16, 16, 3))

    def save_half_then_crash(self: object, target: str | Path, *args: object, **kw: object) -> None:
        Path(target).write_bytes(good[: len(good) // 3])  # a half-written zip
        raise KeyboardInterrupt

    monkeypatch.setattr(type(newer), "save", save_half_then_crash)
    with pytest.raises(KeyboardInterrupt):
        training.save_model_atomic(newer, path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert [p.name for p in folder.iterdir()] == ["model.keras"]  # no temporary file left
    assert predict.model_image_size(predict.load_model(path)) == (16, 16)


def test_crash_while_saving_history_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "models"
    path = training.save_history({"loss": [0.7]}, folder / "model.history.json")

    def fsync_fails(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync_fails)  # wherever the writer lives
    with pytest.raises(OSError, match="No space"):
        training.save_history({"loss": [0.7, 0.5]}, path)
    monkeypatch.undo()
    assert training.load_history(path) == {"loss": [0.7]}
    assert [p.name for p in folder.iterdir()] == ["model.history.json"]
