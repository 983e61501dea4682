"""Write torchvision's own MobileNetV2 outputs for 8 course photos, as a reference for Keras.

The course converts torchvision's ImageNet MobileNetV2 weights (the official file
``mobilenet_v2-b0353104.pth``) to Keras. This script records what torchvision itself
computes from those weights, so that a test can show the Keras conversion gives the
same logits for the same pixels. It is run by hand, once, NOT in CI (CI has no torch).

How to run it (torch, torchvision, pillow and numpy in a throwaway virtual environment
outside the repository; use the course's pinned pillow and numpy so the pixels match)::

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch torchvision pillow==13.0.0 numpy==2.4.6
    /tmp/torchenv/bin/python tests/reference/make_mobilenet_v2_reference.py \\
        --weights /path/to/mobilenet_v2-b0353104.pth \\
        --photos /path/to/datasets/cats_and_dogs

``--photos`` is a data folder in the course layout (``single_prediction/``,
``test_set/cats/``, ``test_set/dogs/``). The output, ``mobilenet_v2_reference.json``
next to this script, names photos only relative to that folder and contains no machine
path.

Preprocessing, in plain PIL + numpy so the Keras side can repeat it exactly:

    img = PIL.ImageOps.exif_transpose(PIL.Image.open(path)).convert("RGB")
    img = img.resize((224, 224), PIL.Image.BILINEAR)      # plain square resize, no crop
    pixels = np.asarray(img, dtype=np.uint8)              # (224, 224, 3)
    x = (pixels.astype(np.float32) / 255.0 - MEAN) / STD  # then NHWC -> NCHW for torch

Each photo's ``pixels_sha256`` is the SHA-256 of ``pixels.tobytes()``: a test that gets
the same hash has fed the network the same pixels.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
from pathlib import Path

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image, ImageOps
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

WEIGHTS_NAME = "mobilenet_v2-b0353104.pth"
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"

PHOTOS = [
    "single_prediction/cat_or_dog_1.jpg",
    "single_prediction/cat_or_dog_2.jpg",
    "single_prediction/cat_or_dog_3.jpg",
    "single_prediction/cat_or_dog_4.jpg",
    "test_set/cats/cat.4001.jpg",
    "test_set/cats/cat.4002.jpg",
    "test_set/dogs/dog.4001.jpg",
    "test_set/dogs/dog.4002.jpg",
]

SIZE = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

PREPROCESSING = (
    'img = PIL.ImageOps.exif_transpose(PIL.Image.open(path)).convert("RGB"); '
    "img = img.resize((224, 224), PIL.Image.BILINEAR) (plain square resize, no crop); "
    "pixels = np.asarray(img, dtype=np.uint8), shape (224, 224, 3); "
    "x = (pixels.astype(np.float32) / 255.0 - mean) / std with float32 "
    "mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225), RGB order; "
    "x is then transposed to NCHW (1, 3, 224, 224) for torch. "
    "pixels_sha256 is the SHA-256 of pixels.tobytes(); logits are the model's raw outputs "
    "(before softmax), rounded to 4 decimals."
)

OUT = Path(__file__).with_name("mobilenet_v2_reference.json")


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_pixels(path: Path) -> np.ndarray:
    """The photo as (224, 224, 3) uint8 RGB, exactly as described in PREPROCESSING."""
    with Image.open(path) as opened:
        img = ImageOps.exif_transpose(opened).convert("RGB")
    img = img.resize((SIZE, SIZE), Image.BILINEAR)
    pixels = np.asarray(img, dtype=np.uint8)
    assert pixels.shape == (SIZE, SIZE, 3), pixels.shape
    return pixels


def normalise(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float32) / 255.0 - MEAN) / STD


def load_model(weights: Path) -> torch.nn.Module:
    model = mobilenet_v2()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def compact_json(reference: dict) -> str:
    """Indented JSON, except that lists of numbers or names stay on one line (small file)."""
    lines = json.dumps(reference, indent=1, ensure_ascii=False).splitlines()
    out: list[str] = []
    buffer: list[str] | None = None
    for line in lines:
        stripped = line.strip()
        if buffer is None:
            if stripped.endswith("[") and not stripped.startswith("{"):
                buffer = [line.rstrip()]
            else:
                out.append(line)
            continue
        if stripped.startswith(("{", "[")):
            # A list of objects or lists: keep the normal layout.
            out.extend(buffer)
            out.append(line)
            buffer = None
            continue
        if stripped.startswith("]"):
            out.append(buffer[0] + " ".join(buffer[1:]) + stripped)
            buffer = None
            continue
        buffer.append(stripped)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help=f"path to {WEIGHTS_NAME}")
    parser.add_argument("--photos", type=Path, required=True, help="course-layout data folder")
    parser.add_argument("--out", type=Path, default=OUT, help="output JSON (default: %(default)s)")
    args = parser.parse_args(argv)

    got = sha256_of_file(args.weights)
    if got != WEIGHTS_SHA256:
        raise SystemExit(f"{args.weights}: SHA-256 {got}, expected {WEIGHTS_SHA256}")

    torch.set_num_threads(1)
    model = load_model(args.weights)
    categories = list(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])
    assert len(categories) == 1000

    photos = []
    for name in PHOTOS:
        pixels = load_pixels(args.photos / name)
        x = torch.from_numpy(normalise(pixels).transpose(2, 0, 1)[None].copy())
        with torch.no_grad():
            logits = model(x)[0].numpy().astype(np.float64)
        top5 = [int(i) for i in np.argsort(-logits, kind="stable")[:5]]
        photos.append(
            {
                "photo": name,
                "pixels_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
                "top5": top5,
                "top5_names": [categories[i] for i in top5],
                "logits": [round(float(v), 4) for v in logits],
            }
        )
        print(f"{name}: top-1 {top5[0]} {categories[top5[0]]!r} (logit {logits[top5[0]]:.4f})")

    reference = {
        "description": (
            "torchvision's own MobileNetV2 (ImageNet, IMAGENET1K_V1) outputs for 8 course "
            "photos; written by tests/reference/make_mobilenet_v2_reference.py"
        ),
        "weights_file": WEIGHTS_NAME,
        "weights_sha256": WEIGHTS_SHA256,
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "Pillow": PIL.__version__,
            "numpy": np.__version__,
        },
        "preprocessing": PREPROCESSING,
        "mean": [float(v) for v in (0.485, 0.456, 0.406)],
        "std": [float(v) for v in (0.229, 0.224, 0.225)],
        "input_size": [SIZE, SIZE],
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "photos": photos,
        "class_names_source": "torchvision MobileNet_V2_Weights.IMAGENET1K_V1.meta['categories']",
        "class_names": categories,
    }
    args.out.write_text(compact_json(reference), encoding="utf-8")
    print(f"wrote {args.out.name} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
