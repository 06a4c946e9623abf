"""The LightningModule: a timm backbone with 17 sigmoid outputs, a registered loss and schedule,
and the decision thresholds fitted for it, per view."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn
from timm.data import resolve_model_data_config
from timm.optim import create_optimizer_v2, list_optimizers
from torch import nn

from amazon_cls.core.labels import LABELS, NUM_LABELS, RARE_INDEX, check_label_vocabulary
from amazon_cls.core.thresholds import Thresholds
from amazon_cls.core.validation import ValidationResult
from amazon_cls.data.sources import Source, source_of
from amazon_cls.model.backbones import create_backbone
from amazon_cls.model.losses import build_loss
from amazon_cls.model.schedulers import build_scheduler, check_scheduler
from amazon_cls.model.tta import TTA
from amazon_cls.store.checkpoint import (
    HPARAMS_VERSION,
    HPARAMS_VERSION_KEY,
    LEGACY_THRESHOLD_BUFFER,
    SCORES_KEY,
    checkpoint_hparams,
    checkpoint_thresholds,
    model_state,
    read_checkpoint,
)

OPTIMIZER = {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4}
SCHEDULER = {"name": "cosine", "warmup_pct": 0.1}
LOSS = {"name": "bce", "pos_weight": None}
LEARNED = ("all", "rare")


class ChipClassifier(L.LightningModule):
    """Multi-label chip classifier.

    Batches arrive raw (the source's integer bands); `on_after_batch_transfer` normalises them on
    the device with the mean/std of the backbone's timm data config (RGB) or of the training chips
    (other bands), so nothing in the data pipeline hard-codes them. Everything prediction needs to
    prepare chips as in training travels in the checkpoint: `image_size`, the data `source`,
    `dehaze`, `in_chans` and the channel statistics, and the thresholds fitted per view. `tta` is
    how validation (after fitting) and prediction see a chip (`model.tta`); validation during
    fitting uses the plain view.
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        pretrained: bool = True,
        pretrained_file: str | None = None,
        drop_rate: float = 0.0,
        image_size: int | None = None,
        in_chans: int = 3,
        source: str | None = None,
        channel_mean: Sequence[float] | None = None,
        channel_std: Sequence[float] | None = None,
        channels_last: bool = True,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        loss_labels: str = "all",
        mixup: float = 0.0,
        tta: str = "none",
        dehaze: bool = False,
        chip_extent_m: float | None = None,
        trained_on: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        TTA[tta]  # an unknown name is refused here, naming the key
        if loss_labels not in LEARNED:
            raise ValueError(f"model.loss_labels={loss_labels!r}; choose one of {LEARNED}")
        if not mixup >= 0:
            raise ValueError(f"model.mixup={mixup!r}: the Beta distribution's alpha, >= 0 (0: no mixup)")
        optimizer = {**OPTIMIZER, **(optimizer or {})}  # a name and its arguments; the rest are whole choices
        scheduler, loss = dict(scheduler or SCHEDULER), dict(loss or LOSS)
        check_optimizer(optimizer["name"])
        check_scheduler(scheduler)
        pos_weight = loss.get("pos_weight")
        if isinstance(pos_weight, str) and pos_weight != "auto":
            raise ValueError(f"model.loss.pos_weight={pos_weight!r}; give 17 numbers, 'auto' or null")
        self.save_hyperparameters()  # the arguments as they are now: the sections with their defaults
        self.net = create_backbone(backbone, pretrained, NUM_LABELS, in_chans, drop_rate, pretrained_file)
        if channel_mean is None and in_chans == 3:  # RGB chips: the statistics the backbone was trained with
            data_config = resolve_model_data_config(self.net)
            channel_mean = [m * 255 for m in data_config["mean"]]
            channel_std = [s * 255 for s in data_config["std"]]
        elif channel_mean is None:  # other bands: measured on the training chips in `setup`
            channel_mean, channel_std = [0.0] * in_chans, [1.0] * in_chans
        self.register_buffer(
            "mean", torch.tensor(channel_mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(channel_std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        # a rare-label specialist learns (and is scored on) the rare labels only
        learned = RARE_INDEX if loss_labels == "rare" else list(range(NUM_LABELS))
        self.register_buffer("learned", torch.tensor(learned), persistent=False)
        fixed = pos_weight is not None and not isinstance(pos_weight, str)
        self.loss_fn = self.make_loss(torch.as_tensor(pos_weight, dtype=torch.float32) if fixed else None)
        self.thresholds = Thresholds.start(source="an unfitted model")  # fitted on validation
        self.scores: dict[str, float] = {}  # the best checkpoint's epochs and out-of-fold F2, once validated
        self.validation: ValidationResult | None = None  # the last validation's chips, scores and thresholds
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, checkpoint: dict[str, Any] | None = None, **overrides: Any
    ) -> ChipClassifier:
        """A checkpoint's model in eval mode, with `overrides` of its hyperparameters (e.g. tta);
        `checkpoint` is the file's content when the caller has read it already.

        Read with weights_only=True, so no code stored in the file runs; its label list must be ours.
        The backbone is built with pretrained=False: the checkpoint's weights replace any download.
        """
        checkpoint = read_checkpoint(path) if checkpoint is None else checkpoint
        hparams = {
            **checkpoint_hparams(checkpoint),
            "pretrained": False,
            "pretrained_file": None,
            **overrides,
        }
        model = cls(**hparams)
        model.load_state_dict(model_state(checkpoint))
        model.thresholds = checkpoint_thresholds(checkpoint, str(path))
        return model.eval()

    @property
    def data_source(self) -> Source:
        """How this model's chips are decoded: its data source (older checkpoints: by band count)."""
        return source_of(self.hparams.source, self.hparams.in_chans)

    def blank_input(self) -> torch.Tensor:
        """One blank chip as the backbone takes it (a summary's or a check's forward pass)."""
        size = self.hparams.image_size or 32
        return torch.zeros(1, self.hparams.in_chans, size, size)

    def check_image_size(self) -> None:
        """Refuse an image size the backbone cannot take (inception_v3 needs 75 px) before any
        data is read: one forward pass of a blank chip."""
        size = self.hparams.image_size
        if not size:
            return
        training = self.training
        try:
            with torch.no_grad():
                self.eval().net(self.blank_input())
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
        """Logits (views, batch, 17) of the active TTA's views; the plain view first."""
        return self(TTA[self.active_tta](images)).float().view(-1, len(images), NUM_LABELS)

    def make_loss(self, pos_weight: torch.Tensor | None) -> nn.Module:
        """The configured loss; `pos_weight` (17 values) for the learned labels. Its buffers are
        not saved: a checkpoint carries the model, not the training objective (pos_weight=auto is
        measured again on the training fold when training resumes)."""
        if pos_weight is not None:
            pos_weight = pos_weight.to(self.learned.device)[self.learned]
        loss = build_loss(self.hparams.loss, pos_weight)
        for module in loss.modules():
            for name, buffer in list(module.named_buffers(recurse=False)):
                module.register_buffer(name, buffer, persistent=False)
        return loss

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
        if self.hparams.loss.get("pos_weight") == "auto":
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

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Our loaders ship raw NHWC chips: normalise them here, once, on the device. (A tensor is
        model input already: the model summary's `example_input_array`.)"""
        if isinstance(batch, dict):
            batch["image"] = self.normalize(batch["image"])
        return batch

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        images, targets = mixed(batch["image"], batch["target"], self.hparams.mixup)
        loss = self.loss_fn(self(images).float()[:, self.learned], targets[:, self.learned])
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
        spec = dict(self.hparams.optimizer)
        optimizer = create_optimizer_v2(self.net, opt=spec.pop("name"), **spec)
        total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = build_scheduler(self.hparams.scheduler, optimizer, total_steps)
        if scheduler is None:
            return {"optimizer": optimizer}
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the vocabulary and the thresholds per view as plain data (weights_only=True reads them)."""
        checkpoint["labels"] = list(LABELS)
        checkpoint["thresholds"] = self.thresholds.to_json()
        checkpoint[HPARAMS_VERSION_KEY] = HPARAMS_VERSION
        if self.scores:  # the best checkpoint, validated: how long it trained and how well it does out of fold
            checkpoint[SCORES_KEY] = dict(self.scores)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Check the vocabulary and take the thresholds (called before Lightning loads the weights)."""
        check_label_vocabulary(checkpoint.get("labels"), source="checkpoint")
        checkpoint["state_dict"].pop(LEGACY_THRESHOLD_BUFFER, None)
        self.thresholds = checkpoint_thresholds(checkpoint, "checkpoint")


def mixed(images: torch.Tensor, targets: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al. 2018): each chip blended with another of the batch, and its labels with
    the same weight drawn from Beta(alpha, alpha), so that BCE learns from soft targets. A rare
    label then appears, partly, on more chips of every batch. alpha=0 leaves the batch as it is."""
    if alpha <= 0:
        return images, targets
    weight = float(np.random.beta(alpha, alpha))  # seeded by Lightning's seed_everything
    partner = torch.randperm(len(images), device=images.device)
    return (weight * images + (1 - weight) * images[partner], weight * targets + (1 - weight) * targets[partner])


def check_optimizer(name: str) -> None:
    """Refuse an optimizer timm does not know when the model is built (it is made only when fitting starts)."""
    known = list_optimizers()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        raise ValueError(
            f"model.optimizer.name={name!r}: timm has no optimizer of that name"
            + (f"; close names: {', '.join(close)}" if close else "")
        )
