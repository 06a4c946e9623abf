"""Lightning callbacks: threshold fitting on the whole validation fold, and its run-folder files."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from PIL import Image, ImageDraw

from amazon_cls.io import write_atomic, write_csv, write_json
from amazon_cls.labels import LABEL_INDEX, LABELS, PROB_COLUMNS, RARE, TARGET_COLUMNS
from amazon_cls.metrics import START_THRESHOLD, binarize, chip_f2, fit_thresholds, per_label_report


@dataclass
class ValidationResult:
    """Every validation chip exactly once, with its probabilities, targets and the fitted thresholds."""

    index: np.ndarray
    probs: np.ndarray  # averaged over the TTA views when TTA is on
    probs_plain: np.ndarray  # the plain view alone
    targets: np.ndarray
    thresholds: np.ndarray

    def scores(self) -> dict[str, float]:
        clear_primary = np.zeros_like(self.targets, dtype=bool)
        clear_primary[:, [LABEL_INDEX["clear"], LABEL_INDEX["primary"]]] = True
        return {
            "val/f2@0.5": chip_f2(self.targets, binarize(self.probs, 0.5)),
            "val/f2@0.2": chip_f2(self.targets, binarize(self.probs, START_THRESHOLD)),
            "val/f2": chip_f2(self.targets, binarize(self.probs, self.thresholds)),
            "val/f2_clear_primary": chip_f2(self.targets, clear_primary),
            "val/rare_f2": float(self.report.set_index("label").loc[list(RARE), "f2"].mean()),
        }

    @cached_property
    def report(self) -> pd.DataFrame:
        """Per-label support, precision, recall, F2 and threshold (computed once, fields never change)."""
        return per_label_report(self.targets, binarize(self.probs, self.thresholds), self.thresholds)


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


class ThresholdOptimizer(L.Callback):
    """Fits per-label thresholds on each validation epoch's full fold and logs F2 before and after.

    In a `trainer.validate` run (the entry point validates the best checkpoint after fitting) it
    also writes `thresholds.json`, `val_report.csv` and the validation probabilities file.
    """

    def __init__(
        self, output_dir: str | Path, probs_file: str = "val_probs.csv", plain_probs_file: str = "val_probs_notta.csv"
    ) -> None:
        self.output_dir = Path(output_dir)
        self.probs_file = probs_file
        self.plain_probs_file = plain_probs_file
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
            self.write_outputs(trainer, tta=getattr(pl_module, "tta", "none"))

    def write_outputs(self, trainer: L.Trainer, tta: str) -> None:
        """thresholds.json, val_report.csv and the probabilities (with and without TTA when it is on)."""
        result = self.result
        write_json(self.output_dir / "thresholds.json", dict(zip(LABELS, result.thresholds.tolist(), strict=True)))
        write_csv(self.output_dir / "val_report.csv", result.report)
        names = [trainer.datamodule.val_set.names[i] for i in result.index]
        fold = trainer.datamodule.hparams.fold
        write_csv(self.output_dir / self.probs_file, validation_frame(names, fold, result.probs, result.targets))
        if tta != "none":
            frame = validation_frame(names, fold, result.probs_plain, result.targets)
            write_csv(self.output_dir / self.plain_probs_file, frame)


def store_thresholds(ckpt_path: str | Path, thresholds: np.ndarray, tta: str) -> None:
    """Put thresholds fitted on the validated checkpoint's predictions (made with `tta`) into it."""
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    checkpoint["state_dict"]["thresholds"] = torch.as_tensor(thresholds, dtype=torch.float32)
    checkpoint["thresholds"] = dict(zip(LABELS, thresholds.tolist(), strict=True))
    checkpoint["thresholds_tta"] = tta
    write_atomic(ckpt_path, lambda tmp: torch.save(checkpoint, tmp))


def validation_frame(names: list[str], fold: int, probs: np.ndarray, targets: np.ndarray) -> pd.DataFrame:
    """The out-of-fold table an ensemble reads: image_name, fold, p_<label> x17, t_<label> x17."""
    return pd.concat(
        [
            pd.DataFrame({"image_name": names, "fold": fold}),
            pd.DataFrame(probs, columns=PROB_COLUMNS),
            pd.DataFrame(targets.astype(np.int8), columns=TARGET_COLUMNS),
        ],
        axis=1,
    )


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
