"""A search space over the training config: each key a config value (`model.optimizer.lr`) or a
config group (`model/scheduler`), each with an Optuna distribution (`conf/tune/*.yaml`). A trial's
parameters become Hydra overrides of the training config, and the best trial an `experiment=`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import yaml
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

# How a space entry's `type` names an Optuna distribution, and the options each takes.
DISTRIBUTIONS: dict[str, tuple[type[BaseDistribution], tuple[str, ...]]] = {
    "float": (FloatDistribution, ("low", "high", "log", "step")),
    "int": (IntDistribution, ("low", "high", "log", "step")),
    "categorical": (CategoricalDistribution, ("choices",)),
}


def distributions_of(space: Mapping[str, Mapping[str, Any]]) -> dict[str, BaseDistribution]:
    """The Optuna distribution of every key of a space; a bad entry is named by its config key."""
    if not space:
        raise ValueError("tune.space is empty: give at least one key and its distribution (conf/tune/*.yaml)")
    distributions = {}
    for key, entry in space.items():
        where = f"tune.space.{key}"
        options = dict(entry or {})
        kind = options.pop("type", None)
        if kind not in DISTRIBUTIONS:
            raise ValueError(f"{where}.type={kind!r}: choose one of {sorted(DISTRIBUTIONS)}")
        factory, accepted = DISTRIBUTIONS[kind]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(
                f"{where}.{unknown[0]}: not an option of a {kind} distribution (it takes {list(accepted)})"
            )
        try:
            distributions[key] = factory(**options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
    return distributions


def is_group(key: str, groups: Collection[str]) -> bool:
    """`model` or `model/loss` chooses a config group's option (`groups`: the training config's
    groups, as Hydra's runtime choices name them); `model.optimizer.lr` sets a value."""
    return key.lstrip("+~") in groups


def as_override(key: str, value: Any) -> str:
    """The Hydra override that sets `key` to `value`."""
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    return f"{key}={value!r}" if isinstance(value, int | float) else f"{key}={value}"


def trial_overrides(params: Mapping[str, Any]) -> list[str]:
    """A trial's parameters as overrides of the training config, groups before their subgroups
    and values (a value may live in a group's option)."""
    ordered = sorted(params, key=lambda key: ("." in key, key.count("/"), key))
    return [as_override(key, params[key]) for key in ordered]


def default_params(
    values: Mapping[str, Any], choices: Mapping[str, str], distributions: Mapping[str, BaseDistribution]
) -> dict[str, Any] | None:
    """The training config's own values of the searched keys (`values` by dotted key, `choices` by
    group), when each lies in its distribution: the recipe the study measures every trial against."""
    params = {key: choices[key] if is_group(key, choices) else values.get(key) for key in distributions}
    return params if all(contains(distributions[key], value) for key, value in params.items()) else None


def contains(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    return isinstance(value, int | float) and distribution.low <= value <= distribution.high


def experiment_yaml(overrides: list[str], groups: Collection[str], comment: str) -> str:
    """An `experiment=` config that sets these overrides: groups as defaults, values as keys."""
    defaults, values = [], {}
    for override in overrides:
        key, _, raw = override.partition("=")
        if key == "experiment":
            defaults.append(f"/experiment/{raw}")
        elif is_group(key, groups):
            defaults.append({f"override /{key}": raw})
        else:
            node = values
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = yaml.safe_load(raw)
    body = {"defaults": defaults, **values} if defaults else values
    header = "# @package _global_\n" + "".join(f"# {line}\n" for line in comment.splitlines())
    return header + yaml.safe_dump(body, sort_keys=False)
