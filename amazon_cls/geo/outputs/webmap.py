"""`<scene>_map.html`: the scene and its chips in the browser, offline (`geo.web`): the scene's
picture, each chip's cell coloured by the most alarming label it shows (none: outlined only),
and a popup with its tags and most likely labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amazon_cls.core.labels import ALARMS, LABELS, alarm_of
from amazon_cls.geo.grid import cells_frame
from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult
from amazon_cls.geo.outputs.geojson import wgs84
from amazon_cls.geo.outputs.preview import COLOURS
from amazon_cls.store.atomic import write_text

FIELDS = [("row", "row"), ("col", "col"), ("type", "most alarming"), ("tags", "tags"), ("likely", "most likely")]


def likely(probs: np.ndarray, count: int = 3) -> str:
    """The `count` most likely labels of a chip with their probabilities."""
    return ", ".join(f"{LABELS[k]} {probs[k]:.2f}" for k in np.argsort(-probs)[:count])


def write_map_page(path: Path, result: SceneResult) -> Path:
    from amazon_cls.geo.web import VectorLayer, overlay_of, page, picture

    kinds = [alarm_of(labels) or "none" for labels in result.labels]
    cells = cells_frame(
        result.scene, result.grid, result.cells, tags=result.tags(), type=kinds, likely=list(map(likely, result.probs))
    )  # `type`: what the page colours by, as it colours alerts
    collection = wgs84(cells).to_geo_dict(drop_id=True)
    scene = result.scene
    overlay = overlay_of(scene.path.name, picture(scene), scene.footprint)
    notes = f"{len(result.cells)} chips; {sum(kind != 'none' for kind in kinds)} show a label people look for"
    layer = VectorLayer("chips", collection, FIELDS)
    return write_text(path, page(scene.path.name, [layer], [overlay], {k: COLOURS[k] for k in ALARMS}, None, notes))


OUTPUTS.register("html")(Output("_map.html", write_map_page))
