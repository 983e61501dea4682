"""Small helpers on file names that the data, pipeline and predict modules all use.

Kept apart so that :mod:`.pipeline` and :mod:`.predict` can import them without pulling in
the download-and-build :mod:`.data` package.
"""

from __future__ import annotations

import re
from typing import Any


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders ``2.jpg`` before ``10.jpg`` (numbers compared as numbers, text
    without regard to case); the data set's files, its manifest and the photos given to
    ``catdog predict`` all come in this order."""
    return tuple(
        int(token) if token.isdigit() else token.lower() for token in re.split(r"(\d+)", text)
    )
