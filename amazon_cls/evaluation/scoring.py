"""The evaluation `evaluate` runs: every input checked, then predicted or read, scored with
intervals, compared pair by pair, and reported."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from amazon_cls.evaluation.bootstrap import Bootstrap
from amazon_cls.evaluation.predictions import Context, prepare, same_chips, with_cross_fitted, with_weather_rules
from amazon_cls.evaluation.report import comparisons, score, write_report
from amazon_cls.evaluation.truth import truth_of
from amazon_cls.inference.predictor import PredictionRun
from amazon_cls.store.atomic import remove_stale_temporaries

log = logging.getLogger(__name__)
SINGLE = ("ckpt", "ensemble", "submission")


def items_of(cfg: DictConfig) -> list[Path]:
    """What to evaluate: `compare=[...]`, or the one of ckpt, ensemble, submission given."""
    given = [key for key in (*SINGLE, "compare") if cfg[key]]
    if len(given) != 1:
        raise ValueError(
            f"give one of {', '.join(f'{key}=' for key in SINGLE)} or compare=[...] "
            f"({', '.join(given) if given else 'none'} given)"
        )
    value = cfg[given[0]]
    items = [value] if isinstance(value, str) else list(value)  # ckpt=, ensemble=, submission=: one path
    if not items:
        raise ValueError("compare=[]: give the things to compare")
    return [Path(item) for item in items]


def names_of(cfg: DictConfig, count: int) -> list[str] | None:
    if cfg.names is None:
        return None
    names = list(cfg.names)
    if len(names) != count or len(set(names)) != count:
        raise ValueError(f"names={names}: give {count} different names, one per item, in order")
    return names


def rare_weights_of(cfg: DictConfig, count: int) -> list[float]:
    """The thresholds' objective per item (`core.thresholds.rare_objective`): one weight for all, or one each."""
    value = cfg.get("rare_weight", 0.0)
    weights = [float(value)] * count if isinstance(value, int | float) else [float(w) for w in value]
    if len(weights) != count:
        raise ValueError(f"rare_weight={list(weights)}: give one weight for every item, or {count}, one per item")
    if any(weights) and not cfg.cross_fit:
        raise ValueError(f"rare_weight={value}: it changes how thresholds are fitted, so it needs cross_fit=2 or more")
    return weights


def unique(names: list[str]) -> list[str]:
    """Names made distinct by a suffix where two items would share one."""
    seen: dict[str, int] = {}
    distinct = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        distinct.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return distinct


def evaluate(cfg: DictConfig, make_run: Callable[[], PredictionRun]) -> dict[str, Any]:
    """Everything `evaluate` does; returns evaluation.json's content (empty on a rank other than 0)."""
    paths = items_of(cfg)
    names = names_of(cfg, len(paths))
    output_dir = Path(cfg.output_dir)
    remove_stale_temporaries(output_dir)
    same_chips(paths)
    truth = truth_of(cfg)
    log.info("Scoring %s", truth.description)
    context = Context(truth, cfg.tta, cfg.thresholds, cfg.cross_fit, make_run)
    rare_weights = rare_weights_of(cfg, len(paths))
    pending = [prepare(path, context) for path in paths]  # every input checked before any is predicted
    evaluated = []
    for work, rare_weight in zip(pending, rare_weights, strict=True):
        predictions = work()
        if predictions is None:  # another rank of a distributed prediction: rank 0 reports
            continue
        if cfg.cross_fit:
            predictions = with_cross_fitted(
                predictions, truth.targets, truth.names, cfg.cross_fit, cfg.cross_fit_seed, rare_weight
            )
        if cfg.postprocess.weather:
            predictions = with_weather_rules(predictions)
        evaluated.append(predictions)
    if not evaluated:
        return {}
    named = names or unique([p.name for p in evaluated])
    evaluated = [replace(p, name=name) for p, name in zip(evaluated, named, strict=True)]
    bootstrap = Bootstrap(len(truth), cfg.bootstrap.draws, cfg.bootstrap.seed, cfg.bootstrap.confidence)
    scored = [score(truth, predictions, bootstrap) for predictions in evaluated]
    compared = comparisons(truth, evaluated, bootstrap)
    written = write_report(output_dir, truth, scored, compared, bootstrap)
    return json.loads(written["record"].read_text())
