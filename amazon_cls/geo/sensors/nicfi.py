"""The Planet NICFI tropical basemaps: quads of B, G, R, N surface reflectance x 10000 (and an
alpha band), in EPSG:3857 at 4.77 m, monthly mosaics named
`planet_medres_normalized_analytic_YYYY-MM_mosaic`. Rendered as Earth Engine's catalog renders
them in true colour: min 64, max 5454, gamma 1.855."""

from amazon_cls.geo.sensors import Sensor, register_sensor, true_colour

NICFI_TRUE_COLOUR = (64.0, 5454.0, 1.855)  # min, max, gamma
NICFI_RENDER = true_colour(*NICFI_TRUE_COLOUR)

NICFI = register_sensor(
    Sensor(
        name="nicfi",
        description="Planet NICFI basemap quads: B, G, R, N (x 10000) and alpha, true colour 64-5454, gamma 1.855",
        bands={4: (3, 2, 1, 4), 5: (3, 2, 1, 4)},
        render=NICFI_RENDER,
        dtype="uint16",
        image_assets=("analytic", "data"),
        named_dates=(r"(?<!\d)(\d{4})-(\d{2})_mosaic", r"(?<!\d)(\d{4})-(\d{2})(?![\d-])"),
    )
)
