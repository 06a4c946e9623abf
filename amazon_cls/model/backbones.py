"""Backbones: any timm model by name, plus the project's own, registered with timm so that
`model.backbone=<name>` reaches them like any other."""

from __future__ import annotations

import difflib
from typing import Any

import timm
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


def create_backbone(name: str, pretrained: bool, num_classes: int, in_chans: int, drop_rate: float) -> nn.Module:
    """The timm model `name` with `num_classes` outputs and `in_chans` input bands."""
    check_backbone(name)
    return timm.create_model(name, pretrained=pretrained, num_classes=num_classes, drop_rate=drop_rate,
                             in_chans=in_chans)  # fmt: skip
