"""Sensor profiles: how a product's bands become the model's input (`sensor=<name>`).

A profile says which of a file's bands are red, green, blue (and near infrared), by the file's band
count; how raw values become the 8-bit look the model trained on (`render`: none for 8-bit
products, which feed the model as they are); and the names its files carry their dates in. One
file per sensor registers its `Sensor` (every module here is imported with the package):

- `planet_visual`: today's behaviour and the default: 8-bit RGB (16-bit divided by `scale_16bit`);
- `planetscope_visual`: PlanetScope `ortho_visual`, 8-bit RGB with an alpha band;
- `planetscope_sr`: PlanetScope `ortho_analytic_4b_sr`, B, G, R, N surface reflectance x 10000;
- `nicfi`: the Planet NICFI tropical basemaps, B, G, R, N x 10000 (and alpha), rendered as Earth
  Engine's catalog renders them in true colour;
- `sentinel2_l2a`: a stack of B04, B03, B02 (and B08) at 10 m, reflectance x 10000 with the -1000
  offset of processing baseline 04.00 and later.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from amazon_cls.core.registry import Registry


@dataclass(frozen=True)
class Sensor:
    """How a product's bands become the model's 8-bit input."""

    name: str
    description: str
    bands: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # band count -> 1-based R, G, B[, N]
    render: Callable[[np.ndarray], np.ndarray] | None = None  # raw values -> 0..255; None: 8-bit as it is
    dtype: str = "uint8"  # the pixel type of its files
    named_dates: tuple[str, ...] = ()  # patterns with year, month[, day] groups: how its files name dates
    hides: Callable[[np.ndarray], np.ndarray] | None = None  # a mask's bands (bands, rows, cols) -> hidden pixels
    mask: str = "a single band, hidden where not 0"  # what its cloud mask is, as `hides` reads it
    mask_bands: int = 1  # the bands a mask of it has at least
    image_assets: tuple[str, ...] = ()  # its STAC items' image asset keys (none given: the asset of role `data`)
    mask_assets: tuple[str, ...] = ()  # its STAC items' mask asset keys (none given: the asset of role `cloud`)

    def hidden(self, mask: np.ndarray) -> np.ndarray:
        """The pixels a cloud mask of this sensor hides (cloud, shadow, haze): a bool (rows, cols)."""
        return self.hides(mask) if self.hides is not None else mask[0] != 0

    def bands_of(self, count: int) -> tuple[int, ...] | None:
        """The file's bands in R, G, B[, N] order, for a file of `count` bands (None: the model's own default)."""
        return self.bands.get(count)

    def date_in(self, name: str) -> date | None:
        """The date a file's name carries in this sensor's form (a month's mosaic: its first day)."""
        return date_in_name(name, self.named_dates)


def date_in_name(name: str, patterns: tuple[str, ...]) -> date | None:
    """The first real date that one of `patterns` (groups: year, month[, day]; no day: the 1st)
    finds in `name`, or None."""
    for pattern in patterns:
        for found in re.finditer(pattern, name):
            parts = [int(part) for part in found.groups() if part is not None]
            try:
                return date(*parts, *([1] * (3 - len(parts))))
            except ValueError:
                continue
    return None


def true_colour(low: float, high: float, gamma: float, offset: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """255 x clip((x - offset - low) / (high - low), 0, 1) ^ (1 / gamma): a catalog's true-colour rendering."""

    def render(raw: np.ndarray) -> np.ndarray:
        stretched = np.clip((raw.astype(np.float32) - offset - low) / (high - low), 0.0, 1.0)
        return 255.0 * stretched ** (1.0 / gamma)

    return render


SENSORS: Registry[Sensor] = Registry("sensor")


def register_sensor(sensor: Sensor) -> Sensor:
    return SENSORS.register(sensor.name)(sensor)


def udm2_hides(mask: np.ndarray) -> np.ndarray:
    """Planet's `ortho_udm2`: bands clear, snow, shadow, haze_light, haze_heavy, cloud, confidence,
    udm1; shadow, heavy haze and cloud hide the ground."""
    if mask.shape[0] < 6:
        raise ValueError(
            f"a udm2 mask has 8 bands (clear, snow, shadow, haze_light, haze_heavy, cloud, ...), not {mask.shape[0]}"
        )
    return (mask[2] == 1) | (mask[4] == 1) | (mask[5] == 1)


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
