"""What a run says while it works: Lightning's progress bar on a terminal; in a log that is a file
(a batch job, `make train > log`), where a redrawn bar is cut into fragments, one line per epoch."""

from __future__ import annotations

import logging
import sys
import time

import lightning as L

log = logging.getLogger(__name__)
SHOWN = ("train/loss_epoch", "val/loss", "val/f2", "val/rare_f2")


def interactive() -> bool:
    """The run's output goes to a terminal, where a progress bar can redraw itself."""
    return sys.stderr.isatty()


class EpochLog(L.Callback):
    """One log line per training epoch: its number, the losses and F2, and how long it took."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        shown = ", ".join(f"{key} {float(metrics[key]):.4f}" for key in SHOWN if key in metrics)
        log.info(
            "Epoch %d/%d: %s (%.1f s)",
            trainer.current_epoch + 1,
            trainer.max_epochs,
            shown,
            time.monotonic() - self.started,
        )
