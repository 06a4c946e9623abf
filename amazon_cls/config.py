"""OmegaConf resolvers used by the configs under conf/."""

from __future__ import annotations

from omegaconf import OmegaConf


def timm_input_size(backbone: str) -> int:
    """The input size (pixels) a timm model was trained at, from its pretrained config."""
    import timm  # imported here: composing a config should not pay for timm unless asked

    config = timm.get_pretrained_cfg(backbone)
    if config is None:
        raise ValueError(f"timm has no pretrained config for {backbone!r}; set model.image_size explicitly")
    return int(config.input_size[-1])


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("timm_input_size"):
        OmegaConf.register_new_resolver("timm_input_size", timm_input_size)
