"""PlanetScope `ortho_visual`: 8-bit R, G, B and an alpha band (GDAL's mask takes the alpha)."""

from amazon_cls.geo.sensors import Sensor, register_sensor, udm2_hides

PLANETSCOPE_VISUAL = register_sensor(
    Sensor(
        name="planetscope_visual",
        description="PlanetScope ortho_visual: 8-bit R, G, B, alpha",
        bands={3: (1, 2, 3), 4: (1, 2, 3)},
        named_dates=(r"(?<!\d)(\d{4})(\d{2})(\d{2})_",),
        hides=udm2_hides,
        mask="ortho_udm2 (8 bands): shadow, haze_heavy or cloud hide the ground",
        mask_bands=8,
        image_assets=("visual", "ortho_visual"),
        mask_assets=("ortho_udm2", "udm2"),  # 20210315_131313_12_2456_3B_Visual
    )
)
