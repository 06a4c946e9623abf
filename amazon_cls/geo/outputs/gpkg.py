"""`<scene>_chips.gpkg` (`outputs=[...,gpkg]`): the chips' cells as a GeoPackage layer in the
scene's own CRS, with the properties of the GeoJSON (row, col, tags, is_<label>, p_<label>)."""

from __future__ import annotations

import warnings
from pathlib import Path

from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult
from amazon_cls.geo.outputs.geojson import result_frame
from amazon_cls.store.atomic import atomic_path

GPKG_VERSION = "1.2"  # what GDAL 3.6 reads without a warning (1.4, GDAL's default since 3.7, warns there)


def write_gpkg(path: Path, result: SceneResult) -> Path:
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL notes the temporary name's extension
        result_frame(result).to_file(tmp, driver="GPKG", layer="chips", VERSION=GPKG_VERSION)
    return path


OUTPUTS.register("gpkg")(Output("_chips.gpkg", write_gpkg))
