"""Helpers shared by several test files (import them with ``from helpers import ...``).

- :func:`run_cli` / :func:`assert_one_line_error`: the ``catdog`` command in this process
  and its one-line error contract;
- :func:`run_catdog` / :func:`run_python`: the real command (or a script) in a subprocess
  whose course folders all live in a temporary home;
- :func:`encoded`, :func:`write_zip`: image bytes and zips made in memory;
- :func:`lambda_model`: a Keras model carrying Python code (which must never run);
- :func:`serve`: a local HTTP server that honours ``Range`` and can cut a download off;
- :func:`skip_or_fail`: skip a test whose shared data is missing, fail instead under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from catdog_utils import cli

# ---------------------------------------------------------------------------------------
# The command, in this process and in a subprocess


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """Run ``catdog ARGV`` in this process: ``(exit code, stdout, stderr)``."""
    capsys.readouterr()  # drop anything printed before
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> str:
    """Assert ``err`` is exactly one ``catdog: error: ...`` line; return its message."""
    assert err.startswith("catdog: error: "), err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    message = err[len("catdog: error: ") : -1]
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def catdog_env(home: Path, data_dir: Path | None = None) -> dict[str, str]:
    """Environment for a subprocess that lives entirely in ``home`` (no other CATDOG_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATDOG_")}
    env["CATDOG_HOME"] = str(home)
    env["CATDOG_DATA_DIR"] = str(data_dir or home / "data" / "cats_and_dogs")
    return env


def run_python(
    code: str, home: Path, *args: object, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c CODE ARGS`` in a subprocess living in ``home``."""
    return _run(["-c", code, *map(str, args)], home, data_dir)


def run_catdog(
    argv: list[object], home: Path, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command (``python -m catdog_utils.cli ARGV``) in a subprocess."""
    return _run(["-m", "catdog_utils.cli", *map(str, argv)], home, data_dir)


def _run(args: list[str], home: Path, data_dir: Path | None) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with :func:`catdog_env`, output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        env=catdog_env(home, data_dir),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


# ---------------------------------------------------------------------------------------
# Files made in memory


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    """A Pillow image saved to bytes in ``fmt`` (``JPEG``, ``PNG``, ...)."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A zip at ``path`` holding ``members`` under exactly those names."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(zipfile.ZipInfo(name), content)
    return path


def lambda_model(marker: Path) -> object:
    """A model whose Lambda layer, if it ever ran, would write ``marker`` (building the
    model runs it once; its bytecode goes into a saved file)."""
    import keras

    target = str(marker)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: (Path(target).write_text("ran"), t)[1])(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


# ---------------------------------------------------------------------------------------
# A local HTTP server


class RangeServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` (path -> bytes) on 127.0.0.1.

    Attributes:
        files: what it serves; any other path answers 404.
        ranges: honour ``Range: bytes=N-`` requests with a 206, or a 416 when the file is
            not longer than N (else answer 200 in full).
        cut: announce the whole length but hang up halfway through the body.
        requests: ``(path, Range header or None)`` of every request, in order.
    """

    files: dict[str, bytes]
    ranges: bool
    cut: bool
    requests: list[tuple[str, str | None]]

    def url(self, path: str) -> str:
        """The address of ``path`` on this server."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: RangeServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.requests.append((self.path, self.headers.get("Range")))
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if match and self.server.ranges and int(match.group(1)) >= len(body):
            self.send_error(416)  # Range Not Satisfiable: the file is shorter than that
            return
        if match and self.server.ranges:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("ETag", '"v1"')
        self.end_headers()
        payload = body[start:]
        self.wfile.write(payload[: len(payload) // 2] if self.server.cut else payload)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@contextlib.contextmanager
def serve(files: dict[str, bytes]) -> Iterator[RangeServer]:
    """Run a :class:`RangeServer` for ``files`` in a thread for the ``with`` block."""
    server = RangeServer(("127.0.0.1", 0), _Handler)
    server.files, server.ranges, server.cut, server.requests = dict(files), True, False, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Interrupted(RuntimeError):
    """Stands in for a crash or a Ctrl-C in the middle of an epoch."""


def crash_in_epoch(epoch: int, batch: int = 1) -> object:
    """A Keras callback that raises :class:`Interrupted` at ``batch`` of ``epoch`` (from 0)."""
    import keras

    class CrashInEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, current: int, logs: dict | None = None) -> None:
            self.epoch = current

        def on_train_batch_begin(self, current: int, logs: dict | None = None) -> None:
            if self.epoch == epoch and current == batch:
                raise Interrupted(f"interrupted in epoch {epoch}, batch {batch}")

    return CrashInEpoch()


def skip_or_fail(reason: str) -> None:
    """Skip the test for ``reason``; under ``CI=true`` fail instead, since CI must run it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the shared data set must be there)")
    pytest.skip(reason)
