"""OmegaConf resolvers used by the configs under conf/."""

from __future__ import annotations

from omegaconf import OmegaConf

from amazon_cls.data.layout import image_format


def timm_input_size(backbone: str) -> int:
    """The input size (pixels) a timm model was trained at, from its pretrained config."""
    import timm  # imported here: composing a config should not pay for timm unless asked

    from amazon_cls.models import check_backbone

    check_backbone(backbone)
    config = timm.get_pretrained_cfg(backbone)
    if config is None:
        raise ValueError(f"model.backbone={backbone!r} has no pretrained config; set model.image_size explicitly")
    return int(config.input_size[-1])


def format_bands(name: str) -> int:
    """Input channels of this chip format: RGB JPEGs 3; TIFFs 4 (R, G, B, NIR)."""
    return image_format(name).bands


def register_resolvers() -> None:
    resolvers = {"timm_input_size": timm_input_size, "format_bands": format_bands}
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
