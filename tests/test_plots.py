"""Tests for catdog_utils.plots: every figure builds, draws, and shows what it should."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from catdog_utils import images, plots

RNG = np.random.default_rng(0)


def _photos(n: int, size: int = 32) -> np.ndarray:
    return RNG.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def _drawn(fig: Figure) -> Figure:
    """Render the figure to PNG bytes (runs the layout engine), then return it."""
    assert isinstance(fig, Figure)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    return fig


def _titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


@pytest.fixture(scope="module")
def real_photos(shared_dataset: Path) -> list[np.ndarray]:
    """Two real photos at their own sizes: a cat and a dog."""
    return [
        images.load_image(shared_dataset / "training_set" / "cats" / "cat.1.jpg"),
        images.load_image(shared_dataset / "training_set" / "dogs" / "dog.1.jpg"),
    ]


def test_no_pyplot_figures_are_left_open() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.sample_grid(_photos(3), [0, 1, 0])
    plots.learning_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    assert plt.get_fignums() == before


def test_to_display_scales_floats_and_keeps_uint8() -> None:
    u8 = _photos(1)[0]
    assert plots.to_display(u8) is u8
    as_255 = plots.to_display(u8.astype(np.float32))
    np.testing.assert_allclose(as_255, u8 / 255.0, atol=1e-6)
    unit = np.full((4, 4, 3), 0.5, dtype=np.float32)
    np.testing.assert_allclose(plots.to_display(unit), unit)
    assert plots.to_display(np.zeros((4, 4, 1))).shape == (4, 4)
    signed = np.array([[-2.0, 0.5], [3.0, 1.0]])
    np.testing.assert_array_equal(plots.to_display(signed), signed)  # a map keeps its signs
    with pytest.raises(ValueError, match="HxWx3"):
        plots.to_display(np.zeros((4, 4, 5)))


def test_sample_grid_real_photos_of_different_sizes(real_photos: list[np.ndarray]) -> None:
    fig = _drawn(plots.sample_grid(real_photos, [0, 1], n=None, title="two", show_size=True))
    assert len(fig.axes) == 2
    cat, dog = real_photos
    assert _titles(fig) == [
        f"cat · {cat.shape[1]}x{cat.shape[0]}",
        f"dog · {dog.shape[1]}x{dog.shape[0]}",
    ]
    assert fig.axes[0].get_images()[0].get_array().shape == cat.shape
    assert fig.get_suptitle() == "two"


def test_sample_grid_limits_to_n_and_removes_spare_cells() -> None:
    fig = _drawn(plots.sample_grid(_photos(20), np.zeros(20, int), n=10, ncols=4))
    assert len(fig.axes) == 10  # 3 rows of 4, the 2 spare cells removed
    fig = plots.sample_grid(_photos(3), labels=None)
    assert _titles(fig) == ["", "", ""]
    with pytest.raises(ValueError, match="at least one"):
        plots.sample_grid([], [])


def test_image_row_with_pixel_ticks() -> None:
    row = [_photos(1, s)[0] for s in (8, 16, 32)]
    fig = _drawn(plots.image_row(row, titles=["8", "16", "32"], show_pixels=True))
    assert _titles(fig) == ["8", "16", "32"]
    assert list(fig.axes[2].get_xticks()) == [0, 31]
    gray = _drawn(plots.image_row([np.zeros((5, 5))], cmap="magma"))
    assert gray.axes[0].get_images()[0].get_cmap().name == "magma"
    signed = _drawn(plots.image_row([np.array([[-1.0, 4.0]])], cmap="RdBu_r", symmetric=True))
    assert signed.axes[0].get_images()[0].get_clim() == (-4.0, 4.0)


def test_size_distribution_three_panels() -> None:
    widths = RNG.integers(100, 500, 200)
    heights = RNG.integers(100, 500, 200)
    fig = _drawn(plots.size_distribution(widths, heights, labels=np.arange(200) % 2))
    assert len(fig.axes) == 3
    scatter = fig.axes[0]
    assert len(scatter.collections) == 2  # one point cloud per class
    assert sum(len(c.get_offsets()) for c in scatter.collections) == 200
    assert len(_drawn(plots.size_distribution([300, 400], [200, 400])).axes[0].collections) == 1
    with pytest.raises(ValueError, match="same length"):
        plots.size_distribution([1, 2], [1])


def test_class_counts_flat_and_grouped() -> None:
    fig = _drawn(plots.class_counts({"cats": 4000, "dogs": 3990}, title="counts"))
    ax = fig.axes[0]
    assert [round(p.get_height()) for p in ax.patches] == [4000, 3990]
    assert [t.get_text() for t in ax.texts] == ["4,000", "3,990"]
    grouped = _drawn(
        plots.class_counts(
            {"training_set": {"cats": 4000, "dogs": 4000}, "test_set": {"cats": 1000, "dogs": 1000}}
        )
    )
    ax = grouped.axes[0]
    assert len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["training_set", "test_set"]
    with pytest.raises(ValueError, match="empty"):
        plots.class_counts({})


def test_augmentation_demo_with_a_plain_callable() -> None:
    calls = []

    def flip(batch: np.ndarray, training: bool = False) -> np.ndarray:
        calls.append((batch.shape, training))
        return batch[:, :, ::-1]

    photo = _photos(1, 16)[0]
    fig = _drawn(plots.augmentation_demo(photo, flip, n=3))
    assert len(fig.axes) == 4
    assert calls == [((3, 16, 16, 3), True)]
    assert _titles(fig)[0] == "original"
    shown = fig.axes[1].get_images()[0].get_array()
    np.testing.assert_allclose(shown, photo[:, ::-1] / 255.0, atol=1e-6)
    two_rows = plots.augmentation_demo(_photos(2, 16), flip, n=2)
    assert len(two_rows.axes) == 6


def test_augmentation_demo_with_the_original_augmentation(
    real_photos: list[np.ndarray],
) -> None:
    from catdog_utils import models

    photo = real_photos[0][:64, :64]
    fig = _drawn(plots.augmentation_demo(photo, models.build_original_augmentation(seed=1), n=2))
    assert len(fig.axes) == 3
    assert fig.axes[1].get_images()[0].get_array().shape == photo.shape


def test_feature_maps_one_panel_per_channel() -> None:
    acts = RNG.random((1, 10, 10, 32)).astype(np.float32)
    fig = _drawn(plots.feature_maps(acts, n=12, ncols=6))
    assert len(fig.axes) == 12
    np.testing.assert_allclose(fig.axes[5].get_images()[0].get_array(), acts[0, :, :, 5])
    assert len(plots.feature_maps(acts[0], n=100).axes) == 32
    with pytest.raises(ValueError, match="one image"):
        plots.feature_maps(np.zeros((2, 4, 4, 3)))


def test_filters_colour_and_single_channel() -> None:
    kernel = RNG.normal(size=(3, 3, 3, 32)).astype(np.float32)
    fig = _drawn(plots.filters([kernel, np.zeros(32)], n=8))
    assert len(fig.axes) == 8
    shown = fig.axes[0].get_images()[0].get_array()
    assert shown.shape == (3, 3, 3)
    assert float(shown.min()) == pytest.approx(0.0) and float(shown.max()) == pytest.approx(1.0)
    deep = _drawn(plots.filters(RNG.normal(size=(3, 3, 32, 16)), n=None, input_channel=2))
    assert len(deep.axes) == 16
    assert deep.axes[0].get_images()[0].get_array().shape == (3, 3)


def test_annotated_matrix_writes_every_value() -> None:
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    fig = _drawn(plots.annotated_matrix(sobel, title="edges", fmt="{:+.0f}"))
    assert [t.get_text() for t in fig.axes[0].texts] == [
        "-1",
        "+0",
        "+1",
        "-2",
        "+0",
        "+2",
        "-1",
        "+0",
        "+1",
    ]


def test_parameter_breakdown_shares() -> None:
    fig = _drawn(plots.parameter_breakdown(["conv1", "pool1", "dense"], [896, 0, 802_944]))
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == ["896 (0.1%)", "0 (0.0%)", "802,944 (99.9%)"]


def test_learning_curves_two_panels_and_best_epoch() -> None:
    history = {
        "loss": [0.7, 0.5, 0.4],
        "val_loss": [0.69, 0.55, 0.6],
        "accuracy": [0.5, 0.7, 0.8],
        "val_accuracy": [0.52, 0.72, 0.7],
    }
    fig = _drawn(plots.learning_curves(history, title="run"))
    assert _titles(fig) == ["loss", "accuracy"]
    loss_ax, acc_ax = fig.axes
    legend = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert "best: epoch 2 (0.550)" in legend
    acc_legend = [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert "best: epoch 2 (0.720)" in acc_legend and "chance" in acc_legend
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [1, 2, 3])


def test_learning_curves_accepts_a_history_object_and_skips_missing() -> None:
    class FakeHistory:
        history = {"loss": [1.0, 0.8]}

    fig = _drawn(plots.learning_curves(FakeHistory()))
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="none of"):
        plots.learning_curves({"auc": [0.5]})


def test_compare_histories_one_line_per_run() -> None:
    runs = {"a": {"val_accuracy": [0.6, 0.7]}, "b": {"val_accuracy": [0.5, 0.8, 0.85]}}
    fig = _drawn(plots.compare_histories(runs))
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="no 'val_loss'"):
        plots.compare_histories(runs, metric="val_loss")


def test_experiments_bar() -> None:
    fig = _drawn(
        plots.experiments_bar(
            ["baseline", "augment", "bigger"],
            [0.78, 0.83, 0.86],
            errors=[0.01, 0.01, 0.02],
            baseline=0.78,
            highlight="bigger",
        )
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.780", "0.830", "0.860"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["baseline", "augment", "bigger"]
    assert ax.patches[2].get_facecolor() != ax.patches[0].get_facecolor()
    log = _drawn(plots.experiments_bar(["a", "b"], [10, 10_000], log_scale=True, xlabel="s"))
    assert log.axes[0].get_xscale() == "log"
    with pytest.raises(ValueError, match="same length"):
        plots.experiments_bar(["a"], [1, 2])


def test_confusion_matrix_counts_and_row_shares() -> None:
    fig = _drawn(plots.confusion_matrix(np.array([[90, 10], [30, 70]]), ("cats", "dogs")))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["90\n90.0%", "10\n10.0%", "30\n30.0%", "70\n70.0%"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cats", "dogs"]
    assert ax.get_ylabel() == "true" and ax.get_xlabel() == "predicted"
    with pytest.raises(ValueError, match="square"):
        plots.confusion_matrix(np.zeros((2, 3)))


def test_roc_curve_and_curves() -> None:
    fpr, tpr = np.array([0, 0.1, 0.4, 1]), np.array([0, 0.6, 0.9, 1])
    fig = _drawn(plots.roc_curve(fpr, tpr, 0.85, operating_point=(0.1, 0.6)))
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # curve, operating point, chance diagonal
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "model (AUC 0.850)"
    two = _drawn(plots.roc_curves({"a": (fpr, tpr, 0.85), "b": (fpr, tpr, None)}))
    assert len(two.axes[0].lines) == 3


def test_probability_histogram_and_reliability() -> None:
    probs = np.array([0.1, 0.2, 0.9, 0.8, 0.6, 0.4])
    labels = np.array([0, 0, 1, 1, 0, 1])
    fig = _drawn(plots.probability_histogram(probs, labels, bins=5))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["true cats (3)", "true dogs (3)", "threshold 0.5"]
    probs = np.array([0.1, 0.15, 0.5, 0.55, 0.9, 0.95])
    labels = np.array([0, 0, 0, 1, 1, 1])
    rel = _drawn(plots.reliability_diagram(probs, labels, n_bins=5))
    heights = [p.get_height() for p in rel.axes[0].patches]
    # 0-0.2: two cats; 0.4-0.6: a cat and a dog; 0.8-1: two dogs; the other bins are empty
    np.testing.assert_allclose(heights, [0.0, np.nan, 0.5, np.nan, 1.0])


def test_image_grid_with_probs_colours_mistakes(real_photos: list[np.ndarray]) -> None:
    fig = _drawn(plots.image_grid_with_probs(real_photos, [0, 1], [0.97, 0.8], ncols=2))
    cat_ax, dog_ax = fig.axes
    assert cat_ax.get_title() == "dog 97%\ntrue: cat"
    assert matplotlib.colors.same_color(cat_ax.title.get_color(), plots.WRONG_COLOR)
    assert dog_ax.get_title() == "dog 80%"
    assert matplotlib.colors.same_color(dog_ax.title.get_color(), plots.RIGHT_COLOR)
    unknown = plots.image_grid_with_probs(real_photos, None, [0.1, 0.5])
    assert _titles(unknown) == ["cat 90%", "dog 50%"]
    with pytest.raises(ValueError, match="2 images but 1"):
        plots.image_grid_with_probs(real_photos, None, [0.1])


def test_overlay_heatmap_resizes_and_blends() -> None:
    photo = np.full((40, 60, 3), 200, dtype=np.uint8)
    heat = np.zeros((5, 5), dtype=np.float32)
    out = plots.overlay_heatmap(photo, heat, alpha=0.0)
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, photo)
    hot = plots.overlay_heatmap(photo, np.ones((5, 5)), alpha=1.0)
    red_end = np.rint(np.array(matplotlib.colormaps["jet"](1.0)[:3]) * 255)
    np.testing.assert_array_equal(hot[0, 0], red_end)
    with pytest.raises(ValueError, match="alpha"):
        plots.overlay_heatmap(photo, heat, alpha=2)


def test_gradcam_overlay_and_grid(real_photos: list[np.ndarray]) -> None:
    heat = RNG.random((14, 14))
    fig = _drawn(plots.gradcam_overlay(real_photos[0], heat, alpha=0.5, title="cat 91%"))
    assert len(fig.axes) == 3
    assert fig.axes[2].get_images()[0].get_array().shape == real_photos[0].shape
    grid = _drawn(plots.gradcam_grid(real_photos, [heat, heat], titles=["a", "b"]))
    assert _titles(grid) == ["a", "b"]
    with pytest.raises(ValueError, match="heatmaps"):
        plots.gradcam_grid(real_photos, [heat])


def test_threshold_curve_counts_each_kind_of_mistake() -> None:
    probs = np.array([0.1, 0.4, 0.6, 0.9])
    labels = np.array([0, 1, 0, 1])
    fig = _drawn(plots.threshold_curve(probs, labels, marked={"0.5": 0.5, "best": 0.55}))
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    x = lines["accuracy (%)"].get_xdata()
    at = int(np.flatnonzero(np.isclose(x, 0.5))[0])
    # at 0.5: the cat at 0.6 is called dog, the dog at 0.4 is called cat
    assert lines["cats called dog (% of cats)"].get_ydata()[at] == 50
    assert lines["dogs called cat (% of dogs)"].get_ydata()[at] == 50
    assert lines["accuracy (%)"].get_ydata()[at] == 50
    assert lines["accuracy (%)"].get_ydata()[0] == 50  # threshold 0: everything is a dog
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.5", "best"]


def test_error_bars_mean_and_standard_error() -> None:
    fig = _drawn(plots.error_bars({"a": [1.0, 3.0], "b": [0.5, 0.5, 0.5]}, xlabel="drop"))
    bars = fig.axes[0].patches
    assert [round(b.get_width(), 6) for b in bars] == [2.0, 0.5]
    from matplotlib.container import ErrorbarContainer

    ticks = {t.get_text(): t.get_position()[1] for t in fig.axes[0].get_yticklabels()}
    assert ticks["a"] > ticks["b"]  # the first sample on top
    bars_errors = next(c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer))
    spans = [seg[1][0] - seg[0][0] for seg in bars_errors.lines[2][0].get_segments()]
    assert np.allclose(spans, [2 * 1.0, 0.0])  # std 1.414 / sqrt(2) = 1.0 either side; none
