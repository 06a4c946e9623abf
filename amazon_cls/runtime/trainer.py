"""The one place a Lightning Trainer is built from a `trainer` config, for training and prediction.

Our loaders shard by rank themselves (`data.dataset.EpochSampler`, which also seeds augmentation
per chip and epoch); Lightning's distributed sampler would shard them a second time, silently
dropping data under DDP. So it is always off here, and a config asking for it is refused.

The run's log says what a user can act on: Lightning's messages once, through the command's log;
an epoch line instead of a progress bar where the log is a file; and not the notices of the
libraries beneath that ask nothing of a user (a tip to install a cloud logger, deprecations
inside Lightning, the model summary's size note under bf16, the normalising hook the project
overrides on purpose).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from amazon_cls.runtime.progress import EpochLog, StageLog, interactive

# Notices that ask nothing of a user: (category, message pattern).
QUIET = (
    (Warning, r".*isinstance\(treespec, LeafSpec\)` is deprecated.*"),
    (Warning, r".*is not supported by the model summary.*"),
    (Warning, r".*overridden `on_after_batch_transfer` in `LightningModule`.*"),
    (Warning, r".*does not have many workers which may be a bottleneck.*"),
)
# Lightning's messages that report its own housekeeping, not the run's.
HOUSEKEEPING = ("💡 Tip:", "Trainer already configured with model summary", "Loading `train_dataloader` to estimate")


def make_trainer(trainer: DictConfig, **arguments: Any) -> L.Trainer:
    """The Trainer of a `trainer` config (its `auto` values already resolved), with `arguments`."""
    quiet_lightning()
    if trainer.get("use_distributed_sampler"):
        raise ValueError(
            "trainer.use_distributed_sampler=true: this project's loaders shard by rank themselves "
            "(EpochSampler); Lightning's sampler would shard them again. Leave it unset or false"
        )
    if trainer.get("enable_progress_bar", True) and not interactive():
        arguments = {**arguments, "enable_progress_bar": False}
        arguments["callbacks"] = [*arguments.get("callbacks", []), EpochLog(), StageLog()]
    return instantiate(trainer, use_distributed_sampler=False, **arguments)


def log_through_root() -> None:
    """Lightning's messages once, through the handlers of the command's log (console and file).
    `import lightning` gives its logger a console handler of its own, which printed each message a
    second time once the command's logging (Hydra's) is set up."""
    if logging.getLogger().handlers:
        logging.getLogger("lightning").handlers.clear()


class DropHousekeeping(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(HOUSEKEEPING)


def quiet_lightning() -> None:
    """Lightning's messages once, through the command's log, without the notices that ask nothing
    of a user (QUIET, HOUSEKEEPING). Called before a run's first Lightning call."""
    log_through_root()
    for category, pattern in QUIET:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, DropHousekeeping) for f in rank_zero.filters):
        rank_zero.addFilter(DropHousekeeping())
