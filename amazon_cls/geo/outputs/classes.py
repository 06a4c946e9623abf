"""`<scene>_classes.tif`: one byte per cell, the most alarming of the labels people look for that
the cell shows (`core.labels.ALARMS`: 1 mines, 2 slash_burn, ... 7 agriculture; 0 none of them,
transparent; 255 skipped), with a colour table, its QGIS style beside it (`_classes.qml`: the
palette with each class's name) and GDAL's category names (`_classes.tif.aux.xml`), so QGIS draws
it as the preview does, with a legend that reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from amazon_cls.core.labels import ALARMS, alarm_of
from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult
from amazon_cls.geo.outputs.preview import COLOURS
from amazon_cls.geo.styles import PaletteEntry, category_names_aux, palette_qml
from amazon_cls.store.atomic import atomic_path, write_text

NONE, SKIPPED = 0, 255
CLASSES = {name: k for k, name in enumerate(ALARMS, start=1)}


def rgb_of(colour: str) -> tuple[int, int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255)


def write_classes(path: Path, result: SceneResult) -> Path:
    grid = result.grid
    classes = np.full((grid.rows, grid.cols), SKIPPED, np.uint8)
    for (row, col), labels in zip(result.cells, result.labels, strict=True):
        alarm = alarm_of(labels)
        classes[row, col] = CLASSES[alarm] if alarm else NONE
    profile = {
        "driver": "GTiff",
        "width": grid.cols,
        "height": grid.rows,
        "count": 1,
        "dtype": "uint8",
        "crs": result.scene.crs,
        "transform": grid.cell_transform(result.scene.transform),
        "nodata": SKIPPED,
        "compress": "deflate",
        "photometric": "palette",
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as raster:
        raster.write_colormap(1, {NONE: (0, 0, 0, 0), **{k: rgb_of(COLOURS[name]) for name, k in CLASSES.items()}})
        raster.write(classes, 1)  # after the colour table: GDAL fixes a palette's interpretation at the first write
        raster.set_band_description(1, "most alarming label class")
        raster.update_tags(1, **{str(k): name for name, k in CLASSES.items()}, **{str(NONE): "none"})
    write_text(path.with_suffix(".qml"), palette_qml(PALETTE))  # QGIS: the style beside the raster
    write_text(path.with_name(path.name + ".aux.xml"), category_names_aux(PALETTE))  # GDAL: the names
    return path


PALETTE = [PaletteEntry(NONE, "none", None), *(PaletteEntry(k, name, COLOURS[name]) for name, k in CLASSES.items())]
OUTPUTS.register("classes")(Output("_classes.tif", write_classes, sidecars=("_classes.qml", "_classes.tif.aux.xml")))
