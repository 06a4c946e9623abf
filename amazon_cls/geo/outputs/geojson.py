"""`<scene>_chips.geojson`: one polygon per predicted chip in EPSG:4326 (as GeoJSON requires),
counter-clockwise (RFC 7946), with row, col, tags and the 17 probabilities; the scene's own CRS
and transform are recorded beside the features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rasterio.crs import CRS
from rasterio.warp import transform as reproject_points

from amazon_cls.core.labels import PROB_COLUMNS
from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult
from amazon_cls.geo.scene import Scene
from amazon_cls.store.atomic import write_text

WGS84 = CRS.from_epsg(4326)


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
    return write_text(path, json.dumps(collection, allow_nan=False))


OUTPUTS.register("chips")(Output("_chips.geojson", write_geojson))
