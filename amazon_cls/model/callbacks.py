"""The training callbacks: thresholds fitted on the whole validation fold (and the run-folder
files of the final validation), the training fold's statistics handed to the model, and an
exponential moving average of the weights. They ask the datamodule only for what
`data.contract.TrainingData` promises. (TensorBoard's: `model.tensorboard`.)"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn

from amazon_cls.core.thresholds import Thresholds
from amazon_cls.core.validation import ValidationResult
from amazon_cls.data.contract import training_data
from amazon_cls.model.distributed import gather_unique
from amazon_cls.model.module import ChipClassifier
from amazon_cls.store.atomic import output_set, write_csv, write_json
from amazon_cls.store.run_folder import RunFolder
from amazon_cls.store.tables import validation_frame

OUTPUT_KEYS = ("index", "probs", "probs_plain", "targets")


def validation_names(datamodule: object, index: Sequence[int]) -> list[str] | None:
    """The names of the validated chips (positions `index` of the datamodule's validation set), or
    None for a datamodule that does not name them."""
    names = getattr(getattr(datamodule, "val_set", None), "names", None)
    return None if names is None else [names[int(i)] for i in index]


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


class WeightAverage(EMAWeightAveraging):
    """Lightning's exponential moving average of the weights, which validates (and so fits the
    thresholds of) the average while fitting and saves it as the checkpoints' weights. Once the fit
    ends the average *is* the model: validating the best checkpoint, saving it again with its
    thresholds and predicting the test folders all use the averaged weights, as `predict` will."""

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)  # the average becomes the model's weights
        self._average_model = None  # no more swaps: what follows is the average alone

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if self._average_model is not None:  # resuming a fit: restore the average and the current weights
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
        # after the fit, the checkpoint's weights are the average already


class ThresholdOptimizer(L.Callback):
    """Fits per-label thresholds on each validation epoch's full fold, gives them to the model
    (which saves them in its checkpoints) and logs F2 before and after.

    The thresholds are fitted under the view the model validated with: the plain view while
    fitting; its `tta` in the final validation of the best checkpoint, where the plain view's are
    fitted too. That final validation also writes the run folder's thresholds, per-label report and
    out-of-fold probabilities into `output_dir`. `rare_weight` > 0 fits them on the chips' F2 plus
    that weight times the rare labels' mean F2 (`core.thresholds.rare_objective`).
    """

    def __init__(self, output_dir: str | Path | None = None, rare_weight: float = 0.0) -> None:
        self.folder = RunFolder(Path(output_dir)) if output_dir else None
        self.rare_weight = rare_weight
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
        thresholds = Thresholds.fitted(view, probs, targets, rare_weight=self.rare_weight)
        if final and view != "none":
            plain = Thresholds.fitted("none", probs_plain, targets, rare_weight=self.rare_weight)
            thresholds = plain.merged(thresholds)
        pl_module.thresholds = thresholds  # every rank fitted the same on the same gathered chips
        names = validation_names(trainer.datamodule, index)
        result = ValidationResult(
            index, probs, probs_plain, targets, thresholds.of_view(view), view, names, self.rare_weight
        )
        pl_module.validation = result
        scores = result.scores()
        pl_module.log("val/f2", scores.pop("val/f2"), prog_bar=True)  # the score, on the progress bar too
        pl_module.log_dict(scores)
        report = result.report
        pl_module.log_dict({f"val_label_f2/{row.label}": row.f2 for row in report.itertuples()})
        pl_module.log_dict({f"val_threshold/{row.label}": row.threshold for row in report.itertuples()})
        if final and self.folder and trainer.is_global_zero:
            self.write_outputs(trainer, result, thresholds)

    def write_outputs(self, trainer: L.Trainer, result: ValidationResult, thresholds: Thresholds) -> None:
        """Thresholds, per-label report and probabilities (with and without TTA when it is on), as
        one set: a failed write keeps the previous ones."""
        data = training_data(trainer.datamodule)
        folder = self.folder
        names = result.names  # named by `validation_names` when the result was made
        with output_set():
            write_json(folder.thresholds, thresholds.to_json())
            write_csv(folder.val_report, result.report)
            write_csv(folder.val_probs, validation_frame(names, data.fold, result.probs, result.targets))
            if result.view != "none":
                plain = validation_frame(names, data.fold, result.probs_plain, result.targets)
                write_csv(folder.val_probs_plain, plain)
