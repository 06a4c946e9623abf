"""Interactive maps that work offline: `alerts.html` of `monitor` and `<scene>_map.html` of `map`.

One HTML file each, with Leaflet (vendored from npm, its licence kept: `leaflet/SOURCE.md`) and
the data inlined: scene previews as image overlays (reprojected to Web Mercator, Leaflet's own
projection, so they sit exactly), vector layers coloured by type, a popup per feature. Nothing is
fetched from the network unless the user asks for web tiles under it (`basemap=osm`); a page opened
without a network still draws everything but those tiles.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from PIL import Image
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

from amazon_cls.geo.config import BASEMAPS
from amazon_cls.geo.scene import Footprint, Scene, read_reduced

LEAFLET = Path(__file__).parent / "leaflet"
WEB_MERCATOR = "EPSG:3857"


PICTURE_PX = 1600  # the longer side of a scene's picture on a page


def picture(scene: Scene) -> np.ndarray:
    """The scene's RGB on its grid as the model sees it, reduced to at most PICTURE_PX a side (read
    strip by strip, never whole)."""
    import cv2

    reduction = max(1.0, max(scene.width, scene.height) / PICTURE_PX)
    read = lambda raster, window: raster.read(scene.rgb, window=window)  # noqa: E731
    return np.asarray(scene.to_input(read_reduced(scene, reduction, read, cv2.INTER_AREA))).astype(np.uint8)


@dataclass(frozen=True)
class Overlay:
    """A picture of the ground (a scene's preview) and where it lies: south, west, north, east."""

    name: str
    png: bytes
    bounds: tuple[float, float, float, float]
    shown: bool = True


def overlay_of(name: str, rgb: np.ndarray, footprint: Footprint, shown: bool = True) -> Overlay:
    """An RGB picture (H, W, 3) of the grid `footprint` reprojected to Web Mercator, as a PNG with
    the ground outside the grid transparent, placed by its corners in degrees."""
    height, width = rgb.shape[:2]
    transform = footprint.transform * Affine.scale(footprint.width / width, footprint.height / height)
    target, out_width, out_height = calculate_default_transform(
        footprint.crs, WEB_MERCATOR, width, height, *footprint.bounds
    )
    rgba = np.zeros((4, out_height, out_width), np.uint8)
    for band in range(3):
        reproject(
            rgb[..., band],
            rgba[band],
            src_transform=transform,
            src_crs=footprint.crs,
            dst_transform=target,
            dst_crs=WEB_MERCATOR,
            resampling=Resampling.bilinear,
        )
    reproject(
        np.full((height, width), 255, np.uint8),
        rgba[3],
        src_transform=transform,
        src_crs=footprint.crs,
        dst_transform=target,
        dst_crs=WEB_MERCATOR,
        resampling=Resampling.nearest,
    )
    left, bottom = target * (0, out_height)
    right, top = target * (out_width, 0)
    west, south, east, north = transform_bounds(WEB_MERCATOR, "EPSG:4326", left, bottom, right, top)
    buffer = io.BytesIO()
    Image.fromarray(rgba.transpose(1, 2, 0), "RGBA").save(buffer, format="PNG", optimize=True)
    return Overlay(name, buffer.getvalue(), (south, west, north, east), shown)


@dataclass(frozen=True)
class VectorLayer:
    """Features (GeoJSON in degrees) shown as one layer of the map, with their popup's fields."""

    name: str
    geojson: dict[str, Any]
    fields: list[tuple[str, str]]  # (property, label) shown in the popup, in order
    shown: bool = True


def inline_css() -> str:
    """Leaflet's stylesheet, its layer-control pictures inlined."""
    css = (LEAFLET / "leaflet.css").read_text()
    for picture_file in sorted((LEAFLET / "images").iterdir()):  # the vendored ones: the layer control's
        data = base64.b64encode(picture_file.read_bytes()).decode()
        css = css.replace(f"url(images/{picture_file.name})", f"url(data:image/png;base64,{data})")
    return css


def page(
    title: str,
    layers: list[VectorLayer],
    overlays: list[Overlay],
    colours: dict[str, str],
    basemap: str | None = None,
    notes: str = "",
) -> str:
    """The whole page: Leaflet and the data inlined, one switchable layer per overlay and vector layer."""
    if basemap is not None and basemap not in BASEMAPS:
        raise ValueError(f"basemap={basemap!r}: choose one of {sorted(BASEMAPS)} or leave it out")
    data = {
        "layers": [{"name": x.name, "geojson": x.geojson, "fields": x.fields, "shown": x.shown} for x in layers],
        "overlays": [
            {
                "name": o.name,
                "src": "data:image/png;base64," + base64.b64encode(o.png).decode(),
                "bounds": [[o.bounds[0], o.bounds[1]], [o.bounds[2], o.bounds[3]]],
                "shown": o.shown,
            }
            for o in overlays
        ],
        "colours": colours,
        "basemap": list(BASEMAPS[basemap]) if basemap else None,
    }
    return (
        (Path(__file__).parent / "page.html")
        .read_text()
        .replace("__TITLE__", html.escape(title))
        .replace("__NOTES__", notes)
        .replace("__CSS__", inline_css())
        .replace("__LEAFLET__", (LEAFLET / "leaflet.js").read_text())
        .replace("__DATA__", json.dumps(data, allow_nan=False).replace("</", "<\\/"))
    )
