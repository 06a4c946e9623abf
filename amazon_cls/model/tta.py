"""Test-time augmentation, by the name `tta=<name>` chooses: the views of a batch a prediction
averages. A view function takes images (batch, C, H, W) and returns its views stacked on the batch
axis (views x batch, C, H, W), the plain view first; the name is also the view under which
thresholds are fitted (`core.thresholds`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from amazon_cls.core.registry import Registry

TTA: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry("tta")


@TTA.register("none")
def plain_view(images: torch.Tensor) -> torch.Tensor:
    """The chip as it is."""
    return images


@TTA.register("d4")
def d4_views(images: torch.Tensor) -> torch.Tensor:
    """The 8 dihedral views (4 rotations of the chip and of its mirror image): chips have no 'up'."""
    mirrored = images.flip(-1)
    return torch.cat([torch.rot90(view, k, dims=(-2, -1)) for view in (images, mirrored) for k in range(4)])
