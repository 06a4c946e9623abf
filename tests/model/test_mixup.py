"""Mixup (model.mixup): chips and their labels blended with the same weight, or left alone."""

import numpy as np
import pytest
import torch

from amazon_cls.model.module import ChipClassifier, mixed


def batch(chips: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(chips, 3, 8, 8, generator=generator)
    return images, (torch.rand(chips, 17, generator=generator) > 0.7).float()


def test_alpha_zero_leaves_the_batch_as_it_is() -> None:
    images, targets = batch()
    mixed_images, mixed_targets = mixed(images, targets, 0.0)
    assert mixed_images is images and mixed_targets is targets


def test_each_chip_and_its_labels_are_blended_with_one_partner_by_the_same_weight() -> None:
    images, targets = batch()
    np.random.seed(3), torch.manual_seed(3)
    mixed_images, mixed_targets = mixed(images, targets, 0.4)
    np.random.seed(3), torch.manual_seed(3)
    weight, partner = float(np.random.beta(0.4, 0.4)), torch.randperm(len(images))  # the draws mixup made
    assert 0 < weight < 1 and not torch.equal(partner, torch.arange(len(images)))
    torch.testing.assert_close(mixed_images, weight * images + (1 - weight) * images[partner])
    torch.testing.assert_close(mixed_targets, weight * targets + (1 - weight) * targets[partner])
    assert ((mixed_targets > 0) & (mixed_targets < 1)).any()  # soft targets: labels were blended


def test_a_negative_alpha_is_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"model.mixup=-1"):
        ChipClassifier(backbone="test_resnet", pretrained=False, mixup=-1)


def test_training_learns_from_the_blended_labels() -> None:
    model = ChipClassifier(backbone="test_resnet", pretrained=False, image_size=32, mixup=0.4)
    seen = []

    class Recording(torch.nn.Module):
        def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            seen.append(targets)
            return logits.mean()

    model.loss_fn = Recording()
    model.log = model.stop_if_not_finite = lambda *args, **kwargs: None  # no Trainer here
    targets = batch()[1]
    model.training_step({"image": torch.rand(16, 3, 32, 32), "target": targets, "index": torch.arange(16)}, 0)
    assert ((seen[0] > 0) & (seen[0] < 1)).any() and not torch.equal(seen[0], targets)
