"""Lightning callbacks: threshold fitting on the whole validation fold and its run-folder files,
the training fold's statistics handed to the model, the prediction writer, TensorBoard extras;
and the atomic checkpoint writer (a Lightning plugin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn
from PIL import Image, ImageDraw

from amazon_cls import runs
from amazon_cls.io import write_atomic, write_csv
from amazon_cls.labels import LABELS
from amazon_cls.metrics import ValidationResult, binarize, fit_thresholds


def gather_unique(pl_module: L.LightningModule, index: torch.Tensor, *values: torch.Tensor) -> list[np.ndarray]:
    """Gather tensors from all ranks and keep each chip once.

    Under DDP the sampler (`EpochSampler`) repeats a few chips so every rank has equal work;
    de-duplicating on the data set index counts each chip exactly once.
    """
    local_count = torch.tensor([len(index)], device=pl_module.device)
    counts = pl_module.all_gather(local_count).reshape(-1)
    longest = int(counts.max())
    gathered = []
    for tensor in (index, *values):
        padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype, device=pl_module.device)
        padded[: len(tensor)] = tensor
        stacked = pl_module.all_gather(padded).reshape(-1, longest, *tensor.shape[1:])
        gathered.append(torch.cat([stacked[rank, : int(n)] for rank, n in enumerate(counts)]).cpu().numpy())
    _, first = np.unique(gathered[0], return_index=True)
    return [array[first] for array in gathered]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, atomic in the checkpoint's own folder (Lightning's own save
    goes through the system temp folder, and a move across filesystems is a copy)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        write_atomic(path, lambda tmp: torch.save(checkpoint, tmp))


class TrainingFoldStatistics(L.Callback):
    """Hands the model what only the training fold knows, before fitting: label frequencies (for
    pos_weight=auto) and, for multi-band chips, the per-band statistics to normalise with."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        datamodule = trainer.datamodule
        pl_module.use_label_frequency(*datamodule.label_frequency())
        if pl_module.needs_band_statistics:
            pl_module.use_band_statistics(*datamodule.band_statistics())


class ProbabilityWriter(BasePredictionWriter):
    """Writes the probabilities of `Trainer.predict` to `output`: every chip exactly once, in the
    order of the predict set, however many ranks shared the work (their padding repeats removed).
    Rank 0 keeps the table in `frame`; with no `output`, nothing is written."""

    def __init__(self, output: str | Path | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output = Path(output) if output else None
        self.frame: pd.DataFrame | None = None

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices) -> None:
        batches = predictions or []
        index = torch.cat([batch["index"] for batch in batches]) if batches else torch.zeros(0, dtype=torch.int64)
        probs = torch.cat([batch["probs"] for batch in batches]) if batches else torch.zeros(0, len(LABELS))
        index, probs = gather_unique(pl_module, index, probs)
        if trainer.is_global_zero:
            names = trainer.datamodule.predict_set.names
            self.frame = runs.probability_frame([names[i] for i in index], probs)
            if self.output:
                write_csv(self.output, self.frame)


class ThresholdOptimizer(L.Callback):
    """Fits per-label thresholds on each validation epoch's full fold and logs F2 before and after.

    In a `trainer.validate` run (the entry point validates the best checkpoint after fitting) it
    also writes the run folder's thresholds, per-label report and validation probabilities.
    """

    def __init__(self, output_dir: str | Path) -> None:
        self.output_dir = Path(output_dir)
        self._batches: list[dict[str, torch.Tensor]] = []
        self.result: ValidationResult | None = None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batches = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._batches.append({key: outputs[key].detach() for key in ("index", "probs", "probs_plain", "targets")})

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self._batches:
            return
        index, probs, probs_plain, targets = gather_unique(
            pl_module,
            *(torch.cat([b[key] for b in self._batches]) for key in ("index", "probs", "probs_plain", "targets")),
        )
        self._batches = []
        thresholds = fit_thresholds(probs, targets)
        self.result = ValidationResult(index, probs, probs_plain, targets, thresholds)
        pl_module.thresholds.copy_(torch.as_tensor(thresholds, dtype=pl_module.thresholds.dtype))
        # Every rank computed the same numbers from the same gathered data: no further sync needed.
        pl_module.log_dict(self.result.scores(), prog_bar=False)
        report = self.result.report
        pl_module.log_dict({f"val_label_f2/{row.label}": row.f2 for row in report.itertuples()})
        pl_module.log_dict({f"val_threshold/{row.label}": row.threshold for row in report.itertuples()})
        if trainer.state.fn == TrainerFn.VALIDATING and trainer.is_global_zero:
            self.write_outputs(trainer, tta=pl_module.active_tta)

    def write_outputs(self, trainer: L.Trainer, tta: str) -> None:
        """Thresholds, per-label report and probabilities (with and without TTA when it is on)."""
        result = self.result
        runs.write_thresholds(self.output_dir / runs.THRESHOLDS, result.thresholds)
        write_csv(self.output_dir / runs.VAL_REPORT, result.report)
        names = [trainer.datamodule.val_set.names[i] for i in result.index]
        fold = trainer.datamodule.hparams.fold
        frame = runs.validation_frame(names, fold, result.probs, result.targets)
        write_csv(self.output_dir / runs.VAL_PROBS, frame)
        if tta != "none":
            frame = runs.validation_frame(names, fold, result.probs_plain, result.targets)
            write_csv(self.output_dir / runs.VAL_PROBS_PLAIN, frame)


class TensorBoardExtras(L.Callback):
    """At each validation: precision-recall curves per label and a grid of chips with their tags.

    In the grid, each chip lists its correct tags, its false positives (`+tag`, red) and false
    negatives (`-tag`, orange), at the thresholds just fitted by `ThresholdOptimizer`.
    """

    def __init__(self, chips: int = 16, scale: int = 2) -> None:
        self.chips, self.scale = chips, scale

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        (fitter,) = [c for c in trainer.callbacks if isinstance(c, ThresholdOptimizer)]
        writer = next((lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if writer is None or fitter.result is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        result, step = fitter.result, trainer.global_step
        for label, name in enumerate(LABELS):
            writer.add_pr_curve(f"val_pr/{name}", result.targets[:, label], result.probs[:, label], step)
        chosen = np.linspace(0, len(result.index) - 1, min(self.chips, len(result.index))).astype(int)
        val_set = trainer.datamodule.val_set
        tiles = [self.tile(val_set[int(result.index[i])]["image"].numpy(), result, i) for i in chosen]
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


def displayable(image: np.ndarray) -> np.ndarray:
    """uint8 RGB for display: multi-band 16-bit chips show their R, G, B bands, stretched 1-99%."""
    if image.dtype == np.uint8 and image.shape[-1] == 3:
        return image
    rgb = image[..., :3].astype(np.float32)
    low, high = np.percentile(rgb, [1, 99])
    return ((rgb - low) / max(high - low, 1.0) * 255).clip(0, 255).astype(np.uint8)


def grid(tiles: list[Image.Image], columns: int = 8) -> Image.Image:
    width, height = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (width * min(columns, len(tiles)), height * rows), "gray")
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % columns) * width, (k // columns) * height))
    return sheet
