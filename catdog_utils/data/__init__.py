"""Acquire the course data set: from a URL, a zip or a folder to ``data/cats_and_dogs``.

``prepare_dataset`` is what ``make data`` runs.  It

1. takes photos from a source: a URL (Microsoft's public zip by default, downloaded with a
   progress bar, resumable, checked against its pinned size and SHA-256), a local zip (read
   in place, member names checked first) or a local folder, in either the *PetImages* layout
   (``PetImages/Cat``, ``PetImages/Dog``) or the *course* layout
   (``training_set|test_set/{cats,dogs}``);
2. decodes every file it uses once with Pillow (through :mod:`catdog_utils.images`) and
   checks that TensorFlow decodes the ones it keeps; a plain RGB JPEG is kept byte for byte,
   anything else Pillow can read is re-encoded as an RGB JPEG, and what cannot be read
   (empty, truncated, not an image, too many pixels) is rejected;
3. makes the deterministic course split and writes ``{training_set,test_set}/{cats,dogs}/``,
   ``manifest.csv`` (file, class, split, sha256), ``rejects.csv`` and ``source.json``;
4. sets a few labelled photos of neither split apart in ``new_photos/`` (with ``labels.csv``,
   read back with :func:`new_photos`): from a PetImages source, 4 cats and 4 dogs beyond the
   course's photos; from a course-layout source, its ``single_prediction`` folder.

Everything is built in a hidden folder beside the destination and renamed into place when
complete, so an interrupted run never leaves half a data set; a second run from the same
source with the same settings does nothing.  The source is never modified.

One module per job, read in this order:

- :mod:`.build`: :func:`prepare_dataset`, its steps from source to finished folder;
- :mod:`.fetch`: :func:`download`, resumable and checked;
- :mod:`.sources`: a zip or folder as a tree of files, its layout, zip member checks;
- :mod:`.photos`: checking, converting or rejecting one photo;
- :mod:`.destination`: the destination folder, "already up to date", the final swap;
- :mod:`.dataset`: the prepared data set on disk (manifest, rejects report);
- :mod:`.progress`: progress bars that read well in a terminal and in a log.
"""

from __future__ import annotations

from .build import FORMAT_VERSION, PrepareResult, prepare_dataset
from .dataset import (
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    NEW_LABELS_NAME,
    NEW_PHOTOS_NAME,
    REJECTS_COLUMNS,
    REJECTS_NAME,
    SOURCE_INFO_NAME,
    ManifestRow,
    new_photos,
    read_manifest,
    read_rejects,
    require_dataset,
)
from .fetch import EXPECTED_SHA256, EXPECTED_SIZE, download
from .photos import JPEG_QUALITY, MAX_FILE_BYTES
from .sources import natural_key, safe_zip_members

__all__ = [
    "EXPECTED_SHA256",
    "EXPECTED_SIZE",
    "FORMAT_VERSION",
    "JPEG_QUALITY",
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "MAX_FILE_BYTES",
    "NEW_LABELS_NAME",
    "NEW_PHOTOS_NAME",
    "REJECTS_COLUMNS",
    "REJECTS_NAME",
    "SOURCE_INFO_NAME",
    "ManifestRow",
    "PrepareResult",
    "download",
    "natural_key",
    "new_photos",
    "prepare_dataset",
    "read_manifest",
    "read_rejects",
    "require_dataset",
    "safe_zip_members",
]
