"""``prepare_dataset``: from a source to ``data/cats_and_dogs``, in named steps.

:func:`prepare_dataset` reads from the top as what it does:

1. *resolve the source*: the one named, ``$CATDOG_DATA_SOURCE`` or Microsoft's URL;
2. *skip if current*: a data set built from the same source with the same settings is kept
   (for a URL, before anything is downloaded);
3. *download* a URL (:mod:`.fetch`), then *open* the zip or folder (:mod:`.sources`);
4. *check space and the destination*;
5. *build atomically* (:func:`_build`): check the photos (:mod:`.photos`), place them in
   the split, set a few labelled photos of neither split apart in ``new_photos/`` (from a
   PetImages source, the next ones after the course's; from a course-layout source, its
   ``single_prediction`` folder), write ``manifest.csv``, ``rejects.csv`` and
   ``source.json``, all in a hidden folder that is renamed into place when complete
   (:mod:`.destination`).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config
from ..errors import DataNotFoundError, DestinationError, SourceError, UnsafeArchiveError
from . import destination, fetch
from .dataset import (
    DEST_FIX,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    NEW_LABELS,
    NEW_LABELS_COLUMNS,
    NEW_LABELS_NAME,
    NEW_PHOTOS_NAME,
    OFFLINE_FIX,
    REJECTS_COLUMNS,
    REJECTS_NAME,
    SOURCE_INFO_NAME,
    new_photos,
)
from .photos import Outcome, Processor, import_tensorflow, output_names, scan
from .progress import progress_bar
from .sources import NEW_PHOTOS_SOURCE, Entry, Layout, Source, find_layout, natural_key, open_source

#: Bump when the processing changes, so existing data sets are rebuilt once.
FORMAT_VERSION = 2  # 2: new_photos/
#: New photos (in neither split) per class taken from a PetImages source.
NEW_PER_CLASS = 4
#: Share of a PetImages class that goes to training when it has fewer photos than asked for.
_FALLBACK_TRAIN_FRACTION = 0.8


@dataclass
class PrepareResult:
    """What :func:`prepare_dataset` did.

    Attributes:
        dest: the data set folder.
        counts: images per ``(split, class)``, e.g. ``{("training_set", "cats"): 4000, ...}``.
        n_rejected: source files left out (unreadable, truncated, not images, too large).
        n_converted: source files re-encoded as RGB JPEG.
        skipped: ``True`` when the data set was already prepared from the same source with
            the same settings, so nothing was done.
        message: one line summarising the above (printed when ``progress`` is on).
        seconds: wall time of the call.
        n_new: labelled photos in ``new_photos/`` (in neither split).
    """

    dest: Path
    counts: dict[tuple[str, str], int]
    n_rejected: int
    n_converted: int
    skipped: bool
    message: str
    seconds: float = 0.0
    n_new: int = 0

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class _Plan:
    """What :func:`prepare_dataset` was asked for (the same for every step)."""

    dest: Path
    train_per_class: int
    test_per_class: int
    max_pixels: int
    workers: int | None
    progress: bool
    started: float = field(default_factory=time.perf_counter)

    @property
    def settings(self) -> dict[str, Any]:
        """The settings saved in ``source.json``; a change means a rebuild."""
        return {
            "format_version": FORMAT_VERSION,
            "train_per_class": self.train_per_class,
            "test_per_class": self.test_per_class,
            "max_pixels": self.max_pixels,
        }

    def say(self, message: str) -> None:
        """Print ``message`` when progress output is on."""
        if self.progress:
            print(message)


# --------------------------------------------------------------------------------------
# prepare_dataset and its steps


def prepare_dataset(
    source: str | Path | None = None,
    dest: str | Path | None = None,
    *,
    train_per_class: int = config.TRAIN_PER_CLASS,
    test_per_class: int = config.TEST_PER_CLASS,
    progress: bool = True,
    download_dir: Path | None = None,
    max_pixels: int = config.MAX_IMAGE_PIXELS,
    workers: int | None = None,
) -> PrepareResult:
    """Build the course data set at ``dest`` from a URL, zip or folder of cat and dog photos.

    Args:
        source: an ``http(s)://`` URL of a zip, a local zip, or a local folder, in the
            PetImages layout (``PetImages/Cat``, ``PetImages/Dog``) or the course layout
            (``training_set|test_set/{cats,dogs}``), possibly inside one top folder.
            Default: :func:`config.default_source` (Microsoft's zip), except that with no
            source named at all (no argument, no ``$CATDOG_DATA_SOURCE``) an intact data set
            already at ``dest`` is kept, whatever it was built from.
        dest: the data set folder to create (default :func:`config.data_dir`).
        train_per_class: training images per class.  A course-layout source keeps its own
            split (up to this many); a PetImages source gives each class's first
            ``train_per_class`` usable photos (by number) to training, the next
            ``test_per_class`` to test, or 80 % / 20 % of what it has if that is fewer.
        test_per_class: test images per class.
        progress: show progress bars and print the summary line.
        download_dir: where a URL is downloaded (default ``<dest.parent>/downloads``).
        max_pixels: images declaring more pixels are rejected.
        workers: decoding threads (default 2 to 4, by CPU count).

    Returns:
        A :class:`PrepareResult`; ``skipped`` is ``True`` when ``dest`` was already built
        from the same source with the same settings.

    Raises:
        SourceError: the source is missing, not a zip, damaged, empty or in no known layout
            (``UnsafeArchiveError`` for a zip with unsafe member names, ``DownloadError``
            when a download fails).
        DestinationError: ``dest`` cannot be written.
    """
    if train_per_class < 1 or test_per_class < 1:
        raise ValueError("train_per_class and test_per_class must be at least 1")
    plan = _Plan(
        dest=(Path(dest) if dest is not None else config.data_dir()).expanduser().resolve(),
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        max_pixels=max_pixels,
        workers=workers,
        progress=progress,
    )
    # No source named: an intact data set built from any source is kept as it is, so
    # `make run-notebooks` after `make data SOURCE=...` never goes online.
    named = source is not None or bool(os.environ.get("CATDOG_DATA_SOURCE"))
    if not named and (done := _skip_if_current(plan, None)) is not None:
        return done
    source = config.default_source() if source is None else source
    url = _url_of(source)
    if url is not None:
        if (done := _skip_if_current(plan, {"kind": "url", "url": url})) is not None:
            return done
        opened, description = _download_and_open(plan, url, download_dir), f"URL {url}"
    else:
        opened = _open_local(plan, Path(source))
        description = opened.description
    try:
        layout = find_layout(opened)
        fingerprint = _fingerprint(opened, layout, url)
        if url is None and (done := _skip_if_current(plan, fingerprint)) is not None:
            return done
        _check_space_and_destination(plan, layout)
        result = _build_atomically(plan, opened, layout, description, fingerprint)
    finally:
        opened.close()
    result.seconds = time.perf_counter() - plan.started
    result.message += f" in {result.seconds:.1f} s"
    plan.say(result.message)
    return result


def _skip_if_current(plan: _Plan, fingerprint: dict[str, Any] | None) -> PrepareResult | None:
    """The "nothing to do" result when ``plan.dest`` was built from this source, else None.

    ``fingerprint=None`` accepts a data set built from any source.
    """
    saved = destination.up_to_date(plan.dest, fingerprint, plan.settings)
    if saved is None or not _new_photos_intact(plan.dest, saved):
        return None
    counts = {}
    for key, value in saved.get("counts", {}).items():
        split, _, cls = key.partition("/")
        counts[(split, cls)] = int(value)
    result = PrepareResult(
        dest=plan.dest,
        counts=counts,
        n_rejected=int(saved.get("n_rejected", 0)),
        n_converted=int(saved.get("n_converted", 0)),
        skipped=True,
        message=f"{plan.dest} already prepared from {saved.get('source')}; nothing to do",
        seconds=time.perf_counter() - plan.started,
        n_new=int(saved.get("n_new", 0)),
    )
    plan.say(result.message)
    return result


def _new_photos_intact(dest: Path, saved: dict[str, Any]) -> bool:
    """Whether ``new_photos/`` holds exactly the photos ``source.json`` counted."""
    try:
        listed = new_photos(dest)
    except DataNotFoundError:
        return False
    present = [p for p in (dest / NEW_PHOTOS_NAME).iterdir() if p.name != NEW_LABELS_NAME]
    return len(listed) == len(present) == saved.get("n_new")


def _url_of(source: str | Path) -> str | None:
    """``source`` if it is a URL (SourceError unless http or https), else None."""
    if not isinstance(source, str) or not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source):
        return None
    if urllib.parse.urlsplit(source).scheme.lower() not in ("http", "https"):
        raise SourceError(f"Cannot download {source}: only http(s) URLs work; use {OFFLINE_FIX}")
    return source


def _inside(child: Path, parent: Path) -> bool:
    """Whether ``child`` is ``parent`` or lies below it."""
    return child == parent or parent in child.parents


def _download_and_open(plan: _Plan, url: str, download_dir: Path | None) -> Source:
    """Download ``url`` beside the data set (checked against the pinned figures when it is
    the default URL) and open it as a zip; a download that is not a zip is deleted."""
    dest = plan.dest
    destination.check_destination(dest)
    folder = Path(download_dir) if download_dir is not None else dest.parent / "downloads"
    if _inside(folder.resolve(), dest):
        raise DestinationError(f"The download folder {folder} is inside {dest}: {DEST_FIX}")
    filename = Path(urllib.parse.urlsplit(url).path).name or "download.zip"
    filename = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).lstrip(".") or "download.zip"
    is_default = url == config.DEFAULT_SOURCE_URL
    zip_path = fetch.download(
        url,
        folder / filename,
        expected_size=fetch.EXPECTED_SIZE if is_default else None,
        expected_sha256=fetch.EXPECTED_SHA256 if is_default else None,
        progress=plan.progress,
    )
    try:
        return open_source(zip_path)
    except UnsafeArchiveError:
        raise
    except SourceError:
        zip_path.unlink(missing_ok=True)
        raise SourceError(
            f"The download from {url} is not a zip (deleted it): run `make data` again, "
            f"or {OFFLINE_FIX}"
        ) from None


def _open_local(plan: _Plan, source: Path) -> Source:
    """Open a local zip or folder, after checking it does not overlap the destination."""
    path = source.expanduser().resolve()
    if path.exists() and (_inside(path, plan.dest) or _inside(plan.dest, path)):
        raise DestinationError(
            f"The destination {plan.dest} overlaps the source {path}, which must stay "
            f"untouched: {DEST_FIX}"
        )
    return open_source(path)


def _quota(split: str | None, plan: _Plan) -> int:
    """Images wanted from one source group (a split's class, or a whole PetImages class)."""
    if split is None:
        return plan.train_per_class + plan.test_per_class
    return plan.train_per_class if split == "training_set" else plan.test_per_class


def _fingerprint(opened: Source, layout: Layout, url: str | None) -> dict[str, Any]:
    """What identifies the source for "already up to date": its URL, or its photos' files."""
    if url is not None:
        return {"kind": "url", "url": url}
    return opened.fingerprint(layout.entries())


def _check_space_and_destination(plan: _Plan, layout: Layout) -> None:
    """Check ``dest`` can be written, clear leftovers of interrupted runs, and check that a
    generous estimate of the data set's size fits."""
    destination.check_destination(plan.dest)
    for stale in destination.stale_dirs(plan.dest):
        shutil.rmtree(stale, ignore_errors=True)
    estimate = 16 << 20
    for (split, _), entries in layout.groups.items():
        sizes = [max(e.size, 0) for e in entries]
        if sizes:
            quota = min(_quota(split, plan), len(sizes))
            estimate += int(sum(sizes) / len(sizes) * quota * 1.2)
    destination.check_space(plan.dest, estimate)


def _build_atomically(
    plan: _Plan, opened: Source, layout: Layout, description: str, fingerprint: dict[str, Any]
) -> PrepareResult:
    """Build the data set in a hidden folder beside ``dest``, then swap it into place."""
    built = destination.make_temp_dir(plan.dest)
    try:
        result = _build(plan, opened, layout, built, description, fingerprint)
        destination.swap_into_place(built, plan.dest)
    finally:
        if built.exists():
            shutil.rmtree(built, ignore_errors=True)
    return result


# --------------------------------------------------------------------------------------
# _build and its steps


@dataclass
class _Selection:
    """The photos chosen for the data set and what the report says about the rest."""

    placed: list[tuple[str, str, Outcome]] = field(default_factory=list)  # split, class
    report: list[Outcome] = field(default_factory=list)  # rejected or converted
    notes: list[str] = field(default_factory=list)  # fewer photos than asked, unlabelled ones
    new: list[tuple[str, Outcome]] = field(default_factory=list)  # label, photo in neither split


def _build(
    plan: _Plan,
    opened: Source,
    layout: Layout,
    built: Path,
    description: str,
    fingerprint: dict[str, Any],
) -> PrepareResult:
    """Decode, select and write the data set into the empty folder ``built``."""
    staging = built / ".staging"
    staging.mkdir()
    for split in config.SPLITS:
        for cls in config.CLASS_NAMES:
            (built / split / cls).mkdir(parents=True)
    (built / NEW_PHOTOS_NAME).mkdir()
    selection = _select_photos(plan, opened, layout, staging)
    rows = _place(selection.placed, built)
    new_rows = _place_new(selection.new, built / NEW_PHOTOS_NAME)
    shutil.rmtree(staging)
    counts = {(s, c): 0 for s in config.SPLITS for c in config.CLASS_NAMES}
    for _, cls, split, _ in rows:
        counts[(split, cls)] += 1
    result = PrepareResult(
        dest=plan.dest,
        counts=counts,
        n_rejected=sum(1 for o in selection.report if o.action == "reject"),
        n_converted=sum(1 for o in selection.report if o.action == "convert"),
        skipped=False,
        message="",
        n_new=len(new_rows),
    )
    destination.write_csv(built / NEW_PHOTOS_NAME / NEW_LABELS_NAME, NEW_LABELS_COLUMNS, new_rows)
    _write_records(built, rows, selection, result, plan, layout.name, description, fingerprint)
    summary = ", ".join(
        f"{split} {counts[(split, 'cats')]} cats + {counts[(split, 'dogs')]} dogs"
        for split in config.SPLITS
    )
    result.message = (
        f"Prepared {plan.dest} from {description} ({layout.name} layout): {summary}; "
        f"{result.n_rejected} rejected, {result.n_converted} converted (see {REJECTS_NAME}); "
        + _describe_new(new_rows, layout)
    )
    if selection.notes:
        result.message += "; note: " + "; ".join(selection.notes)
    return result


def _select_photos(plan: _Plan, opened: Source, layout: Layout, staging: Path) -> _Selection:
    """Check each class's files in order (in worker threads) until its quota is met, and
    assign the usable ones to a split; they are written under ``staging``."""
    work = Processor(opened, plan.max_pixels, import_tensorflow())  # TF before the threads
    n_workers = plan.workers or max(2, min(4, os.cpu_count() or 2))
    quotas = {key: _quota(key[0], plan) for key in layout.groups}
    total = sum(min(q, len(layout.groups[k])) for k, q in quotas.items())
    bar = progress_bar(total, "checking photos", "img", enabled=plan.progress)
    selection = _Selection()
    executor = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="catdog-data")
    try:
        for (split, cls), entries in layout.groups.items():
            group_dir = staging / (split or "all") / cls
            group_dir.mkdir(parents=True)
            names = output_names(entries, cls, keep_names=layout.name == "course")
            targets = [group_dir / name for name in names]
            used, reported = scan(
                entries, targets, quotas[(split, cls)], executor, work, lambda: bar.update(1)
            )
            selection.report.extend(reported)
            _assign(selection, plan, opened, split, cls, used, quotas[(split, cls)])
            if split is None and len(used) == quotas[(split, cls)]:
                candidates = _beyond(entries, used, cls)
                _select_new(selection, candidates, NEW_PER_CLASS, staging, executor, work)
        if layout.new:
            candidates = _labelled(opened, layout, selection.notes)
            _select_new(selection, candidates, len(candidates), staging, executor, work)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return selection


def _beyond(entries: list[Entry], used: list[Outcome], cls: str) -> list[tuple[Entry, str, str]]:
    """A PetImages class's files after the last one the course took, each with its name in
    the data set and its label: the candidates for new photos."""
    rest = entries[entries.index(used[-1].entry) + 1 :]
    names = output_names(rest, cls, keep_names=False)
    return [(entry, name, NEW_LABELS[cls]) for entry, name in zip(rest, names, strict=True)]


def _labelled(opened: Source, layout: Layout, notes: list[str]) -> list[tuple[Entry, str, str]]:
    """A course layout's ``single_prediction`` photos, each with its name in the data set and
    its label from ``labels.csv`` (``file,label``, cat or dog); unlabelled ones are left out."""
    known: dict[str, str] = {}
    if layout.new_labels is not None:
        try:
            text = opened.read(layout.new_labels).decode("utf-8-sig")
            for row in csv.DictReader(text.splitlines()):
                label = (row.get("label") or "").strip().lower().removesuffix("s")
                if label in NEW_LABELS.values() and row.get("file"):
                    known[row["file"].strip()] = label
        except (OSError, UnicodeDecodeError, csv.Error):
            known = {}
    names = output_names(layout.new, "cats", keep_names=True)
    labelled = [
        (entry, name, known[base])
        for entry, name in zip(layout.new, names, strict=True)
        if (base := entry.name.rsplit("/", 1)[-1]) in known
    ]
    if len(labelled) < len(layout.new):
        notes.append(
            f"{len(layout.new) - len(labelled)} {NEW_PHOTOS_SOURCE} photo(s) without a label "
            f"in its {NEW_LABELS_NAME} left out"
        )
    return labelled


def _select_new(
    selection: _Selection,
    candidates: list[tuple[Entry, str, str]],
    quota: int,
    staging: Path,
    executor: ThreadPoolExecutor,
    work: Processor,
) -> None:
    """Check ``candidates`` (photo, name in the data set, label) in order until ``quota`` are
    usable and keep those as new photos (staged in ``staging/new``); the unusable ones checked
    on the way go to the report."""
    if not candidates or quota < 1:
        return
    folder = staging / "new"
    folder.mkdir(exist_ok=True)
    entries = [entry for entry, _, _ in candidates]
    targets = [folder / name for _, name, _ in candidates]
    label_of = {entry.key: label for entry, _, label in candidates}
    used, reported = scan(entries, targets, quota, executor, work, lambda: None)
    selection.report.extend(reported)
    selection.new.extend((label_of[o.entry.key], o) for o in used)


def _split_counts(n: int, train: int, test: int) -> tuple[int, int, bool]:
    """How many of ``n`` usable images go to training and test (and whether it fell short)."""
    if n >= train + test:
        return train, test, False
    n_train = min(n - 1, max(1, round(n * _FALLBACK_TRAIN_FRACTION))) if n > 1 else n
    return n_train, n - n_train, True


def _assign(
    selection: _Selection,
    plan: _Plan,
    opened: Source,
    split: str | None,
    cls: str,
    used: list[Outcome],
    quota: int,
) -> None:
    """Put a group's usable photos in their split: a course-layout group keeps its own; a
    PetImages class gives its first photos to training and the next ones to test."""
    if split is not None:
        selection.placed.extend((split, cls, o) for o in used)
        if len(used) < quota:
            selection.notes.append(f"{split}/{cls} has only {len(used)} usable images")
        return
    n_train, n_test, short = _split_counts(len(used), plan.train_per_class, plan.test_per_class)
    if len(used) < 2:
        raise SourceError(
            f"{opened.path} has only {len(used)} usable {cls} photo(s): give a source "
            f"with more, e.g. {OFFLINE_FIX}"
        )
    if short:
        selection.notes.append(
            f"only {len(used)} usable {cls} photos: split 80/20 as {n_train}/{n_test}"
        )
    selection.placed.extend(("training_set", cls, o) for o in used[:n_train])
    selection.placed.extend(("test_set", cls, o) for o in used[n_train : n_train + n_test])


def _place(placed: list[tuple[str, str, Outcome]], built: Path) -> list[tuple[str, str, str, str]]:
    """Move each chosen photo from staging to its split; returns the manifest rows, sorted
    (split, class, natural order of the file name)."""
    rows = []
    for split, cls, outcome in placed:
        assert outcome.staged is not None
        os.replace(outcome.staged, built / split / cls / outcome.out_name)
        rows.append((f"{split}/{cls}/{outcome.out_name}", cls, split, outcome.sha256))
    order = {s: i for i, s in enumerate(config.SPLITS)}
    rows.sort(key=lambda r: (order[r[2]], r[1], natural_key(r[0])))
    return rows


def _place_new(new: list[tuple[str, Outcome]], folder: Path) -> list[tuple[str, str]]:
    """Move the new photos from staging into ``folder``; returns the rows of its
    ``labels.csv`` (file, label) in natural order of the file names."""
    rows = []
    for label, outcome in new:
        assert outcome.staged is not None
        os.replace(outcome.staged, folder / outcome.out_name)
        rows.append((outcome.out_name, label))
    return sorted(rows, key=lambda r: natural_key(r[0]))


def _describe_new(rows: list[tuple[str, str]], layout: Layout) -> str:
    """The summary line's part about the new photos."""
    if rows:
        cats = sum(1 for _, label in rows if label == "cat")
        dogs = len(rows) - cats
        return f"{len(rows)} new photos ({cats} cats + {dogs} dogs, in {NEW_PHOTOS_NAME}/)"
    if layout.name == "course" and not layout.new:
        return f"no new photos (the source has no {NEW_PHOTOS_SOURCE} folder)"
    return "no new photos (the source has none beyond the training and test photos)"


def _write_records(
    built: Path,
    rows: list[tuple[str, str, str, str]],
    selection: _Selection,
    result: PrepareResult,
    plan: _Plan,
    layout_name: str,
    description: str,
    fingerprint: dict[str, Any],
) -> None:
    """Write ``manifest.csv``, ``rejects.csv`` and ``source.json`` into ``built``."""
    destination.write_csv(built / MANIFEST_NAME, MANIFEST_COLUMNS, rows)
    destination.write_csv(
        built / REJECTS_NAME,
        REJECTS_COLUMNS,
        (
            (o.entry.name, o.reason, "rejected" if o.action == "reject" else "converted")
            for o in selection.report
        ),
    )
    info = {
        "source": description,
        "layout": layout_name,
        "fingerprint": fingerprint,
        "settings": plan.settings,
        "counts": {f"{s}/{c}": n for (s, c), n in result.counts.items()},
        "n_rejected": result.n_rejected,
        "n_converted": result.n_converted,
        "n_new": result.n_new,
        "notes": selection.notes,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (built / SOURCE_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
