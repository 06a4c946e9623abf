"""Sentinel-2 L2A: a stack of B04, B03, B02 (and B08) at 10 m, reflectance x 10000 with the -1000
offset of processing baseline 04.00 and later (products from 25 January 2022), rendered in true
colour as the NICFI basemaps are. Dates from the product's name (`..._20220315T135111_...`)."""

import numpy as np

from amazon_cls.geo.sensors import Sensor, register_sensor, true_colour
from amazon_cls.geo.sensors.nicfi import NICFI_TRUE_COLOUR

SCL_HIDDEN = (3, 8, 9, 10)  # cloud shadow, cloud medium and high probability, thin cirrus

SENTINEL2_L2A = register_sensor(
    Sensor(
        name="sentinel2_l2a",
        description="Sentinel-2 L2A: B04, B03, B02[, B08] (x 10000, offset 1000), true colour as nicfi",
        bands={3: (1, 2, 3), 4: (1, 2, 3, 4)},
        render=true_colour(*NICFI_TRUE_COLOUR, offset=1000.0),
        dtype="uint16",
        named_dates=(r"(?<!\d)(\d{4})(\d{2})(\d{2})T\d{6}",),
        image_assets=("visual_stack", "data"),
        mask_assets=("scl", "SCL"),
        hides=lambda scl: np.isin(scl[0], SCL_HIDDEN),
        mask="the SCL band: 3 cloud shadow, 8 and 9 cloud, 10 cirrus",
    )
)
