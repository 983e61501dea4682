"""Tests for catdog_utils.images: the one door every image goes through."""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from catdog_utils import config, images
from catdog_utils.errors import ImageError


@pytest.fixture(scope="module")
def photo(shared_photo: Callable[[str, int], Path]) -> Image.Image:
    """A real cat photo, made small (64 x 48) so every format test is quick."""
    with Image.open(shared_photo("cat", 1)) as im:
        return im.convert("RGB").resize((64, 48))


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """Save a Pillow image to bytes in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width x height`` black pixels, compressed very small."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    packer = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 arrays."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# ---------------------------------------------------------------------------------------
# Good images


def test_real_jpeg_from_path_and_bytes(shared_photo: Callable[[str, int], Path]) -> None:
    path = shared_photo("dog", 2)
    from_path = images.load_image(path)
    from_bytes = images.load_image(path.read_bytes())
    from_str = images.load_image(str(path))
    with Image.open(path) as im:
        expected = np.asarray(im.convert("RGB"))
    assert from_path.dtype == np.uint8 and from_path.shape == expected.shape
    assert from_path.shape[2] == 3
    np.testing.assert_array_equal(from_path, expected)
    np.testing.assert_array_equal(from_bytes, expected)
    np.testing.assert_array_equal(from_str, expected)
    from_path[0, 0, 0] = 7  # the result is the caller's to change
    info = images.inspect_image(path)
    assert (info.format, info.mode, info.size) == ("JPEG", "RGB", expected.shape[1::-1])
    assert info.is_rgb_jpeg and info.orientation == 1 and not info.has_alpha


@pytest.mark.parametrize(
    ("fmt", "mode", "tolerance"),
    [
        ("JPEG", "L", 40),
        ("JPEG", "CMYK", 20),
        ("PNG", "RGB", 0),
        ("PNG", "L", 40),
        ("PNG", "P", 25),
        ("PNG", "1", 128),
        ("PNG", "I;16", 40),
        ("GIF", "P", 25),
        ("BMP", "RGB", 0),
        ("BMP", "P", 25),
        ("WEBP", "RGB", 12),
        ("TIFF", "RGB", 0),
        ("TIFF", "CMYK", 1),
        ("TIFF", "L", 40),
        ("PPM", "RGB", 0),
    ],
)
def test_formats_and_modes_become_rgb(
    photo: Image.Image, fmt: str, mode: str, tolerance: float
) -> None:
    if mode == "I;16":  # 16-bit grey using the full 0..65535 range, as scanners write it
        grey = np.asarray(photo.convert("L")).astype(np.uint16) * 257
        source = Image.fromarray(grey)
    else:
        source = photo.convert(mode)
    data = encode(source, fmt)
    info = images.inspect_image(data)
    assert info.format == fmt
    assert info.size == photo.size
    assert info.is_rgb_jpeg is False
    pixels = images.load_image(data)
    assert pixels.shape == (48, 64, 3) and pixels.dtype == np.uint8
    assert mean_abs_diff(pixels, np.asarray(photo)) <= tolerance


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    ramp = np.linspace(0, 65535, 16, dtype=np.uint16).reshape(1, 16).repeat(4, axis=0)
    data = encode(Image.fromarray(ramp), "PNG")
    pixels = images.load_image(data)
    assert pixels[0, 0].tolist() == [0, 0, 0]
    assert pixels[0, -1].tolist() == [255, 255, 255]
    middle = pixels[0, 8, 0]
    assert 120 <= middle <= 145  # 8/15 of full scale, not clipped to 255


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparency_is_laid_on_white(photo: Image.Image, mode: str) -> None:
    rgba = photo.convert("RGBA")
    alpha = np.full((48, 64), 255, dtype=np.uint8)
    alpha[:, :32] = 0  # left half fully transparent
    rgba.putalpha(Image.fromarray(alpha))
    data = encode(rgba.convert(mode), "PNG")
    info = images.inspect_image(data)
    assert info.has_alpha and info.mode == mode
    pixels = images.load_image(data)
    assert pixels.shape == (48, 64, 3)
    assert (pixels[:, :32] == 255).all()
    assert not (pixels[:, 32:] == 255).all()


def test_palette_with_transparent_colour_and_webp_alpha(photo: Image.Image) -> None:
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    palette.paste(1, (4, 0, 8, 8))
    data = encode(palette, "PNG", transparency=0)
    pixels = images.load_image(data)
    assert (pixels[:, :4] == 255).all()
    assert pixels[0, 6].tolist() == [200, 10, 10]
    rgba = photo.convert("RGBA")
    rgba.putalpha(0)
    webp = images.load_image(encode(rgba, "WEBP", lossless=True))
    assert (webp == 255).all()


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (10, 6), colour) for colour in ("red", "lime", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    info = images.inspect_image(buffer.getvalue())
    assert info.n_frames == 3
    pixels = images.load_image(buffer.getvalue())
    assert pixels.shape == (6, 10, 3)
    assert pixels[3, 5].tolist() == [255, 0, 0]


def test_one_pixel_image() -> None:
    data = encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG")
    assert images.load_image(data).tolist() == [[[10, 20, 30]]]
    assert images.load_image(data, max_pixels=1).shape == (1, 1, 3)


# ---------------------------------------------------------------------------------------
# EXIF orientation


def with_orientation(image: Image.Image, orientation: int) -> bytes:
    """JPEG bytes of ``image`` with EXIF orientation ``orientation``."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", exif=exif, quality=95)


def test_exif_orientation_6_turns_a_real_photo(shared_photo: Callable[[str, int], Path]) -> None:
    with Image.open(shared_photo("cat", 3)) as im:
        photo = im.convert("RGB")
    height, width = photo.height, photo.width
    assert height != width
    data = with_orientation(photo, 6)
    assert images.inspect_image(data).orientation == 6
    turned = images.load_image(data)
    assert turned.shape == (width, height, 3)
    assert images.load_image(data, exif_transpose=False).shape == (height, width, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(photo: Image.Image, orientation: int) -> None:
    data = with_orientation(photo, orientation)
    with Image.open(io.BytesIO(data)) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(images.load_image(data), expected)


# ---------------------------------------------------------------------------------------
# Bad files


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = png_bomb(30_000, 30_000)  # 900 megapixels, ~110 KB of file
    assert len(bomb) < 200_000
    started = time.perf_counter()
    with pytest.raises(ImageError, match="too many pixels"):
        images.load_image(bomb, name="bomb.png")
    with pytest.raises(ImageError, match="too many pixels"):
        images.inspect_image(bomb)
    assert time.perf_counter() - started < 2


def test_pixel_limit_is_ours_not_pillows() -> None:
    over_default = png_bomb(8_000, 6_000)  # 48 Mpx: under Pillow's limit, over the course's
    assert config.MAX_IMAGE_PIXELS < 8_000 * 6_000
    with pytest.raises(ImageError, match=r"8000x6000 > 40,000,000"):
        images.load_image(over_default)
    small = encode(Image.new("RGB", (20, 20)), "PNG")
    with pytest.raises(ImageError, match="too many pixels"):
        images.load_image(small, max_pixels=399)
    assert images.load_image(small, max_pixels=400).shape == (20, 20, 3)


def test_pillow_globals_are_left_alone() -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    with pytest.raises(ImageError):
        images.load_image(png_bomb(8_000, 6_000), max_pixels=1000)
    images.load_image(encode(Image.new("RGB", (4, 4)), "PNG"))
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_bad_files_name_the_file(tmp_path: Path, shared_photo: Callable[[str, int], Path]) -> None:
    real = shared_photo("cat", 4).read_bytes()
    cases = {
        "empty.jpg": (b"", "empty"),
        "text.jpg": (b"this is not a picture\n" * 10, "not an image"),
        "truncated.jpg": (real[: len(real) // 2], "truncated"),
    }
    for name, (content, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ImageError, match=reason) as caught:
            images.load_image(path)
        assert name in str(caught.value) and "\n" not in str(caught.value)
        with pytest.raises(ImageError, match=reason):
            images.load_image(content, name=name)
    with pytest.raises(ImageError, match="no such file"):
        images.load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="folder"):
        images.load_image(tmp_path)


def test_truncated_jpeg_is_caught_only_by_a_full_decode(
    shared_photo: Callable[[str, int], Path],
) -> None:
    real = shared_photo("dog", 5).read_bytes()
    cut = real[: int(len(real) * 0.7)]
    assert images.inspect_image(cut, full_decode=False).format == "JPEG"
    with pytest.raises(ImageError, match="truncated"):
        images.inspect_image(cut)


# ---------------------------------------------------------------------------------------
# Helpers


def test_encode_jpeg_round_trip(photo: Image.Image) -> None:
    pixels = np.asarray(photo)
    data = images.encode_jpeg(pixels)
    info = images.inspect_image(data)
    assert info.is_rgb_jpeg and info.size == (64, 48)
    assert mean_abs_diff(images.load_image(data), pixels) < 4
    with pytest.raises(ValueError, match="HxWx3"):
        images.encode_jpeg(pixels[:, :, 0])
    with pytest.raises(ValueError, match="HxWx3"):
        images.encode_jpeg(pixels.astype(np.float32))
    with pytest.raises(ValueError, match="quality"):
        images.encode_jpeg(pixels, quality=0)


def test_is_image_name() -> None:
    assert images.is_image_name("cat.1.jpg")
    assert images.is_image_name(Path("x/DOG.JPEG"))
    assert images.is_image_name("a.png") and images.is_image_name("a.WebP")
    assert not images.is_image_name("notes.txt")
    assert not images.is_image_name("Thumbs.db")
    assert not images.is_image_name("._cat.1.jpg")
    assert ".jpg" in images.IMAGE_EXTENSIONS


@pytest.mark.parametrize("error", [TypeError, KeyError, IndexError, ZeroDivisionError])
def test_a_programming_error_is_not_reported_as_a_bad_photo(
    monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    def broken_load(self: Image.Image) -> None:
        raise error("a bug, not a photo")

    data = encode(Image.new("RGB", (8, 8), (10, 20, 30)), "PNG")
    monkeypatch.setattr(ImageFile.ImageFile, "load", broken_load)
    with pytest.raises(error, match="a bug"):
        images.load_image(data)
