"""The OmegaConf resolvers the configs use, registered by `command` when a command starts (and by
tests before they compose a config), never as a side effect of an import; and the `trainer` group's
schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from omegaconf import OmegaConf

from amazon_cls.core.schema import Rule, checked, flag, text, whole


def timm_input_size(backbone: str) -> int:
    """The input size (pixels) a timm model was trained at, from its pretrained config."""
    import timm  # only when a config asks: composing one should not pay for timm

    from amazon_cls.model.backbones import check_backbone

    check_backbone(backbone)
    config = timm.get_pretrained_cfg(backbone)
    if config is None:
        raise ValueError(f"model.backbone={backbone!r} has no pretrained config; set model.image_size explicitly")
    return int(config.input_size[-1])


def source_bands(name: str) -> int:
    """Input channels of the chips of this data source (`data.format`): RGB JPEGs 3, ..."""
    from amazon_cls.data.sources import SOURCES

    return len(SOURCES[name].bands)


RESOLVERS = {"timm_input_size": timm_input_size, "source_bands": source_bands}


def register_resolvers() -> None:
    for name, resolver in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)


PRECISIONS = ("auto", "32", "32-true", "64", "64-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")


@dataclass
class TrainerConfig:
    """The `trainer` group's schema (`conf/trainer/*.yaml`): Lightning's `Trainer` arguments that the
    configs set; `auto` precision is resolved for the machine (`runtime.hardware`)."""

    max_epochs: int = checked(whole(1))
    min_epochs: int | None = checked(whole(0, nullable=True))
    num_nodes: int = checked(whole(1))
    precision: str | int = checked(Rule("whole", words=PRECISIONS))
    accelerator: str = checked(text())
    log_every_n_steps: int = checked(whole(1))
    check_val_every_n_epoch: int = checked(whole(1))
    enable_progress_bar: bool = checked(flag())
    deterministic: bool | str = checked(flag(words=("warn",)))

    open_keys: ClassVar[tuple[str, ...]] = ("",)  # any other Trainer argument: Lightning refuses unknown ones
