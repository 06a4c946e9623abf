"""The training losses, by the name `model/loss=<name>` chooses (`conf/model/loss/<name>.yaml`
holds its options). A new loss is a function registered here, or in a file of its own that
registers with `LOSSES`, and a config file beside the others.

Each factory returns a module called as `loss(logits, targets)`, both (chips, labels). A factory
that takes `pos_weight` receives the per-label weights of positive examples (`model.loss.pos_weight`:
17 numbers, or `auto` for sqrt(negatives / positives) of the training fold).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from timm.loss import AsymmetricLossMultiLabel
from torch import nn
from torchvision.ops import sigmoid_focal_loss

from amazon_cls.core.registry import Registry, call_with_options

LOSSES: Registry[Callable[..., nn.Module]] = Registry("model.loss.name")


@LOSSES.register("bce")
def bce(pos_weight: torch.Tensor | None = None) -> nn.Module:
    """Binary cross-entropy on the logits, as the competition's winners trained."""
    return nn.BCEWithLogitsLoss(pos_weight=pos_weight)


@LOSSES.register("focal")
def focal(gamma: float = 2.0, alpha: float = 0.25) -> nn.Module:
    """Sigmoid focal loss (Lin et al. 2017, torchvision): easy negatives weigh less."""
    return FocalLoss(gamma, alpha)


@LOSSES.register("asl")
def asl(
    pos_weight: torch.Tensor | None = None, gamma_neg: float = 4.0, gamma_pos: float = 1.0, clip: float = 0.05
) -> nn.Module:
    """Asymmetric loss (Ridnik et al. 2021, timm): negatives focused and clipped apart from positives."""
    return AsymmetricLossMultiLabel(gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip, pos_weight=pos_weight)


class FocalLoss(nn.Module):
    """Sigmoid focal loss, averaged over chips and labels."""

    def __init__(self, gamma: float = 2.0, alpha: float = 0.25) -> None:
        super().__init__()
        self.gamma, self.alpha = gamma, alpha

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return sigmoid_focal_loss(logits, targets, alpha=self.alpha, gamma=self.gamma, reduction="mean")


def build_loss(spec: Mapping[str, Any], pos_weight: torch.Tensor | None) -> nn.Module:
    """The loss `spec` names (`{"name": ..., "pos_weight": ..., <options>}`), with these positive weights."""
    options = {key: value for key, value in spec.items() if key not in ("name", "pos_weight")}
    factory = LOSSES[spec.get("name", "bce")]
    if pos_weight is not None or spec.get("pos_weight") is not None:
        if "pos_weight" not in inspect.signature(factory).parameters:
            raise ValueError(
                f"model.loss.pos_weight: the {spec['name']} loss takes no positive weights; set it to null"
            )
        return call_with_options(factory, options, "model.loss", pos_weight=pos_weight)
    return call_with_options(factory, options, "model.loss")
