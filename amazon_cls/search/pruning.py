"""Pruning a trial by its validation F2, epoch by epoch."""

from __future__ import annotations

from lightning.pytorch.trainer.states import TrainerFn
from optuna_integration import PyTorchLightningPruningCallback


class FitPruning(PyTorchLightningPruningCallback):
    """optuna-integration's pruning callback, on the fit's validations only: the final validation
    of the best checkpoint is not one more epoch to report."""

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_validation_end(trainer, pl_module)
