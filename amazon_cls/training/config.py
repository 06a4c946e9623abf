"""The schema of a training run (`conf/train.yaml`): its groups' (`data`, `model`, `trainer`) and its
own keys, checked before anything heavy loads, by `train`, by a sweep's members and by `tune`'s trials."""

from __future__ import annotations

from dataclasses import dataclass

from amazon_cls.core.schema import Rule, checked, flag, group, listing, number, path, text, whole
from amazon_cls.data.config import DataConfig
from amazon_cls.model.config import ModelConfig
from amazon_cls.runtime.config import TrainerConfig


@dataclass
class TrainConfig:
    trainer: TrainerConfig = group(TrainerConfig)
    data: DataConfig = group(DataConfig)
    model: ModelConfig = group(ModelConfig)
    seed: int = checked(whole())
    tta: str = checked(text())
    rare_weight: float = checked(number(0))
    ckpt_path: str | None = checked(Rule("path", path="file", words=("last",), nullable=True))
    validate_best: bool = checked(flag())
    skip_finished: bool = checked(flag())
    allow_changed_settings: bool = checked(flag())
    predict_dirs: list[str] = checked(listing(path("dir")))
