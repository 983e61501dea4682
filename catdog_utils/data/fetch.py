"""Download a zip over HTTP(S): resumable, checked, never used half-written.

:func:`download` reads from the top as its steps: reuse a complete file; find what a
``.part`` from an earlier run already holds (the *resume state*); *open* the URL, asking
for the rest with a ``Range`` request; see which *range of the response* the server sent
(the rest, or everything again); *stream* it into the ``.part``; *finalise*: check the
length, size and checksum, then rename the ``.part`` into place.

Microsoft's zip, the default source, is pinned: :data:`EXPECTED_SIZE` and
:data:`EXPECTED_SHA256` are checked for it, and a file that does not match is deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import atomic
from ..errors import DestinationError, DownloadError
from .dataset import DEST_FIX, OFFLINE_FIX
from .progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover
    import requests

#: Size in bytes of Microsoft's ``kagglecatsanddogs_5340.zip`` (the figure public data-set
#: registries record for that URL); a download of the default URL must have it.
EXPECTED_SIZE = 824_887_076
#: SHA-256 of Microsoft's ``kagglecatsanddogs_5340.zip``, checked like the size.
EXPECTED_SHA256 = "b7974bd00a84a99921f36ee4403f089853777b5ae8d151c76a86e64900334af9"

CHUNK_BYTES = 1 << 20
_USER_AGENT = "catdog-course/0.1"


@dataclass(frozen=True)
class _Files:
    """The complete file, the ``.part`` it is written to and the ``.part.json`` beside it
    (the URL and the server's validators, to resume only the same file)."""

    dest: Path

    @property
    def part(self) -> Path:
        return self.dest.with_name(self.dest.name + ".part")

    @property
    def meta(self) -> Path:
        return self.dest.with_name(self.dest.name + ".part.json")

    def discard_part(self) -> None:
        """Delete the ``.part`` and its ``.part.json``."""
        self.part.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _check_size(size: int, url: str, expected_size: int | None) -> None:
    """Raise DownloadError if ``size`` is not ``expected_size`` (when one is given)."""
    if expected_size is not None and size != expected_size:
        raise DownloadError(
            f"Download of {url} has {size:,} bytes, expected {expected_size:,}: run "
            f"`make data` again, or offline {OFFLINE_FIX}"
        )


def _check_complete(
    path: Path, url: str, expected_size: int | None, expected_sha256: str | None
) -> None:
    """Raise DownloadError if a downloaded file has the wrong size or checksum."""
    _check_size(path.stat().st_size, url, expected_size)
    if expected_sha256 is not None and sha256_file(path) != expected_sha256.lower():
        raise DownloadError(
            f"Download of {url} has the wrong SHA-256 checksum: run `make data` again, or "
            f"offline {OFFLINE_FIX}"
        )


def _reusable(files: _Files, url: str, size: int | None, sha256: str | None) -> bool:
    """Whether a complete file is already there (one that fails the checks is deleted)."""
    if not files.dest.is_file():
        return False
    try:
        _check_complete(files.dest, url, size, sha256)
    except DownloadError:
        files.dest.unlink()  # not the file we want: fetch it again
        return False
    return True


def _resume_state(files: _Files, url: str) -> tuple[int, dict[str, Any]]:
    """Bytes a ``.part`` of this same URL already holds, and its saved validators.

    A ``.part`` of another URL (or without its ``.part.json``) is deleted: start from 0.
    """
    meta: dict[str, Any] = {}
    if files.part.is_file():
        try:
            meta = json.loads(files.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        if isinstance(meta, dict) and meta.get("url") == url:
            start = files.part.stat().st_size
            if start:
                return start, meta
    files.part.unlink(missing_ok=True)
    return 0, {}


def _failure_reason(exc: BaseException) -> str:
    """The root cause of a connection failure, e.g. ``[Errno 111] Connection refused``."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = getattr(current, "reason", None) or current.__cause__ or current.__context__
        if current is not None and not isinstance(current, BaseException):
            current = None
    os_errors = [e for e in seen if isinstance(e, OSError) and e.strerror]
    root = os_errors[-1] if os_errors else seen[-1]
    return str(root).splitlines()[0] if str(root) else type(root).__name__


def _open(
    url: str, start: int, meta: dict[str, Any], connect_timeout: float, timeout: float
) -> requests.Response | None:
    """Send the GET (with ``Range`` when resuming); ``None`` for HTTP 416 on a resume.

    Raises:
        DownloadError: the host cannot be reached or answers with an error.
    """
    import requests

    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
        validator = meta.get("etag") or meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    host = urllib.parse.urlsplit(url).netloc or url
    try:
        response = requests.get(
            url, headers=headers, stream=True, timeout=(connect_timeout, timeout)
        )
    except requests.RequestException as exc:
        raise DownloadError(
            f"Cannot reach {host} ({_failure_reason(exc)}); are you offline? Use {OFFLINE_FIX}"
        ) from None
    if response.status_code == 416 and start:  # our .part is no prefix of this file
        response.close()
        return None
    if response.status_code >= 400:
        response.close()
        raise DownloadError(
            f"Download of {url} failed: HTTP {response.status_code} {response.reason}: try "
            f"`make data` again later, or offline {OFFLINE_FIX}"
        )
    return response


def _range_of(response: requests.Response, start: int) -> tuple[int, int | None]:
    """Where the body starts in the file and the file's full size (``None``: unknown).

    A 206 answer for exactly the range asked resumes at ``start``; anything else (a full
    200 answer, or a range not asked for) starts clean at 0.
    """
    length = response.headers.get("Content-Length")
    size: int | None = int(length) if length and length.isdigit() else None
    content_range = response.headers.get("Content-Range") or ""
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", content_range)
    if response.status_code == 206 and start and match and int(match.group(1)) == start:
        if match.group(2) != "*":
            return start, int(match.group(2))
        return start, None if size is None else size + start
    return 0, size


def _prepare_part(
    files: _Files, url: str, response: requests.Response, start: int, total: int | None
) -> None:
    """Make the folder, check the free space and save the resume metadata."""
    folder = atomic.make_folder(files.dest.parent, DEST_FIX)
    atomic.require_space(folder, (total or 0) - start, DEST_FIX)
    meta = {
        "url": url,
        "etag": response.headers.get("ETag"),
        "last_modified": response.headers.get("Last-Modified"),
        "total": total,
    }
    try:
        files.meta.write_text(json.dumps(meta), encoding="utf-8")
    except OSError as exc:
        raise DestinationError(f"Cannot write {files.meta} ({exc.strerror}): {DEST_FIX}") from None


def _stream(
    response: requests.Response,
    files: _Files,
    url: str,
    start: int,
    total: int | None,
    progress: bool,
) -> int:
    """Append the body to the ``.part`` (or write it afresh when ``start`` is 0).

    It reads with ``read1`` (whatever has arrived), so the bytes received before a
    connection breaks are kept for the next run to resume from.

    Returns the ``.part``'s size afterwards.

    Raises:
        DownloadError: the connection broke or stalled (the ``.part`` is kept to resume).
    """
    import requests
    import urllib3

    try:
        handle = files.part.open("ab" if start else "wb")
    except OSError as exc:
        raise DestinationError(f"Cannot write {files.part} ({exc.strerror}): {DEST_FIX}") from None
    received = start
    bar = progress_bar(total, files.dest.name, "B", enabled=progress, initial=start)
    try:
        with handle:
            while chunk := response.raw.read1(CHUNK_BYTES):
                handle.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            handle.flush()
            os.fsync(handle.fileno())
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise DownloadError(
            f"Download of {url} was cut off after {received:,} bytes "
            f"({_failure_reason(exc)}): run `make data` again to resume, or offline "
            f"{OFFLINE_FIX}"
        ) from None
    finally:
        bar.close()
    return received


def _finalise(
    files: _Files,
    url: str,
    received: int,
    total: int | None,
    expected_size: int | None,
    expected_sha256: str | None,
) -> None:
    """Check the ``.part`` is whole and right, then rename it into place.

    A ``.part`` that is short is kept (to resume); one with the wrong size or checksum is
    deleted.
    """
    if total is not None and received != total:
        raise DownloadError(
            f"Download of {url} was cut off at {received:,} of {total:,} bytes: run "
            f"`make data` again to resume, or offline {OFFLINE_FIX}"
        )
    try:
        _check_complete(files.part, url, expected_size, expected_sha256)
    except DownloadError:
        files.discard_part()
        raise
    os.replace(files.part, files.dest)
    files.meta.unlink(missing_ok=True)


def download(
    url: str,
    dest_file: str | Path,
    *,
    expected_size: int | None = None,
    expected_sha256: str | None = None,
    progress: bool = True,
    timeout: float = 30,
    connect_timeout: float = 10,
) -> Path:
    """Download ``url`` to ``dest_file`` through ``dest_file.part``, resuming if possible.

    The bytes go to ``<dest_file>.part``, renamed to ``dest_file`` only when complete (the
    size the server announced, and ``expected_size`` / ``expected_sha256`` when given).  If a
    ``.part`` from the same URL exists, the download resumes with an HTTP ``Range`` request
    when the server allows it (206), else starts again.  An existing complete ``dest_file``
    is reused.

    Args:
        url: an ``http://`` or ``https://`` address.
        dest_file: where the complete file goes.
        expected_size: exact size in bytes, checked when given (also against the size the
            server announces, before anything is downloaded).
        expected_sha256: SHA-256 in hex, checked when given.
        progress: show a progress bar (a few plain lines when output is not a terminal).
        timeout: seconds a read may wait for data.
        connect_timeout: seconds to wait for the server to answer at all (kept short, so
            being offline fails at once).

    Returns:
        ``dest_file`` as a :class:`~pathlib.Path`.

    Raises:
        DownloadError: the host cannot be reached, answers with an error, the transfer is
            cut off, or the result has the wrong size or checksum (a wrong file is deleted).
        DestinationError: the download folder cannot be written or lacks space.
    """
    files = _Files(Path(dest_file))
    if _reusable(files, url, expected_size, expected_sha256):
        return files.dest
    start, meta = _resume_state(files, url)
    response = _open(url, start, meta, connect_timeout, timeout)
    if response is None:  # HTTP 416: the .part is not a prefix of this file; start again
        files.discard_part()
        start, meta = 0, {}
        response = _open(url, start, meta, connect_timeout, timeout)
    assert response is not None  # only a resume can answer None
    with response:
        start, total = _range_of(response, start)
        if total is not None:
            try:
                _check_size(total, url, expected_size)  # before a byte is downloaded
            except DownloadError:
                files.discard_part()
                raise
        _prepare_part(files, url, response, start, total)
        received = _stream(response, files, url, start, total, progress)
    _finalise(files, url, received, total, expected_size, expected_sha256)
    return files.dest
