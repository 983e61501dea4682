"""Progress bars that read well both on a terminal and in a log file.

On a terminal a :mod:`tqdm` bar redraws itself in place with carriage returns.  Written to a
file or a CI log, those redraws become hundreds of updates on one very long line, so there
:class:`LogProgress` prints a plain line every 10 % (or every 30 s when that comes first,
or when the total is unknown) and one at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

#: Print a log line each time this share of the total is done.
LOG_STEP = 0.10
#: ... and at least this often, in seconds.
LOG_SECONDS = 30.0


class Progress(Protocol):
    """What the data code needs from a progress bar."""

    def update(self, n: int = 1) -> Any:
        """Count ``n`` more units done."""

    def close(self) -> None:
        """Finish the bar (print its last state)."""


def _amount(value: float, unit: str) -> str:
    """``12`` photos as ``12 img``; bytes as ``3.4 MiB``."""
    if unit != "B":
        return f"{value:,.0f} {unit}"
    for name in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or name == "GiB":
            return f"{value:,.1f} {name}" if name != "B" else f"{value:,.0f} B"
        value /= 1024
    raise AssertionError("unreachable")


class LogProgress:
    """A progress "bar" for non-terminal output: a few whole lines, no carriage returns.

    Args:
        total: the amount expected, or ``None`` when unknown (then only time triggers lines).
        desc: what is counted, e.g. ``checking photos`` or a file name.
        unit: ``B`` (shown as KiB / MiB) or a word such as ``img``.
        initial: the amount already done (a resumed download).
        stream: where the lines go (default ``sys.stderr``, like tqdm).
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        initial: int = 0,
        stream: TextIO | None = None,
    ) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.done = initial
        self.stream = stream if stream is not None else sys.stderr
        self._started = self._last_time = time.monotonic()
        self._last_step = self._step()
        self._closed = False

    def _step(self) -> int:
        """How many whole 10 % steps are done (0 when the total is unknown)."""
        if not self.total:
            return 0
        return int(self.done / self.total / LOG_STEP)

    def _line(self) -> None:
        """Print where we are, e.g. ``checking photos: 40 % (3,200 of 8,000 img), 12 s``."""
        seconds = time.monotonic() - self._started
        done = _amount(self.done, self.unit)
        if self.total:
            done = done if self.unit == "B" else f"{self.done:,}"
            share = f"{100 * self.done / self.total:.0f} % ({done} of "
            share += f"{_amount(self.total, self.unit)})"
        else:
            share = done
        print(f"{self.desc}: {share}, {seconds:.0f} s", file=self.stream, flush=True)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units; print a line at each new 10 % step or after 30 s."""
        self.done += n
        step, now = self._step(), time.monotonic()
        if step > self._last_step or now - self._last_time >= LOG_SECONDS:
            self._last_step, self._last_time = step, now
            if not self.total or self.done < self.total:
                self._line()

    def close(self) -> None:
        """Print the final line (once)."""
        if not self._closed:
            self._closed = True
            self._line()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Silent:
    """A progress bar that shows nothing (``progress=False``)."""

    def update(self, n: int = 1) -> None:
        """Ignore ``n``."""

    def close(self) -> None:
        """Nothing to finish."""


def progress_bar(
    total: int | None,
    desc: str,
    unit: str,
    *,
    enabled: bool = True,
    initial: int = 0,
    stream: TextIO | None = None,
) -> Progress:
    """A tqdm bar on a terminal, :class:`LogProgress` elsewhere, nothing when not ``enabled``.

    Args:
        total: the amount expected (``None``: unknown).
        desc: the bar's label.
        unit: ``B`` for bytes (shown in KiB / MiB), else a word such as ``img``.
        enabled: ``False`` shows nothing at all.
        initial: the amount already done.
        stream: the output (default ``sys.stderr``); whether it is a terminal decides the kind.
    """
    if not enabled:
        return _Silent()
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        return LogProgress(total, desc, unit, initial=initial, stream=stream)
    from tqdm.std import tqdm

    scale = {"unit_scale": True, "unit_divisor": 1024} if unit == "B" else {}
    return tqdm(total=total, initial=initial, unit=unit, desc=desc, file=stream, **scale)
