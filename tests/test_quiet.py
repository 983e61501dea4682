"""``quiet``: no start-up chatter from TensorFlow, yet standard error works afterwards; expected
warnings hidden only where asked."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

from catdog_utils import quiet


def test_import_tensorflow_is_silent_and_stderr_still_works() -> None:
    """In a fresh process (TensorFlow prints only on its first import), with no log-level
    setting: nothing from the import reaches file descriptor 2, later writes do."""
    script = textwrap.dedent(
        """
        import os, sys
        from catdog_utils.quiet import import_tensorflow
        tf = import_tensorflow()
        print(tf.constant(20) + 22)
        os.write(2, b"after the import\\n")
        print(os.environ["TF_CPP_MIN_LOG_LEVEL"])
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0].startswith("tf.Tensor(42")
    assert done.stdout.split("\n")[1] == "2"
    assert done.stderr == "after the import\n"


def test_tensorflow_warnings_hidden_hides_warnings_not_errors_and_restores_the_level() -> None:
    logger = logging.getLogger("tensorflow")
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler, before = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        with quiet.tensorflow_warnings_hidden():
            logger.warning("5 out of the last 13 calls triggered tf.function retracing")
            logger.error("a real error")
        logger.warning("after the block")
        assert logger.level == logging.WARNING
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
    assert records == ["a real error", "after the block"]
