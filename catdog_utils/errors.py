"""Errors a learner can cause, each with a message that says what to do next.

Every error raised for bad input (a missing data set, a broken zip, a file that is not an
image, a model file from elsewhere) is a :class:`CatdogError`.  Its message is one line: what
went wrong, then the command that fixes it.  The ``catdog`` command turns these into exit
code 2 and that one line on standard error; in a notebook they read as a normal exception.
"""

from __future__ import annotations


class CatdogError(Exception):
    """Base class for every error a learner can cause and fix."""


class DataNotFoundError(CatdogError):
    """The course data set (or one of its folders) is not where it should be."""


class NewPhotosNotFoundError(DataNotFoundError):
    """The data set has no ``new_photos`` folder (built before it existed) or it is damaged."""


class SourceError(CatdogError):
    """A data source (folder, zip or URL) is missing, empty or in an unknown layout."""


class UnsafeArchiveError(SourceError):
    """A zip's member names try to leave its folder (``../`` or absolute paths).

    Such a zip is not the course's data set (tampered with, or hostile to whoever unpacks it),
    so nothing in it is read or written.
    """


class DownloadError(SourceError):
    """The data set could not be downloaded (offline, cut off, wrong size or checksum)."""


class DestinationError(CatdogError):
    """The destination folder cannot be written."""


class ImageError(CatdogError):
    """A file is not an image that can be decoded (empty, truncated, too large, not an image)."""


class ModelLoadError(CatdogError):
    """A model file is missing, is not a Keras model, or does not fit the course's inputs."""


class ImageDecodeError(ImageError):
    """An image file that cannot be used; ``reason`` is a short phrase for reports.

    Raised by :mod:`catdog_utils.images`; the data command writes ``reason`` into
    ``rejects.csv``.
    """

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class InputNotFoundError(CatdogError):
    """A photo or folder given to ``catdog predict`` is missing, or a folder holds no images."""


def first_line(exc: BaseException, limit: int = 120) -> str:
    """An exception's message cut to its first line and ``limit`` characters.

    For quoting a library's error inside one of our one-line messages; an exception with
    no message gives its class name.
    """
    text = str(exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
