"""The schema of `audit` (`conf/audit.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from amazon_cls.core.schema import Relation, checked, group, listing, path, text, whole
from amazon_cls.data.config import DataConfig


@dataclass
class AuditConfig:
    data: DataConfig = group(DataConfig)
    sweep_dir: str | None = checked(path("dir", nullable=True))
    runs: list[str] | None = checked(listing(path("dir"), nullable=True))
    folds: list[int] | None = checked(listing(whole(0), nullable=True))
    min_count: int = checked(whole(1))
    filter_by: str = checked(text())
    exclude_top: int | None = checked(whole(1, nullable=True))
    gallery: int = checked(whole(0))
    output_dir: str = checked(path("out-dir"))

    relations: ClassVar[list[Relation]] = [
        Relation(
            ("folds", "data.num_folds"),
            lambda folds, count: folds is None or all(fold < count for fold in folds),
            "{}={} must each be below {}={}",
        )
    ]
