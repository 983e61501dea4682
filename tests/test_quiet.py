"""``quiet.import_tensorflow``: no start-up chatter, yet standard error works afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


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
