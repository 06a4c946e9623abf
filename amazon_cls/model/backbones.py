"""Backbones: any timm model by name, plus the project's own, registered with timm so that
`model.backbone=<name>` reaches them like any other."""

from __future__ import annotations

import difflib
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
from huggingface_hub import constants as hub_constants
from huggingface_hub import try_to_load_from_cache
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import register_model
from torch import Tensor, nn


class PlainCNN(nn.Module):
    """A plain VGG-style CNN (two 3x3 conv-BN-ReLU per stage, max-pool between): a baseline that
    shows what residual backbones and ImageNet weights add."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, widths=(32, 64, 128, 256)):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_chans
        for width in widths:
            for _ in range(2):
                layers += [
                    nn.Conv2d(channels, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(drop_rate), nn.Linear(channels, num_classes)
        )
        self.pretrained_cfg = {
            "input_size": (in_chans, 64, 64),
            "mean": IMAGENET_DEFAULT_MEAN,
            "std": IMAGENET_DEFAULT_STD,
            "interpolation": "bilinear",
            "crop_pct": 1.0,
        }

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


def check_backbone(name: str) -> None:
    """Refuse a backbone name timm does not know, naming the closest ones it does."""
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise ValueError(f"model.backbone={name!r}: timm has no model of that name{hint}")


@register_model
def plain_cnn(pretrained: bool = False, **kwargs: Any) -> PlainCNN:
    if pretrained:
        raise ValueError("plain_cnn has no pretrained weights; set model.pretrained=false")
    return PlainCNN(**{k: v for k, v in kwargs.items() if k in ("num_classes", "in_chans", "drop_rate")})


def create_backbone(
    name: str, pretrained: bool, num_classes: int, in_chans: int, drop_rate: float, pretrained_file: str | None = None
) -> nn.Module:
    """The timm model `name` with `num_classes` outputs and `in_chans` input bands; with
    `pretrained`, its ImageNet weights from `pretrained_file`, timm's cache, or the hub, and a
    refusal at once, saying what to do, where none of them can give them."""
    check_backbone(name)
    options: dict[str, Any] = {}
    if pretrained and pretrained_file:
        if not Path(pretrained_file).is_file():
            raise ValueError(f"model.pretrained_file={pretrained_file!r}: no such file")
        options["pretrained_cfg_overlay"] = {"file": str(pretrained_file)}
    elif pretrained:
        check_weights_reachable(name)
    try:
        return timm.create_model(name, pretrained=pretrained, num_classes=num_classes, drop_rate=drop_rate,
                                 in_chans=in_chans, **options)  # fmt: skip
    except (OSError, RuntimeError) as error:  # the hub's errors are OSErrors; a bad weights file a RuntimeError
        if not pretrained:
            raise
        raise ValueError(f"{no_weights(name)} ({type(error).__name__}: {str(error).splitlines()[0]})") from None


def check_weights_reachable(name: str, timeout: float = 3.0) -> None:
    """Refuse at once when the weights are neither cached nor reachable (timm would retry the hub
    for about a minute, then fail with an error that suggests nothing)."""
    config = timm.get_pretrained_cfg(name)
    repo = getattr(config, "hf_hub_id", None) if config else None
    if not repo or any(try_to_load_from_cache(repo, file) for file in ("model.safetensors", "pytorch_model.bin")):
        return
    host = urlparse(hub_constants.ENDPOINT).hostname or "huggingface.co"
    if hub_constants.HF_HUB_OFFLINE:
        raise ValueError(f"{no_weights(name)} (HF_HUB_OFFLINE is set and they are not in the cache)")
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as error:
        raise ValueError(f"{no_weights(name)} ({host} cannot be reached: {error})") from None


def no_weights(name: str) -> str:
    """What to do when a backbone's pretrained weights cannot be had."""
    return (
        f"model.pretrained=true: the ImageNet weights of {name} cannot be had here. Train from scratch with "
        f"model.pretrained=false; or give a local file of them with model.pretrained_file=<.safetensors or .pth>; "
        f"or fill timm's cache where there is internet (python -c \"import timm; timm.create_model('{name}', "
        f'pretrained=True)"), copy {hub_constants.HF_HUB_CACHE} here and set HF_HUB_OFFLINE=1'
    )
