"""PlanetScope `ortho_analytic_4b_sr`: B, G, R, N surface reflectance x 10000, rendered in true
colour as the NICFI basemaps are (the same reflectance, the same look)."""

from amazon_cls.geo.sensors import Sensor, register_sensor, udm2_hides
from amazon_cls.geo.sensors.nicfi import NICFI_RENDER

PLANETSCOPE_SR = register_sensor(
    Sensor(
        name="planetscope_sr",
        description="PlanetScope ortho_analytic_4b_sr: B, G, R, N (x 10000), true colour as nicfi",
        bands={4: (3, 2, 1, 4)},
        render=NICFI_RENDER,
        dtype="uint16",
        named_dates=(r"(?<!\d)(\d{4})(\d{2})(\d{2})_",),
        hides=udm2_hides,
        mask="ortho_udm2 (8 bands): shadow, haze_heavy or cloud hide the ground",
        mask_bands=8,
        image_assets=("ortho_analytic_4b_sr",),
        mask_assets=("ortho_udm2", "udm2"),
    )
)
