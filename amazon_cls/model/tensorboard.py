"""TensorBoard for this project: runs named by what they are, the final evaluation of the best
checkpoint as a run of its own beside the fit, a custom-scalars layout that leads with F2 and its
baselines, and per validation the precision-recall curves and a grid of chips with their tags.

A training run's events go to `<run folder>/tensorboard/<model>_<size>px_fold<k>_seed<s>/fit`
and `.../final`, so `tensorboard --logdir outputs` lists each run by date, model, fold and seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from PIL import Image, ImageDraw

from amazon_cls.core.labels import LABELS
from amazon_cls.core.metric import binarize
from amazon_cls.core.validation import ValidationResult
from amazon_cls.data.contract import training_data
from amazon_cls.model.module import ChipClassifier

FIT, FINAL = "fit", "final"
# The custom-scalars dashboard: F2 first, with the baselines it must beat in the same chart.
LAYOUT = {
    "F2 of the validation fold": {
        "F2: fitted thresholds, every label at 0.5 and 0.2, and 'clear primary' everywhere": [
            "Multiline",
            ["val/f2$", r"val/f2@0\.5", r"val/f2@0\.2", "val/f2_clear_primary"],
        ],
        "F2 with thresholds fitted on the chips scored, and cross-fitted (fitted on one half, scored on the other)": [
            "Multiline",
            ["val/f2$", "val/f2_cross_fitted"],
        ],
        "mean F2 of the rare labels, in-sample and cross-fitted": ["Multiline", ["val/rare_f2$", "val/rare_f2_cross"]],
        "losses": ["Multiline", ["train/loss_epoch", "val/loss"]],
    },
    "per label": {
        "F2": ["Multiline", ["val_label_f2/.*"]],
        "thresholds": ["Multiline", ["val_threshold/.*"]],
    },
}


class TensorBoard(TensorBoardLogger):
    """Lightning's TensorBoard logger without its `epoch` series (the step axis says it), so that
    the scalars dashboard opens on the run's own metrics."""

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        super().log_metrics({key: value for key, value in metrics.items() if key != "epoch"}, step)


def final_loggers(loggers: Sequence[Logger]) -> list[Logger]:
    """The run's loggers, each writing the final evaluation as a run of its own (`final`) beside the fit."""
    final = []
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger | CSVLogger):
            options = {"default_hp_metric": False} if isinstance(logger, TensorBoardLogger) else {}
            final.append(type(logger)(save_dir=logger.save_dir, name=logger.name, version=FINAL, **options))
        else:
            final.append(logger)
    return final


def tensorboard_of(trainer: L.Trainer) -> Any | None:
    """The SummaryWriter of the trainer's TensorBoard logger, if it has one."""
    return next((lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)


class TensorBoardExtras(L.Callback):
    """The custom-scalars layout when fitting starts; after each validation, precision-recall
    curves per label and a grid of chips with their tags.

    In the grid, each chip lists its correct tags, its false positives (`+tag`, red) and false
    negatives (`-tag`, orange), at the thresholds just fitted by `ThresholdOptimizer`.
    """

    def __init__(self, chips: int = 16, scale: int = 2) -> None:
        self.chips, self.scale = chips, scale

    def on_fit_start(self, trainer: L.Trainer, pl_module: ChipClassifier) -> None:
        writer = tensorboard_of(trainer)
        if writer is not None and trainer.is_global_zero:
            writer.add_custom_scalars(LAYOUT)

    def on_validation_end(self, trainer: L.Trainer, pl_module: ChipClassifier) -> None:
        writer = tensorboard_of(trainer)
        result = getattr(pl_module, "validation", None)
        if writer is None or result is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        step = trainer.global_step
        for label, name in enumerate(LABELS):
            writer.add_pr_curve(f"val_pr/{name}", result.targets[:, label], result.probs[:, label], step)
        chosen = np.linspace(0, len(result.index) - 1, min(self.chips, len(result.index))).astype(int)
        data = training_data(trainer.datamodule)
        rgb = list(data.source.rgb)
        tiles = [self.tile(data.val_set[int(result.index[i])]["image"].numpy()[..., rgb], result, i) for i in chosen]
        writer.add_image("val_chips", np.asarray(grid(tiles)), step, dataformats="HWC")

    def tile(self, image: np.ndarray, result: ValidationResult, row: int) -> Image.Image:
        """The chip, enlarged, above its tags: correct (white), false positive (red), missed (orange)."""
        predicted = binarize(result.probs[row], result.thresholds)
        truth = result.targets[row].astype(bool)
        lines = [(name, "white") for name, p, t in zip(LABELS, predicted, truth, strict=True) if p and t]
        lines += [(f"+{name}", "red") for name, p, t in zip(LABELS, predicted, truth, strict=True) if p and not t]
        lines += [(f"-{name}", "orange") for name, p, t in zip(LABELS, predicted, truth, strict=True) if t and not p]
        size = max(96, image.shape[0] * self.scale)
        tile = Image.new("RGB", (size, size + 11 * 8), "black")
        tile.paste(Image.fromarray(displayable(image)).resize((size, size), Image.NEAREST), (0, 0))
        draw = ImageDraw.Draw(tile)
        for k, (text, colour) in enumerate(lines[:8]):
            draw.text((2, size + 11 * k), text, fill=colour)
        return tile


def displayable(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB for display: 8-bit chips as they are, others stretched between their 1st and 99th percentiles."""
    if rgb.dtype == np.uint8:
        return rgb
    rgb = rgb.astype(np.float32)
    low, high = np.percentile(rgb, [1, 99])
    return ((rgb - low) / max(high - low, 1.0) * 255).clip(0, 255).astype(np.uint8)


def grid(tiles: list[Image.Image], columns: int = 8) -> Image.Image:
    width, height = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (width * min(columns, len(tiles)), height * rows), "gray")
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % columns) * width, (k // columns) * height))
    return sheet
