"""The search `tune` runs: the space and every trial's config checked first, the study opened or
resumed, the training config's own recipe enqueued as the first trial (the reference every other
trial is measured against), the trials run, and the study's outputs written."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution

from amazon_cls.search.outputs import write_outputs
from amazon_cls.search.space import default_params, distributions_of, is_group, trial_overrides
from amazon_cls.search.study import (
    Interrupted,
    Unfinished,
    database_writes,
    fail_dead_workers,
    open_study,
    remaining,
    run_study,
    storage_of,
)
from amazon_cls.search.trials import compose_training, run_trial, training_overrides
from amazon_cls.store.report_folders import StudyFolder

log = logging.getLogger(__name__)


def corner_params(distributions: Mapping[str, BaseDistribution]) -> list[dict[str, Any]]:
    """Parameter sets that reach every categorical choice and both ends of every range: composed
    and checked before the first trial, so that a bad space fails in seconds, not hours in."""
    low = {key: d.choices[0] if isinstance(d, CategoricalDistribution) else d.low for key, d in distributions.items()}
    high = {
        key: d.choices[-1] if isinstance(d, CategoricalDistribution) else d.high for key, d in distributions.items()
    }
    each_choice = [
        {**low, key: choice}
        for key, d in distributions.items()
        if isinstance(d, CategoricalDistribution)
        for choice in d.choices[1:-1]
    ]
    return [low, high, *each_choice]


def check_trials(
    fixed: Sequence[str], distributions: Mapping[str, BaseDistribution], folds: Sequence[int], scratch: Path
) -> DictConfig:
    """Compose and check the training config of every corner of the space (`corner_params`);
    returns the config of the study's own recipe (no parameter applied)."""
    for params in corner_params(distributions):
        overrides = [*fixed, *trial_overrides(params), f"data.fold={folds[0]}"]
        try:
            cfg = compose_training(overrides, scratch)
        except ValueError as error:
            raise ValueError(f"a trial of tune.space, {' '.join(trial_overrides(params))}: {error}") from None
        if cfg.trainer.get("strategy") not in (None, "auto") or cfg.trainer.get("num_nodes", 1) != 1:
            raise ValueError(
                "trainer: a trial trains in the tune process, on one device; for many devices run "
                "one tune worker per device with one storage= (they share the study)"
            )
    for fold in folds:
        compose_training([*fixed, f"data.fold={fold}"], scratch)
    return compose_training([*fixed, f"data.fold={folds[0]}"], scratch)


def recipe_params(cfg: DictConfig, distributions: Mapping[str, BaseDistribution]) -> dict[str, Any] | None:
    """The searched keys' values in the study's own training config, if inside the space."""
    choices = OmegaConf.to_container(cfg.hydra.runtime.choices)
    values = {key: OmegaConf.select(cfg, key) for key in distributions if not is_group(key, choices)}
    return default_params(values, choices, distributions)


def resumed_sampler(sampler: DictConfig, trials: int) -> optuna.samplers.BaseSampler:
    """The sampler, its seed moved on by the trials the study holds: a resumed study, or a second
    worker, draws new points (the same ones as the first process, else), still reproducibly."""
    seed = OmegaConf.select(sampler, "seed")
    return hydra.utils.instantiate(sampler, **({"seed": seed + trials} if seed is not None else {}))


def tune(cfg: DictConfig) -> dict[str, Any]:
    """Everything `tune` does; returns study.json's content."""
    task = list(HydraConfig.get().overrides.task)
    command = " ".join(["python -m amazon_cls.tune", *task])
    fixed = training_overrides(task)
    distributions = distributions_of(OmegaConf.to_container(cfg.tune.space, resolve=True))
    folds = [int(fold) for fold in cfg.folds]
    study_dir = Path(cfg.study_dir)
    recipe = check_trials(fixed, distributions, folds, StudyFolder(study_dir).trials / "check")
    pruner = hydra.utils.instantiate(cfg.pruner)
    settings = {
        "train_overrides": fixed,
        "space": OmegaConf.to_container(cfg.tune.space, resolve=True),
        "folds": folds,
        "objective": cfg.objective,
        "groups": sorted(OmegaConf.to_container(recipe.hydra.runtime.choices)),
    }
    with database_writes(cfg.storage or str(StudyFolder(study_dir).database)):  # cannot be written: one line
        study = open_study(cfg.study_name, storage_of(cfg.storage, study_dir), settings, pruner)
        study.sampler = resumed_sampler(cfg.sampler, len(study.get_trials(deepcopy=False)))
        if not study.get_trials(deepcopy=False) and cfg.tune.enqueue_recipe:
            if (params := recipe_params(recipe, distributions)) is not None:
                study.enqueue_trial(params, user_attrs={"default_recipe": True})
            else:
                log.warning("The training config's own recipe lies outside tune.space; no trial measures it")
        fail_dead_workers(study)  # before counting: a dead worker's trial is to run again
        to_run = max(remaining(study, cfg.n_trials), 0)
        log.info("Study %r (%s): %d of %d trials to run", study.study_name, study_dir, to_run, cfg.n_trials)
        objective = partial(
            run_trial,
            distributions=distributions,
            fixed=fixed,
            folds=folds,
            trials_dir=StudyFolder(study_dir).trials,
            objective=cfg.objective,
            pruning=cfg.pruning,
        )
        return run_and_write(study, objective, cfg, study_dir, command)


def run_and_write(
    study: optuna.Study, objective: Callable[[optuna.Trial], float], cfg: DictConfig, study_dir: Path, command: str
) -> dict[str, Any]:
    """The study's trials until it is finished, then its outputs; study.json's content. Stopped
    early (a signal, time out while others run), the outputs say how far it got, and it exits non-zero."""
    try:
        ran = run_study(study, objective, cfg.n_trials, cfg.timeout)
    except Interrupted as stop:
        write_outputs(study, study_dir, cfg.n_trials, command)
        log.error(
            "Interrupted (%s): the running trial is marked failed and not counted; the same command "
            "resumes the study (%d of %d trials to run)",
            stop.signal_name,
            remaining(study, cfg.n_trials),
            cfg.n_trials,
        )
        raise SystemExit(stop.code) from None
    except Unfinished:
        write_outputs(study, study_dir, cfg.n_trials, command)
        raise
    summary = write_outputs(study, study_dir, cfg.n_trials, command)
    summary["ran_here"] = ran
    return summary
