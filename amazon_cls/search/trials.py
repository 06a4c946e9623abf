"""One trial of a search: its parameters sampled, the training config composed with them (Hydra's
compose API, the same `conf/train.yaml` as `train`), trained on each of the study's folds with the
project's own training function, and pruned on `val/f2` by optuna-integration's Lightning callback.
Lightning and torch load only when a trial runs, so that a bad space is named in seconds."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution

from amazon_cls.runtime.schema import check_config
from amazon_cls.search.space import trial_overrides
from amazon_cls.training.config import TrainConfig

log = logging.getLogger(__name__)
# The tune command's own keys: never passed on to training.
TUNE_KEYS = (
    "tune",
    "study_name",
    "study_dir",
    "storage",
    "n_trials",
    "timeout",
    "folds",
    "objective",
    "sampler",
    "pruner",
    "pruning",
    "hydra",
    "task_name",
)


class NonFinite(ValueError):
    """A trial whose objective is not a finite number: refused (failed), never a value of the study."""


def training_overrides(task_overrides: Sequence[str]) -> list[str]:
    """The tune command's overrides that are the training config's (every one not of tune's own keys)."""
    kept = []
    for override in task_overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if key.split(".", 1)[0].split("/", 1)[0] in TUNE_KEYS:
            continue
        if key == "data.fold":
            raise ValueError("data.fold: a study trains the folds of folds=[...]; give folds=[k] instead")
        kept.append(override)
    return kept


@contextmanager
def hydra_config_of(cfg: DictConfig) -> Iterator[None]:
    """The Hydra runtime values a training config reads (`${hydra:runtime.choices.model}`) are the
    trial's own while it trains, and the study's again after."""
    saved = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(cfg)
    try:
        yield
    finally:
        if saved is not None:
            HydraConfig.instance().set_config(saved)


def compose_training(overrides: Sequence[str], output_dir: Path) -> DictConfig:
    """The training config with these overrides, writing into `output_dir`, checked as `train` checks it."""
    try:
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as error:  # an option or key that does not exist
        raise ValueError(" ".join(str(error).split("Config search path")[0].split())) from None
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    with hydra_config_of(cfg):
        check_config(cfg, TrainConfig)
    return cfg


def suggest(trial: optuna.Trial, key: str, distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(key, distribution.choices)
    suggest_number = trial.suggest_float if isinstance(distribution, FloatDistribution) else trial.suggest_int
    return suggest_number(key, distribution.low, distribution.high, step=distribution.step, log=distribution.log)


def run_trial(
    trial: optuna.Trial,
    distributions: Mapping[str, BaseDistribution],
    fixed: Sequence[str],
    folds: Sequence[int],
    trials_dir: Path,
    objective: str,
    pruning: bool,
) -> float:
    """The objective of one trial: the mean over `folds` of `objective` (the best checkpoint's
    `val/f2`, thresholds fitted), each fold a training run in `trials_dir/trial_<n>/fold<k>`; the
    first fold reports every epoch for pruning."""
    from amazon_cls.runtime.hardware import resolve_config
    from amazon_cls.search.pruning import FitPruning
    from amazon_cls.training.fit import train

    params = {key: suggest(trial, key, distribution) for key, distribution in distributions.items()}
    overrides = [*fixed, *trial_overrides(params)]
    log.info("Trial %d: %s", trial.number, " ".join(trial_overrides(params)))
    started, scores = time.monotonic(), []
    for index, fold in enumerate(folds):
        folder = trials_dir / f"trial_{trial.number:04d}" / f"fold{fold}"
        trial.set_user_attr(f"run_fold{fold}", str(folder))
        cfg = compose_training([*overrides, f"data.fold={fold}"], folder)
        with hydra_config_of(cfg):
            resolve_config(cfg)
        callbacks = [FitPruning(trial, objective)] if pruning and index == 0 else []
        with hydra_config_of(cfg):
            metrics = train(cfg, callbacks)
        value = metrics.get(objective)
        if not isinstance(value, int | float) or not math.isfinite(value):
            trial.set_user_attr("refused", f"{objective}={value!r} on fold {fold}")
            raise NonFinite(f"trial {trial.number}: {objective}={value!r} on fold {fold}, refused")
        trial.set_user_attr(f"{objective}_fold{fold}", float(value))
        scores.append(float(value))
    trial.set_user_attr("train_seconds", round(time.monotonic() - started, 1))
    trial.set_user_attr("overrides", overrides)
    return sum(scores) / len(scores)
