"""Learning-rate schedules, by the name `model/scheduler=<name>` chooses
(`conf/model/scheduler/<name>.yaml` holds its options). A new schedule is a registered function
and a config file. Each factory gets the optimizer and the run's number of optimizer steps and
returns a scheduler stepped every step, or None for a constant rate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from amazon_cls.core.registry import Registry, call_with_options, check_options

Scheduler = torch.optim.lr_scheduler.LRScheduler
SCHEDULERS: Registry[Callable[..., Scheduler | None]] = Registry("model.scheduler.name")


def _one_cycle(optimizer: torch.optim.Optimizer, total_steps: int, warmup_pct: float, momentum: bool) -> Scheduler:
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=total_steps,
        pct_start=min(max(warmup_pct, 2 / total_steps), 0.5),  # at least 2 warm-up steps
        anneal_strategy="cos",
        cycle_momentum=momentum,
    )


@SCHEDULERS.register("cosine")
def cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_pct: float = 0.1) -> Scheduler | None:
    """Linear warm-up over `warmup_pct` of the steps, then cosine decay."""
    return _one_cycle(optimizer, total_steps, warmup_pct, momentum=False) if total_steps >= 4 else None


@SCHEDULERS.register("onecycle")
def onecycle(optimizer: torch.optim.Optimizer, total_steps: int, warmup_pct: float = 0.1) -> Scheduler | None:
    """The cosine schedule with momentum cycled against the rate (Smith's one-cycle policy)."""
    return _one_cycle(optimizer, total_steps, warmup_pct, momentum=True) if total_steps >= 4 else None


@SCHEDULERS.register("step")
def step(optimizer: torch.optim.Optimizer, total_steps: int) -> Scheduler:
    """The rate divided by 10 at 1/3 and 2/3 of training (the original Kaggle recipe)."""
    milestones = [max(1, total_steps // 3), max(2, 2 * total_steps // 3)]
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)


@SCHEDULERS.register("constant")
def constant(optimizer: torch.optim.Optimizer, total_steps: int) -> None:
    """The optimizer's rate throughout."""
    return None


def check_scheduler(spec: Mapping[str, Any]) -> None:
    """The schedule's name and options, checked when the model is built (it is made only when fitting starts)."""
    check_options(SCHEDULERS[spec["name"]], options_of(spec), "model.scheduler", ("optimizer", "total_steps"))


def build_scheduler(spec: Mapping[str, Any], optimizer: torch.optim.Optimizer, total_steps: int) -> Scheduler | None:
    return call_with_options(
        SCHEDULERS[spec["name"]], options_of(spec), "model.scheduler", optimizer=optimizer, total_steps=total_steps
    )


def options_of(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in spec.items() if key != "name"}
