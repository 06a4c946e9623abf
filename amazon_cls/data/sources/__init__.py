"""Data sources: one file per kind of chip, and all the project needs to know of it.

A `Source` says where a labelled data set keeps its chips, how a file decodes into the array the
model sees, which bands that array holds (and which of them are red, green and blue, for
pictures), and how a georeferenced scene's bands map onto them. `data.format=<name>` chooses one;
the model takes `len(bands)` input channels and keeps the source's name in its checkpoint, so
prediction decodes new chips the same way. A new sensor is a new file in this folder that
registers its `Source` (every module here is imported with the package).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from amazon_cls.core.registry import Registry

# (file content, the file's name for messages, the smallest side the chip is needed at) -> H x W x bands
Decoder = Callable[[bytes, "str | Path", int], np.ndarray]


@dataclass(frozen=True)
class Source:
    """One kind of chip file."""

    name: str  # what data.format calls it
    image_dir: str  # the folder of the training chips in a Kaggle-style layout
    suffixes: tuple[str, ...]  # file endings of its chips; the first is the training files'
    bands: tuple[str, ...]  # the decoded chip's bands, in the model's order
    rgb: tuple[int, int, int]  # the positions of red, green and blue in `bands`
    dtype: str  # the decoded chip's type: uint8, uint16, ...
    decode: Decoder
    # a georeferenced scene of N bands -> its 1-based bands in the model's order (map); {} : none
    scene_bands: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    # a note for the data check on a file that decodes but is unusual (a PNG named .jpg, ...)
    describe: Callable[[bytes, Path], str] | None = None

    @property
    def suffix(self) -> str:
        return self.suffixes[0]


SOURCES: Registry[Source] = Registry("data.format")


def register_source(source: Source) -> Source:
    return SOURCES.register(source.name)(source)


def source_of(name: str | None, in_chans: int = 3) -> Source:
    """A model's source by name; checkpoints of older versions have none, only their band count."""
    if name is None:
        name = next(s.name for s in map(SOURCES.__getitem__, SOURCES) if len(s.bands) == in_chans)
    return SOURCES[name]


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
