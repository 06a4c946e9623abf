"""The schemas of `map` and `monitor`, and of the scene pipeline they share (`conf/pipeline/scene.yaml`):
how a scene becomes the model's chips."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from amazon_cls.core.schema import (
    AUTO,
    PROBABILITY,
    Relation,
    checked,
    choice,
    flag,
    group,
    listing,
    number,
    path,
    text,
    whole,
)
from amazon_cls.inference.config import PredictorConfig
from amazon_cls.runtime.config import TrainerConfig

EDGES = ("pad", "skip")  # the last row and column of chips: padded past the edge as nodata, or left out
OPERATING_POINTS = ("precision", "f2")  # a change label's threshold: by out-of-fold precision, or the F2's
BASEMAPS = {  # web tiles a user may ask for under an HTML map's layers: URL template, attribution
    "osm": (
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    ),
}


@dataclass
class SceneConfig(PredictorConfig):
    """The scene pipeline: the model (as `predict`'s), the grid of chips, and how bands are read."""

    trainer: TrainerConfig = group(TrainerConfig)
    chip_size: int | str = checked(whole(1, words=AUTO))
    stride: int | None = checked(whole(1, nullable=True))
    resolution: float | None = checked(number(0, low_open=True, nullable=True))
    edge: str = checked(choice(*EDGES))
    min_valid: float = checked(PROBABILITY)
    crs: str | None = checked(text(nullable=True))
    bands: list[int] | None = checked(listing(whole(1), nullable=True))
    scale_16bit: float = checked(number(0, low_open=True))
    sensor: str = checked(text())
    masks: list[str] | None = checked(listing(path("file"), nullable=True))

    relations: ClassVar[list[Relation]] = [
        Relation(
            ("stride", "chip_size"),
            lambda stride, chip: stride is None or chip == "auto" or stride <= chip,
            "{}={} is larger than {}={}: the ground between chips, which no chip sees, would be mapped and "
            "counted; give a stride up to the chip size",
        )
    ]


@dataclass
class MapConfig(SceneConfig):
    """`python -m amazon_cls.map`: scenes to maps."""

    scene: list[str] = checked(listing(path("file")))
    output_dir: str = checked(path("out-dir"))
    outputs: list[str] = checked(listing(text()))


@dataclass
class MonitorConfig(SceneConfig):
    """`python -m amazon_cls.monitor`: a series of scenes to dated alerts."""

    scenes: list[str] | None = checked(listing(path("any"), nullable=True))  # rasters, or STAC Items (a file, a folder)
    dates: list[str] | None = checked(listing(text(), nullable=True))
    allow_future_dates: bool = checked(flag())
    grid: str | None = checked(path("file", nullable=True))
    output_dir: str = checked(path("out-dir"))
    operating_point: str = checked(choice(*OPERATING_POINTS))
    alert_precision: float = checked(number(0, 1, low_open=True, high_open=True))
    change_labels: list[str] = checked(listing(text()))
    unobservable: list[str] = checked(listing(text()))
    min_area_ha: float = checked(number(0))
    regions: str | None = checked(path("file", nullable=True))
    region_key: str | None = checked(text(nullable=True))
    evidence: int = checked(whole(0))
    basemap: str | None = checked(choice(*BASEMAPS, nullable=True))
    shard: int | None = checked(whole(0, nullable=True))
    num_shards: int = checked(whole(1))
    merge: list[str] | None = checked(listing(path("dir"), nullable=True))

    relations: ClassVar[list[Relation]] = [
        *SceneConfig.relations,
        Relation(
            ("shard", "num_shards"),
            lambda shard, count: shard is None or shard < count,
            "{}={} must be below {}={}: the blocks are numbered from 0",
        ),
        Relation(
            ("scenes", "merge"),
            lambda scenes, merge: scenes is not None or merge is not None,
            "{}: give the series' rasters or STAC items (or merge=[<the shards' folders>] to join shards)",
        ),
        Relation(
            ("merge", "scenes", "ckpt", "ensemble", "shard"),
            lambda merge, *given: merge is None or all(value is None for value in given),
            "{}: the shards' records give the scenes, the model and the chips; leave scenes, ckpt, ensemble and "
            "shard out",
        ),
    ]
