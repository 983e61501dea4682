"""Every figure the course shows, in one place.

Each function takes plain data (NumPy arrays, lists, dictionaries) and returns a
:class:`matplotlib.figure.Figure`.  Nothing here calls ``plt.show()``, touches pyplot's list
of open figures or changes matplotlib's global style, so:

- in a notebook, a cell ending with ``plots.sample_grid(...)`` shows the figure once (the
  setup cell runs ``%matplotlib inline`` so Jupyter knows how to draw a ``Figure``);
- in a script, ``fig.savefig("grid.png")`` writes it, and the figure is freed like any other
  object (no "too many open figures" warnings);
- in a test, any backend works and nothing needs closing.

Conventions shared by all figures: images are ``HxWx3`` arrays, ``uint8`` (0-255) or float
(0-1, or 0-255 when any value is above 1.5); labels are integers in the order of
:data:`catdog_utils.config.CLASS_NAMES` (0 = cat, 1 = dog); probabilities are the model's
output, the probability of *dog*.  Cats are drawn in orange and dogs in blue throughout;
right answers in green, mistakes in red.

Only :func:`augmentation_demo` runs TensorFlow (it calls the augmentation layer it is given).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import config

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: One colour per class, in label order (cats, dogs).
CLASS_COLORS: tuple[str, str] = ("#e07b39", "#3b75af")
#: Colour of a right answer and of a mistake.
RIGHT_COLOR = "#2a8a3e"
WRONG_COLOR = "#c62828"
#: Colour of reference lines (chance level, baselines, thresholds).
REFERENCE_COLOR = "#777777"

# Width in inches of a figure that fills a notebook cell.
_FULL_WIDTH = 12.0
#: Resolution of figures made of photos (grids): lower than matplotlib's 100 so that a
#: notebook with a few photo grids stays small; charts keep the default.
PHOTO_DPI = 72


# --------------------------------------------------------------------------------------
# Building blocks


def _figure(
    nrows: int = 1,
    ncols: int = 1,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    **subplot_kw: Any,
) -> tuple[Figure, np.ndarray]:
    """A new, pyplot-free figure and a 2-D array of its axes (constrained layout)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, subplot_kw=subplot_kw or None)
    return fig, axes


def _grid_shape(n: int, ncols: int) -> tuple[int, int]:
    """Rows and columns for ``n`` panels at most ``ncols`` wide."""
    if n < 1:
        raise ValueError("nothing to plot: the figure needs at least one image")
    cols = max(1, min(ncols, n))
    return math.ceil(n / cols), cols


def _image_grid(
    n: int,
    ncols: int,
    panel: float = 1.6,
    title_space: float = 0.35,
    dpi: float | None = PHOTO_DPI,
) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` image panels in rows of ``ncols``; spare cells are removed."""
    rows, cols = _grid_shape(n, ncols)
    width = min(_FULL_WIDTH, panel * cols)
    side = width / cols
    figsize = (width, rows * (side + title_space) + 0.4)
    fig, axes = _figure(rows, cols, figsize=figsize, dpi=dpi)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def to_display(image: Any) -> np.ndarray:
    """An image as ``imshow`` wants it: ``uint8`` stays, colour floats go to 0-1.

    Colour floats whose largest value is above 1.5 are taken as 0-255 pixels (the course's
    pipelines and Keras layers produce those).  An ``HxWx1`` image becomes ``HxW``; a
    single-channel float image is left as it is (signs included), to be drawn with a colour
    scale from its own minimum to maximum.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if array.ndim == 2:
        return array.astype(np.float32)
    array = array.astype(np.float32)
    if array.size and float(np.nanmax(array)) > 1.5:
        array = array / 255.0
    return np.clip(array, 0.0, 1.0)


def _show(
    ax: Axes, image: Any, title: str | None = None, color: str | None = None, **imshow_kw: Any
) -> None:
    """Draw one image on ``ax`` without ticks, with an optional (coloured) title."""
    array = to_display(image)
    if array.ndim == 2 and "cmap" not in imshow_kw:
        imshow_kw["cmap"] = "gray"
    ax.imshow(array, **imshow_kw)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9, color=color or "black")


def _finish(fig: Figure, title: str | None, ax: Axes | None = None) -> Figure:
    """Give the figure its title (the axes' title when ``ax`` is given) and return it."""
    if title:
        if ax is not None:
            ax.set_title(title)
        else:
            fig.suptitle(title)
    return fig


def _class_name(label: int, class_names: Sequence[str]) -> str:
    """The name of class ``label``, singular (``cat`` rather than ``cats``) for titles."""
    return config.singular(class_names[int(label)])


def _color_of(name: str, index: int) -> str:
    """The colour of a class given by name (course classes keep theirs), else by position."""
    if name in config.CLASS_NAMES:
        return CLASS_COLORS[config.CLASS_NAMES.index(name)]
    return CLASS_COLORS[index % len(CLASS_COLORS)]


def _history_dict(history: Any) -> dict[str, list[float]]:
    """A Keras ``History``, or a mapping of metric name to values, as a plain dict."""
    data = getattr(history, "history", history)
    if not isinstance(data, Mapping):
        raise TypeError("history must be a dict of metric -> values or a keras History")
    return {str(k): [float(v) for v in values] for k, values in data.items()}


# --------------------------------------------------------------------------------------
# Images and data


def sample_grid(
    images: Sequence[Any],
    labels: Sequence[int] | np.ndarray | None = None,
    class_names: Sequence[str] = config.CLASS_NAMES,
    n: int | None = 16,
    title: str | None = None,
    ncols: int = 8,
    show_size: bool = False,
) -> Figure:
    """A grid of photos, each titled with its class (and, optionally, its size).

    Args:
        images: ``HxWx3`` arrays; they may differ in size (photos straight from disk).
        labels: one class index per image, or ``None`` for no class titles.
        class_names: names in label order.
        n: show only the first ``n`` images (``None``: all).
        title: a title over the whole grid.
        ncols: images per row.
        show_size: add ``width x height`` to each title.
    """
    count = len(images) if n is None else min(n, len(images))
    fig, axes = _image_grid(count, ncols)
    for i, ax in enumerate(axes):
        image = np.asarray(images[i])
        parts = []
        color = None
        if labels is not None:
            label = int(labels[i])
            parts.append(_class_name(label, class_names))
            color = CLASS_COLORS[label % len(CLASS_COLORS)]
        if show_size:
            parts.append(f"{image.shape[1]}x{image.shape[0]}")
        _show(ax, image, " · ".join(parts) or None, color)
    return _finish(fig, title)


def image_row(
    images: Sequence[Any],
    titles: Sequence[str] | None = None,
    title: str | None = None,
    cmap: str | None = None,
    panel: float = 2.6,
    show_pixels: bool = False,
    dpi: float | None = None,
    symmetric: bool = False,
) -> Figure:
    """Images side by side, each drawn the same size whatever its pixel count.

    Handy for before / after comparisons: one photo at several resolutions, a photo and
    its filtered version, a feature map before and after pooling.

    Args:
        images: ``HxWx3`` (or ``HxW``, drawn with ``cmap``) arrays.
        titles: one title per image.
        title: a title over the row.
        cmap: colour map for single-channel images (default grey).
        panel: width of one panel in inches.
        show_pixels: keep axis ticks, so the pixel grid's size can be read off.
        dpi: resolution (default matplotlib's, 100: enough to tell 128 from 224 pixels).
        symmetric: centre the colour scale of single-channel images on zero (for signed
            maps such as filter responses, with a diverging ``cmap`` like ``"RdBu_r"``).
    """
    fig, axes = _image_grid(len(images), ncols=len(images), panel=panel, dpi=dpi)
    for i, ax in enumerate(axes):
        kw: dict[str, Any] = {"cmap": cmap} if cmap else {}
        array = np.asarray(images[i])
        if symmetric and to_display(array).ndim == 2:
            limit = float(np.abs(array).max()) or 1.0
            kw.update(vmin=-limit, vmax=limit)
        _show(ax, array, titles[i] if titles else None, **kw)
        if show_pixels:
            height, width = np.asarray(images[i]).shape[:2]
            ax.set_xticks([0, width - 1])
            ax.set_yticks([0, height - 1])
            ax.tick_params(labelsize=7)
    return _finish(fig, title)


def size_distribution(
    widths: Sequence[int] | np.ndarray,
    heights: Sequence[int] | np.ndarray,
    labels: Sequence[int] | np.ndarray | None = None,
    class_names: Sequence[str] = config.CLASS_NAMES,
    model_size: int = config.IMAGE_SIZE,
    title: str | None = None,
) -> Figure:
    """Three panels about photo sizes: width against height, aspect ratio, shorter side.

    Args:
        widths, heights: size of each photo in pixels.
        labels: class of each photo, to colour the points and stack the histograms.
        class_names: names in label order.
        model_size: the side of the square the model sees, marked on the plots.
        title: a title over the figure.
    """
    w = np.asarray(widths, dtype=float)
    h = np.asarray(heights, dtype=float)
    if w.shape != h.shape or w.size == 0:
        raise ValueError("widths and heights must be non-empty and of the same length")
    groups: list[tuple[np.ndarray, str, str]]
    if labels is None:
        groups = [(np.ones(w.shape, dtype=bool), "photos", CLASS_COLORS[1])]
    else:
        lab = np.asarray(labels).astype(int)
        groups = [
            (lab == k, class_names[k], CLASS_COLORS[k % len(CLASS_COLORS)])
            for k in range(len(class_names))
            if np.any(lab == k)
        ]

    fig, axes = _figure(1, 3, figsize=(_FULL_WIDTH, 3.8))
    scatter, aspect_ax, side_ax = axes[0]
    _size_scatter(scatter, w, h, groups, model_size)
    aspect = w / h
    bins = np.linspace(max(0.2, float(aspect.min())), min(3.0, float(aspect.max())), 40)
    _stacked_histogram(
        aspect_ax,
        [np.clip(aspect[m], bins[0], bins[-1]) for m, _, _ in groups],
        groups,
        bins,
        marker=(1.0, "square: what\nthe model sees", REFERENCE_COLOR),
    )
    aspect_ax.set(xlabel="aspect ratio (width / height)", ylabel="photos", title="aspect ratios")
    shorter = np.minimum(w, h)
    _stacked_histogram(
        side_ax,
        [shorter[m] for m, _, _ in groups],
        groups,
        40,
        marker=(model_size, f"{model_size} px", "black"),
    )
    side_ax.set(xlabel="shorter side (pixels)", ylabel="photos", title="shorter side")
    if len(groups) > 1:
        side_ax.legend(fontsize=8)
    return _finish(fig, title)


def _size_scatter(
    ax: Axes,
    w: np.ndarray,
    h: np.ndarray,
    groups: list[tuple[np.ndarray, str, str]],
    model_size: int,
) -> None:
    """Width against height per group, the square diagonal and the model's input size."""
    for mask, name, color in groups:
        ax.scatter(w[mask], h[mask], s=4, alpha=0.35, color=color, label=name, linewidths=0)
    top = float(max(w.max(), h.max())) * 1.05
    ax.plot([0, top], [0, top], ls="--", lw=1, color=REFERENCE_COLOR, label="square")
    ax.plot(
        [model_size],
        [model_size],
        marker="s",
        color="black",
        ms=5,
        ls="",
        label=f"model input {model_size}x{model_size}",
    )
    ax.set(
        xlim=(0, top),
        ylim=(0, top),
        xlabel="width (pixels)",
        ylabel="height (pixels)",
        title="photo sizes",
    )
    ax.legend(fontsize=8, markerscale=2, loc="upper left")


def _stacked_histogram(
    ax: Axes,
    values: list[np.ndarray],
    groups: list[tuple[np.ndarray, str, str]],
    bins: int | np.ndarray,
    marker: tuple[float, str, str],
) -> None:
    """One histogram stacked by group, with a dashed line at ``marker = (x, text, colour)``."""
    ax.hist(
        values,
        bins=bins,
        stacked=True,
        color=[c for _, _, c in groups],
        label=[name for _, name, _ in groups],
    )
    x, text, color = marker
    ax.axvline(x, ls="--", color=color, lw=1)
    ax.annotate(
        text,
        xy=(x, 0.93),
        xycoords=("data", "axes fraction"),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize=8,
        va="top",
    )


def class_counts(
    counts: Mapping[str, int] | Mapping[str, Mapping[str, int]],
    title: str | None = None,
    ylabel: str = "images",
) -> Figure:
    """A bar chart of image counts, each bar labelled with its number.

    Args:
        counts: ``{"cats": 4000, "dogs": 4000}``, or one such mapping per group (split),
            e.g. ``{"training_set": {"cats": 4000, "dogs": 4000}, "test_set": {...}}``,
            drawn as grouped bars.
        title: the axes title.
        ylabel: the y-axis label.
    """
    if not counts:
        raise ValueError("counts is empty")
    nested = all(isinstance(v, Mapping) for v in counts.values())
    groups: dict[str, Mapping[str, int]] = (
        dict(counts) if nested else {"": counts}  # type: ignore[arg-type]
    )
    classes: list[str] = []
    for inner in groups.values():
        classes.extend(c for c in inner if c not in classes)
    fig, axes = _figure(figsize=(max(4.0, 1.2 + 1.1 * len(groups) * len(classes)), 3.6))
    ax = axes[0, 0]
    if not nested:
        values = [int(counts[c]) for c in classes]  # type: ignore[arg-type]
        colors = [_color_of(c, k) for k, c in enumerate(classes)]
        bars = ax.bar(range(len(classes)), values, 0.7, color=colors)
        ax.bar_label(bars, labels=[f"{v:,}" for v in values], fontsize=8, padding=2)
        ax.set_xticks(range(len(classes)), classes)
    else:
        x = np.arange(len(groups))
        width = 0.8 / len(classes)
        for k, cls in enumerate(classes):
            values = [int(inner.get(cls, 0)) for inner in groups.values()]
            offset = (k - (len(classes) - 1) / 2) * width
            bars = ax.bar(x + offset, values, width * 0.95, label=cls, color=_color_of(cls, k))
            ax.bar_label(bars, labels=[f"{v:,}" for v in values], fontsize=8, padding=2)
        ax.set_xticks(x, list(groups))
        ax.legend(fontsize=8)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.15)
    return _finish(fig, title, ax)


def augmentation_demo(
    image: Any,
    augment_layer: Callable[..., Any],
    n: int = 7,
    title: str | None = None,
    ncols: int | None = None,
) -> Figure:
    """A photo and ``n`` random augmentations of it (one row per photo).

    Args:
        image: one ``HxWx3`` photo, or an ``NxHxWx3`` batch (one row each).
        augment_layer: a Keras layer or model (e.g. ``models.build_original_augmentation``),
            called with ``training=True``.
        n: augmented versions per photo.
        title: a title over the figure.
        ncols: panels per row (default ``n + 1``: the original, then its versions).
    """
    batch = np.asarray(image)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4:
        raise ValueError(f"expected an HxWx3 image or a batch of them, got {batch.shape}")
    per_row = n + 1
    fig, axes = _image_grid(len(batch) * per_row, ncols or per_row, panel=1.5)
    for row, photo in enumerate(batch):
        repeated = np.repeat(photo[None].astype(np.float32), n, axis=0)
        augmented = np.asarray(augment_layer(repeated, training=True))
        _show(axes[row * per_row], photo, "original")
        for j in range(n):
            _show(axes[row * per_row + 1 + j], augmented[j], f"augmented {j + 1}")
    return _finish(fig, title)


# --------------------------------------------------------------------------------------
# Inside the network


def feature_maps(
    activations: Any,
    n: int = 16,
    title: str | None = None,
    ncols: int = 8,
    cmap: str = "viridis",
) -> Figure:
    """The first ``n`` channels of a layer's output, one panel per channel.

    Each panel has its own colour scale (bright = strong response).

    Args:
        activations: ``HxWxC`` or ``1xHxWxC`` (one image's feature maps).
        n: how many channels to show.
        title: a title over the grid.
        ncols: panels per row.
        cmap: the colour map.
    """
    maps = np.asarray(activations)
    if maps.ndim == 4:
        if maps.shape[0] != 1:
            raise ValueError(f"feature_maps shows one image; got a batch of {maps.shape[0]}")
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"expected HxWxC activations, got shape {maps.shape}")
    count = min(n, maps.shape[-1])
    fig, axes = _image_grid(count, ncols, panel=1.3, title_space=0.3)
    for c, ax in enumerate(axes):
        ax.imshow(maps[:, :, c], cmap=cmap)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"#{c}", fontsize=8)
    return _finish(fig, title)


def filters(
    weights: Any,
    n: int | None = 32,
    title: str | None = None,
    ncols: int = 16,
    input_channel: int = 0,
) -> Figure:
    """A convolution layer's kernels, one panel per filter.

    With three input channels (the first layer) each ``3x3x3`` kernel is drawn as a tiny
    colour image, scaled to 0-1 on its own.  Otherwise the slice for ``input_channel`` is
    drawn with a red (negative) / blue (positive) scale shared by all panels.

    Args:
        weights: the kernel ``(kh, kw, in, out)``, or ``layer.get_weights()`` (kernel, bias).
        n: how many filters to show (``None``: all).
        title: a title over the grid.
        ncols: panels per row.
        input_channel: which input channel to draw when there are not exactly three.
    """
    kernel = weights[0] if isinstance(weights, (list, tuple)) else weights
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 4:
        raise ValueError(f"expected a (kh, kw, in, out) kernel, got shape {kernel.shape}")
    count = kernel.shape[-1] if n is None else min(n, kernel.shape[-1])
    fig, axes = _image_grid(count, ncols, panel=0.9, title_space=0.25)
    colour = kernel.shape[2] == 3
    limit = float(np.abs(kernel[:, :, input_channel % kernel.shape[2], :count]).max()) or 1.0
    for f, ax in enumerate(axes):
        if colour:
            k = kernel[:, :, :, f]
            span = float(k.max() - k.min()) or 1.0
            ax.imshow((k - k.min()) / span, interpolation="nearest")
        else:
            ax.imshow(
                kernel[:, :, input_channel, f],
                cmap="RdBu",
                vmin=-limit,
                vmax=limit,
                interpolation="nearest",
            )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"#{f}", fontsize=7)
    return _finish(fig, title)


def annotated_matrix(
    values: Any,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    fmt: str = "{:.2f}",
    cmap: str = "RdBu",
    symmetric: bool = True,
    size: float = 3.2,
) -> Figure:
    """A small matrix drawn as coloured cells with each value written in (e.g. a kernel).

    Args:
        values: a 2-D array.
        row_labels, col_labels: tick labels (default: none).
        title: the axes title.
        fmt: format of the numbers.
        cmap: the colour map.
        symmetric: centre the colour scale on zero (for kernels with signs).
        size: side of the figure in inches.
    """
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {matrix.shape}")
    fig, axes = _figure(figsize=(size, size))
    _draw_matrix(
        axes[0, 0], matrix, [[fmt.format(v) for v in row] for row in matrix], cmap, symmetric
    )
    ax = axes[0, 0]
    ax.set_xticks(range(matrix.shape[1]), col_labels or [])
    ax.set_yticks(range(matrix.shape[0]), row_labels or [])
    return _finish(fig, title, ax)


def _draw_matrix(
    ax: Axes, matrix: np.ndarray, texts: list[list[str]], cmap: str, symmetric: bool
) -> None:
    """Coloured cells with text, the text black or white to stay readable."""
    if symmetric:
        limit = float(np.abs(matrix).max()) or 1.0
        vmin, vmax = -limit, limit
    else:
        vmin, vmax = float(matrix.min()), float(matrix.max())
        vmax = vmax if vmax > vmin else vmin + 1.0
    ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax)
    for (i, j), value in np.ndenumerate(matrix):
        strength = (
            abs(value) / max(abs(vmin), abs(vmax))
            if symmetric
            else ((value - vmin) / (vmax - vmin))
        )
        ax.text(
            j,
            i,
            texts[i][j],
            ha="center",
            va="center",
            fontsize=10,
            color="white" if strength > 0.6 else "black",
        )


def parameter_breakdown(
    names: Sequence[str],
    counts: Sequence[int],
    title: str | None = "Where the parameters are",
) -> Figure:
    """Horizontal bars of parameters per layer, each labelled with its count and share.

    Args:
        names: layer names (layers without parameters may be included: they show as 0).
        counts: parameters of each layer.
        title: the axes title.
    """
    values = np.asarray(counts, dtype=float)
    total = float(values.sum()) or 1.0
    fig, axes = _figure(figsize=(8.0, 0.45 * len(names) + 1.2))
    ax = axes[0, 0]
    y = np.arange(len(names))[::-1]
    bars = ax.barh(y, values, color=CLASS_COLORS[1])
    ax.bar_label(
        bars, labels=[f"{int(v):,} ({v / total:.1%})" for v in values], fontsize=8, padding=3
    )
    ax.set_yticks(y, list(names))
    ax.set_xlabel("parameters")
    ax.margins(x=0.3)
    return _finish(fig, title, ax)


# --------------------------------------------------------------------------------------
# Training


def learning_curves(
    history: Any,
    title: str | None = None,
    metrics: Sequence[str] = ("loss", "accuracy"),
    chance: float | None = 0.5,
) -> Figure:
    """Training and validation curves, one panel per metric, epochs counted from 1.

    The best validation epoch (lowest loss, highest of anything else) is marked.

    Args:
        history: ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}`` or a Keras
            ``History``.
        title: a title over the figure.
        metrics: which metrics to draw (each with its ``val_`` twin when present); metrics
            missing from ``history`` are left out.
        chance: draw this accuracy as a dotted "chance" line (``None``: no line).
    """
    data = _history_dict(history)
    shown = [m for m in metrics if m in data or f"val_{m}" in data]
    if not shown:
        raise ValueError(f"history has none of {list(metrics)}; it has {sorted(data)}")
    fig, axes = _figure(1, len(shown), figsize=(min(_FULL_WIDTH, 5.0 * len(shown)), 3.6))
    for ax, metric in zip(axes[0], shown, strict=True):
        for key, label, style in ((metric, "training", "-"), (f"val_{metric}", "validation", "-")):
            if key not in data:
                continue
            values = data[key]
            epochs = np.arange(1, len(values) + 1)
            color = CLASS_COLORS[1] if key == metric else CLASS_COLORS[0]
            ax.plot(
                epochs,
                values,
                style,
                color=color,
                label=label,
                marker="o" if len(values) <= 30 else None,
                ms=3,
            )
            if key.startswith("val_") and values:
                best = int(np.argmin(values) if "loss" in metric else np.argmax(values))
                ax.plot(
                    best + 1,
                    values[best],
                    "*",
                    color="black",
                    ms=11,
                    label=f"best: epoch {best + 1} ({values[best]:.3f})",
                )
        if chance is not None and "acc" in metric:
            ax.axhline(chance, ls=":", color=REFERENCE_COLOR, lw=1, label="chance")
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _finish(fig, title)


def compare_histories(
    histories: Mapping[str, Any],
    metric: str = "val_accuracy",
    title: str | None = None,
    minutes: bool = False,
) -> Figure:
    """One metric of several training runs on one plot (e.g. validation accuracy).

    Args:
        histories: run name -> history (dict or Keras ``History``).
        metric: the metric to compare.
        title: the axes title (default: the metric).
        minutes: put training time on the x axis (from each history's ``seconds``, the
            end of every epoch) instead of the epoch number: the fair axis for runs that
            share a time budget.
    """
    if not histories:
        raise ValueError("histories is empty")
    fig, axes = _figure(figsize=(7.0, 4.0))
    ax = axes[0, 0]
    for name, history in histories.items():
        h = _history_dict(history)
        values = h.get(metric)
        if values is None:
            raise ValueError(f"run {name!r} has no {metric!r} in its history")
        if minutes and len(h.get("seconds", [])) != len(values):
            raise ValueError(f"run {name!r} has no 'seconds' for every epoch")
        x = np.cumsum(h["seconds"]) / 60 if minutes else np.arange(1, len(values) + 1)
        ax.plot(x, values, marker="o" if len(values) <= 30 else None, ms=3, label=name)
    ax.set(
        xlabel="minutes of training" if minutes else "epoch",
        ylabel=metric,
        title=title or metric,
    )
    if not minutes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def experiments_bar(
    names: Sequence[str],
    values: Sequence[float],
    errors: Sequence[float] | None = None,
    xlabel: str = "validation accuracy",
    title: str | None = None,
    value_format: str = "{:.3f}",
    baseline: float | None = None,
    baseline_label: str = "baseline",
    highlight: str | None = None,
    log_scale: bool = False,
) -> Figure:
    """Horizontal bars comparing runs (or anything named: timings, sizes), top to bottom.

    Args:
        names: one label per bar, drawn top to bottom in this order.
        values: the bar lengths.
        errors: optional error bars (e.g. standard deviation over seeds).
        xlabel: what the values are.
        title: the axes title.
        value_format: format of the number written at the end of each bar.
        baseline: draw a dashed reference line at this value.
        baseline_label: the reference line's legend entry.
        highlight: the name of a bar to draw in the accent colour.
        log_scale: use a logarithmic x axis (for values spanning orders of magnitude).
    """
    if len(names) != len(values) or not names:
        raise ValueError("names and values must be non-empty and of the same length")
    vals = np.asarray(values, dtype=float)
    fig, axes = _figure(figsize=(8.0, 0.45 * len(names) + 1.3))
    ax = axes[0, 0]
    y = np.arange(len(names))[::-1]
    colors = [CLASS_COLORS[0] if name == highlight else CLASS_COLORS[1] for name in names]
    bars = ax.barh(y, vals, xerr=errors, color=colors, capsize=3 if errors is not None else 0)
    ax.bar_label(bars, labels=[value_format.format(v) for v in vals], fontsize=8, padding=3)
    ax.set_yticks(y, list(names))
    ax.set_xlabel(xlabel)
    if log_scale:
        ax.set_xscale("log")
    else:
        low = float(np.nanmin(vals))
        if low > 0.3 and float(np.nanmax(vals)) <= 1.0:
            ax.set_xlim(low - 0.15, 1.0)  # accuracies: zoom in on the differences
        ax.margins(x=0.12)
    if baseline is not None:
        ax.axvline(baseline, ls="--", color="black", lw=1, label=baseline_label)
        ax.legend(fontsize=8, loc="lower right")
    return _finish(fig, title, ax)


# --------------------------------------------------------------------------------------
# Evaluation


def confusion_matrix(
    cm: Any,
    class_names: Sequence[str] = config.CLASS_NAMES,
    title: str | None = "Confusion matrix",
) -> Figure:
    """A confusion matrix: rows are the true class, columns the predicted one.

    Each cell shows its count and the share of its row (so the diagonal reads as the
    recall of each class).

    Args:
        cm: square array of counts, as ``evaluation.confusion_matrix`` returns it.
        class_names: names in label order.
        title: the axes title.
    """
    counts = np.asarray(cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"expected a square matrix of counts, got shape {counts.shape}")
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    texts = [
        [f"{int(c):,}\n{s:.1%}" for c, s in zip(r, sr, strict=True)]
        for r, sr in zip(counts, share, strict=True)
    ]
    fig, axes = _figure(figsize=(4.2, 3.8))
    ax = axes[0, 0]
    _draw_matrix(ax, share, texts, "Blues", symmetric=False)
    names = list(class_names)[: counts.shape[0]]
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _finish(fig, title, ax)


def roc_curves(
    curves: Mapping[str, tuple[Any, Any, float | None]],
    title: str | None = "ROC curve",
    operating_points: Mapping[str, tuple[float, float]] | None = None,
) -> Figure:
    """ROC curves of one or more models on one plot, with the chance diagonal.

    Args:
        curves: model name -> ``(fpr, tpr, auc)`` (``auc`` may be ``None``).
        title: the axes title.
        operating_points: model name -> ``(fpr, tpr)`` at the threshold in use (0.5),
            marked with a dot.
    """
    if not curves:
        raise ValueError("curves is empty")
    fig, axes = _figure(figsize=(4.8, 4.4))
    ax = axes[0, 0]
    for name, (fpr, tpr, auc) in curves.items():
        label = name if auc is None else f"{name} (AUC {auc:.3f})"
        line = ax.plot(np.asarray(fpr), np.asarray(tpr), lw=2, label=label)[0]
        if operating_points and name in operating_points:
            x, y = operating_points[name]
            ax.plot(
                [x],
                [y],
                "o",
                color=line.get_color(),
                ms=7,
                label=f"{name}: threshold 0.5" if len(curves) > 1 else "threshold 0.5",
            )
    ax.plot([0, 1], [0, 1], ls="--", color=REFERENCE_COLOR, lw=1, label="chance (AUC 0.5)")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="false positive rate (cats called dogs)",
        ylabel="true positive rate (dogs found)",
        aspect="equal",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _finish(fig, title, ax)


def roc_curve(
    fpr: Any,
    tpr: Any,
    auc: float | None = None,
    label: str = "model",
    title: str | None = "ROC curve",
    operating_point: tuple[float, float] | None = None,
) -> Figure:
    """The ROC curve of one model (see :func:`roc_curves` for several)."""
    points = {label: operating_point} if operating_point is not None else None
    return roc_curves({label: (fpr, tpr, auc)}, title=title, operating_points=points)


def probability_histogram(
    probs: Any,
    labels: Any,
    class_names: Sequence[str] = config.CLASS_NAMES,
    threshold: float = 0.5,
    bins: int = 25,
    title: str | None = "How sure is the model?",
) -> Figure:
    """Histograms of the predicted dog probability, one per true class.

    A good model pushes cats to the left, dogs to the right; what lies on the wrong side of
    the threshold is a mistake.
    """
    p = np.asarray(probs, dtype=float).reshape(-1)
    y = np.asarray(labels).astype(int).reshape(-1)
    fig, axes = _figure(figsize=(6.5, 3.6))
    ax = axes[0, 0]
    edges = np.linspace(0, 1, bins + 1)
    for k, name in enumerate(class_names):
        if np.any(y == k):
            ax.hist(
                p[y == k],
                bins=edges,
                alpha=0.6,
                color=CLASS_COLORS[k % 2],
                label=f"true {name} ({int(np.sum(y == k)):,})",
            )
    ax.axvline(threshold, ls="--", color="black", lw=1, label=f"threshold {threshold:g}")
    ax.set(
        xlabel=f"predicted probability of {_class_name(1, class_names)}",
        ylabel="images",
        xlim=(0, 1),
    )
    ax.legend(fontsize=8)
    return _finish(fig, title, ax)


def reliability_diagram(
    probs: Any,
    labels: Any,
    n_bins: int = 10,
    title: str | None = "Calibration",
) -> Figure:
    """Does "80 % dog" mean right 80 % of the time?  Observed dog share per probability bin.

    Bars on the diagonal mean a calibrated model; below it, an over-confident one.
    """
    p = np.asarray(probs, dtype=float).reshape(-1)
    y = np.asarray(labels).astype(float).reshape(-1)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    centres = (edges[:-1] + edges[1:]) / 2
    observed = np.array(
        [y[which == b].mean() if np.any(which == b) else np.nan for b in range(n_bins)]
    )
    fig, axes = _figure(figsize=(4.6, 4.4))
    ax = axes[0, 0]
    ax.bar(
        centres,
        observed,  # empty bins are NaN: no bar
        width=1 / n_bins * 0.9,
        color=CLASS_COLORS[1],
        label="observed share of dogs",
    )
    ax.plot([0, 1], [0, 1], ls="--", color=REFERENCE_COLOR, label="perfectly calibrated")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="predicted probability of dog",
        ylabel="share that are dogs",
        aspect="equal",
    )
    ax.legend(fontsize=8, loc="upper left")
    return _finish(fig, title, ax)


def image_grid_with_probs(
    images: Sequence[Any],
    true_labels: Sequence[int] | np.ndarray | None,
    probs: Sequence[float] | np.ndarray,
    class_names: Sequence[str] = config.CLASS_NAMES,
    title: str | None = None,
    ncols: int = 6,
    threshold: float = 0.5,
) -> Figure:
    """Photos with the model's verdict: green when right, red when wrong.

    Each title reads ``dog 97%`` (the predicted class and how sure the model is of it),
    with ``true: cat`` added when that differs.  Use it for predictions on new photos
    (``true_labels=None``), a random sample, or the most confident mistakes.

    Args:
        images: ``HxWx3`` arrays.
        true_labels: the real class of each image, or ``None`` when unknown.
        probs: the model's probability of class 1 (dog) for each image.
        class_names: names in label order.
        title: a title over the grid.
        ncols: images per row.
        threshold: probability at or above which the prediction is class 1.
    """
    p = np.asarray(probs, dtype=float).reshape(-1)
    if len(p) != len(images):
        raise ValueError(f"{len(images)} images but {len(p)} probabilities")
    fig, axes = _image_grid(len(images), ncols, panel=2.0, title_space=0.5)
    for i, ax in enumerate(axes):
        predicted = int(p[i] >= threshold)
        confidence = p[i] if predicted == 1 else 1.0 - p[i]
        text = f"{_class_name(predicted, class_names)} {confidence:.0%}"
        color = None
        if true_labels is not None:
            truth = int(true_labels[i])
            color = RIGHT_COLOR if truth == predicted else WRONG_COLOR
            if truth != predicted:
                text += f"\ntrue: {_class_name(truth, class_names)}"
        _show(ax, images[i], text, color)
    return _finish(fig, title)


# --------------------------------------------------------------------------------------
# Grad-CAM


def overlay_heatmap(image: Any, heatmap: Any, alpha: float = 0.4, cmap: str = "jet") -> np.ndarray:
    """Lay a heatmap (any size, values 0-1) over a photo: an ``HxWx3`` ``uint8`` array.

    The heatmap is resized smoothly to the photo's size and coloured with ``cmap``;
    ``alpha`` is its weight (0: only the photo, 1: only the heatmap).
    """
    import matplotlib
    from PIL import Image

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    photo = to_display(image)
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=2)
    photo_f = photo[..., :3].astype(np.float32) / (255.0 if photo.dtype == np.uint8 else 1.0)
    heat = np.nan_to_num(np.asarray(heatmap, dtype=np.float32).squeeze())
    if heat.ndim != 2:
        raise ValueError(f"expected a 2-D heatmap, got shape {np.asarray(heatmap).shape}")
    height, width = photo_f.shape[:2]
    heat = np.asarray(Image.fromarray(heat).resize((width, height), Image.Resampling.BILINEAR))
    coloured = matplotlib.colormaps[cmap](np.clip(heat, 0.0, 1.0))[..., :3]
    blended = (1.0 - alpha) * photo_f + alpha * coloured
    return np.clip(np.rint(blended * 255.0), 0, 255).astype(np.uint8)


def gradcam_overlay(
    image: Any,
    heatmap: Any,
    alpha: float = 0.4,
    title: str | None = None,
) -> Figure:
    """Grad-CAM for one photo, three panels: the photo, the heatmap, the two overlaid.

    Args:
        image: the ``HxWx3`` photo.
        heatmap: the class-activation map (any size, 0-1), e.g. ``evaluation.grad_cam``.
        alpha: weight of the heatmap in the overlay.
        title: a title over the figure (e.g. the prediction).
    """
    fig, axes = _figure(1, 3, figsize=(8.4, 3.3))
    photo_ax, heat_ax, overlay_ax = axes[0]
    _show(photo_ax, image, "photo")
    heat_ax.imshow(np.asarray(heatmap, dtype=float).squeeze(), cmap="jet", vmin=0, vmax=1)
    heat_ax.set_xticks([])
    heat_ax.set_yticks([])
    heat_ax.set_title("where the model looked", fontsize=9)
    _show(overlay_ax, overlay_heatmap(image, heatmap, alpha), "overlay")
    return _finish(fig, title)


def gradcam_grid(
    images: Sequence[Any],
    heatmaps: Sequence[Any],
    titles: Sequence[str] | None = None,
    alpha: float = 0.4,
    title: str | None = None,
    ncols: int = 6,
    colors: Sequence[str | None] | None = None,
) -> Figure:
    """Grad-CAM overlays for several photos, one panel each.

    Args:
        images: ``HxWx3`` photos.
        heatmaps: one heatmap per photo.
        titles: one title per photo (e.g. ``"dog 97%"``).
        alpha: weight of the heatmap in each overlay.
        title: a title over the grid.
        ncols: panels per row.
        colors: one title colour per photo (e.g. green / red for right / wrong).
    """
    if len(images) != len(heatmaps):
        raise ValueError(f"{len(images)} images but {len(heatmaps)} heatmaps")
    fig, axes = _image_grid(len(images), ncols, panel=2.0, title_space=0.5)
    for i, ax in enumerate(axes):
        _show(
            ax,
            overlay_heatmap(images[i], heatmaps[i], alpha),
            titles[i] if titles else None,
            colors[i] if colors else None,
        )
    return _finish(fig, title)


def threshold_curve(
    probs: Any,
    labels: Any,
    marked: Mapping[str, float] | None = None,
    title: str | None = "What each threshold does",
) -> Figure:
    """Cats called dog, dogs called cat and accuracy (in %) for every threshold from 0 to 1.

    ``marked`` draws a labelled vertical line at each named threshold (``{"0.5": 0.5}``).
    """
    p = np.asarray(probs, dtype=float).reshape(-1)
    y = np.asarray(labels).astype(int).reshape(-1)
    grid = np.unique(np.r_[np.linspace(0, 1, 201), list((marked or {}).values())])
    called = p[None, :] >= grid[:, None]
    n_cats, n_dogs = max(int(np.sum(y == 0)), 1), max(int(np.sum(y == 1)), 1)
    cats_wrong = 100 * np.sum(called & (y == 0), axis=1) / n_cats
    dogs_wrong = 100 * np.sum(~called & (y == 1), axis=1) / n_dogs
    accuracy = 100 * np.mean(called == (y == 1), axis=1)
    fig, axes = _figure(figsize=(7.0, 4.0))
    ax = axes[0, 0]
    ax.plot(grid, cats_wrong, color=CLASS_COLORS[0], label="cats called dog (% of cats)")
    ax.plot(grid, dogs_wrong, color=CLASS_COLORS[1], label="dogs called cat (% of dogs)")
    ax.plot(grid, accuracy, color=RIGHT_COLOR, lw=2, label="accuracy (%)")
    for i, (name, t) in enumerate((marked or {}).items()):
        ax.axvline(t, color=REFERENCE_COLOR, ls="--" if i == 0 else ":", lw=1)
        ax.annotate(
            name, (t, 100), xytext=(3, -12 - 11 * i), textcoords="offset points", fontsize=8
        )
    ax.set(xlim=(0, 1), ylim=(0, 102), xlabel="threshold (dog if P(dog) >= threshold)")
    ax.set_ylabel("% of photos")
    ax.legend(fontsize=8, loc="center right")
    return _finish(fig, title, ax)


def error_bars(
    values: Mapping[str, Sequence[float] | np.ndarray],
    xlabel: str = "",
    title: str | None = None,
) -> Figure:
    """One horizontal bar per named sample: its mean, with +- one standard error.

    For measurements repeated over many photos (the occlusion test of chapter 07, say), so
    that the eye compares the means *and* how sure each one is.
    """
    names = list(values)
    samples = [np.asarray(values[name], dtype=float).reshape(-1) for name in names]
    means = np.array([s.mean() for s in samples])
    errors = np.array([s.std(ddof=1) / np.sqrt(len(s)) if len(s) > 1 else 0.0 for s in samples])
    fig, axes = _figure(figsize=(7.0, 0.6 * len(names) + 1.2))
    ax = axes[0, 0]
    rows = np.arange(len(names))[::-1]
    ax.barh(rows, means, xerr=errors, color=CLASS_COLORS[1], capsize=4, height=0.6)
    ax.axvline(0, color=REFERENCE_COLOR, lw=1)
    ax.set_yticks(rows, names, fontsize=8)
    ax.set_xlabel(xlabel)
    return _finish(fig, title, ax)


def runs_and_means(
    runs: Mapping[str, Sequence[float]],
    reference: str | None = None,
    noise: float | None = None,
    xlabel: str = "validation accuracy",
    title: str | None = None,
) -> Figure:
    """Every run as a dot and each configuration's mean as a bar, top to bottom.

    Args:
        runs: configuration name -> the value of each of its runs (one per seed).
        reference: a configuration whose mean is drawn as a dashed line across all rows.
        noise: half the width of a grey band around the reference's mean: the difference
            a configuration must exceed to count (``study.compare``'s noise level, in the
            units of the values).
        xlabel: what the values are.
        title: the axes title.

    The spread of the dots is the point of the figure: a mean outside the grey band with
    dots that do not overlap the reference's is a finding; anything else is noise.
    """
    if not runs or any(len(v) == 0 for v in runs.values()):
        raise ValueError("runs must name at least one configuration, each with a value")
    names = list(runs)
    fig, axes = _figure(figsize=(8.0, 0.45 * len(names) + 1.3))
    ax = axes[0, 0]
    y = np.arange(len(names))[::-1]
    if reference is not None:
        center = float(np.mean(runs[reference]))
        if noise is not None:
            ax.axvspan(center - noise, center + noise, color="0.88", lw=0, label="seed spread")
        ax.axvline(center, ls="--", color="black", lw=1, label=f"{reference} (mean)")
    for row, name in zip(y, names, strict=True):
        values = np.asarray(runs[name], dtype=float)
        mean = float(values.mean())
        ax.plot([mean, mean], [row - 0.3, row + 0.3], color=CLASS_COLORS[1], lw=2.5)
        ax.scatter(values, np.full(len(values), row), s=22, color="black", zorder=3)
        ax.annotate(
            f"{mean:.3f}",
            (float(values.max()), row),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y, names)
    ax.set_xlabel(xlabel)
    ax.margins(x=0.15)
    if reference is not None:
        ax.legend(loc="lower left", fontsize=8)
    if title:
        ax.set_title(title)
    return fig
