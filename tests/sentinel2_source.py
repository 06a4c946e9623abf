"""A data source a user might add, in one file: Sentinel-2 L1C chips, 13 bands of 16-bit
reflectance, as GeoTIFFs in `train-s2/`. Dropped into amazon_cls/data/sources/ it registers itself;
the tests import it from here."""

from __future__ import annotations

from functools import partial

from amazon_cls.data.decode import decode_tiff
from amazon_cls.data.sources import Source, register_source

BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")

SENTINEL2 = register_source(
    Source(
        name="s2",
        image_dir="train-s2",
        suffixes=(".tif",),
        bands=BANDS,
        rgb=(3, 2, 1),  # B4, B3, B2
        dtype="uint16",
        decode=partial(decode_tiff, order=tuple(range(len(BANDS)))),
        scene_bands={len(BANDS): tuple(range(1, len(BANDS) + 1))},
    )
)
