"""What a run says while it works: Lightning's progress bar on a terminal; in a log that is a file
(a batch job, `make train > log`), where a redrawn bar is cut into fragments, one line per epoch
and, while a long stage runs (predicting 61,191 test chips, validating), a line every half minute
with how far it is, its rate and the time left."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

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


EVERY_S = 30.0  # seconds between progress lines of a long stage


class StageLog(L.Callback):
    """A progress line every `every` seconds of predicting or validating: batches done of all,
    chips a second, and the time left at that rate."""

    def __init__(self, every: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.started = self.last = 0.0
        self.chips = 0

    def start(self) -> None:
        self.started = self.last = self.clock()
        self.chips = 0

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start()

    def on_predict_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.step(trainer, "Predicting", batch, batch_idx, trainer.num_predict_batches[dataloader_idx])

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not trainer.sanity_checking:
            self.step(trainer, "Validating", batch, batch_idx, trainer.num_val_batches[dataloader_idx])

    def step(self, trainer: L.Trainer, stage: str, batch: Any, index: int, total: float) -> None:
        self.chips += chips_in(batch)
        now = self.clock()
        if now - self.last < self.every or not trainer.is_global_zero:
            return
        self.last, done, elapsed = now, index + 1, max(now - self.started, 1e-9)
        left = (total - done) * elapsed / done if total not in (None, float("inf")) else None
        log.info("%s", progress_line(stage, done, total, self.chips / elapsed, left))


def chips_in(batch: Any) -> int:
    """How many chips a batch holds (its images' first dimension)."""
    images = batch.get("image") if isinstance(batch, dict) else batch[0] if isinstance(batch, list | tuple) else batch
    return int(getattr(images, "shape", [0])[0])


def progress_line(stage: str, done: int, total: float | None, rate: float, left: float | None) -> str:
    """'Predicting: batch 120 of 956, 25.6 chips/s, about 8 min left'."""
    of = f" of {int(total)}" if left is not None else ""
    remaining = f", about {duration(left)} left" if left is not None else ""
    return f"{stage}: batch {done}{of}, {rate:.1f} chips/s{remaining}"


def duration(seconds: float) -> str:
    """A duration as people say it: 45 s, 8 min, 2 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"
