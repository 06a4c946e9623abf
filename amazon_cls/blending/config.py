"""The schema of `ensemble` (`conf/ensemble.yaml`); the method's name is its registry's (`methods`)."""

from __future__ import annotations

from dataclasses import dataclass

from amazon_cls.core.config import PostprocessConfig
from amazon_cls.core.schema import PROBABILITY, checked, flag, group, listing, number, path, text


@dataclass
class EnsembleConfig:
    sweep_dir: str | None = checked(path("dir", nullable=True))
    runs: list[str] | None = checked(listing(path("dir"), nullable=True))
    output_dir: str | None = checked(path("out-dir", nullable=True))
    method: str = checked(text())
    order: str | None = checked(path("file", nullable=True))
    postprocess: PostprocessConfig = group(PostprocessConfig)
    specialists: list[str] | None = checked(listing(path("dir"), nullable=True))
    specialist_weight: float = checked(PROBABILITY)
    rare_weight: float = checked(number(0))
    escape_formulas: bool = checked(flag())
