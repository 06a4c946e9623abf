"""What `map` writes for a scene, in formats GIS tools open (QGIS, GDAL, geopandas):

<scene>_chips.geojson  one polygon per predicted chip, EPSG:4326; row, col, tags, 17 probabilities
<scene>_labels.tif     17 bands of probabilities at chip resolution, the scene's CRS; nodata -1
<scene>_preview.png    the scene's RGB with chips coloured by the labels people look for
<scene>_summary.csv    chips per label and the area they cover, in hectares
<scene>_map.json       the settings and summary, written last: the scene is done
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as reproject_points

from amazon_cls.data.scene import Grid, Scene, read_reduced
from amazon_cls.io import atomic_path, write_atomic, write_csv, write_json
from amazon_cls.labels import LABEL_INDEX, LABELS, PROB_COLUMNS, vector_to_tags

NODATA = -1.0
WGS84 = CRS.from_epsg(4326)
EQUAL_AREA = CRS.from_epsg(6933)  # areas of chips in a geographic CRS
PREVIEW_SIDE = 1024  # pixels of the preview's longer side, at most
# What people look for, most alarming first: a chip takes the colour of the first it shows.
CATEGORIES: dict[str, tuple[tuple[str, ...], str]] = {
    "mines": (("artisinal_mine", "conventional_mine"), "#e41a1c"),
    "slash_burn": (("slash_burn",), "#ff7f00"),
    "selective_logging": (("selective_logging",), "#984ea3"),
    "clearings": (("bare_ground", "blow_down"), "#ffff33"),
    "habitation": (("habitation",), "#f781bf"),
    "road": (("road",), "#00e5ff"),
    "agriculture": (("agriculture", "cultivation"), "#a6d854"),
}
SUFFIXES = {"chips": "_chips.geojson", "labels": "_labels.tif", "preview": "_preview.png", "summary": "_summary.csv"}
DONE = "_map.json"


@dataclass
class SceneResult:
    """A scene's predicted chips: their grid cells, probabilities and 0/1 labels."""

    scene: Scene
    grid: Grid
    cells: list[tuple[int, int]]
    probs: np.ndarray  # chips x labels
    labels: np.ndarray  # chips x labels, 0/1

    def tags(self) -> list[str]:
        return [vector_to_tags(row) for row in self.labels]

    def cell_pixels(self) -> np.ndarray:
        """Each chip's window as (col_off, row_off, size) in scene pixels."""
        return np.array([(c * self.grid.step, r * self.grid.step, self.grid.window_size) for r, c in self.cells])


def output_paths(output_dir: Path, scene: Path) -> dict[str, Path]:
    return {key: output_dir / f"{scene.stem}{suffix}" for key, suffix in {**SUFFIXES, "done": DONE}.items()}


def chip_polygons(scene: Scene, pixels: np.ndarray) -> np.ndarray:
    """Chip outlines in EPSG:4326 (chips x 5 corners x lon/lat), counter-clockwise as RFC 7946 asks."""
    col, row, size = pixels[:, 0:1], pixels[:, 1:2], pixels[:, 2:3]
    cols = np.hstack([col, col + size, col + size, col, col])  # lower left, lower right, upper right, ...
    rows = np.hstack([row + size, row + size, row, row, row + size])
    xs, ys = scene.transform @ (cols.ravel(), rows.ravel())
    lons, lats = reproject_points(scene.crs, WGS84, list(np.ravel(xs)), list(np.ravel(ys)))
    return np.stack([np.reshape(lons, cols.shape), np.reshape(lats, cols.shape)], axis=-1)


def write_geojson(path: Path, result: SceneResult) -> Path:
    polygons = chip_polygons(result.scene, result.cell_pixels())
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring.tolist()]},
            "properties": {"row": row, "col": col, "tags": tags, **dict(zip(PROB_COLUMNS, p.tolist(), strict=True))},
        }
        for (row, col), tags, p, ring in zip(result.cells, result.tags(), result.probs, polygons, strict=True)
    ]  # fmt: skip
    collection = {
        "type": "FeatureCollection",
        "scene": str(result.scene.path),
        "scene_crs": result.scene.crs.to_string(),  # GeoJSON coordinates are EPSG:4326; the scene's own CRS
        "scene_transform": list(result.scene.transform)[:6],
        "features": features,
    }
    return write_atomic(path, lambda tmp: tmp.write_text(json.dumps(collection)))


def label_transform(scene: Scene, grid: Grid) -> Affine:
    """The scene's transform with pixels the size of the stride: pixel (row, col) is chip (row, col)."""
    return scene.transform @ Affine.scale(grid.step)


def write_label_raster(path: Path, result: SceneResult) -> Path:
    bands = np.full((len(LABELS), result.grid.rows, result.grid.cols), NODATA, np.float32)
    rows, cols = np.array(result.cells).T if result.cells else (np.zeros(0, int), np.zeros(0, int))
    bands[:, rows, cols] = result.probs.T
    profile = {
        "driver": "GTiff", "width": result.grid.cols, "height": result.grid.rows, "count": len(LABELS),
        "dtype": "float32", "crs": result.scene.crs, "transform": label_transform(result.scene, result.grid),
        "nodata": NODATA, "compress": "deflate",
    }  # fmt: skip
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as raster:
        raster.write(bands)
        for index, label in enumerate(LABELS, start=1):
            raster.set_band_description(index, label)
        raster.update_tags(chip_size=result.grid.window_size, stride=result.grid.step, source=str(result.scene.path))
    return path


def chip_area_hectares(scene: Scene, grid: Grid, cells: Sequence[tuple[int, int]]) -> np.ndarray:
    """Each chip's own cell (stride x stride, so overlapping chips count once) in hectares: in the
    scene's projected units, or on an equal-area projection for a geographic CRS."""
    if scene.crs.is_projected:
        metres = scene.crs.linear_units_factor[1]
        return np.full(len(cells), abs(scene.transform.determinant) * grid.step**2 * metres**2 / 1e4)
    pixels = np.array([(c * grid.step, r * grid.step, grid.step) for r, c in cells])
    corners = chip_polygons(scene, pixels)[:, :4]
    xs, ys = reproject_points(WGS84, EQUAL_AREA, corners[..., 0].ravel().tolist(), corners[..., 1].ravel().tolist())
    xs, ys = np.reshape(xs, (-1, 4)), np.reshape(ys, (-1, 4))
    shoelace = 0.5 * np.abs((xs * np.roll(ys, -1, axis=1) - np.roll(xs, -1, axis=1) * ys).sum(axis=1))
    return shoelace / 1e4


def summary_table(result: SceneResult) -> pd.DataFrame:
    area = chip_area_hectares(result.scene, result.grid, result.cells)
    positive = result.labels.astype(bool)
    return pd.DataFrame(
        {"label": list(LABELS), "chips": positive.sum(0), "hectares": [area[column].sum() for column in positive.T]}
    )


def preview_rgb(scene: Scene) -> np.ndarray:
    """The scene's RGB at most PREVIEW_SIDE pixels on a side; 16-bit bands stretched between
    their 2nd and 98th percentiles for the eye."""
    shrink = max(1.0, max(scene.width, scene.height) / PREVIEW_SIDE)
    bands = list(scene.bands[:3])
    rgb = read_reduced(scene, shrink, lambda source, window: source.read(bands, window=window), cv2.INTER_AREA)
    if rgb.dtype != np.uint8:
        low, high = np.percentile(rgb, [2, 98], axis=(0, 1), keepdims=True)
        rgb = np.clip((rgb - low) / np.maximum(high - low, 1) * 255, 0, 255).astype(np.uint8)
    return rgb


def category_of(labels: np.ndarray) -> str | None:
    for name, (members, _) in CATEGORIES.items():
        if any(labels[LABEL_INDEX[label]] for label in members):
            return name
    return None


def write_preview(path: Path, result: SceneResult) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Patch, Rectangle

    scene, rgb = result.scene, preview_rgb(result.scene)
    figure, axes = plt.subplots(figsize=(10, 10 * rgb.shape[0] / rgb.shape[1] + 1.2), dpi=100)
    axes.imshow(rgb, extent=(0, scene.width, scene.height, 0))
    squares = [Rectangle((col, row), size, size) for col, row, size in result.cell_pixels()]
    categories = [category_of(labels) for labels in result.labels]
    # one collection per layer: a scene of 100,000 chips draws as fast as one of 100
    axes.add_collection(PatchCollection(squares, facecolor="none", edgecolor="white", linewidth=0.3, alpha=0.5))
    coloured = [(square, CATEGORIES[c][1]) for square, c in zip(squares, categories, strict=True) if c]
    if coloured:
        shapes, colours = zip(*coloured, strict=True)
        axes.add_collection(PatchCollection(shapes, facecolor=colours, edgecolor="none", alpha=0.3))
        axes.add_collection(PatchCollection(shapes, facecolor="none", edgecolor=colours, linewidth=1.2))
    axes.set_xlim(0, scene.width)
    axes.set_ylim(scene.height, 0)
    axes.set_axis_off()
    legend = [
        Patch(facecolor=colour, alpha=0.6, label=f"{name} ({', '.join(members)}): {categories.count(name)}")
        for name, (members, colour) in CATEGORIES.items()
    ]
    axes.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=8, frameon=False,
                title="a chip takes the colour of the first of its labels in this list", title_fontsize=8)  # fmt: skip
    axes.set_title(f"{scene.path.name}: {len(result.cells)} chips predicted, {result.grid.skipped} skipped (nodata)")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(figure)
    return path


def write_outputs(paths: dict[str, Path], result: SceneResult, settings: dict) -> pd.DataFrame:
    """Every output of a scene; the record of what made them comes last, once they all exist."""
    write_geojson(paths["chips"], result)
    write_label_raster(paths["labels"], result)
    write_preview(paths["preview"], result)
    summary = summary_table(result)
    write_csv(paths["summary"], summary)
    counts = {"chips": len(result.cells), "skipped": result.grid.skipped, "grid": [result.grid.rows, result.grid.cols]}
    write_json(paths["done"], {"settings": settings, **counts})
    return summary


def finished(paths: dict[str, Path], settings: dict) -> bool:
    """This scene was mapped with these settings, and every output is there."""
    if not paths["done"].is_file() or not all(p.is_file() for p in paths.values()):
        return False
    return json.loads(paths["done"].read_text()).get("settings") == settings
