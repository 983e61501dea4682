"""TensorBoard logs: ``catdog train`` (through ``training.train``) writes event files under
``runs/<profile>/<model>/`` that TensorFlow's own reader reads back, one scalar per epoch."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf
from helpers import run_cli


def read_events(folder: Path) -> tuple[dict[str, dict[int, float]], list[str]]:
    """The event files of ``folder``: ``({scalar tag: {step: value}}, [layer names])``.

    The layer names come from the Keras model graph (TensorBoard's "graph_keras_model"
    plugin, what the Graphs tab draws); an empty list means no graph was logged.
    """
    import json

    from tensorflow.core.util import event_pb2

    scalars: dict[str, dict[int, float]] = {}
    layers: list[str] = []
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for record in tf.data.TFRecordDataset([str(f) for f in files]):
        event = event_pb2.Event.FromString(record.numpy())
        for value in event.summary.value:
            plugin = value.metadata.plugin_data.plugin_name
            if plugin == "scalars":
                number = float(tf.make_ndarray(value.tensor))
                scalars.setdefault(value.tag, {})[event.step] = number
            elif plugin == "graph_keras_model":
                graph = json.loads(tf.make_ndarray(value.tensor).item())
                layers += [layer["name"] for layer in graph["config"]["layers"]]
    return scalars, layers


def test_catdog_train_writes_epoch_scalars_and_graph(
    tiny_dataset: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two epochs of the baseline on 24 photos: loss and accuracy for epochs 0 and 1, for
    training and validation, equal to the saved history; the model's graph is logged."""
    from catdog_utils import training

    argv = ["train", "--data-dir", tiny_dataset, "--profile", "quick", "--epochs", 2,
            "--batch-size", 8]  # fmt: skip
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    runs = isolated_home / "runs" / "quick" / "baseline"
    assert f"TensorBoard logs: {runs}" in out

    history = training.load_history(
        training.history_path(isolated_home / "models" / "quick" / "baseline.keras")
    )
    train_scalars, layers = read_events(runs / "train")
    val_scalars, _ = read_events(runs / "validation")
    assert {"conv1", "conv2", "dog_probability"} <= set(layers), layers  # the model graph
    for scalars, prefix in ((train_scalars, ""), (val_scalars, "val_")):
        for metric in ("loss", "accuracy"):
            logged = scalars[f"epoch_{metric}"]
            assert sorted(logged) == [0, 1]
            assert [logged[0], logged[1]] == pytest.approx(history[prefix + metric], rel=1e-5)
