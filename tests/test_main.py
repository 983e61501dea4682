"""``python -m catdog_utils`` is the ``catdog`` command: same help, same exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_module(argv: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m catdog_utils ARGV`` with the course pointed at ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATDOG_")}
    env["CATDOG_HOME"] = str(home)
    env["CATDOG_DATA_DIR"] = str(home / "data" / "cats_and_dogs")
    return subprocess.run(
        [sys.executable, "-m", "catdog_utils", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_python_m_catdog_utils_is_the_catdog_command(tmp_path: Path) -> None:
    """``--help`` lists the sub-commands as ``catdog``; a learner's error exits 2, one line."""
    shown = run_module(["--help"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: catdog ")
    for command in ("data", "train", "evaluate", "predict", "bench"):
        assert command in shown.stdout

    failed = run_module(["train", "--profile", "quick"], tmp_path)  # no data set in tmp_path
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert failed.stderr.startswith("catdog: error: ") and failed.stderr.count("\n") == 1
    assert "make data" in failed.stderr or "catdog data" in failed.stderr, failed.stderr
