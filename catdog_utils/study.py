"""Chapter 05's study: the recipe's ingredients compared at a budget where they can matter.

Short comparison runs (a few epochs at 64 px, one seed) cannot rank the ingredients of the
improved recipe: two runs that differ only in their seed differ by 1.5 to 2 points there,
as much as most ingredients change.  The study trains every configuration for the same
wall-clock budget (13 minutes by default, about 10 of them spent training) on the 6,400 /
1,600 split, 64 -> 128 px as the final recipe, with several seeds; it scores each run on
the validation photos only and keeps one line per run in a JSON-lines file
(:func:`results_path`) with everything needed to trust it: configuration, seed, budget,
epochs, validation accuracy and loss, CPU, date, commit.

Design: **leave one out**.  The chapter's final model is the full recipe, so the question
a learner needs answered is "what would the final model lose without this ingredient?";
taking one ingredient away from the recipe answers exactly that.  A staircase (the
original CNN plus one ingredient at a time) answers a different question whose answers
depend on the order of the steps (strong augmentation pays off in a large network and
hurts a small one).  Candidates that cost nothing per step are tried the same way, as
"the recipe plus one change".  Every run is also scored with flip test-time augmentation
and, where the network has batch norm, after recalibrating its statistics
(:func:`recalibrate_batch_norm`): both are paired measurements of the same trained model.

A difference counts only when it exceeds the seed-to-seed spread (:func:`compare`).  Every
configuration gets :data:`FIRST_SEEDS` seeds; where a difference then lies close to its noise
level (:func:`close_calls`, a rule fixed before eight of the ten configurations had their
second seed), that configuration and the recipe get one seed more.

``catdog study`` runs it (resumable: it skips the runs the file already has); nothing here
touches the test photos.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import atomic, config
from .errors import CatdogError

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import numpy as np

    from .pipeline import CourseData

#: The study's budget per run, in minutes of training (the timing trial not included).  The
#: planner fits whole epochs within it less a margin, so a run trains for less: a 10-minute
#: budget trained the recipe for 7.7 minutes (12 epochs of about 0.3 and 1 minute); 13 gives
#: each run at least about 10 minutes of training.
BUDGET_MINUTES = 13.0
#: The share of the budget the recipe spends on its smaller sizes (as the final model).
SMALL_SHARE = 0.25
#: The configuration every other one is compared with.
RECIPE = "recipe"
#: A difference counts when it exceeds this many standard errors of the difference.
NOISE_FACTOR = 2.0
#: Seeds every configuration gets (``catdog study --seeds``).
FIRST_SEEDS = 2
#: A close call: after the first seeds, a difference from the recipe between these multiples
#: of its noise level, which one more seed on each side could turn either way.
CLOSE_CALL = (0.5, 1.5)
#: Seeds a close call and the recipe get in all (``catdog study --close-call-seeds``).
CLOSE_CALL_SEEDS = 3
#: A run that trained for less than this share of its budget had its epochs planned from a
#: timing trial that something else on the machine slowed down: it is set aside
#: (:func:`discarded_path`), not counted, and runs again.  The rule looks at time only,
#: never at accuracy, so it cannot favour any configuration.
MIN_BUDGET_SHARE = 0.75


@dataclass(frozen=True)
class Setup:
    """One configuration of the study: the final recipe with some ingredients changed.

    ``network``: ``residual`` (``models.build_improved_cnn``), ``plain`` (four Conv2D blocks
    with batch norm, ``models.build_deeper_cnn``) or ``original`` (chapter 03's CNN).
    ``optimizer``: ``adamw-cosine`` (``models.compile_improved``) or ``adam`` (a constant
    0.001).  ``regularise``: weight decay and label smoothing.  ``sizes``: the image sizes
    trained in turn (progressive resizing when there are several; the smaller sizes share
    :data:`SMALL_SHARE` of the budget equally).
    """

    name: str
    change: str
    network: str = "residual"
    augmentation: str = "strong"
    optimizer: str = "adamw-cosine"
    regularise: bool = True
    ema: bool = True
    sizes: tuple[int, ...] = (64, 128)
    zero_init_residual: bool = False


SETUPS: tuple[Setup, ...] = (
    Setup(RECIPE, "the final recipe, nothing changed"),
    Setup(
        "original CNN",
        "chapter 03's network, optimizer and augmentation at 64 px",
        network="original",
        augmentation="original",
        optimizer="adam",
        regularise=False,
        ema=False,
        sizes=(64,),
    ),
    Setup("- EMA", "no moving average of the weights", ema=False),
    Setup(
        "- AdamW + cosine",
        "Adam at a constant 0.001 (so no weight decay or label smoothing either)",
        optimizer="adam",
        regularise=False,
    ),
    Setup("- strong augmentation", "the original's shear, zoom and flip", augmentation="original"),
    Setup("- residual network", "a plain CNN: four Conv2D + batch norm blocks", network="plain"),
    Setup("- weight decay + label smoothing", "neither regulariser", regularise=False),
    Setup("- progressive resizing", "the whole budget at 128 px", sizes=(128,)),
    Setup(
        "+ 64 -> 96 -> 128 px", "a 96 px stage inside the small-image share", sizes=(64, 96, 128)
    ),
    Setup(
        "+ zero-init residual",
        "each block's last batch-norm scale starts at 0",
        zero_init_residual=True,
    ),
)


def setup_named(name: str) -> Setup:
    """The study configuration called ``name`` (a CatdogError listing them if unknown)."""
    for setup in SETUPS:
        if setup.name == name:
            return setup
    names = ", ".join(repr(s.name) for s in SETUPS)
    raise CatdogError(f"No study configuration {name!r}; choose from {names}")


def results_path(profile: str = "full") -> Path:
    """The results file: ``docs/study-05.jsonl`` (committed) for the full profile, else
    ``build/study-05-<profile>.jsonl`` (a trial run never mixes into the committed one)."""
    root = config.project_root()
    if profile == "full":
        return root / "docs" / "study-05.jsonl"
    return root / "build" / f"study-05-{profile}.jsonl"


def discarded_path(results: str | Path) -> Path:
    """Where runs set aside by :func:`used_its_budget` are kept, beside ``results``:
    ``docs/study-05-discarded.jsonl`` for the committed study."""
    results = Path(results)
    return results.with_name(f"{results.stem}-discarded.jsonl")


def used_its_budget(record: dict[str, Any]) -> bool:
    """Whether a run trained for at least :data:`MIN_BUDGET_SHARE` of its budget."""
    return record["train_minutes"] >= MIN_BUDGET_SHARE * record["budget_minutes"]


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """The runs recorded in ``path`` (none if it does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise CatdogError(
                f"{path}, line {number}, is not a JSON record: repair or delete that line "
                "(the other runs are kept) and run the study again"
            ) from None
        records.append(record)
    return records


def append_result(path: str | Path, record: dict[str, Any]) -> Path:
    """Add one run to ``path``: the whole file rewritten atomically, so a crash keeps the
    runs already there."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    atomic.make_parent(path)
    return atomic.write_text(path, old + json.dumps(record, sort_keys=True) + "\n")


def pending(
    setups: Sequence[Setup], seeds: Sequence[int], records: Iterable[dict[str, Any]]
) -> Iterator[tuple[Setup, int]]:
    """The runs still to do, one seed at a time across all configurations, so that a study
    stopped half-way has every configuration at the same number of seeds, give or take one."""
    done = {(r["setup"], r["seed"]) for r in records}
    for seed in seeds:
        for setup in setups:
            if (setup.name, seed) not in done:
                yield setup, seed


def check_compatible(
    records: Iterable[dict[str, Any]],
    budget_minutes: float,
    profile: str,
    train_per_class: int | None,
) -> None:
    """Refuse to add runs of another budget, profile or photo count to a results file."""
    for r in records:
        theirs = (r["budget_minutes"], r["profile"], r["train_per_class"])
        if theirs != (budget_minutes, profile, train_per_class):
            raise CatdogError(
                f"The results file holds runs of {r['budget_minutes']:g} minutes in the "
                f"{r['profile']!r} profile ({r['train_per_class'] or 'all'} photos per class); "
                f"this study asks {budget_minutes:g} minutes in {profile!r} "
                f"({train_per_class or 'all'} per class): give another file with --results"
            )


# ----------------------------------------------------------------------------- one run


def build_model(
    setup: Setup, image_size: int | None, steps_per_epoch: int, epochs: int
) -> keras.Model:
    """The compiled network of ``setup`` (``image_size=None``: any size, for progressive
    resizing), its learning-rate schedule planned for ``epochs`` epochs."""
    import keras

    from . import models

    if setup.network == "original":
        return models.build_baseline_cnn(image_size or 64)
    if setup.network == "residual":
        model = models.build_improved_cnn(image_size, zero_init_residual=setup.zero_init_residual)
    else:
        # a plain CNN: four Conv2D + batch norm blocks, the first at full resolution, no
        # shortcuts; fewer weights than the residual network, about twice its time per epoch
        model = models.build_deeper_cnn(
            image_size,  # type: ignore[arg-type]
            (32, 64, 128, 256),
            dropout=0.3,
            compile_model=False,
        )
    if setup.optimizer == "adamw-cosine":
        regularisers = {} if setup.regularise else dict(weight_decay=0.0, label_smoothing=0.0)
        return models.compile_improved(
            model, steps_per_epoch, epochs, ema=setup.ema, **regularisers
        )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3, use_ema=setup.ema),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def with_training_pipeline(course: CourseData, setup: Setup, seed: int) -> CourseData:
    """``course`` (split with the course's seed) shuffled and augmented with ``seed``."""
    from . import models, pipeline

    augment = (
        models.build_strong_augmentation(seed)
        if setup.augmentation == "strong"
        else models.build_original_augmentation(seed)
    )
    train = pipeline.to_dataset(
        course.x_train, course.y_train, course.batch_size, shuffle=True, augment=augment, seed=seed
    )
    return replace(course, train=train)


def stage_seconds(sizes: Sequence[int], budget_seconds: float) -> list[float]:
    """Each size's share of the budget: the smaller sizes split :data:`SMALL_SHARE` equally."""
    if len(sizes) == 1:
        return [budget_seconds]
    small = SMALL_SHARE * budget_seconds / (len(sizes) - 1)
    return [small] * (len(sizes) - 1) + [budget_seconds - small * (len(sizes) - 1)]


def train_setup(
    setup: Setup,
    seed: int,
    courses: dict[int, CourseData],
    budget_seconds: float,
    max_epochs: int = 200,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Train ``setup`` with ``seed`` for ``budget_seconds``; ``courses`` holds the photos
    decoded at each size it needs.  Returns the model (for the last size), its history and
    the plan (``planned_epochs`` and ``estimated_epoch_seconds``, one per size)."""
    import keras

    from . import training

    keras.utils.set_random_seed(seed)
    stages = [with_training_pipeline(courses[size], setup, seed) for size in setup.sizes]
    steps = stages[-1].steps_per_epoch
    if len(stages) == 1:
        size = setup.sizes[0]
        result = training.train_within_budget(
            lambda epochs: build_model(setup, size, steps, epochs),
            stages[0],
            budget_seconds,
            max_epochs,
            verbose=0,
        )
    else:
        result = training.train_progressive(
            lambda epochs: build_model(setup, None, steps, epochs),
            lambda: build_model(setup, setup.sizes[-1], steps, 1),
            stages,
            stage_seconds(setup.sizes, budget_seconds),
            max_epochs,
            verbose=0,
        )
    history = dict(result.history)
    history.setdefault("image_size", [float(setup.sizes[0])] * len(history["loss"]))
    plan = {
        key: [result.extra[key]] if len(stages) == 1 else list(result.extra[key])
        for key in ("planned_epochs", "estimated_epoch_seconds")
    }
    return result.model, history, plan


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Binary cross-entropy of ``probabilities`` (plain: no label smoothing), in nats."""
    import numpy as np

    p = np.clip(np.asarray(probabilities, dtype="float64"), 1e-7, 1 - 1e-7)
    y = np.asarray(labels, dtype="float64")
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """The batch-normalisation layers of ``model`` (nested models included)."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(batch_norm_layers(layer))
    return found


def recalibrate_batch_norm(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> int:
    """Recompute every batch-norm layer's moving statistics on ``images``; returns how many
    layers were recalibrated.

    A batch-norm layer normalises with statistics averaged during training, while the
    weights kept the training's last steps (or, with EMA, their average over the last
    steps) and the last images were another size: the statistics can lag behind the
    weights they serve.  Here they become the plain mean, over batches of ``images``, of
    each batch's mean and variance, computed with the final weights (momentum ``(k-1)/k``
    at batch ``k``).  Use training photos, never the photos that will judge the model.
    """
    import keras

    layers = batch_norm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(keras.ops.zeros_like(layer.moving_mean))
        layer.moving_variance.assign(keras.ops.ones_like(layer.moving_variance))
    try:
        for k, start in enumerate(range(0, len(images), batch_size), start=1):
            for layer in layers:
                layer.momentum = (k - 1) / k
            model(images[start : start + batch_size], training=True)  # eager: reads momentum
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return len(layers)


def score(model: keras.Model, course: CourseData, seed: int) -> dict[str, float | None]:
    """Validation accuracy and loss of ``model``, plain, with flip TTA, and after
    :func:`recalibrate_batch_norm` on 1,600 training photos (``None`` without batch norm)."""
    import numpy as np

    from . import evaluation

    def accuracy(probabilities: np.ndarray) -> float:
        return evaluation.binary_metrics(course.y_val, probabilities).accuracy

    plain = evaluation.predict_probabilities(model, course.x_val)
    flipped = evaluation.predict_probabilities(model, course.x_val, flip_tta=True)
    scores: dict[str, float | None] = {
        "val_accuracy": accuracy(plain),
        "val_loss": log_loss(course.y_val, plain),
        "val_accuracy_flip": accuracy(flipped),
        "val_accuracy_recalibrated": None,
    }
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(course.x_train))[: len(course.x_val)]
    if recalibrate_batch_norm(model, course.x_train[np.sort(chosen)]):
        scores["val_accuracy_recalibrated"] = accuracy(
            evaluation.predict_probabilities(model, course.x_val)
        )
    return scores


def run_one(
    setup: Setup, seed: int, courses: dict[int, CourseData], budget_minutes: float
) -> dict[str, Any]:
    """Train and score one run; returns its record (without the machine's description)."""
    start = time.perf_counter()
    model, history, plan = train_setup(setup, seed, courses, budget_minutes * 60)
    train_minutes = sum(history["seconds"]) / 60 if "seconds" in history else None
    last = courses[setup.sizes[-1]]
    record: dict[str, Any] = {
        "setup": setup.name,
        "seed": seed,
        "budget_minutes": budget_minutes,
        "epochs": len(history["loss"]),
        "epochs_per_size": {
            str(size): history["image_size"].count(float(size)) for size in setup.sizes
        },
        "train_minutes": train_minutes,
        "train_accuracy": float(history["accuracy"][-1]),
        "val_accuracy_curve": [round(float(v), 4) for v in history.get("val_accuracy", [])],
        "planned_epochs": [int(e) for e in plan["planned_epochs"]],
        "estimated_epoch_seconds": [round(float(s), 1) for s in plan["estimated_epoch_seconds"]],
        "epoch_seconds": [round(float(s), 1) for s in history.get("seconds", [])],
        "parameters": int(model.count_params()),
        "train_photos": len(last.y_train),
        "validation_photos": len(last.y_val),
        "configuration": asdict(setup),
    }
    record.update(score(model, last, seed))
    record["wall_minutes"] = (time.perf_counter() - start) / 60
    return record


# ------------------------------------------------------------------- where it ran


def commit() -> tuple[str | None, bool]:
    """The checkout's commit and whether it has uncommitted changes (``None`` outside git)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=config.project_root(), capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return git("rev-parse", "--short=12", "HEAD"), bool(
            git("status", "--porcelain", "--", "catdog_utils")
        )
    except (OSError, subprocess.CalledProcessError):
        return None, False


def machine() -> dict[str, Any]:
    """Where and when a run happened, stored with it.  The study trains in float32 always
    (``bfloat16``: whether Keras's policy said otherwise): a timed bfloat16 trial near its
    threshold can choose differently in two sittings, and the runs would not compare."""
    import keras

    from .bench import system_info

    info = system_info()  # what the benchmark reports: CPU model, cores, load, versions
    sha, dirty = commit()
    return {
        "cpu": info["cpu_model"],
        "cores": info["usable_cores"],
        "load_average": (info["load_average_at_start"] or [None])[0],  # None on Windows
        "bfloat16": keras.mixed_precision.global_policy().name == "mixed_bfloat16",
        "tensorflow": info["tensorflow"],
        "keras": info["keras"],
        "commit": sha,
        "code_changed_since_commit": dirty,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# ------------------------------------------------------------------- the verdicts


@dataclass(frozen=True)
class Summary:
    """One configuration's runs: their count, mean, standard deviation, lowest and highest."""

    setup: str
    runs: int
    mean: float
    sd: float | None
    low: float
    high: float


def summarise(records: Iterable[dict[str, Any]], key: str = "val_accuracy") -> dict[str, Summary]:
    """Per configuration (in :data:`SETUPS` order, then any other): ``key`` summarised."""
    values: dict[str, list[float]] = {}
    for r in records:
        values.setdefault(r["setup"], []).append(float(r[key]))
    order = [s.name for s in SETUPS if s.name in values] + sorted(
        set(values) - {s.name for s in SETUPS}
    )
    out = {}
    for name in order:
        xs = values[name]
        mean = sum(xs) / len(xs)
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else None
        out[name] = Summary(name, len(xs), mean, sd, min(xs), max(xs))
    return out


def runs_by_setup(
    records: Iterable[dict[str, Any]], key: str = "val_accuracy"
) -> dict[str, list[float]]:
    """Configuration -> ``key`` of each of its runs, in :func:`summarise`'s order (for
    :func:`catdog_utils.plots.runs_and_means`)."""
    records = list(records)
    return {
        name: [float(r[key]) for r in records if r["setup"] == name]
        for name in summarise(records, key)
    }


def pooled_sd(records: Iterable[dict[str, Any]], key: str = "val_accuracy") -> float | None:
    """The seed-to-seed standard deviation of one run, pooled over every configuration
    with two runs or more (``None`` when none has)."""
    squares, freedom = 0.0, 0
    for s in summarise(records, key).values():
        if s.sd is not None:
            squares += s.sd**2 * (s.runs - 1)
            freedom += s.runs - 1
    return math.sqrt(squares / freedom) if freedom else None


@dataclass(frozen=True)
class Comparison:
    """A configuration against the recipe: the difference of their means (points of
    accuracy, positive when ``setup`` is better), the noise level it must exceed, and the
    verdict (``None`` when the runs cannot tell yet)."""

    setup: str
    difference: float
    noise: float | None
    beyond_noise: bool | None

    def sentence(self) -> str:
        """The comparison in words, never calling noise a finding."""
        what = f"{self.setup}: {self.difference:+.1f} points against the recipe"
        if self.beyond_noise is None:
            return f"{what} (too few runs to judge)"
        verdict = "beyond" if self.beyond_noise else "within"
        return f"{what}, {verdict} the seed-to-seed spread (+/- {self.noise:.1f})"


def compare(
    records: Sequence[dict[str, Any]],
    setup: str,
    reference: str = RECIPE,
    key: str = "val_accuracy",
) -> Comparison:
    """``setup`` against ``reference``: their means differ beyond noise when the difference
    exceeds :data:`NOISE_FACTOR` standard errors of a difference of means, with the
    seed-to-seed spread pooled over the whole study (about a 5 % test)."""
    summaries = summarise(records, key)
    a, b = summaries[setup], summaries[reference]
    difference = 100 * (a.mean - b.mean)
    sd = pooled_sd(records, key)
    if sd is None:
        return Comparison(setup, difference, None, None)
    noise = 100 * NOISE_FACTOR * sd * math.sqrt(1 / a.runs + 1 / b.runs)
    return Comparison(setup, difference, noise, abs(difference) > noise)


def close_calls(records: Sequence[dict[str, Any]], first_seeds: int = FIRST_SEEDS) -> list[str]:
    """The configurations whose difference from the recipe is a close call on the runs of
    seeds 1 to ``first_seeds`` only (later seeds never change the list, so a resumed study
    asks for the same runs): between :data:`CLOSE_CALL` times its noise level."""
    first = [r for r in records if int(r["seed"]) <= first_seeds]
    names = summarise(first)
    if RECIPE not in names:
        return []
    low, high = CLOSE_CALL
    comparisons = [compare(first, name) for name in names if name != RECIPE]
    return [
        c.setup
        for c in comparisons
        if c.noise is not None and low * c.noise <= abs(c.difference) <= high * c.noise
    ]


def paired_gain(records: Iterable[dict[str, Any]], key: str, setup: str = RECIPE) -> list[float]:
    """Per run of ``setup``: points gained by ``key`` (``val_accuracy_flip`` or
    ``val_accuracy_recalibrated``) over plain validation accuracy, the same model scored
    twice."""
    return [
        100 * (float(r[key]) - float(r["val_accuracy"]))
        for r in records
        if r["setup"] == setup and r.get(key) is not None
    ]


def report(records: Sequence[dict[str, Any]]) -> str:
    """The study in a few lines: each configuration's runs, its difference from the recipe
    with the verdict, and the paired gains of flip TTA and batch-norm recalibration."""
    if not records:
        return "No runs yet."
    lines = [f"{'configuration':<34} {'runs':>4} {'mean':>7} {'lowest':>7} {'highest':>7}"]
    summaries = summarise(records)
    for s in summaries.values():
        lines.append(f"{s.setup:<34} {s.runs:>4} {s.mean:>7.4f} {s.low:>7.4f} {s.high:>7.4f}")
    sd = pooled_sd(records)
    lines.append(
        "seed-to-seed spread of one run: "
        + (
            "not known yet (no configuration has two runs)"
            if sd is None
            else f"{100 * sd:.2f} points"
        )
    )
    if RECIPE in summaries:
        lines += [compare(records, name).sentence() for name in summaries if name != RECIPE]
    for key, what in (
        ("val_accuracy_flip", "flip TTA"),
        ("val_accuracy_recalibrated", "recalibrated batch norm"),
    ):
        gains = paired_gain(records, key)
        if gains:
            lines.append(
                f"{what} on the recipe's runs: {sum(gains) / len(gains):+.2f} points on average "
                f"(each run: {', '.join(f'{g:+.2f}' for g in gains)})"
            )
    return "\n".join(lines)
