"""A first look at a data set (`python -m amazon_cls.eda`): PNG plots (label frequency on a log
scale with the rare labels highlighted, label co-occurrence, mean colour per label, example chips
per label) and a markdown summary."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from amazon_cls.core.labels import LABEL_INDEX, LABELS, RARE, WEATHER
from amazon_cls.data.decode import load_chip, read_chip
from amazon_cls.data.layout import Layout, read_labels
from amazon_cls.data.sources import Source
from amazon_cls.store.atomic import write_text
from amazon_cls.store.figures import new_figure, save_figure
from amazon_cls.store.report_folders import EdaFolder

log = logging.getLogger(__name__)
COLOUR_SIZE = 32  # mean colours from chips decoded at 1/8 scale: the same means, 30x less work


def save(figure: Figure, path: Path) -> Path:
    return save_figure(figure, path, dpi=110)


def plot_frequency(counts: np.ndarray, chips: int, path: Path) -> Path:
    figure, axes = new_figure(figsize=(9, 4))
    colours = ["tab:red" if label in RARE else "tab:blue" for label in LABELS]
    axes.bar(LABELS, counts, color=colours)
    axes.set_yscale("log")
    axes.set_ylabel(f"chips (of {chips:,})")
    axes.set_title("Label frequency (rare labels in red)")
    axes.tick_params(axis="x", rotation=60)
    return save(figure, path)


def plot_cooccurrence(targets: np.ndarray, path: Path) -> Path:
    """Row i, column j: the share of chips with label i that also carry label j."""
    together = targets.T @ targets
    share = together / np.maximum(np.diag(together)[:, None], 1)
    figure, axes = new_figure(figsize=(8, 7))
    image = axes.imshow(share, cmap="viridis", vmin=0, vmax=1)
    axes.set_xticks(range(len(LABELS)), LABELS, rotation=75)
    axes.set_yticks(range(len(LABELS)), LABELS)
    axes.set_title("P(column label | row label)")
    figure.colorbar(image, ax=axes, fraction=0.046)
    return save(figure, path)


def plot_mean_colours(means: np.ndarray, path: Path) -> Path:
    figure, axes = new_figure(figsize=(9, 3.5))
    for channel, colour in enumerate(("red", "green", "blue")):
        axes.bar(np.arange(len(LABELS)) + (channel - 1) * 0.27, means[:, channel], width=0.27, color=colour)
    axes.scatter(range(len(LABELS)), np.full(len(LABELS), -12), c=np.clip(means / 255, 0, 1), s=180, marker="s")
    axes.set_xticks(range(len(LABELS)), LABELS, rotation=60)
    axes.set_ylabel("mean level (0-255)")
    axes.set_title("Mean colour of the chips carrying each label (swatch below)")
    return save(figure, path)


def plot_examples(
    paths: list[Path], source: Source, targets: np.ndarray, path: Path, per_label: int = 6, seed: int = 0
) -> Path:
    rng = np.random.default_rng(seed)
    figure, axes = new_figure(len(LABELS), per_label, figsize=(per_label * 1.3, len(LABELS) * 1.35))
    for row, label in enumerate(LABELS):
        carriers = np.flatnonzero(targets[:, row])
        chosen = rng.choice(carriers, size=min(per_label, len(carriers)), replace=False) if len(carriers) else []
        for column in range(per_label):
            axes[row, column].axis("off")
            if column < len(chosen):
                axes[row, column].imshow(load_chip(paths[chosen[column]], 128, source)[..., list(source.rgb)])
        axes[row, 0].set_title(label, fontsize=8, loc="left")
    return save(figure, path)


def summary_markdown(root: Path, names: list[str], targets: np.ndarray, size: tuple[int, ...]) -> str:
    counts = targets.sum(axis=0).astype(int)
    weather = targets[:, [LABEL_INDEX[w] for w in WEATHER]].sum(axis=1)
    cloudy_extra = targets[targets[:, LABEL_INDEX["cloudy"]] == 1].sum(axis=1) - 1
    rows = "\n".join(
        f"| {label} | {count:,} | {100 * count / len(names):.2f}% | {'rare' if label in RARE else ''} |"
        for label, count in zip(LABELS, counts, strict=True)
    )
    return (
        f"# Data set summary: {root}\n\n{len(names):,} labelled chips of {size[0]}x{size[1]} px; "
        f"{targets.sum(axis=1).mean():.2f} labels per chip on average.\n\n"
        f"- chips with exactly one weather label: {int((weather == 1).sum()):,}; with none: "
        f"{int((weather == 0).sum()):,}; with several: {int((weather > 1).sum()):,}\n"
        f"- cloudy chips that carry another label: {int((cloudy_extra > 0).sum()):,}\n\n"
        f"| label | chips | share | |\n|---|---|---|---|\n{rows}\n\n"
        "Plots: `label_frequency.png`, `cooccurrence.png`, `mean_colour.png`, `examples.png`.\n"
    )


def write_report(layout: Layout, output_dir: Path) -> Path:
    names, targets = read_labels(layout.labels_path)
    paths = list(layout.chip_paths(names))
    source, rgb = layout.source, list(layout.source.rgb)
    with ThreadPoolExecutor() as pool:
        chip_means = np.array(
            list(pool.map(lambda p: load_chip(p, COLOUR_SIZE, source)[..., rgb].mean(axis=(0, 1)), paths, chunksize=64))
        )
    label_means = (targets.T @ chip_means) / np.maximum(targets.sum(axis=0)[:, None], 1)
    folder = EdaFolder(output_dir)
    plot_frequency(targets.sum(axis=0), len(names), folder.label_frequency)
    plot_cooccurrence(targets, folder.cooccurrence)
    plot_mean_colours(label_means, folder.mean_colour)
    plot_examples(paths, source, targets, folder.examples)
    size = read_chip(paths[0], source).shape if paths else (0, 0)
    return write_text(folder.summary, summary_markdown(layout.root, names, targets, size))
