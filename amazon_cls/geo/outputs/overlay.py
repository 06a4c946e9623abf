"""`<scene>_preview.tif` (`outputs=[...,overlay]`): the preview as a georeferenced RGB GeoTIFF,
the scene at most 1024 px on a side with each cell tinted by its most alarming label, to lay
over a basemap in QGIS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from amazon_cls.core.labels import alarm_of
from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult
from amazon_cls.geo.outputs.classes import rgb_of
from amazon_cls.geo.outputs.preview import COLOURS, preview_rgb
from amazon_cls.store.atomic import atomic_path

TINT = 0.35  # how much of a cell's colour shows over the scene


def write_overlay(path: Path, result: SceneResult) -> Path:
    scene = result.scene
    rgb = preview_rgb(scene).astype(np.float32)
    sx, sy = scene.width / rgb.shape[1], scene.height / rgb.shape[0]  # scene pixels per preview pixel
    for (left, top, right, bottom), labels in zip(result.cell_boxes(), result.labels, strict=True):
        if alarm := alarm_of(labels):
            rows, cols = (
                slice(int(top / sy), int(np.ceil(bottom / sy))),
                slice(int(left / sx), int(np.ceil(right / sx))),
            )
            rgb[rows, cols] = (1 - TINT) * rgb[rows, cols] + TINT * np.asarray(rgb_of(COLOURS[alarm])[:3])
    profile = {
        "driver": "GTiff",
        "width": rgb.shape[1],
        "height": rgb.shape[0],
        "count": 3,
        "dtype": "uint8",
        "crs": scene.crs,
        "transform": scene.transform * Affine.scale(sx, sy),
        "compress": "deflate",
        "photometric": "RGB",
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as raster:
        raster.write(np.clip(rgb, 0, 255).astype(np.uint8).transpose(2, 0, 1))
    return path


OUTPUTS.register("overlay")(Output("_preview.tif", write_overlay))
