"""`<scene>_labels.tif`: 17 float32 bands of probabilities (band descriptions are the labels), one
pixel per chip's cell (the stride square around its centre, `geo.grid`), in the scene's CRS;
nodata -1 where chips were skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from amazon_cls.core.labels import LABELS
from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult
from amazon_cls.store.atomic import atomic_path

NODATA = -1.0


def write_label_raster(path: Path, result: SceneResult) -> Path:
    bands = np.full((len(LABELS), result.grid.rows, result.grid.cols), NODATA, np.float32)
    rows, cols = np.array(result.cells).T if result.cells else (np.zeros(0, int), np.zeros(0, int))
    bands[:, rows, cols] = result.probs.T
    profile = {
        "driver": "GTiff",
        "width": result.grid.cols,
        "height": result.grid.rows,
        "count": len(LABELS),
        "dtype": "float32",
        "crs": result.scene.crs,
        "transform": result.grid.cell_transform(result.scene.transform),
        "nodata": NODATA,
        "compress": "deflate",
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as raster:
        raster.write(bands)
        for index, label in enumerate(LABELS, start=1):
            raster.set_band_description(index, label)
        raster.update_tags(chip_size=result.grid.window_size, stride=result.grid.step, source=str(result.scene.path))
    return path


OUTPUTS.register("labels")(Output("_labels.tif", write_label_raster))
