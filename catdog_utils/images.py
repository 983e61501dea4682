"""The one door through which any image enters the course: a file or bytes -> RGB ``uint8``.

Both the data command (:mod:`catdog_utils.data`) and predictions on a learner's own photo
(:mod:`catdog_utils.predict`) open images here, so they get the same treatment:

- the pixel count declared in the header is checked *before* decoding (decompression bombs),
  against ``max_pixels`` and without touching Pillow's global settings;
- the whole file is decoded, so a truncated JPEG is an error, never a grey half-picture
  (Pillow's ``LOAD_TRUNCATED_IMAGES`` stays ``False``);
- every mode (``L``, ``P``, ``CMYK``, ``RGBA``, ``I;16``, ``1``, ...) becomes RGB, with any
  transparency laid on white;
- the EXIF orientation is applied, so a phone photo stands the right way up;
- an animated GIF / WebP gives its first frame.

Any failure raises :class:`~catdog_utils.errors.ImageDecodeError` (an
:class:`~catdog_utils.errors.ImageError`) naming the file and a short ``reason``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from . import config
from .errors import ImageDecodeError, first_line

if TYPE_CHECKING:
    from PIL import Image as PILImage

#: File name endings the course treats as images (compared in lower case).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
)
#: EXIF tag number of "Orientation".
_EXIF_ORIENTATION = 0x0112
#: What to do instead, appended to every image error.
_FIX = "use a JPEG or PNG photo"

ImageSource = str | Path | bytes


@dataclass(frozen=True)
class ImageInfo:
    """What an image file is, read from its header (and, when decoded, checked in full).

    Attributes:
        format: Pillow's format name (``"JPEG"``, ``"PNG"``, ``"GIF"``, ...), or ``None``.
        mode: Pillow's mode (``"RGB"``, ``"L"``, ``"CMYK"``, ``"RGBA"``, ``"P"``, ...).
        width: width in pixels, before any EXIF rotation.
        height: height in pixels, before any EXIF rotation.
        orientation: the EXIF orientation (1 = upright; 1 when absent or unreadable).
        n_frames: number of frames (more than 1 for an animated GIF / WebP).
        has_alpha: whether the image carries transparency.
    """

    format: str | None
    mode: str
    width: int
    height: int
    orientation: int = 1
    n_frames: int = 1
    has_alpha: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` as Pillow reports it."""
        return (self.width, self.height)

    @property
    def pixels(self) -> int:
        """Width times height."""
        return self.width * self.height

    @property
    def is_rgb_jpeg(self) -> bool:
        """True for a plain 3-channel JPEG, the one kind the data set keeps byte for byte."""
        return self.format == "JPEG" and self.mode == "RGB"


def is_image_name(path: str | Path) -> bool:
    """Whether ``path`` has an image file ending (``.jpg``, ``.png``, ...), in any case.

    Hidden files and macOS resource forks (``._name.jpg``) do not count.
    """
    name = Path(path).name
    if name.startswith("."):
        return False
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def _display_name(source: ImageSource, name: str | None) -> str:
    """The name used in error messages."""
    if name:
        return name
    if isinstance(source, bytes):
        return "<image bytes>"
    return str(source)


def _fail(display: str, reason: str) -> ImageDecodeError:
    """Build the error for an unusable image (one line: which file, why, what to do)."""
    return ImageDecodeError(f"Cannot use image {display}: {reason} ({_FIX})", reason=reason)


# What Pillow raises on broken or hostile files: the exceptions its own fuzzing tests accept
# from decoding ("known exceptions that are through from Pillow": OSError, which includes
# PIL.UnidentifiedImageError, SyntaxError, ValueError, NotImplementedError, OverflowError),
# and EOFError, which its readers raise at a file's unexpected end.  Anything else (a
# TypeError, a KeyError, ...) is a programming error and must not be reported as a bad photo.
_PIL_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    NotImplementedError,
    OverflowError,
    EOFError,
)


def _read_orientation(image: PILImage.Image) -> int:
    """The EXIF orientation (1..8) of an opened image; 1 when absent or unreadable."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except _PIL_DECODE_ERRORS:  # broken EXIF must not make a good photo unusable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _has_alpha(image: PILImage.Image) -> bool:
    """Whether an opened image carries transparency (alpha band or transparent colour)."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


class _OpenedImage:
    """Context manager: open ``source`` with Pillow, check the header, optionally load."""

    def __init__(self, source: ImageSource, max_pixels: int, name: str | None) -> None:
        self.source = source
        self.max_pixels = max_pixels
        self.display = _display_name(source, name)
        self.image: PILImage.Image | None = None
        self.stream: BinaryIO | None = None

    def __enter__(self) -> tuple[PILImage.Image, ImageInfo]:
        from PIL import Image

        source = self.source
        if isinstance(source, bytes):
            if not source:
                raise _fail(self.display, "empty file (0 bytes)")
            stream: BinaryIO = io.BytesIO(source)
        else:
            path = Path(source)
            try:
                if path.stat().st_size == 0:
                    raise _fail(self.display, "empty file (0 bytes)")
                stream = path.open("rb")
            except FileNotFoundError:
                raise _fail(self.display, "no such file") from None
            except IsADirectoryError:
                raise _fail(self.display, "is a folder, not a file") from None
            except OSError as exc:
                raise _fail(self.display, f"cannot read it ({exc.strerror or exc})") from None
        self.stream = stream
        try:
            # Image.open reads the header only; Pillow's own bomb check may fire for sizes
            # far above its global limit, which we report the same way as ours.
            image = Image.open(stream)
        except Image.DecompressionBombError:
            self.close()
            raise _fail(self.display, "too many pixels (a decompression bomb?)") from None
        except _PIL_DECODE_ERRORS as exc:
            self.close()
            raise _fail(self.display, "not an image Pillow can read") from exc
        self.image = image
        width, height = image.size
        if width <= 0 or height <= 0:
            self.close()
            raise _fail(self.display, f"empty picture ({width}x{height} pixels)")
        if width * height > self.max_pixels:
            self.close()
            raise _fail(
                self.display,
                f"too many pixels ({width}x{height} > {self.max_pixels:,} allowed)",
            )
        info = ImageInfo(
            format=image.format,
            mode=image.mode,
            width=width,
            height=height,
            orientation=_read_orientation(image),
            n_frames=int(getattr(image, "n_frames", 1) or 1),
            has_alpha=_has_alpha(image),
        )
        return image, info

    def load(self) -> None:
        """Decode every pixel of the first frame; a truncated file raises here."""
        assert self.image is not None
        try:
            self.image.load()
        except _PIL_DECODE_ERRORS as exc:
            detail = first_line(exc, 80)
            raise _fail(self.display, f"truncated or corrupt image ({detail})") from exc

    def close(self) -> None:
        """Close the image and its file."""
        if self.image is not None:
            self.image.close()
            self.image = None
        if self.stream is not None:
            self.stream.close()  # Pillow drops its reference after load(); we opened it
            self.stream = None

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def inspect_image(
    source: ImageSource,
    *,
    max_pixels: int = config.MAX_IMAGE_PIXELS,
    full_decode: bool = True,
    name: str | None = None,
) -> ImageInfo:
    """Describe an image file (format, mode, size, EXIF orientation) without converting it.

    Args:
        source: a path, or the file's bytes.
        max_pixels: refuse an image whose header declares more pixels than this.
        full_decode: also decode every pixel, so truncated or corrupt files are caught
            (``False`` reads the header only).
        name: name to use in error messages (useful for bytes).

    Raises:
        ImageDecodeError: the file is empty, missing, not an image, truncated or too large.
    """
    opened = _OpenedImage(source, max_pixels, name)
    with opened as (_, info):
        if full_decode:
            opened.load()
        return info


def _to_rgb_array(image: PILImage.Image, display: str) -> np.ndarray:
    """Convert an opened, loaded Pillow image of any mode to an ``HxWx3`` ``uint8`` array."""
    from PIL import Image

    mode = image.mode
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        values = np.asarray(image).astype(np.float64)
        if mode == "F":
            scale = 255.0 if values.size and float(values.max()) <= 1.0 else 1.0
            grey = values * scale
        elif mode.startswith("I;16") or (values.size and float(values.max()) > 255):
            grey = values / 257.0  # 16-bit range 0..65535 onto 0..255
        else:
            grey = values
        grey8 = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    try:
        if _has_alpha(image):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            rgb = Image.alpha_composite(white, rgba).convert("RGB")
        elif mode == "RGB":
            rgb = image
        else:
            rgb = image.convert("RGB")
    except _PIL_DECODE_ERRORS as exc:
        raise _fail(display, f"colour mode {mode} cannot be converted to RGB") from exc
    array = np.array(rgb, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:  # pragma: no cover - Pillow guarantees this
        raise _fail(display, f"unexpected pixel layout {array.shape}")
    return array


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = config.MAX_IMAGE_PIXELS,
    exif_transpose: bool = True,
    name: str | None = None,
) -> np.ndarray:
    """Open any image Pillow reads and return its pixels as an ``HxWx3`` ``uint8`` RGB array.

    Args:
        source: a path, or the file's bytes.
        max_pixels: refuse (before decoding) an image whose header declares more pixels.
        exif_transpose: turn the picture as its EXIF orientation says (phone photos).
        name: name to use in error messages (useful for bytes).

    Returns:
        A new, writable array of shape ``(height, width, 3)``, dtype ``uint8``. Transparent
        parts are laid on white; for an animated image, the first frame.

    Raises:
        ImageDecodeError: the file is empty, missing, not an image, truncated, too large or
            in a colour mode that cannot be shown as RGB.
    """
    opened = _OpenedImage(source, max_pixels, name)
    with opened as (image, info):
        opened.load()
        if exif_transpose and info.orientation != 1:
            # the orientation was read safely above (broken EXIF counts as upright), so
            # Pillow's own transpose finds it in the parsed, cached EXIF
            image = _upright(image)
        return _to_rgb_array(image, opened.display)


def _upright(image: PILImage.Image) -> PILImage.Image:
    """``image`` turned as its EXIF orientation says (``PIL.ImageOps.exif_transpose``)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(image)


def encode_jpeg(array: np.ndarray, quality: int = 95) -> bytes:
    """Encode an ``HxWx3`` ``uint8`` RGB array as baseline JPEG bytes.

    Args:
        array: the pixels, as :func:`load_image` returns them.
        quality: JPEG quality, 1..95 (95 keeps the photo visually unchanged).

    Raises:
        ValueError: the array is not ``HxWx3`` ``uint8`` or the quality is out of range.
    """
    from PIL import Image

    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"encode_jpeg needs an HxWx3 uint8 array, got {array.shape} {array.dtype}")
    if not 1 <= quality <= 95:
        raise ValueError(f"JPEG quality must be 1..95, got {quality}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
