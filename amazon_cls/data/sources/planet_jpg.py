"""The competition's JPEG chips (`train-jpg/`): 8-bit R, G, B, stored as 4-component (CMYK) JPEGs."""

from __future__ import annotations

from pathlib import Path

import simplejpeg
from PIL import Image

from amazon_cls.data.decode import decode_rgb, is_jpeg
from amazon_cls.data.sources import Source, register_source


def describe(data: bytes, path: Path) -> str:
    """A note on a chip that is not a plain RGB, YCbCr or CMYK JPEG (it is decoded and converted)."""
    if is_jpeg(data):
        colorspace = simplejpeg.decode_jpeg_header(data)[2]
        return "" if colorspace in ("CMYK", "YCbCr", "RGB") else f"{path}: {colorspace} JPEG, converted to RGB"
    with Image.open(path) as opened:
        return f"{path}: a {opened.format} image ({opened.mode}) named {path.suffix}; decoded and converted to RGB"


PLANET_JPG = register_source(
    Source(
        name="jpg",
        image_dir="train-jpg",
        suffixes=(".jpg", ".jpeg", ".png"),
        bands=("red", "green", "blue"),
        rgb=(0, 1, 2),
        dtype="uint8",
        decode=decode_rgb,
        scene_bands={3: (1, 2, 3), 4: (3, 2, 1)},  # a visual product: R, G, B; an analytic one: B, G, R, NIR
        describe=describe,
    )
)
