"""Import TensorFlow without its C++ start-up chatter.

TensorFlow 2.21 prints, on every import, lines no learner needs ("All log messages before
absl::InitializeLog() is called...", the oneDNN notice, cpu_feature_guard's instruction
list).  ``TF_CPP_MIN_LOG_LEVEL=2`` (exported by the Makefile) hides the cpu_feature_guard
lines, but the others are written straight to file descriptor 2 before any setting
applies, and a Jupyter kernel forwards that descriptor into the notebook.  Call
:func:`import_tensorflow` before the first ``import keras`` / ``import tensorflow``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from types import ModuleType


def import_tensorflow() -> ModuleType:
    """Import (once) and return ``tensorflow`` with standard error silenced meanwhile.

    Only the import is silenced, at the file-descriptor level, so warnings and errors
    printed later still show; an import that fails still raises normally.  Also sets
    ``TF_CPP_MIN_LOG_LEVEL=2`` unless it is set already.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        with stderr_silenced():
            import tensorflow  # noqa: F401
    return sys.modules["tensorflow"]


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to the null device inside a ``with``: for C++ notices written
    straight to it (TensorFlow's start-up lines, TFLite's "Created TensorFlow Lite XNNPACK
    delegate").  Python exceptions still propagate; keep the block small."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def tensorflow_warnings_hidden() -> Iterator[None]:
    """Hide TensorFlow's Python-side warnings (its ``tensorflow`` logger) inside a ``with``.

    For loops that are known to trip one: predicting with several freshly trained models
    traces a prediction function for each, and TensorFlow warns about "retracing" after a
    few, although nothing is wrong.  Errors still show; the level is restored afterwards.
    """
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
