"""Helpers shared by the command-line tests (test_cli.py, test_robustness.py)."""

from __future__ import annotations

import pytest

from catdog_utils import cli


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
