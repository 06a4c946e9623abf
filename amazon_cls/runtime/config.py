"""The OmegaConf resolvers the configs use, registered by `command` when a command starts (and by
tests before they compose a config), never as a side effect of an import."""

from __future__ import annotations

from omegaconf import OmegaConf


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
