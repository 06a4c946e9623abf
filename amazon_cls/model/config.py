"""The `model` group's schema (`conf/model/*.yaml`, with `model/loss` and `model/scheduler`): what
each key may hold, checked before anything heavy loads. The names of losses, schedules, optimizers
and backbones are their registries' (checked when the model is built); the values live in the YAML.
Also `baseline`'s, the colour-statistics forest of `model.baseline`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from amazon_cls.core.labels import NUM_LABELS
from amazon_cls.core.schema import AUTO, PROBABILITY, checked, choice, flag, group, listing, number, path, text, whole
from amazon_cls.data.config import DataConfig


@dataclass
class OptimizerConfig:
    name: str = checked(text())
    lr: float = checked(number(0, low_open=True))
    weight_decay: float = checked(number(0))


@dataclass
class SchedulerConfig:
    name: str = checked(text())
    warmup_pct: float = checked(number(0, 1, high_open=True))


@dataclass
class LossConfig:
    """The loss and the options its factory takes (`model.losses`: each loss's own)."""

    name: str = checked(text())
    pos_weight: list[float] | str | None = checked(
        listing(number(0, low_open=True), length=NUM_LABELS, words=AUTO, nullable=True)
    )
    gamma: float = checked(number(0))  # focal
    alpha: float = checked(PROBABILITY)  # focal
    gamma_neg: float = checked(number(0))  # asl
    gamma_pos: float = checked(number(0))  # asl
    clip: float | None = checked(number(0, 1, nullable=True))  # asl


@dataclass
class ModelConfig:
    backbone: str = checked(text())
    pretrained: bool = checked(flag())
    pretrained_file: str | None = checked(path("file", nullable=True))
    drop_rate: float = checked(number(0, 1, high_open=True))
    image_size: int | None = checked(whole(8, nullable=True))
    in_chans: int = checked(whole(1))
    channels_last: bool = checked(flag())
    optimizer: OptimizerConfig = group(OptimizerConfig)
    scheduler: SchedulerConfig = group(SchedulerConfig)
    loss: LossConfig = group(LossConfig)
    loss_labels: str = checked(choice("all", "rare"))
    mixup: float = checked(number(0))

    # the model's constructor (any `_target_`'s) and the loss and schedule registries take or refuse the rest
    open_keys: ClassVar[tuple[str, ...]] = ("",)


@dataclass
class BaselineConfig:
    """`python -m amazon_cls.baseline`: a random forest on colour statistics, scored like the networks."""

    data: DataConfig = group(DataConfig)
    trees: int = checked(whole(1))
    seed: int = checked(whole())
