"""The schemas of `sample` and `area` (`conf/sample.yaml`, `conf/area.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from amazon_cls.assessment.design import STRATIFY
from amazon_cls.core.schema import Relation, checked, choice, number, path, text, whole


@dataclass
class SampleConfig:
    monitor: str = checked(path("dir"))
    stratify: str = checked(choice(*STRATIFY))
    size: int | None = checked(whole(2, nullable=True))
    target_se: float | None = checked(number(0.0, 1.0, nullable=True))
    min_per_stratum: int = checked(whole(2))
    anticipated_accuracy: float = checked(number(0.0, 1.0))
    anticipated_omission: float = checked(number(0.0, 1.0))
    seed: int = checked(whole(0))
    regions: str | None = checked(path("file", nullable=True))
    region_key: str | None = checked(text(nullable=True))
    output_dir: str = checked(path("out-dir"))

    relations: ClassVar[list[Relation]] = [
        Relation(
            ("size", "target_se"),
            lambda size, se: (size is None) != (se is None),
            "{}={} and {}={}: give one, not both or neither (with a size, target_se=null)",
        )
    ]


@dataclass
class AreaConfig:
    sample: str = checked(path("file"))
    strata: str | None = checked(path("file", nullable=True))
    output_dir: str = checked(path("out-dir"))
