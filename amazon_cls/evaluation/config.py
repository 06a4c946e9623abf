"""The schema of `evaluate` (`conf/evaluate.yaml`): what is scored, on which chips, and how the
intervals are drawn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from amazon_cls.core.schema import Relation, checked, group, listing, number, path, text, whole
from amazon_cls.data.config import DataConfig
from amazon_cls.inference.config import PredictorConfig
from amazon_cls.runtime.config import TrainerConfig


@dataclass
class BootstrapConfig:
    draws: int = checked(whole(1))
    seed: int = checked(whole())
    confidence: float = checked(number(0, 1, low_open=True, high_open=True))


@dataclass
class EvaluateConfig(PredictorConfig):
    trainer: TrainerConfig = group(TrainerConfig)
    data: DataConfig = group(DataConfig)
    submission: str | None = checked(path("file", nullable=True))
    compare: list[str] | None = checked(listing(path("any"), nullable=True))
    names: list[str] | None = checked(listing(text(), nullable=True))
    fold: int | None = checked(whole(0, nullable=True))
    labels: str | None = checked(path("file", nullable=True))
    input: list[str] | None = checked(listing(path("dir"), nullable=True))
    cross_fit: int = checked(whole(0))
    cross_fit_seed: int = checked(whole())
    rare_weight: list[float] | float = checked(listing(number(0), one_for_all=True))
    bootstrap: BootstrapConfig = group(BootstrapConfig)
    output_dir: str = checked(path("out-dir"))

    relations: ClassVar[list[Relation]] = [
        Relation(
            ("fold", "data.num_folds"), lambda fold, folds: fold is None or fold < folds, "{}={} must be below {}={}"
        ),
        Relation(("cross_fit",), lambda parts: parts != 1, "{}={}: 0 (the thresholds given) or at least 2 parts"),
    ]
