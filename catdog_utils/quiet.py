"""Import TensorFlow without its C++ start-up chatter.

TensorFlow 2.21 prints, on every import, lines no learner needs ("All log messages before
absl::InitializeLog() is called...", the oneDNN notice, cpu_feature_guard's instruction
list).  ``TF_CPP_MIN_LOG_LEVEL=2`` (exported by the Makefile) hides the cpu_feature_guard
lines, but the others are written straight to file descriptor 2 before any setting
applies, and a Jupyter kernel forwards that descriptor into the notebook.  Call
:func:`import_tensorflow` before the first ``import keras`` / ``import tensorflow``.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType


def import_tensorflow() -> ModuleType:
    """Import (once) and return ``tensorflow`` with standard error silenced meanwhile.

    Only the import is silenced, at the file-descriptor level, so warnings and errors
    printed later still show; an import that fails still raises normally.  Also sets
    ``TF_CPP_MIN_LOG_LEVEL=2`` unless it is set already.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return sys.modules["tensorflow"]
