"""OmegaConf resolvers used by the configs under conf/."""

from __future__ import annotations

import os

from omegaconf import OmegaConf


def timm_input_size(backbone: str) -> int:
    """The input size (pixels) a timm model was trained at, from its pretrained config."""
    import timm  # imported here: composing a config should not pay for timm unless asked

    config = timm.get_pretrained_cfg(backbone)
    if config is None:
        raise ValueError(f"timm has no pretrained config for {backbone!r}; set model.image_size explicitly")
    return int(config.input_size[-1])


def cpu_workers(limit: int = 8) -> int:
    """Data loader workers: one per CPU core this process may use, at most `limit`."""
    return max(1, min(limit, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def register_resolvers() -> None:
    for name, resolver in (("timm_input_size", timm_input_size), ("cpu_workers", cpu_workers)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
