"""Looking at the data and the model before training: sizes, costs, what gets rejected.

The helpers behind notebooks 01 and 02 that are not figures (those live in
:mod:`catdog_utils.plots`):

- :func:`read_image_sizes` reads the size of many photos from their headers only (about a
  second per thousand files, no pixel is decoded);
- :func:`layer_table` lists a Keras model's layers with output shape, parameters and the
  multiply-adds each one costs for one image;
- :func:`resolution_costs` works out what a different input size would cost the original
  model (pixels, memory, parameters, compute);
- :func:`build_damaged_source` makes a small PetImages-style folder of real photos plus the
  kinds of broken files found in Microsoft's zip, to watch the data command reject them
  (:func:`catdog_utils.data.read_rejects` reads what it rejected).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import config, images

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: EXIF orientations that turn a photo by 90 degrees (its width and height swap on screen).
_TURNED = frozenset({5, 6, 7, 8})


def read_image_sizes(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of each photo, read from the file headers (nothing is decoded).

    Sizes are as the photo is shown, i.e. after its EXIF orientation.

    Returns:
        Two ``int`` arrays, widths and heights, in the order of ``paths``.

    Raises:
        ImageDecodeError: a file is missing, empty or not an image.
    """
    widths = np.empty(len(paths), dtype=np.int32)
    heights = np.empty(len(paths), dtype=np.int32)
    for i, path in enumerate(paths):
        info = images.inspect_image(path, full_decode=False)
        turned = info.orientation in _TURNED
        widths[i], heights[i] = (info.height, info.width) if turned else (info.width, info.height)
    return widths, heights


@dataclass(frozen=True)
class LayerCost:
    """One layer of a model and what it costs for one image.

    Attributes:
        name: the layer's name.
        kind: the layer's class (``Conv2D``, ``Dense``, ...).
        output_shape: output shape without the batch dimension.
        params: number of weights.
        macs: multiply-adds for one image (0 for layers that only move or compare numbers).
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


def layer_table(model: keras.Model) -> list[LayerCost]:
    """The layers of ``model`` in order, with output shape, parameters and multiply-adds.

    Multiply-adds are counted for ``Conv2D`` (output pixels x filters x kernel height x
    kernel width x input channels) and ``Dense`` (inputs x units); other layers count 0.
    The input layer is left out.
    """
    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        shape = tuple(int(d) for d in layer.output.shape[1:])
        macs = 0
        if kind == "Conv2D":
            kh, kw, cin, cout = (int(d) for d in layer.kernel.shape)
            macs = int(np.prod(shape[:-1])) * cout * kh * kw * cin
        elif kind == "Dense":
            cin, cout = (int(d) for d in layer.kernel.shape)
            macs = cin * cout
        rows.append(LayerCost(layer.name, kind, shape, int(layer.count_params()), macs))
    return rows


@dataclass(frozen=True)
class ResolutionCost:
    """What one input size costs the original (baseline) model.

    Attributes:
        size: side of the square input in pixels.
        pixels: pixels per image (``size * size``).
        values: numbers per image (pixels x 3 colours).
        dataset_mb: memory of the training images as ``uint8`` (MB, 10^6 bytes).
        params: parameters of the baseline CNN at this size.
        macs: multiply-adds for one image through the baseline CNN.
    """

    size: int
    pixels: int
    values: int
    dataset_mb: float
    params: int
    macs: int


def resolution_costs(
    sizes: Sequence[int] = (32, 64, 128, 224),
    n_images: int = 2 * config.TRAIN_PER_CLASS,
) -> list[ResolutionCost]:
    """The cost of the original CNN at several input sizes (models are built, not trained).

    Args:
        sizes: input sides in pixels (at least 14, so two 3x3 convolutions and two
            poolings leave something).
        n_images: training images, for the memory column.
    """
    from . import models

    rows = []
    for size in sizes:
        model = models.build_baseline_cnn(image_size=int(size), compile_model=False)
        table = layer_table(model)
        rows.append(
            ResolutionCost(
                size=int(size),
                pixels=int(size) ** 2,
                values=int(size) ** 2 * 3,
                dataset_mb=n_images * int(size) ** 2 * 3 / 1e6,
                params=sum(r.params for r in table),
                macs=sum(r.macs for r in table),
            )
        )
    return rows


#: The broken files :func:`build_damaged_source` writes, and what each one imitates.
DAMAGED_KINDS: dict[str, str] = {
    "empty.jpg": "a zero-byte file (Microsoft's zip has Cat/666.jpg and Dog/11702.jpg)",
    "truncated.jpg": "a JPEG cut off part-way (an interrupted upload)",
    "not_an_image.jpg": "text saved with a .jpg name (an HTML error page, say)",
    "png_inside.jpg": "a PNG picture with a .jpg name (readable: converted, not rejected)",
    "grayscale.jpg": "a one-channel grayscale JPEG (readable: converted to RGB)",
    "Thumbs.db": "a Windows thumbnail cache (not an image name: ignored)",
}


def build_damaged_source(
    photos: Sequence[str | Path], folder: str | Path, per_class: int = 5
) -> Path:
    """A small PetImages-layout folder: real photos plus typical broken files.

    ``folder/PetImages/{Cat,Dog}/`` gets ``per_class`` good photos each (copied from
    ``photos``: cats first, then dogs), and ``Cat/`` also gets the files of
    :data:`DAMAGED_KINDS`, made from the first photo.  Run
    ``data.prepare_dataset(folder, dest)`` on it to see what the data command keeps,
    converts and rejects.

    Args:
        photos: at least ``2 * per_class`` real JPEG photos (cats, then dogs); the
            first one is also the model for the damaged files.
        folder: where to build (created; must not hold a previous build).
        per_class: good photos per class.

    Returns:
        The folder.
    """
    from PIL import Image

    if len(photos) < 2 * per_class:
        raise ValueError(f"need {2 * per_class} photos, got {len(photos)}")
    root = Path(folder) / "PetImages"
    cat_dir, dog_dir = root / "Cat", root / "Dog"
    cat_dir.mkdir(parents=True, exist_ok=False)
    dog_dir.mkdir(parents=True, exist_ok=False)
    for i, photo in enumerate(photos[: 2 * per_class]):
        target = cat_dir if i < per_class else dog_dir
        shutil.copyfile(photo, target / f"{i % per_class}.jpg")
    first = Path(photos[0]).read_bytes()
    (cat_dir / "empty.jpg").write_bytes(b"")
    (cat_dir / "truncated.jpg").write_bytes(first[: len(first) // 3])
    (cat_dir / "not_an_image.jpg").write_text("<html><body>404 Not Found</body></html>\n")
    with Image.open(photos[0]) as image:
        image.save(cat_dir / "png_inside.jpg", format="PNG")
        image.convert("L").save(cat_dir / "grayscale.jpg", format="JPEG", quality=90)
    (cat_dir / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(60))
    return Path(folder)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def summary_text(model: keras.Model, line_length: int | None = None) -> str:
    """``model.summary()`` as plain text: no colour codes, nothing sent to the notebook's
    rich display, one string to ``print``.

    Keras renders the summary with a ``rich`` console; in a Jupyter kernel that console
    sends its (emptied) buffer to the notebook as an HTML output when the capture ends, so
    the console is told it is not in Jupyter while the summary is captured.
    """
    from unittest import mock

    lines: list[str] = []
    with mock.patch("rich.console._is_jupyter", return_value=False):
        model.summary(line_length=line_length, print_fn=lambda line, **_: lines.append(line))
    return _ANSI.sub("", "\n".join(lines)).rstrip("\n")
