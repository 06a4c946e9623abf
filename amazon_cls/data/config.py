"""The `data` group's schema (`conf/data/*.yaml`): what each key of a data set's config may hold,
checked before anything heavy loads and by the datamodule itself, and the commands that read a data
set alone (`check`, `eda`). The values live in the YAML."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from amazon_cls.core.schema import AUTO, Relation, checked, choice, flag, group, number, path, text, whole


@dataclass
class SyntheticConfig:
    """The embedded data set, generated from a seed when `data.root` is null."""

    num_train: int = checked(whole(5))
    num_test: int = checked(whole(0))
    size: int = checked(whole(8))
    seed: int = checked(whole())


@dataclass
class DataConfig:
    root: str | None = checked(path("dir", nullable=True, null_means="the embedded synthetic data set"))
    labels_csv: str = checked(text())
    format: str = checked(text())
    image_dir: str | None = checked(text(nullable=True))
    image_ext: str | None = checked(text(nullable=True))
    chip_extent_m: float | None = checked(number(0, low_open=True, nullable=True))
    synthetic: SyntheticConfig = group(SyntheticConfig)
    fold: int = checked(whole(0))
    num_folds: int = checked(whole(2))
    fold_seed: int = checked(whole())
    batch_size: int = checked(whole(1))
    num_workers: int | str = checked(whole(0, words=AUTO))
    pin_memory: bool | str | None = checked(flag(words=AUTO, nullable=True))
    persistent_workers: bool = checked(flag())
    cache: bool = checked(flag())
    check: bool = checked(flag())
    dehaze: bool = checked(flag())
    on_bad_chip: str = checked(choice("fail", "skip"))
    train_subset: str = checked(choice("all", "rare"))
    oversample_rare: int = checked(whole(1))
    exclude: str | None = checked(path("file", nullable=True))

    open_keys: ClassVar[tuple[str, ...]] = ("",)  # the datamodule's constructor takes or refuses the rest
    relations: ClassVar[list[Relation]] = [
        Relation(("fold", "num_folds"), lambda fold, folds: fold < folds, "{}={} must be below {}={}")
    ]


@dataclass
class CheckConfig:
    """`python -m amazon_cls.check`: a data set checked alone."""

    data: DataConfig = group(DataConfig)


@dataclass
class EdaConfig(CheckConfig):
    """`python -m amazon_cls.eda`: plots and a summary of a data set."""

    output_dir: str = checked(path("out-dir"))
