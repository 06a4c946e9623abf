"""Backbones: any timm model by name, plus the project's own, registered with timm so that
`model.backbone=<name>` reaches them like any other."""

from __future__ import annotations

import difflib
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub import try_to_load_from_cache
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import register_model
from timm.models.byobnet import ByoBlockCfg, ByobNet, ByoModelCfg
from torch import Tensor, nn

_FROM_SCRATCH_CFG = {  # timm's data config of the project's own backbones
    "mean": IMAGENET_DEFAULT_MEAN,
    "std": IMAGENET_DEFAULT_STD,
    "interpolation": "bilinear",
    "crop_pct": 1.0,
}


def from_scratch(name: str, pretrained: bool, options: dict[str, Any]) -> dict[str, Any]:
    """The options of timm's `create_model` that the project's own backbones take; they have no
    pretrained weights, so asking for them is refused."""
    if pretrained:
        raise ValueError(f"{name} has no pretrained weights; set model.pretrained=false")
    return {key: value for key, value in options.items() if key in ("num_classes", "in_chans", "drop_rate")}


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
        self.pretrained_cfg = {**_FROM_SCRATCH_CFG, "input_size": (in_chans, 64, 64)}

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


class ChipStatistics(nn.Module):
    """A chip's colour statistics per band (mean, spread, quantiles, texture) through a small MLP:
    what a random forest on colour statistics sees (`amazon_cls.baseline`), which at 32 px scores
    close to the CNNs and errs elsewhere, trained and predicted like any backbone so that it can
    join their ensembles. Nothing before the MLP is learnt."""

    QUANTILES = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, hidden: int = 256):
        super().__init__()
        self.register_buffer("quantiles", torch.tensor(self.QUANTILES), persistent=False)
        features = in_chans * (len(self.QUANTILES) + 4)
        self.head = nn.Sequential(
            nn.BatchNorm1d(features),  # statistics of different scales, standardised as they are learnt
            nn.Linear(features, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(drop_rate),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )
        self.pretrained_cfg = {**_FROM_SCRATCH_CFG, "input_size": (in_chans, 32, 32)}

    def statistics(self, images: Tensor) -> Tensor:
        """Per band: mean, standard deviation, quantiles, mean absolute difference of neighbours down and across."""
        pixels = images.float().flatten(2)
        quantiles = torch.quantile(pixels, self.quantiles, dim=-1).permute(1, 2, 0)  # chips x bands x quantiles
        down = (images[:, :, 1:] - images[:, :, :-1]).abs().mean((2, 3))
        across = (images[..., 1:] - images[..., :-1]).abs().mean((2, 3))
        moments = torch.stack([pixels.mean(-1), pixels.std(-1), down, across], -1)
        return torch.cat([moments, quantiles], -1).flatten(1)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.statistics(images))


@register_model
def chip_statistics(pretrained: bool = False, **kwargs: Any) -> ChipStatistics:
    return ChipStatistics(**from_scratch("chip_statistics", pretrained, kwargs))


CHIP_RESNET = ByoModelCfg(
    blocks=tuple(
        ByoBlockCfg(type="basic", d=2, c=width, s=1 if stage == 0 else 2, br=1.0)
        for stage, width in enumerate((32, 64, 128, 256))
    ),
    stem_chs=32,
    stem_type="",  # one 3x3 conv of stride 2 and no pooling: overall stride 16, not timm resnet's 32
    stem_pool="",
    num_features=0,
)


@register_model
def chip_resnet(pretrained: bool = False, **kwargs: Any) -> ByobNet:
    """A residual network for 32 px chips, built with timm's ByobNet: resnet18's layout of basic
    blocks at half its widths, after a stem that halves the chip once where resnet18's quarters
    it, so a 32 px chip still has 2 x 2 cells in the last stage (resnet18's has 1). As fast to
    train as plain_cnn on a CPU, and a different architecture to ensemble with it."""
    model = ByobNet(CHIP_RESNET, **from_scratch("chip_resnet", pretrained, kwargs))
    model.pretrained_cfg = {**_FROM_SCRATCH_CFG, "input_size": (kwargs.get("in_chans", 3), 32, 32)}
    return model


def check_backbone(name: str) -> None:
    """Refuse a backbone name timm does not know, naming the closest ones it does."""
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise ValueError(f"model.backbone={name!r}: timm has no model of that name{hint}")


@register_model
def plain_cnn(pretrained: bool = False, **kwargs: Any) -> PlainCNN:
    return PlainCNN(**from_scratch("plain_cnn", pretrained, kwargs))


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
        return timm.create_model(
            name, pretrained=pretrained, num_classes=num_classes, drop_rate=drop_rate, in_chans=in_chans, **options
        )
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
