"""`<scene>_preview.png`: the scene's RGB with each chip coloured by the most alarming label people
look for (`core.labels.ALARMS`), and a legend with the counts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.patches import Patch, Rectangle

from amazon_cls.core.labels import ALARMS, alarm_of
from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult
from amazon_cls.geo.scene import Scene, read_reduced
from amazon_cls.store.figures import new_figure, save_figure

PREVIEW_SIDE = 1024  # pixels of the preview's longer side, at most
COLOURS = {
    "mines": "#e41a1c",
    "slash_burn": "#ff7f00",
    "selective_logging": "#984ea3",
    "clearings": "#ffff33",
    "habitation": "#f781bf",
    "road": "#00e5ff",
    "agriculture": "#a6d854",
}


def preview_rgb(scene: Scene) -> np.ndarray:
    """The scene's RGB at most PREVIEW_SIDE pixels on a side; 16-bit bands stretched between
    their 2nd and 98th percentiles for the eye."""
    shrink = max(1.0, max(scene.width, scene.height) / PREVIEW_SIDE)
    bands = scene.rgb
    rgb = read_reduced(scene, shrink, lambda raster, window: raster.read(bands, window=window), cv2.INTER_AREA)
    if rgb.dtype != np.uint8:
        low, high = np.percentile(rgb, [2, 98], axis=(0, 1), keepdims=True)
        rgb = np.clip((rgb - low) / np.maximum(high - low, 1) * 255, 0, 255).astype(np.uint8)
    return rgb


def write_preview(path: Path, result: SceneResult) -> Path:
    scene, rgb = result.scene, preview_rgb(result.scene)
    figure, axes = new_figure(figsize=(10, 10 * rgb.shape[0] / rgb.shape[1] + 1.2), dpi=100)
    axes.imshow(rgb, extent=(0, scene.width, scene.height, 0))
    squares = [Rectangle((left, top), right - left, bottom - top) for left, top, right, bottom in result.cell_boxes()]
    categories = [alarm_of(labels) for labels in result.labels]
    # one collection per layer: a scene of 100,000 chips draws as fast as one of 100
    axes.add_collection(PatchCollection(squares, facecolor="none", edgecolor="white", linewidth=0.3, alpha=0.5))
    coloured = [(square, COLOURS[c]) for square, c in zip(squares, categories, strict=True) if c]
    if coloured:
        shapes, colours = zip(*coloured, strict=True)
        axes.add_collection(PatchCollection(shapes, facecolor=colours, edgecolor="none", alpha=0.3))
        axes.add_collection(PatchCollection(shapes, facecolor="none", edgecolor=colours, linewidth=1.2))
    axes.set_xlim(0, scene.width)
    axes.set_ylim(scene.height, 0)
    axes.set_axis_off()
    legend = [
        Patch(facecolor=COLOURS[name], alpha=0.6, label=f"{name} ({', '.join(members)}): {categories.count(name)}")
        for name, members in ALARMS.items()
    ]
    axes.legend(
        handles=legend,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncol=2,
        fontsize=8,
        frameon=False,
        title="a chip takes the colour of the first of its labels in this list",
        title_fontsize=8,
    )
    axes.set_title(f"{scene.path.name}: {len(result.cells)} chips predicted, {result.grid.skipped} skipped (nodata)")
    return save_figure(figure, path)


OUTPUTS.register("preview")(Output("_preview.png", write_preview))
