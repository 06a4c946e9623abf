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


FORMATS = {"jpg": ("train-jpg", 3), "tif": ("train-tif-v2", 4)}  # Kaggle folder, bands


def kaggle_image_dir(image_format: str) -> str:
    """The competition's folder of training chips of this format."""
    return FORMATS[image_format][0]


def format_bands(image_format: str) -> int:
    """Input channels of this format: RGB JPEGs 3; TIFFs 4 (R, G, B, NIR)."""
    return FORMATS[image_format][1]


def register_resolvers() -> None:
    resolvers = {
        "timm_input_size": timm_input_size,
        "kaggle_image_dir": kaggle_image_dir,
        "format_bands": format_bands,
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
