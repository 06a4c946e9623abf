"""The one place a Lightning Trainer is built from a `trainer` config, for training and prediction.

Our loaders shard by rank themselves (`data.dataset.EpochSampler`, which also seeds augmentation
per chip and epoch); Lightning's distributed sampler would shard them a second time, silently
dropping data under DDP. So it is always off here, and a config asking for it is refused.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig


def make_trainer(trainer: DictConfig, **arguments: Any) -> L.Trainer:
    """The Trainer of a `trainer` config (its `auto` values already resolved), with `arguments`."""
    log_through_root()
    if trainer.get("use_distributed_sampler"):
        raise ValueError(
            "trainer.use_distributed_sampler=true: this project's loaders shard by rank themselves "
            "(EpochSampler); Lightning's sampler would shard them again. Leave it unset or false"
        )
    return instantiate(trainer, use_distributed_sampler=False, **arguments)


def log_through_root() -> None:
    """Lightning's messages once, through the handlers of the command's log (console and file).
    `import lightning` gives its logger a console handler of its own, which printed each message a
    second time once the command's logging (Hydra's) is set up."""
    if logging.getLogger().handlers:
        logging.getLogger("lightning").handlers.clear()
