"""Side-by-side benchmark of the input pipelines and the compute floor (``make bench``).

In one process, on the original model (:func:`models.build_baseline_cnn`, 64x64, batch 32)
and the same images, :func:`run_benchmark` measures the seconds per training epoch of

1. the original course's ``ImageDataGenerator.flow_from_directory`` pipeline, which opens,
   decodes, resizes and augments every JPEG again in every epoch;
2. the course pipeline (:mod:`catdog_utils.pipeline`): every image decoded once, then
   shuffled, batched, augmented with Keras layers on the fly and prefetched; the one-off
   decoding time is reported separately;
3. the compute floor: the same model trained on the same images already in memory as
   float32 tensors, with no augmentation, so the input pipeline costs (almost) nothing.

Each figure is the mean of the timed epochs that follow one warm-up epoch (tracing,
caches): the seconds a learner waits per epoch.  Every epoch is also split into its
*start-of-epoch wait* (how much longer its first step took than a typical step) and the
rest, its *steady state*: with TensorFlow 2.21, a ``tf.data`` pipeline with autotuning
(which Keras's adapter for ``ImageDataGenerator`` uses) can stall for seconds when each
epoch starts, and the report shows both figures (see :func:`pipeline.pipeline_options`).
The process's CPU seconds per epoch are recorded too, since on a shared machine they
move much less than the wall clock.  It also measures single-image prediction
latency, batch inference throughput and the process's peak memory, and records the CPU
it ran on.  :func:`format_report` ends
with the one line a learner compares::

    speedup vs ImageDataGenerator: X.XXx, overhead vs compute floor: Y.YYx

Timings on a shared machine vary from run to run: read them as what they are.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import atomic, config
from .errors import CatdogError

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: Images per class in quick mode (800 images an epoch: the whole bench runs in about
#: half a minute on 2 cores).
QUICK_PER_CLASS = 400
#: Timed epochs (after one warm-up epoch) in each mode.  Start-of-epoch stalls come and
#: go from epoch to epoch, so a few epochs are needed for a fair mean.
QUICK_EPOCHS = 4
FULL_EPOCHS = 4
#: Single-image predictions timed for the latency figure.
LATENCY_CALLS = 50
#: Images and batch size of the inference-throughput figure.
THROUGHPUT_IMAGES = 2000
THROUGHPUT_BATCH = 256


@dataclass
class PipelineTimes:
    """One pipeline's measured epochs (seconds): what the report compares.

    ``wall``: the timed epochs' wall clock; ``cpu``: the process's CPU seconds (all
    threads) in the same epochs, which on a machine shared with other work show what the
    pipeline costs even when the wall clock is inflated by waiting for a core; ``wait``:
    each timed epoch's start-of-epoch wait, how much longer its first step took than its
    median step; ``warmup``: the first, untimed epoch (tracing, filling buffers).
    """

    wall: list[float]
    cpu: list[float]
    wait: list[float]
    warmup: float

    def figure(self, kind: str) -> float | None:
        """Seconds per epoch by ``kind``: ``mean``, ``fastest``, ``steady`` or ``cpu``.

        ``steady`` is the mean with every start-of-epoch wait taken out; ``fastest`` the
        epoch least slowed by other processes; ``cpu`` the median CPU seconds (``None``
        when none were recorded).
        """
        if kind == "mean":
            return _mean(self.wall)
        if kind == "fastest":
            return min(self.wall)
        if kind == "steady":
            return _steady(self.wall, self.wait)
        if kind == "cpu":
            return _median(self.cpu) if self.cpu else None
        raise ValueError(f"unknown figure {kind!r}: use mean, fastest, steady or cpu")


#: The pipelines in the report's order: key -> row label.
PIPELINES = {
    "idg": "ImageDataGenerator.flow_from_directory",
    "course": "course tf.data (decoded once, augmented)",
    "floor": "compute floor (tensors in memory)",
}
#: Ratio name prefix -> the :meth:`PipelineTimes.figure` it compares.
RATIO_FIGURES = {"": "mean", "best_": "fastest", "steady_": "steady", "cpu_": "cpu"}


@dataclass
class BenchResult:
    """Everything :func:`run_benchmark` measured (seconds unless named otherwise).

    ``pipelines`` holds each pipeline's :class:`PipelineTimes` under its :data:`PIPELINES`
    key; ``idg`` is missing when ``ImageDataGenerator`` is not available or was skipped
    (``idg_note`` says why).  A *speedup* is ImageDataGenerator's seconds per epoch over
    the course pipeline's, an *overhead* the course pipeline's over the compute floor's
    (1.0 = free input); :meth:`ratios` gives both for every figure.
    """

    mode: str
    images_per_epoch: int
    batch_size: int
    image_size: int
    timed_epochs: int
    pipelines: dict[str, PipelineTimes]
    decode_seconds: float
    latency_ms: float
    latency_method: str
    throughput_images_per_s: float
    peak_rss_mb: float
    idg_note: str = ""
    augmentation: str = "models.build_original_augmentation"
    latency_ms_by_method: dict[str, float] = field(default_factory=dict)
    throughput_images: int = THROUGHPUT_IMAGES
    throughput_batch: int = THROUGHPUT_BATCH
    peak_rss_mb_by_stage: dict[str, float] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    total_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def ratio(self, slower: str, faster: str, figure: str = "mean") -> float | None:
        """``slower``'s seconds per epoch over ``faster``'s (``None``: one is missing)."""
        if slower not in self.pipelines or faster not in self.pipelines:
            return None
        top = self.pipelines[slower].figure(figure)
        bottom = self.pipelines[faster].figure(figure)
        return None if top is None or bottom is None else top / bottom

    def ratios(self) -> dict[str, float | None]:
        """``speedup`` / ``overhead`` for every figure: ``speedup``, ``best_speedup``, ..."""
        ratios: dict[str, float | None] = {}
        for prefix, figure in RATIO_FIGURES.items():
            ratios[f"{prefix}speedup"] = self.ratio("idg", "course", figure)
            ratios[f"{prefix}overhead"] = self.ratio("course", "floor", figure)
        return ratios

    @property
    def speedup(self) -> float | None:
        """ImageDataGenerator seconds per epoch / course seconds per epoch (``None``: not run)."""
        return self.ratio("idg", "course")

    @property
    def overhead(self) -> float:
        """Course seconds per epoch / compute-floor seconds per epoch (1.0 = free input)."""
        return self.ratio("course", "floor") or float("nan")

    def to_dict(self) -> dict[str, Any]:
        """The measurements plus the derived figures, ready for JSON (flat keys per pipeline)."""
        data = {k: v for k, v in asdict(self).items() if k != "pipelines"}
        for name in PIPELINES:
            times = self.pipelines.get(name)
            data[f"{name}_epoch_seconds"] = times.wall if times else None
            data[f"{name}_warmup_seconds"] = times.warmup if times else None
            data[f"{name}_epoch_cpu_seconds"] = times.cpu if times else None
            data[f"{name}_epoch_wait_seconds"] = times.wait if times else None
            data[f"{name}_seconds_per_epoch"] = times.figure("mean") if times else None
        data.update(self.ratios(), summary=summary_line(self))
        return data


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values))


def _steady(epochs: Sequence[float], waits: Sequence[float] | None) -> float:
    """Mean epoch seconds without the start-of-epoch waits (none recorded: unchanged)."""
    if not waits:
        return _mean(epochs)
    return _mean([epoch - wait for epoch, wait in zip(epochs, waits, strict=True)])


def _peak_rss_mb() -> float:
    """The process's resident-memory high-water mark in MiB.

    ``resource.getrusage().ru_maxrss`` (KiB on Linux, bytes on macOS); on Windows, which
    has no ``resource`` module, psutil's peak working set if psutil is installed.
    """
    try:
        import resource
    except ImportError:  # Windows
        try:
            import psutil
        except ImportError:
            return float("nan")
        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if platform.system() == "Darwin" else peak / 1024


def system_info() -> dict[str, Any]:
    """CPU model, cores, bf16 support, load and library versions, for the report."""
    import keras
    import tensorflow as tf

    cpu_model = platform.processor() or platform.machine()
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                cpu_model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    from .pipeline import usable_cores

    usable = usable_cores()
    quota = None
    cpu_max = Path("/sys/fs/cgroup/cpu.max")
    if cpu_max.is_file():
        limit, _, period = cpu_max.read_text().strip().partition(" ")
        if limit != "max" and period:
            quota = round(int(limit) / int(period), 2)
    return {
        "cpu_model": cpu_model,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "cgroup_cpu_quota": quota,
        "bf16_flags": sorted(f for f in flags if "bf16" in f),
        "amx": sorted(f for f in flags if f.startswith("amx")),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def find_image_data_generator() -> tuple[type | None, str]:
    """The legacy ``ImageDataGenerator`` class and where it was found, or ``None`` and why.

    In TensorFlow 2.21 / Keras 3.15 it still exists as
    ``tf.keras.preprocessing.image.ImageDataGenerator`` (which is
    ``keras.src.legacy.preprocessing.image.ImageDataGenerator``; the public
    ``keras.preprocessing.image`` no longer has it).  Its augmentation needs SciPy.
    """
    import tensorflow as tf

    cls = getattr(tf.keras.preprocessing.image, "ImageDataGenerator", None)
    where = "tf.keras.preprocessing.image.ImageDataGenerator"
    if cls is None:
        try:
            from keras.src.legacy.preprocessing.image import ImageDataGenerator as cls
        except ImportError:
            return None, "ImageDataGenerator is not available in this TensorFlow/Keras"
        where = "keras.src.legacy.preprocessing.image.ImageDataGenerator"
    try:
        import scipy  # noqa: F401  (ImageDataGenerator's shear and zoom use scipy.ndimage)
    except ImportError:
        return None, "ImageDataGenerator needs SciPy for shear/zoom: pip install scipy"
    return cls, f"{where} ({cls.__module__})"


def _timed_fit(model: keras.Model, data: Any, epochs: int) -> PipelineTimes:
    """Fit ``model`` for one warm-up and ``epochs`` timed epochs, timing each one."""
    import keras

    wall: list[float] = []
    cpu: list[float] = []
    wait: list[float] = []

    class _EpochSeconds(keras.callbacks.Callback):
        # Only *begin* hooks: a callback with an ``on_train_batch_end`` hook turns off
        # Keras's asynchronous callback dispatch and makes it turn every step's logs into
        # Python floats, so the timer would change what it times.  The first stamp after
        # the epoch's start is step 1's begin, so the first interval holds the
        # start-of-epoch wait and step 0.
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._start = time.perf_counter(), time.process_time()
            self._stamps = [self._start[0]]

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if batch > 0:
                self._stamps.append(time.perf_counter())

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            end = time.perf_counter()
            wall.append(end - self._start[0])
            cpu.append(time.process_time() - self._start[1])
            steps = np.diff([*self._stamps, end])
            wait.append(max(0.0, float(steps[0] - np.median(steps))))

    model.fit(data, epochs=1 + epochs, callbacks=[_EpochSeconds()], verbose=0, shuffle=False)
    return PipelineTimes(wall=wall[1:], cpu=cpu[1:], wait=wait[1:], warmup=wall[0])


@contextmanager
def _subset_folder(paths: Sequence[Path], split: str) -> Iterator[Path]:
    """A temporary course-layout folder of symbolic links to ``paths``.

    Where symbolic links are not allowed (Windows without developer mode) the files are
    copied into the temporary folder instead; it is removed afterwards either way.
    """
    with tempfile.TemporaryDirectory(prefix="catdog-bench-") as tmp:
        root = Path(tmp) / split
        for path in paths:
            target = root / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.symlink_to(path.resolve())
            except OSError:
                shutil.copyfile(path, target)
        yield root


def _bench_idg(
    idg_class: type,
    paths: Sequence[Path],
    folder: Path | None,
    epochs: int,
    batch_size: int,
    image_size: int,
    seed: int,
) -> PipelineTimes:
    """Warm-up + timed epochs of the original ``flow_from_directory`` pipeline.

    It reads ``folder`` (the whole ``training_set``) or, when ``folder`` is ``None``, a
    temporary folder holding only ``paths`` (:func:`_subset_folder`).
    """
    from .models import build_baseline_cnn

    # The original course used ImageDataGenerator(rescale=1./255, ...).  Our baseline model
    # rescales itself (a Rescaling(1/255) layer), so the generator must hand it raw 0-255
    # pixels, rescale=None, or the images would be divided by 255 twice.  The model's
    # arithmetic is then identical to the original's; the cost of the generator's own
    # multiply, which this leaves out, is negligible beside decoding a JPEG.
    generator = idg_class(rescale=None, shear_range=0.2, zoom_range=0.2, horizontal_flip=True)
    whole = nullcontext(folder) if folder is not None else None
    with whole or _subset_folder(paths, "training_set") as source:
        flow = generator.flow_from_directory(
            str(source),
            target_size=(image_size, image_size),
            batch_size=batch_size,
            class_mode="binary",
            seed=seed,
        )
        if flow.samples != len(paths):
            raise CatdogError(
                f"{source} holds {flow.samples} images ImageDataGenerator reads but "
                f"{len(paths)} course .jpg files, so the pipelines would not see the same "
                "images: rebuild the data set with `make data`"
            )
        return _timed_fit(build_baseline_cnn(image_size), flow, epochs)


def _bench_course(
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    seed: int,
    augmentation: Callable[[int], keras.Layer] | None = None,
) -> PipelineTimes:
    """Warm-up + timed epochs of the course pipeline (``pipeline.to_dataset``)."""
    from .models import build_baseline_cnn, build_original_augmentation
    from .pipeline import to_dataset

    augment = (augmentation or build_original_augmentation)(seed)
    ds = to_dataset(x, y, batch_size, shuffle=True, augment=augment, seed=seed)
    model = build_baseline_cnn(x.shape[1])
    return _timed_fit(model, ds, epochs)


def floor_dataset(x: np.ndarray, y: np.ndarray, batch_size: int) -> Any:
    """The compute floor's input: float32 batches built once, cached, then replayed.

    ``from_tensor_slices(...).batch().map(cast).cache()`` converts and batches the images in
    the warm-up epoch only; later epochs hand the model ready tensors from memory, so what is
    left is the model's own work (plus a per-step overhead that every pipeline pays).
    ``model.fit`` on NumPy arrays measured the same within noise (it slices and converts
    every batch again each epoch); a ``tf.data`` input is chosen because the course
    pipeline is one too, so the two runs differ only in what feeds the model.
    """
    import tensorflow as tf

    from .pipeline import PREFETCH_BATCHES, pipeline_options

    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.float32)[:, None])).batch(batch_size)
    # cast per batch (uint8 -> float32) before the cache: only one float32 copy is kept
    ds = ds.map(lambda images, labels: (tf.cast(images, tf.float32), labels))
    return ds.cache().prefetch(PREFETCH_BATCHES).with_options(pipeline_options())


def _bench_floor(x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int) -> PipelineTimes:
    """Warm-up + timed epochs on in-memory tensors, no augmentation."""
    from .models import build_baseline_cnn

    model = build_baseline_cnn(x.shape[1])
    return _timed_fit(model, floor_dataset(x, y, batch_size), epochs)


def _median_seconds(fn: Callable[[], object], calls: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return _median(times)


def measure_latency(model: keras.Model, image: np.ndarray, calls: int = LATENCY_CALLS) -> dict:
    """Median milliseconds to predict one image, by method (each after 5 warm-up calls).

    ``eager``: ``model(x, training=False)``; ``tf.function``: the same call compiled once
    for a fixed input shape.  Both include turning the result into a NumPy float, so the
    work is really done.  ``model.predict`` is left out: it builds a data pipeline per call
    and is several times slower for a single image.
    """
    import tensorflow as tf

    x = tf.constant(image[None].astype(np.float32))
    compiled = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
    return {
        "eager": 1000 * _median_seconds(lambda: float(model(x, training=False)[0, 0]), calls),
        "tf.function": 1000 * _median_seconds(lambda: float(compiled(x)[0, 0]), calls),
    }


def measure_throughput(
    model: keras.Model,
    images: np.ndarray,
    n_images: int = THROUGHPUT_IMAGES,
    batch_size: int = THROUGHPUT_BATCH,
    repeats: int = 3,
) -> float:
    """Images per second of ``model.predict`` over ``n_images`` (median of ``repeats``)."""
    x = np.resize(images, (n_images, *images.shape[1:])).astype(np.float32)
    seconds = _median_seconds(
        lambda: model.predict(x, batch_size=batch_size, verbose=0), repeats, warmup=1
    )
    return n_images / seconds


def run_benchmark(
    data_dir: str | Path | None = None,
    quick: bool = False,
    epochs: int | None = None,
    batch_size: int = config.BATCH_SIZE,
    image_size: int = config.IMAGE_SIZE,
    seed: int = config.SEED,
    per_class: int | None = None,
    include_idg: bool = True,
    latency_calls: int = LATENCY_CALLS,
    throughput_images: int = THROUGHPUT_IMAGES,
    augmentation: Callable[[int], keras.Layer] | None = None,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    """Measure the three pipelines, latency, throughput and memory side by side.

    Args:
        data_dir: a prepared course data set (default :func:`config.data_dir`); every
            pipeline trains on its ``training_set``.
        quick: the first :data:`QUICK_PER_CLASS` images of each class instead of all 8000;
            ``per_class`` overrides it (tests use a handful).
        epochs: timed epochs per pipeline after one warm-up epoch (default 4).
        batch_size / image_size / seed: as in the original course (32, 64, 1337).
        include_idg: time the ``ImageDataGenerator`` pipeline (the slow part).
        latency_calls / throughput_images: sizes of the prediction measurements.
        augmentation: ``seed -> layer`` for the course pipeline (default
            :func:`models.build_original_augmentation`), to compare another augmentation.
        log: called with a line of progress per stage (``print`` in the command line).

    Raises:
        DataNotFoundError: ``data_dir`` is not a prepared course data set.
        CatdogError: its ``training_set`` holds images other than the course's ``.jpg``
            files (the pipelines would not train on the same images).
    """
    from . import pipeline

    say = log or (lambda _line: None)
    started = time.perf_counter()
    root = Path(data_dir) if data_dir is not None else config.data_dir()
    mode, per_class, epochs = _plan(quick, per_class, epochs)
    paths, labels = pipeline.list_split_files(root, "training_set", per_class)
    system = system_info()
    say(
        f"bench ({mode}): {len(paths)} images/epoch, batch {batch_size}, {image_size}px, "
        f"1 warm-up + {epochs} timed epochs per pipeline"
    )
    x, decode_seconds = _decode(paths, image_size, say)
    stage_rss = {"decode": _peak_rss_mb()}
    idg_class, idg_note = find_image_data_generator() if include_idg else (None, "skipped")
    runners: dict[str, Callable[[], PipelineTimes]] = {
        "course": lambda: _bench_course(x, labels, epochs, batch_size, seed, augmentation),
        "floor": lambda: _bench_floor(x, labels, epochs, batch_size),
    }
    if idg_class is not None:
        whole = root / "training_set" if per_class is None else None
        runners["idg"] = lambda: _bench_idg(
            idg_class, paths, whole, epochs, batch_size, image_size, seed
        )
    times = _time_pipelines(runners, stage_rss, say)

    say("prediction latency and throughput ...")
    prediction = _prediction_figures(x, latency_calls, throughput_images)
    stage_rss["predict"] = _peak_rss_mb()
    return BenchResult(
        mode=mode,
        images_per_epoch=len(paths),
        batch_size=batch_size,
        image_size=image_size,
        timed_epochs=epochs,
        pipelines={name: times[name] for name in PIPELINES if name in times},
        idg_note=idg_note,
        augmentation=_name_of(augmentation) if augmentation else BenchResult.augmentation,
        decode_seconds=decode_seconds,
        **prediction,
        peak_rss_mb=_peak_rss_mb(),
        peak_rss_mb_by_stage=stage_rss,
        system=system,
        total_seconds=time.perf_counter() - started,
        notes=_notes(times.get("idg"), system),
    )


def _decode(
    paths: Sequence[Path], image_size: int, say: Callable[[str], None]
) -> tuple[np.ndarray, float]:
    """The photos decoded once for the course and floor pipelines, and the seconds it took."""
    from . import pipeline

    say("course pipeline: decoding once ...")
    start = time.perf_counter()
    x = pipeline.decode_images(paths, image_size, cache_dir=None)
    return x, time.perf_counter() - start


def _plan(quick: bool, per_class: int | None, epochs: int | None) -> tuple[str, int | None, int]:
    """The bench's mode (``full``, ``quick`` or ``custom``), images per class and epochs."""
    per_class = QUICK_PER_CLASS if per_class is None and quick else per_class
    mode = "full" if per_class is None else ("quick" if per_class == QUICK_PER_CLASS else "custom")
    epochs = epochs if epochs is not None else (QUICK_EPOCHS if quick else FULL_EPOCHS)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    return mode, per_class, epochs


def _time_pipelines(
    runners: dict[str, Callable[[], PipelineTimes]],
    stage_rss: dict[str, float],
    say: Callable[[str], None],
) -> dict[str, PipelineTimes]:
    """Run each pipeline's bench in turn, noting the peak memory after each in ``stage_rss``.

    In the order of ``runners``: ImageDataGenerator goes last, since when it ran first its
    Keras PyDataset machinery slowed the later tf.data training down.
    """
    times: dict[str, PipelineTimes] = {}
    for name, run in runners.items():
        say(f"{PIPELINES[name]} ...")
        times[name] = run()
        stage_rss[_STAGE_NAMES[name]] = _peak_rss_mb()
    return times


def _prediction_figures(x: np.ndarray, latency_calls: int, throughput_images: int) -> dict:
    """Single-image latency and batch throughput of a fresh baseline model, as result fields."""
    from .models import build_baseline_cnn

    model = build_baseline_cnn(x.shape[1])
    latencies = measure_latency(model, x[0], latency_calls)
    method = min(latencies, key=latencies.__getitem__)
    return {
        "latency_ms": latencies[method],
        "latency_method": method,
        "latency_ms_by_method": latencies,
        "throughput_images_per_s": measure_throughput(model, x, throughput_images),
        "throughput_images": throughput_images,
    }


#: ``peak_rss_mb_by_stage`` key of each pipeline's stage.
_STAGE_NAMES = {"course": "course", "floor": "floor", "idg": "imagedatagenerator"}


def _notes(idg: PipelineTimes | None, system: dict[str, Any]) -> list[str]:
    """The report's notes on how ImageDataGenerator ran and on a busy machine."""
    notes: list[str] = []
    if idg is not None:
        notes.append(
            "ImageDataGenerator ran with Keras 3's PyDataset defaults (workers=1, no "
            "multiprocessing), as the original course's code does"
        )
        idg_wait = _mean(idg.wait)
        if idg_wait > 0.5:
            notes.append(
                f"ImageDataGenerator waited {idg_wait:.1f} s on average at the start of each "
                "epoch, both cores idle: Keras feeds it through tf.data with autotuned "
                "prefetch, and TensorFlow 2.21 tears each epoch's iterator down only after "
                "its autotuning thread wakes; the course pipeline turns autotuning off "
                "(pipeline.pipeline_options).  The steady-state figures leave the wait out"
            )
    load = system.get("load_average_at_start")
    if load and load[0] > 0.5:
        notes.append(
            f"load average {load[0]} at start: other processes "
            "shared the CPU, so wall-clock timings are noisy and slow (ImageDataGenerator's "
            "single Python loading thread suffers most); the CPU-second ratios are steadier"
        )
    return notes


def _name_of(fn: Callable[..., object]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def summary_line(result: BenchResult) -> str:
    """``speedup vs ImageDataGenerator: X.XXx, overhead vs compute floor: Y.YYx``."""
    return (
        f"speedup vs ImageDataGenerator: {_ratio_text(result.speedup)}, "
        f"overhead vs compute floor: {_ratio_text(result.overhead)}"
    )


def _ratio_text(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "n/a"


def _pipeline_row(label: str, times: PipelineTimes, images: int) -> str:
    """One line of the report's table (see :func:`format_report`'s header)."""
    mean = _mean(times.wall)
    cpu = times.figure("cpu")
    cpu_text = f"{cpu:>7.2f}" if cpu is not None else f"{'-':>7}"
    wait_text = f"{_mean(times.wait):>6.2f}" if times.wait else f"{'-':>6}"
    epochs = ", ".join(f"{s:.2f}" for s in times.wall)
    return (
        f"{label:<42}{mean:>8.2f}{1000 * mean / images:>8.2f}{wait_text}"
        f"{_steady(times.wall, times.wait):>8.2f}{cpu_text}{times.warmup:>9.2f}  {epochs}"
    )


def format_report(result: BenchResult) -> str:
    """A plain-text report; its last line is :func:`summary_line`."""
    r, s = result, result.system
    lines = [
        f"catdog bench ({r.mode}): {r.images_per_epoch} training images/epoch, "
        f"batch {r.batch_size}, {r.image_size}x{r.image_size}, baseline CNN; "
        f"mean of {r.timed_epochs} timed epoch(s) after 1 warm-up",
        f"CPU: {s.get('cpu_model')}, {s.get('usable_cores')} usable of "
        f"{s.get('logical_cores')} logical cores, bf16 flags: "
        f"{', '.join(s.get('bf16_flags') or []) or 'none'}; load at start "
        f"{s.get('load_average_at_start')}",
        f"TensorFlow {s.get('tensorflow')}, Keras {s.get('keras')}, Python {s.get('python')}",
        "",
        f"{'pipeline':<42}{'s/epoch':>8}{'ms/img':>8}{'wait':>6}{'steady':>8}{'CPU s':>7}"
        f"{'warm-up':>9}  timed epochs (s)",
    ]
    lines += [
        _pipeline_row(label, r.pipelines[name], r.images_per_epoch)
        for name, label in PIPELINES.items()
        if name in r.pipelines
    ]
    if "idg" not in r.pipelines:
        lines.append(f"ImageDataGenerator: not measured ({r.idg_note})")
    q = {name: _ratio_text(value) for name, value in r.ratios().items()}
    lines += [
        "(s/epoch: mean of the timed epochs, what a learner waits; wait: mean start-of-epoch "
        "wait, the first step's time beyond a typical step; steady: s/epoch without it; "
        "CPU s: median process CPU seconds, all threads)",
        f"course augmentation: {r.augmentation}",
        f"one-off decode of {r.images_per_epoch} JPEGs (course pipeline): {r.decode_seconds:.2f} s",
        f"steady state (start-of-epoch waits taken out): speedup {q['steady_speedup']}, "
        f"overhead {q['steady_overhead']}; from the fastest epochs: speedup "
        f"{q['best_speedup']}, overhead {q['best_overhead']}; in CPU seconds: "
        f"speedup {q['cpu_speedup']}, overhead {q['cpu_overhead']}",
        "",
        f"single-image latency: {r.latency_ms:.2f} ms ({r.latency_method}; "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in r.latency_ms_by_method.items())
        + ")",
        f"batch inference: {r.throughput_images_per_s:,.0f} images/s "
        f"(model.predict, {r.throughput_images} images, batch {r.throughput_batch})",
        f"peak memory (RSS high-water mark): {r.peak_rss_mb:,.0f} MiB ("
        + ", ".join(f"after {k} {v:,.0f}" for k, v in r.peak_rss_mb_by_stage.items())
        + ")",
        f"total bench time: {r.total_seconds:.0f} s",
    ]
    lines += [f"note: {note}" for note in r.notes]
    lines.append(summary_line(r))
    return "\n".join(lines)


def save_report(result: BenchResult, path: str | Path) -> Path:
    """Write the result (measurements and derived figures) as JSON, atomically."""
    return atomic.write_text(path, json.dumps(result.to_dict(), indent=1))
