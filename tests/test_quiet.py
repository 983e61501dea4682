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


class Collect(logging.Handler):
    """Keeps the messages of the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_tensorflow_warnings_hidden_hides_warnings_not_errors_and_restores_the_level() -> None:
    logger = logging.getLogger("tensorflow")
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
    assert handler.messages == ["a real error", "after the block"]


def test_predicting_with_new_models_and_batch_sizes_logs_no_retracing_warning() -> None:
    """Eight fresh models, each on another number of photos, through both prediction paths
    (arrays and the CLI's batches): without the guard TensorFlow logs "retracing" twice
    here, and a committed notebook showed it (chapters 04 and 07)."""
    quiet.import_tensorflow()
    import keras
    import numpy as np

    from catdog_utils import evaluation, predict

    logger = logging.getLogger("tensorflow")
    handler, before = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        for k in range(8):
            model = keras.Sequential(
                [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1, "sigmoid")]
            )
            probs = evaluation.predict_probabilities(model, np.zeros((3 + k, 8, 8, 3), np.uint8))
            batch = predict._probabilities(model, np.zeros((1 + k, 8, 8, 3), np.uint8))
            assert probs.shape == (3 + k,) and batch.shape == (1 + k,)
        assert logger.level == logging.WARNING
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
    assert not [m for m in handler.messages if "retracing" in m], handler.messages
