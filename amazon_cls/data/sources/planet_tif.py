"""The competition's 16-bit GeoTIFF chips (`train-tif-v2/`): B, G, R, NIR, used as R, G, B, NIR."""

from __future__ import annotations

from functools import partial

from amazon_cls.data.decode import decode_tiff
from amazon_cls.data.sources import Source, register_source

PLANET_TIF = register_source(
    Source(
        name="tif",
        image_dir="train-tif-v2",
        suffixes=(".tif", ".tiff"),
        bands=("red", "green", "blue", "nir"),
        rgb=(0, 1, 2),
        dtype="uint16",
        decode=partial(decode_tiff, order=(2, 1, 0, 3)),  # the files hold B, G, R, NIR
        scene_bands={4: (3, 2, 1, 4)},  # an analytic product: B, G, R, NIR
    )
)
