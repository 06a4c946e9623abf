"""The training callbacks: thresholds fitted on the whole validation fold (and the run-folder
files of the final validation), the training fold's statistics handed to the model, and
TensorBoard's curves and chip grids. They ask the datamodule only for what
`data.contract.TrainingData` promises."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from PIL import Image, ImageDraw

from amazon_cls.core.labels import LABELS
from amazon_cls.core.metric import binarize
from amazon_cls.core.thresholds import Thresholds
from amazon_cls.core.validation import ValidationResult
from amazon_cls.data.contract import training_data
from amazon_cls.model.module import ChipClassifier
from amazon_cls.runtime.distributed import gather_unique
from amazon_cls.store.atomic import write_csv, write_json
from amazon_cls.store.run_folder import RunFolder
from amazon_cls.store.tables import validation_frame

OUTPUT_KEYS = ("index", "probs", "probs_plain", "targets")


class TrainingFoldStatistics(L.Callback):
    """Hands the model what only the training fold knows, before fitting: label frequencies (for
    pos_weight=auto) and, for multi-band chips, the per-band statistics to normalise with."""

    def setup(self, trainer: L.Trainer, pl_module: ChipClassifier, stage: str) -> None:
        if stage != "fit":
            return
        data = training_data(trainer.datamodule)
        pl_module.use_label_frequency(*data.label_frequency())
        if pl_module.needs_band_statistics:
            pl_module.use_band_statistics(*data.band_statistics())


class ThresholdOptimizer(L.Callback):
    """Fits per-label thresholds on each validation epoch's full fold, gives them to the model
    (which saves them in its checkpoints) and logs F2 before and after.

    The thresholds are fitted under the view the model validated with: the plain view while
    fitting; its `tta` in the final validation of the best checkpoint, where the plain view's are
    fitted too. That final validation also writes the run folder's thresholds, per-label report and
    out-of-fold probabilities into `output_dir`.
    """

    def __init__(self, output_dir: str | Path | None = None) -> None:
        self.folder = RunFolder(Path(output_dir)) if output_dir else None
        self._batches: list[dict[str, torch.Tensor]] = []

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: ChipClassifier) -> None:
        self._batches = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._batches.append({key: outputs[key].detach() for key in OUTPUT_KEYS})

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: ChipClassifier) -> None:
        if trainer.sanity_checking or not self._batches:
            return
        index, probs, probs_plain, targets = gather_unique(
            pl_module, *(torch.cat([b[key] for b in self._batches]) for key in OUTPUT_KEYS)
        )
        self._batches = []
        view, final = pl_module.active_tta, trainer.state.fn == TrainerFn.VALIDATING
        thresholds = Thresholds.fitted(view, probs, targets)
        if final and view != "none":
            thresholds = Thresholds.fitted("none", probs_plain, targets).merged(thresholds)
        pl_module.thresholds = thresholds  # every rank fitted the same on the same gathered chips
        result = ValidationResult(index, probs, probs_plain, targets, thresholds.of_view(view), view)
        pl_module.validation = result
        pl_module.log_dict(result.scores(), prog_bar=False)
        report = result.report
        pl_module.log_dict({f"val_label_f2/{row.label}": row.f2 for row in report.itertuples()})
        pl_module.log_dict({f"val_threshold/{row.label}": row.threshold for row in report.itertuples()})
        if final and self.folder and trainer.is_global_zero:
            self.write_outputs(trainer, result, thresholds)

    def write_outputs(self, trainer: L.Trainer, result: ValidationResult, thresholds: Thresholds) -> None:
        """Thresholds, per-label report and probabilities (with and without TTA when it is on)."""
        data = training_data(trainer.datamodule)
        folder = self.folder
        write_json(folder.thresholds, thresholds.to_json())
        write_csv(folder.val_report, result.report)
        names = [data.val_set.names[i] for i in result.index]
        write_csv(folder.val_probs, validation_frame(names, data.fold, result.probs, result.targets))
        if result.view != "none":
            write_csv(folder.val_probs_plain, validation_frame(names, data.fold, result.probs_plain, result.targets))


class TensorBoardExtras(L.Callback):
    """After each validation: precision-recall curves per label and a grid of chips with their tags.

    In the grid, each chip lists its correct tags, its false positives (`+tag`, red) and false
    negatives (`-tag`, orange), at the thresholds just fitted by `ThresholdOptimizer`.
    """

    def __init__(self, chips: int = 16, scale: int = 2) -> None:
        self.chips, self.scale = chips, scale

    def on_validation_end(self, trainer: L.Trainer, pl_module: ChipClassifier) -> None:
        writer = next((lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
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
