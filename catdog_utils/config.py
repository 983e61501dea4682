"""Paths, defaults and run profiles shared by the notebooks and the ``catdog`` command.

Nothing here touches TensorFlow or the disk at import time; every path is computed by a
function, so tests and learners can point the course elsewhere with environment variables:

- ``CATDOG_HOME``: the project folder (default: the checkout this package lives in, else
  the current folder)
- ``CATDOG_DATA_DIR``: the prepared data set (default ``$CATDOG_HOME/data/cats_and_dogs``)
- ``CATDOG_DATA_SOURCE``: where ``catdog data`` takes the photos from (URL, zip or folder)
- ``CATDOG_PROFILE``: ``quick``, ``class`` or ``full`` (the notebooks' default profile)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

#: Class folder names, in label order: ``cats`` is 0, ``dogs`` is 1, so a sigmoid output
#: near 1 means "dog", as in the original course.
CLASS_NAMES: tuple[str, str] = ("cats", "dogs")


def singular(class_name: str) -> str:
    """A class folder's name for one image: ``cats`` -> ``cat`` (labels, titles, file names)."""
    return class_name.removesuffix("s")


#: The data set's folder of labelled photos in neither split (``make data`` fills it).
NEW_PHOTOS_NAME = "new_photos"
#: The two splits the data command writes.
SPLITS: tuple[str, str] = ("training_set", "test_set")
#: The course split: images per class in each split.
TRAIN_PER_CLASS = 4000
TEST_PER_CLASS = 1000
#: Fraction of ``training_set`` held out for validation (6400 / 1600 with the full set).
VALIDATION_SPLIT = 0.2
#: The seed every deterministic choice starts from.
SEED = 1337
#: The original model's settings.
IMAGE_SIZE = 64
BATCH_SIZE = 32
BASELINE_EPOCHS = 25

#: Microsoft's public "Kaggle Cats and Dogs Dataset" (PetImages layout, about 825 MB).
DEFAULT_SOURCE_URL = (
    "https://download.microsoft.com/download/3/E/1/"
    "3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip"
)
#: Largest image (in pixels) any file may declare before it is decoded (decompression bombs).
MAX_IMAGE_PIXELS = 40_000_000


@dataclass(frozen=True)
class Profile:
    """How much work a notebook run does.

    Attributes:
        name: ``quick`` (CI, a smoke test), ``class`` (a class period) or ``full``.
        train_per_class: training images per class to use (``None``: all 4000).
        test_per_class: test images per class to use (``None``: all 1000).
        epochs: epochs for the original (baseline) model.
        improved_epochs: the most epochs the improved model (notebook 05) may train.
        improved_train_per_class: training images per class for notebook 05's final model
            (``None``: all 4000).  The class profile gives it every photo: with a 13-minute
            budget, the length of one run of chapter 05's study, it ends well trained.
        improved_budget_minutes: wall-clock budget for training notebook 05's final model.
        description: one line for the README and the notebooks.
        pretrained_image_size: input size of chapter 06's pretrained network (224 is
            ImageNet's; smaller is faster).
        head_epochs: epochs of chapter 06's new head on the frozen features.
        fine_tune_epochs: epochs of chapter 06's fine-tuning of the top blocks.
    """

    name: str
    train_per_class: int | None
    test_per_class: int | None
    epochs: int
    improved_epochs: int
    improved_train_per_class: int | None
    improved_budget_minutes: float
    description: str
    pretrained_image_size: int = 224
    head_epochs: int = 15
    fine_tune_epochs: int = 2


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        train_per_class=160,
        test_per_class=50,
        epochs=2,
        improved_epochs=2,
        improved_train_per_class=160,
        improved_budget_minutes=0.5,
        description="smoke test for CI: 320 training and 100 test images, 1-2 epochs",
        pretrained_image_size=96,
        head_epochs=3,
        fine_tune_epochs=1,
    ),
    "class": Profile(
        name="class",
        train_per_class=2000,
        test_per_class=None,
        epochs=10,
        improved_epochs=40,
        improved_train_per_class=None,
        improved_budget_minutes=13.0,
        description="a class period: half the training images (all of them for chapter 05's "
        "13-minute final model), 10 epochs, full test set",
        pretrained_image_size=224,
        head_epochs=15,
        fine_tune_epochs=2,
    ),
    "full": Profile(
        name="full",
        train_per_class=None,
        test_per_class=None,
        epochs=BASELINE_EPOCHS,
        improved_epochs=80,
        improved_train_per_class=None,
        improved_budget_minutes=44.0,
        description="the original settings: 8000 training images, 25 epochs",
        pretrained_image_size=224,
        head_epochs=15,
        fine_tune_epochs=2,
    ),
}


def get_profile(name: str | None = None, **overrides: object) -> Profile:
    """Return the run profile called ``name`` (default: ``$CATDOG_PROFILE`` or ``full``).

    Keyword arguments whose value is not ``None`` replace the profile's field of that name,
    so a notebook's ``parameters`` cell can leave a value as ``None`` to mean "the
    profile's choice".

    Raises:
        CatdogError: for an unknown profile name (the message lists the known ones).
        ValueError: for an unknown field.
    """
    from .errors import CatdogError

    name = name or os.environ.get("CATDOG_PROFILE") or "full"
    if name not in PROFILES:
        raise CatdogError(
            f"Unknown profile {name!r}: choose one of {', '.join(PROFILES)} "
            "(for example: make run-notebooks PROFILE=class)"
        )
    profile = PROFILES[name]
    changes = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(changes) - set(Profile.__dataclass_fields__)
    if unknown:
        raise ValueError(f"Profile has no field(s) {sorted(unknown)}")
    return replace(profile, **changes) if changes else profile


def project_root() -> Path:
    """The project folder: ``$CATDOG_HOME``, else the checkout holding this package."""
    env = os.environ.get("CATDOG_HOME")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout
    return Path.cwd()


def data_dir() -> Path:
    """Where the prepared course data set lives (``$CATDOG_DATA_DIR`` overrides)."""
    env = os.environ.get("CATDOG_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return project_root() / "data" / "cats_and_dogs"


def cache_dir() -> Path:
    """Where decoded, resized image arrays are cached (beside the data set)."""
    return data_dir().parent / "cache"


def models_dir(profile: str = "full") -> Path:
    """Where trained models of a profile are saved (``models/<profile>/``).

    Each profile has its own folder, so a quick CI run never overwrites a full model.
    """
    return project_root() / "models" / profile


def runs_dir(profile: str = "full") -> Path:
    """Where training writes TensorBoard logs of a profile (``runs/<profile>/``).

    ``catdog train`` uses ``runs/<profile>/<model>/``; ``make tensorboard`` shows ``runs/``.
    """
    return project_root() / "runs" / profile


def default_source() -> str:
    """The data source: ``$CATDOG_DATA_SOURCE`` if set, else Microsoft's public zip."""
    return os.environ.get("CATDOG_DATA_SOURCE") or DEFAULT_SOURCE_URL


def relative(path: str | Path) -> Path:
    """``path`` relative to the project folder (for printing); unchanged if it is elsewhere."""
    path = Path(os.path.abspath(path))  # not resolved: a symlinked data folder keeps its name
    try:
        return path.relative_to(os.path.abspath(project_root()))
    except ValueError:
        return path
