"""The schema of `tune` (`conf/tune.yaml`): a training config (its trials') and the study's own keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from amazon_cls.core.schema import Relation, checked, flag, group, listing, number, text, whole
from amazon_cls.data.config import DataConfig
from amazon_cls.model.config import ModelConfig
from amazon_cls.runtime.config import TrainerConfig


@dataclass
class SpaceConfig:
    """The `tune` group (`conf/tune/<space>.yaml`): its distributions are checked when the study starts."""

    enqueue_recipe: bool = checked(flag())

    # each key of the space a training key or group, checked when the study starts
    open_keys: ClassVar[tuple[str, ...]] = ("space.",)


@dataclass
class TuneConfig:
    trainer: TrainerConfig = group(TrainerConfig)
    data: DataConfig = group(DataConfig)
    model: ModelConfig = group(ModelConfig)
    tune: SpaceConfig = group(SpaceConfig)
    n_trials: int = checked(whole(1))
    timeout: float | None = checked(number(0, low_open=True, nullable=True))
    folds: list[int] = checked(listing(whole(0)))
    objective: str = checked(text())
    pruning: bool = checked(flag())
    storage: str | None = checked(text(nullable=True))
    study_name: str = checked(text())

    relations: ClassVar[list[Relation]] = [
        Relation(
            ("folds", "data.num_folds"),
            lambda folds, count: folds is None or all(fold < count for fold in folds),
            "{}={} must each be below {}={}",
        )
    ]
