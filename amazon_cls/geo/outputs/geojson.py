"""`<scene>_chips.geojson`: one polygon per predicted chip's cell (`geo.grid`: the stride square
around its centre, clipped to the scene) in EPSG:4326, counter-clockwise as RFC 7946 asks, with
row, col, tags, `alarm` (the most alarming label people look for, or none), one `is_<label>` per
label and the 17 probabilities; the scene and its own CRS and transform are recorded beside the
features. Its QGIS style beside it (`_chips.qml`) fills each cell by its alarm in the preview's
palette and leaves the others clear."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import shapely

from amazon_cls.core.labels import ALARMS, LABELS, PROB_COLUMNS, alarm_of
from amazon_cls.geo.grid import cells_frame
from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult
from amazon_cls.geo.outputs.preview import COLOURS
from amazon_cls.geo.styles import alerts_qml
from amazon_cls.store.atomic import write_text

WGS84 = "EPSG:4326"


def result_frame(result: SceneResult) -> gpd.GeoDataFrame:
    """The scene's cells with what was predicted of them: tags, a flag per label, the probabilities."""
    flags = {f"is_{label}": result.labels[:, k].astype(bool) for k, label in enumerate(LABELS)}
    probs = dict(zip(PROB_COLUMNS, result.probs.T, strict=True))
    alarms = [alarm_of(labels) or "none" for labels in result.labels]
    return cells_frame(result.scene, result.grid, result.cells, tags=result.tags(), alarm=alarms, **flags, **probs)


def wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame in EPSG:4326, its rings counter-clockwise (whichever way the scene's rows run)."""
    frame = frame.to_crs(WGS84)
    return frame.set_geometry(shapely.orient_polygons(frame.geometry.array, exterior_cw=False))


def write_geojson(path: Path, result: SceneResult) -> Path:
    collection = json.loads(wgs84(result_frame(result)).to_json(drop_id=True))
    collection.pop("crs", None)  # RFC 7946: EPSG:4326 without saying so
    collection.update(
        scene=str(result.scene.path),
        scene_crs=result.scene.crs.to_string(),
        scene_transform=list(result.scene.transform)[:6],
    )
    write_text(path.with_suffix(".qml"), alerts_qml({k: COLOURS[k] for k in ALARMS}, None, attr="alarm"))
    return write_text(path, json.dumps(collection, allow_nan=False))


OUTPUTS.register("chips")(Output("_chips.geojson", write_geojson, sidecars=("_chips.qml",)))
