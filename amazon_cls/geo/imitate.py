"""An 8-bit RGB scene as another product would deliver the same ground: a NICFI-like month
(EPSG:3857 at 4.77 m, B, G, R, N reflectance x 10000 by the inverse of the `nicfi` profile's
rendering, an alpha band), cut into quads and listed as a STAC ItemCollection. The tests and the
sensor study check the path from such a product to alerts against the 8-bit scene it was made
from, whose answers are known."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, Resampling
from rasterio.warp import calculate_default_transform, reproject
from rasterio.windows import Window

from amazon_cls.geo.sensors.nicfi import NICFI_TRUE_COLOUR

NICFI_CRS, NICFI_PIXEL_M = "EPSG:3857", 4.77  # zoom 15 of Web Mercator at the equator


def reflectance(rgb: np.ndarray) -> np.ndarray:
    """8-bit R, G, B (3, H, W) as B, G, R, N reflectance x 10000: the `nicfi` rendering inverted
    (near infrared: the green's)."""
    low, high, gamma = NICFI_TRUE_COLOUR
    raw = low + (np.clip(rgb, 0, 255) / 255.0) ** gamma * (high - low)
    return np.stack([raw[2], raw[1], raw[0], raw[1]]).round().astype(np.uint16)


def as_nicfi_quad(scene: Path, target: Path) -> Path:
    """The 8-bit scene reprojected to EPSG:3857 at 4.77 m (bilinear), as a NICFI quad's five bands."""
    with rasterio.open(scene) as source:
        transform, width, height = calculate_default_transform(
            source.crs, NICFI_CRS, source.width, source.height, *source.bounds, resolution=NICFI_PIXEL_M
        )
        onto = {"dst_transform": transform, "dst_crs": NICFI_CRS, "src_transform": source.transform}
        rgb = np.zeros((3, height, width), np.float64)
        inside = np.zeros((height, width), np.uint8)
        for band in range(3):
            reproject(
                source.read(band + 1).astype(np.float64),
                rgb[band],
                src_crs=source.crs,
                resampling=Resampling.bilinear,
                **onto,
            )
        full = np.full((source.height, source.width), 255, np.uint8)
        reproject(full, inside, src_crs=source.crs, resampling=Resampling.nearest, **onto)
    bands = reflectance(rgb) * (inside > 0)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 5, "dtype": "uint16"}
    profile.update(crs=NICFI_CRS, transform=transform, photometric="minisblack", tiled=True, compress="deflate")
    with rasterio.open(target, "w", **profile) as out:
        out.write(np.concatenate([bands, inside[None].astype(np.uint16)]))
        out.colorinterp = [
            ColorInterp.blue,
            ColorInterp.green,
            ColorInterp.red,
            ColorInterp.undefined,
            ColorInterp.alpha,
        ]
    return target


def split_in_quads(raster_path: Path, folder: Path, across: int = 2) -> list[Path]:
    """The raster as `across` x `across` quads on its grid, as a NICFI month comes in quads."""
    folder.mkdir(parents=True, exist_ok=True)
    quads = []
    with rasterio.open(raster_path) as raster:
        cols = [raster.width * k // across for k in range(across + 1)]
        rows = [raster.height * k // across for k in range(across + 1)]
        for row in range(across):
            for col in range(across):
                window = Window(cols[col], rows[row], cols[col + 1] - cols[col], rows[row + 1] - rows[row])
                profile = {**raster.profile, "width": window.width, "height": window.height}
                profile["transform"] = raster.window_transform(window)
                quads.append(folder / f"{raster_path.stem}_{row}-{col}{raster_path.suffix}")  # the quad of row, col
                with rasterio.open(quads[-1], "w", **profile) as out:
                    out.write(raster.read(window=window))
                    out.colorinterp = raster.colorinterp
    return quads


def quads_as_stac(quads_by_date: dict[str, list[Path]], target: Path) -> Path:
    """One STAC ItemCollection of every date's quads (`analytic` assets), hrefs relative to it."""
    import pystac

    items = []
    for day, quads in quads_by_date.items():
        for quad in quads:
            item = pystac.Item(quad.stem, None, None, datetime.fromisoformat(f"{day}T00:00:00+00:00"), {})
            href = Path(quad).resolve().relative_to(target.parent.resolve()).as_posix()
            item.add_asset("analytic", pystac.Asset(href=href, roles=["data"]))
            items.append(item)
    target.write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    return target
