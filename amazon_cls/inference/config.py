"""The schemas of prediction (`conf/predict.yaml`, and the keys `map`, `monitor` and `evaluate` share
with it): which model, its view and thresholds, and how chips are loaded."""

from __future__ import annotations

from dataclasses import dataclass

from amazon_cls.core.config import PostprocessConfig
from amazon_cls.core.schema import AUTO, checked, flag, group, listing, path, text, whole
from amazon_cls.runtime.config import TrainerConfig


@dataclass
class PredictorConfig:
    """A checkpoint or an ensemble folder, the view it predicts with and how its chips are loaded."""

    ckpt: str | None = checked(path("file", nullable=True))
    ensemble: str | None = checked(path("dir", nullable=True))
    thresholds: str | None = checked(path("file", nullable=True))
    tta: str = checked(text())
    postprocess: PostprocessConfig = group(PostprocessConfig)
    batch_size: int = checked(whole(1))
    num_workers: int | str = checked(whole(0, words=AUTO))
    pin_memory: bool | str | None = checked(flag(words=AUTO, nullable=True))
    compile: bool = checked(flag())


@dataclass
class PredictConfig(PredictorConfig):
    """`python -m amazon_cls.predict`: folders of chips to a Kaggle submission."""

    trainer: TrainerConfig = group(TrainerConfig)
    input: list[str] = checked(listing(path("dir")))
    output: str = checked(path("out-file"))
    order: str | None = checked(path("file", nullable=True))
    escape_formulas: bool = checked(flag())
