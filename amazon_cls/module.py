"""The LightningModule: a timm backbone with 17 sigmoid outputs, BCE loss and fitted thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import timm
import torch
from lightning.pytorch.trainer.states import TrainerFn
from timm.loss import AsymmetricLossMultiLabel
from timm.optim import create_optimizer_v2
from torch import nn
from torchvision.ops import sigmoid_focal_loss

from amazon_cls.labels import LABEL_INDEX, LABELS, NUM_LABELS, RARE, check_label_vocabulary
from amazon_cls.metrics import START_THRESHOLD
from amazon_cls.models import check_backbone  # also registers the project's extra timm models
from amazon_cls.runs import read_checkpoint

SCHEDULERS = ("cosine", "onecycle", "step", "constant")
LOSSES = ("bce", "focal", "asl")
TTA_MODES = ("none", "d4")


def d4_views(images: torch.Tensor) -> torch.Tensor:
    """The 8 dihedral views (4 rotations of the chip and of its mirror image), stacked on the batch axis."""
    mirrored = images.flip(-1)
    return torch.cat([torch.rot90(view, k, dims=(-2, -1)) for view in (images, mirrored) for k in range(4)])


class ChipClassifier(L.LightningModule):
    """Multi-label chip classifier.

    Batches arrive raw (uint8 RGB, or uint16 bands); `on_after_batch_transfer` normalises them on
    the device with the mean/std of the backbone's timm data config (RGB) or of the training chips
    (other bands), so nothing in the data pipeline hard-codes them.
    The per-label decision thresholds live in a buffer, so they travel inside every checkpoint, and
    so does everything prediction needs to prepare chips as in training: `image_size`, `dehaze`,
    `in_chans` and the channel statistics. `tta` is how validation (after fitting) and prediction
    see a chip: "d4" averages the 8 dihedral views; validation during fitting uses the plain view.
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        pretrained: bool = True,
        drop_rate: float = 0.0,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        scheduler: str = "cosine",
        warmup_pct: float = 0.1,
        loss: str = "bce",
        focal_gamma: float = 2.0,
        pos_weight: Sequence[float] | str | None = None,
        channels_last: bool = True,
        in_chans: int = 3,
        image_size: int | None = None,
        channel_mean: Sequence[float] | None = None,
        channel_std: Sequence[float] | None = None,
        loss_labels: str = "all",
        tta: str = "none",
        dehaze: bool = False,
    ) -> None:
        super().__init__()
        if tta not in TTA_MODES:
            raise ValueError(f"tta={tta!r}; choose one of {TTA_MODES}")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"model.scheduler={scheduler!r}; choose one of {SCHEDULERS}")
        if loss not in LOSSES:
            raise ValueError(f"model.loss={loss!r}; choose one of {LOSSES}")
        if loss_labels not in ("all", "rare"):
            raise ValueError(f"model.loss_labels={loss_labels!r}; choose all or rare")
        if isinstance(pos_weight, str) and pos_weight != "auto":
            raise ValueError(f"model.pos_weight={pos_weight!r}; give 17 numbers, 'auto' or null")
        check_backbone(backbone)
        self.save_hyperparameters()
        self.net = timm.create_model(
            backbone, pretrained=pretrained, num_classes=NUM_LABELS, drop_rate=drop_rate, in_chans=in_chans
        )
        if channel_mean is None and in_chans == 3:  # RGB chips: the statistics the backbone was trained with
            data_config = timm.data.resolve_model_data_config(self.net)
            channel_mean = [m * 255 for m in data_config["mean"]]
            channel_std = [s * 255 for s in data_config["std"]]
        elif channel_mean is None:  # other bands: measured on the training chips in `setup`
            channel_mean, channel_std = [0.0] * in_chans, [1.0] * in_chans
        self.register_buffer(
            "mean", torch.tensor(channel_mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(channel_std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("thresholds", torch.full((NUM_LABELS,), START_THRESHOLD))
        # a rare-label specialist learns (and is scored on) the rare labels only
        learned = [LABEL_INDEX[name] for name in RARE] if loss_labels == "rare" else list(range(NUM_LABELS))
        self.register_buffer("learned", torch.tensor(learned), persistent=False)
        fixed = pos_weight is not None and not isinstance(pos_weight, str)
        self.loss_fn = self.make_loss(torch.as_tensor(pos_weight, dtype=torch.float32) if fixed else None)
        if self.hparams.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    @staticmethod
    def hparams_of(path: str | Path) -> dict[str, Any]:
        """A checkpoint's hyperparameters (image size, bands, ...) without building its model."""
        return read_checkpoint(path)["hyper_parameters"]

    @classmethod
    def from_checkpoint(cls, path: str | Path, **overrides: Any) -> ChipClassifier:
        """A checkpoint's model in eval mode, with `overrides` of its hyperparameters (e.g. tta).

        Read with weights_only=True, so no code stored in the file runs; its label list must be ours.
        The backbone is built with pretrained=False: the checkpoint's weights replace any download.
        """
        checkpoint = read_checkpoint(path)
        hparams = {**checkpoint["hyper_parameters"], "pretrained": False, **overrides}
        model = cls(**hparams)
        model.load_state_dict(checkpoint["state_dict"])
        return model.eval()

    def check_image_size(self) -> None:
        """Refuse an image size the backbone cannot take (inception_v3 needs 75 px) before any
        data is read: one forward pass of a blank chip."""
        size, chans = self.hparams.image_size, self.hparams.in_chans
        if not size:
            return
        training = self.training
        try:
            with torch.no_grad():
                self.eval().net(torch.zeros(1, chans, size, size))
        except RuntimeError as error:
            message = f"model.image_size={size} is too small for model.backbone={self.hparams.backbone} ({error})"
            raise ValueError(message) from None
        finally:
            self.train(training)

    @property
    def active_tta(self) -> str:
        """The plain view while fitting (validation every epoch stays cheap), `tta` otherwise."""
        fitting = self._trainer is not None and self.trainer.state.fn == TrainerFn.FITTING
        return "none" if fitting else self.hparams.tta

    def view_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (views, batch, 17): one view without TTA, the 8 dihedral views with TTA "d4"."""
        views = d4_views(images) if self.active_tta == "d4" else images
        return self(views).float().view(-1, len(images), NUM_LABELS)

    def make_loss(self, pos_weight: torch.Tensor | None) -> nn.Module:
        """bce: BCE with logits; focal: sigmoid focal loss (torchvision); asl: asymmetric loss (timm).

        `pos_weight` (17 values) multiplies the loss of positive examples per label (bce and asl)."""
        if pos_weight is not None:
            pos_weight = pos_weight.to(self.learned.device)[self.learned]
        if self.hparams.loss == "focal":
            return FocalLoss(self.hparams.focal_gamma)
        if self.hparams.loss == "asl":
            return AsymmetricLossMultiLabel(pos_weight=pos_weight)
        return nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    @property
    def needs_band_statistics(self) -> bool:
        """Multi-band chips: no backbone knows their statistics, the training chips must give them."""
        return self.hparams.in_chans != 3 and self.hparams.channel_mean is None

    def use_band_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Normalise with these per-band statistics (raw units); saved with the model."""
        self.hparams.channel_mean, self.hparams.channel_std = list(map(float, mean)), list(map(float, std))
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def use_label_frequency(self, positives: np.ndarray, chips: int) -> None:
        """pos_weight="auto": weigh each label's positives by sqrt(negatives / positives)."""
        if self.hparams.pos_weight == "auto":
            positives = torch.as_tensor(positives, dtype=torch.float32).clamp(min=1)
            self.loss_fn = self.make_loss(((chips - positives) / positives).sqrt().to(self.device))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (batch, 17) of normalised images."""
        return self.net(images)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Raw (B, H, W, C) chips -> float (B, C, H, W), normalised with the channel statistics.

        The permuted NHWC batch has channels_last strides; a plain-layout model gets a contiguous
        NCHW copy instead, since convolutions mixing the two layouts are slow (measured 1.45x).
        """
        layout = torch.channels_last if self.hparams.channels_last else torch.contiguous_format
        images = images.permute(0, 3, 1, 2).to(torch.float32, memory_format=layout, copy=True)
        return images.sub_(self.mean).div_(self.std)  # in place: half the memory traffic

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Our loaders ship raw NHWC chips (uint8 RGB or uint16 bands): normalise them here, once."""
        batch["image"] = self.normalize(batch["image"])
        return batch

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.loss_fn(self(batch["image"]).float()[:, self.learned], batch["target"][:, self.learned])
        self.stop_if_not_finite(loss, batch, batch_idx)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["target"]))
        return loss

    def stop_if_not_finite(self, loss: torch.Tensor, batch: dict[str, Any], batch_idx: int) -> None:
        """Stop before a NaN/inf loss reaches the weights; every rank stops together under DDP.

        The checkpoints on disk are from the last good validation, so the run can resume from them.
        """
        bad = not bool(torch.isfinite(loss))
        if self.trainer is None or not self.trainer.strategy.reduce_boolean_decision(bad, all=False):
            return
        names = getattr(getattr(self.trainer.datamodule, "train_set", None), "names", None)
        chips = [names[i] for i in batch["index"].tolist()] if names and bad else []
        raise FloatingPointError(
            f"non-finite training loss ({loss.item() if bad else 'on another rank'}) at global step "
            f"{self.global_step} (epoch {self.current_epoch}, batch {batch_idx})"
            + (f", chips {', '.join(chips[:8])}{' ...' if len(chips) > 8 else ''}" if chips else "")
            + "; the last good checkpoint is checkpoints/last.ckpt of the run folder"
        )

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        """Probabilities (averaged over the TTA views) and, apart, those of the plain view."""
        logits = self.view_logits(batch["image"])
        loss = self.loss_fn(logits[0][:, self.learned], batch["target"][:, self.learned])
        self.log("val/loss", loss, on_epoch=True, sync_dist=True, prog_bar=True, batch_size=len(batch["target"]))
        probs = torch.sigmoid(logits)
        return {"probs": probs.mean(0), "probs_plain": probs[0], "targets": batch["target"], "index": batch["index"]}

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        return {"probs": torch.sigmoid(self.view_logits(batch["image"])).mean(0), "index": batch["index"]}

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        optimizer = create_optimizer_v2(self.net, opt=hp.optimizer, lr=hp.lr, weight_decay=hp.weight_decay)
        scheduler = self._scheduler(optimizer, total_steps=max(1, int(self.trainer.estimated_stepping_batches)))
        if scheduler is None:
            return {"optimizer": optimizer}
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _scheduler(
        self, optimizer: torch.optim.Optimizer, total_steps: int
    ) -> torch.optim.lr_scheduler.LRScheduler | None:
        """cosine: linear warm-up then cosine decay; onecycle: the same plus momentum cycling;
        step: divide by 10 at 1/3 and 2/3 of training (the original Kaggle recipe)."""
        hp = self.hparams
        if hp.scheduler in ("cosine", "onecycle") and total_steps >= 4:
            return torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=hp.lr,
                total_steps=total_steps,
                pct_start=min(max(hp.warmup_pct, 2 / total_steps), 0.5),  # at least 2 warm-up steps
                anneal_strategy="cos",
                cycle_momentum=hp.scheduler == "onecycle",
            )
        if hp.scheduler == "step":
            milestones = [max(1, total_steps // 3), max(2, 2 * total_steps // 3)]
            return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
        return None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the vocabulary and thresholds as plain data, readable with weights_only=True."""
        checkpoint["labels"] = list(LABELS)
        checkpoint["thresholds"] = dict(zip(LABELS, self.thresholds.tolist(), strict=True))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_label_vocabulary(checkpoint.get("labels"), source="checkpoint")


class FocalLoss(nn.Module):
    """Sigmoid focal loss (Lin et al. 2017), averaged over chips and labels: easy negatives weigh less."""

    def __init__(self, gamma: float = 2.0, alpha: float = 0.25) -> None:
        super().__init__()
        self.gamma, self.alpha = gamma, alpha

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return sigmoid_focal_loss(logits, targets, alpha=self.alpha, gamma=self.gamma, reduction="mean")
