"""The benchmark: its arithmetic and report on known numbers, and one tiny real run."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from catdog_utils import bench
from catdog_utils.errors import DataNotFoundError

SUMMARY = re.compile(
    r"^speedup vs ImageDataGenerator: (\d+\.\d\d|n/a)x?, overhead vs compute floor: (\d+\.\d\d)x$"
)


def _result(**changes: object) -> bench.BenchResult:
    pipelines = {
        "idg": bench.PipelineTimes(
            wall=[9.0, 12.0, 9.0], cpu=[5.0, 5.0, 5.0], wait=[0.0, 3.0, 0.0], warmup=11.0
        ),
        "course": bench.PipelineTimes(wall=[2.5, 2.0, 3.0], cpu=[3.0] * 3, wait=[], warmup=4.0),
        "floor": bench.PipelineTimes(wall=[2.0, 1.9, 2.1], cpu=[2.5] * 3, wait=[], warmup=3.0),
    }
    values: dict[str, object] = dict(
        mode="quick",
        images_per_epoch=800,
        batch_size=32,
        image_size=64,
        timed_epochs=3,
        pipelines=pipelines,
        decode_seconds=1.5,
        latency_ms=1.25,
        latency_method="tf.function",
        latency_ms_by_method={"eager": 5.0, "tf.function": 1.25},
        throughput_images_per_s=3000.0,
        peak_rss_mb=900.0,
        peak_rss_mb_by_stage={"course": 800.0},
        system={"cpu_model": "Test CPU", "usable_cores": 2, "logical_cores": 2},
    )
    values.update(changes)
    return bench.BenchResult(**values)  # type: ignore[arg-type]


def test_speedup_and_overhead_are_ratios_of_mean_epochs() -> None:
    result = _result()
    assert [result.pipelines[k].figure("mean") for k in ("idg", "course", "floor")] == [
        10.0,
        2.5,
        2.0,
    ]
    assert result.speedup == pytest.approx(4.0)
    assert result.overhead == pytest.approx(1.25)
    ratios = result.ratios()
    assert ratios["cpu_overhead"] == pytest.approx(1.2)
    assert ratios["cpu_speedup"] == pytest.approx(5.0 / 3.0)
    assert ratios["best_speedup"] == pytest.approx(9.0 / 2.0)
    assert ratios["best_overhead"] == pytest.approx(2.0 / 1.9)
    # steady state: ImageDataGenerator's 3-s start-of-epoch wait taken out (9 s a epoch)
    assert ratios["steady_speedup"] == pytest.approx(9.0 / 2.5)
    assert ratios["steady_overhead"] == pytest.approx(1.25)
    assert set(ratios) == {
        f"{prefix}{name}"
        for prefix in ("", "best_", "steady_", "cpu_")
        for name in ("speedup", "overhead")
    }


def test_timed_fit_separates_the_start_of_epoch_wait() -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    def batches():  # every epoch's first batch arrives 0.3 s late, the others at once
        time.sleep(0.3)
        for _ in range(6):
            yield np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32")

    data = tf.data.Dataset.from_generator(
        batches,
        output_signature=(
            tf.TensorSpec((None, 3), tf.float32),
            tf.TensorSpec((None, 1), tf.float32),
        ),
    )
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    times = bench._timed_fit(model, data, epochs=2)  # after one warm-up epoch
    assert len(times.wall) == len(times.cpu) == len(times.wait) == 2
    assert times.warmup > 0.3
    for wall, wait in zip(times.wall, times.wait, strict=True):
        assert 0.25 < wait < wall


def test_report_ends_with_exactly_one_summary_line() -> None:
    report = bench.format_report(_result())
    lines = report.splitlines()
    assert lines[-1] == "speedup vs ImageDataGenerator: 4.00x, overhead vs compute floor: 1.25x"
    assert sum(bool(SUMMARY.match(line)) for line in lines) == 1
    assert "Test CPU" in report
    assert "tf.function" in report and "1.25 ms" in report
    assert "3,000 images/s" in report
    assert "in CPU seconds: speedup 1.67x, overhead 1.20x" in report
    assert "steady state (start-of-epoch waits taken out): speedup 3.60x, overhead 1.25x" in report
    idg_row = next(line for line in lines if line.startswith("ImageDataGenerator."))
    assert idg_row.split()[1:5] == ["10.00", "12.50", "1.00", "9.00"]


def test_report_without_image_data_generator_says_so() -> None:
    result = _result(idg_note="not available")
    del result.pipelines["idg"]
    assert result.speedup is None and result.ratios()["steady_speedup"] is None
    report = bench.format_report(result)
    assert "ImageDataGenerator: not measured (not available)" in report
    assert report.splitlines()[-1] == (
        "speedup vs ImageDataGenerator: n/a, overhead vs compute floor: 1.25x"
    )


def test_save_report_writes_json_with_derived_figures(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "bench.json"
    bench.save_report(_result(), path)
    data = json.loads(path.read_text())
    assert data["speedup"] == pytest.approx(4.0)
    assert data["overhead"] == pytest.approx(1.25)
    assert data["course_epoch_seconds"] == [2.5, 2.0, 3.0]
    assert data["idg_epoch_wait_seconds"] == [0.0, 3.0, 0.0]
    assert data["floor_warmup_seconds"] == 3.0
    assert data["idg_seconds_per_epoch"] == 10.0
    assert data["steady_speedup"] == pytest.approx(9.0 / 2.5)
    assert "pipelines" not in data  # the same flat keys as before the record per pipeline
    assert data["summary"] == bench.summary_line(_result())
    assert [p.name for p in path.parent.iterdir()] == ["bench.json"]


def test_image_data_generator_is_found_in_this_keras() -> None:
    pytest.importorskip("scipy")
    cls, where = bench.find_image_data_generator()
    assert cls is not None, where
    assert cls.__name__ == "ImageDataGenerator"
    assert "ImageDataGenerator" in where


def test_subset_folder_links_without_copying(shared_dataset: Path) -> None:
    from catdog_utils.pipeline import list_split_files

    paths, _ = list_split_files(shared_dataset, "training_set", per_class=3)
    with bench._subset_folder(paths, "training_set") as folder:
        links = sorted(folder.glob("*/*.jpg"))
        assert [p.parent.name for p in links] == ["cats"] * 3 + ["dogs"] * 3
        assert all(p.is_symlink() for p in links)
        assert list_split_files(folder.parent, "training_set")[0] == [
            folder / p.parent.name / p.name for p in paths
        ]
    assert not folder.exists()


def test_missing_data_set_is_a_learner_error(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="make data"):
        bench.run_benchmark(tmp_path / "nowhere", per_class=2)


def test_epochs_must_be_positive(shared_dataset: Path) -> None:
    with pytest.raises(ValueError, match="epochs"):
        bench.run_benchmark(shared_dataset, per_class=2, epochs=0)


def test_tiny_real_benchmark_measures_every_pipeline(shared_dataset: Path) -> None:
    pytest.importorskip("scipy")
    result = bench.run_benchmark(
        shared_dataset, per_class=32, epochs=1, latency_calls=5, throughput_images=128
    )
    assert result.mode == "custom" and result.images_per_epoch == 64
    assert list(result.pipelines) == ["idg", "course", "floor"]
    for times in result.pipelines.values():
        assert len(times.wall) == len(times.cpu) == len(times.wait) == 1
        assert times.wall[0] > 0 and times.warmup > 0
        assert 0 <= times.wait[0] <= times.wall[0]  # waiting for batches is part of the epoch
    timed = sum(t.wall[0] + t.warmup for t in result.pipelines.values())
    assert 0 < result.decode_seconds < result.total_seconds
    assert timed < result.total_seconds  # the parts cannot take longer than the whole
    assert set(result.latency_ms_by_method) == {"eager", "tf.function"}
    assert result.latency_ms == min(result.latency_ms_by_method.values())
    assert 0 < result.latency_ms < 1000 * result.total_seconds
    # 128 images predicted inside the run: they took at most the whole run
    assert result.throughput_images_per_s > 128 / result.total_seconds
    assert 100 < result.peak_rss_mb < 64 * 1024  # TensorFlow alone needs over 100 MiB
    assert result.peak_rss_mb >= max(result.peak_rss_mb_by_stage.values()) > 0
    assert result.system["tensorflow"] and result.system["usable_cores"] >= 1
    report = bench.format_report(result)
    assert SUMMARY.match(report.splitlines()[-1])
    assert result.speedup is not None and result.speedup > 0


def test_a_folder_the_pipelines_would_read_differently_is_refused(
    make_course_subset, tmp_path: Path
) -> None:
    pytest.importorskip("scipy")
    from catdog_utils.errors import CatdogError

    folder = make_course_subset(train_per_class=2, test_per_class=1)
    (folder / "training_set" / "cats" / "extra.png").write_bytes(b"not a course jpg")
    with pytest.raises(CatdogError, match="make data"):
        bench.run_benchmark(folder, epochs=1)
