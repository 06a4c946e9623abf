"""The default: 8-bit RGB scenes like the Kaggle chips (16-bit ones divided by `scale_16bit`)."""

from amazon_cls.geo.sensors import Sensor, register_sensor

PLANET_VISUAL = register_sensor(
    Sensor(
        name="planet_visual",
        image_assets=("visual",),
        description="8-bit R, G, B (the model's data source's band layouts); 16-bit divided by scale_16bit",
    )
)
