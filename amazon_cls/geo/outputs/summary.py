"""`<scene>_summary.csv`: chips per label and the area they cover, in hectares (each chip's own
stride x stride cell, so overlapping chips count once)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rasterio.crs import CRS
from rasterio.warp import transform as reproject_points

from amazon_cls.core.labels import LABELS
from amazon_cls.geo.grid import Grid
from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult
from amazon_cls.geo.outputs.geojson import WGS84, chip_polygons
from amazon_cls.geo.scene import Scene
from amazon_cls.store.atomic import write_csv

EQUAL_AREA = CRS.from_epsg(6933)  # areas of chips in a geographic CRS


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


def write_summary(path: Path, result: SceneResult) -> Path:
    return write_csv(path, summary_table(result))


OUTPUTS.register("summary")(Output("_summary.csv", write_summary))
