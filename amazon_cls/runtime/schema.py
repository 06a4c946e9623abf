"""The check of a composed config against its command's typed schema, before anything heavy is
imported, before any Trainer, data check or checkpoint load: every key's type and range, every input
path's existence and every output path's room, and the rules across keys, each named by its key, all
in one message.

The schemas are dataclasses beside the code that owns each group (`data.config`, `model.config`,
`runtime.config`'s trainer, `inference.config`, `geo.config`, ...), written in the vocabulary of
`core.schema`; each command names its own (`@task("map", MapConfig)`). A key a config lacks is not
checked (groups differ), and a value computed by one of the project's resolvers is left to the code
that computes it. Choices that extension registries own (a loss's name, a TTA, an ensemble method)
are checked by their registry when the objects are built, so that a new entry needs no second home.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from amazon_cls.core.schema import Rule, open_prefixes, problems_in, rules_of
from amazon_cls.runtime.config import RESOLVERS

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"  # a config group is a folder of it


def value_of(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    """(present and to be checked, its value). A value the project's resolvers compute (the image
    size from timm, the bands from the data source) is checked by the code that computes it."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig) or leaf not in node.keys():  # noqa: SIM118 (`in node` would resolve it)
        return False, None
    raw = OmegaConf.to_container(node, resolve=False)[leaf]
    if isinstance(raw, str) and any(f"${{{resolver}:" in raw for resolver in RESOLVERS):
        return False, None
    value = node[leaf]
    return True, OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig | ListConfig) else value


def problems_of(cfg: DictConfig, schema: type) -> list[str]:
    """Every problem of `cfg` against `schema`, as `key=value: what is wrong`."""
    values = {}
    for key in rules_of(schema):
        present, value = value_of(cfg, key)
        if present:
            values[key] = value
    return list(problems_in(schema, values))


# Keys read by Hydra itself, or by what it instantiates from a `_target_` (a callback, a logger,
# Optuna's sampler and pruner), whose constructors refuse an argument they do not take.
ALWAYS_READ = ("hydra.", "paths.", "callbacks.", "logger.", "sampler.", "pruner.")


def unread_additions(added: list[str], schema: type) -> list[str]:
    """The `+key=value` overrides that add a key no one reads: not in the schema, not under a group
    read whole, not a config group's choice (`+member=plain_cnn`). Such a key would be ignored."""
    rules, prefixes = rules_of(schema), (*ALWAYS_READ, *open_prefixes(schema))
    unread = []
    for override in added:
        key = override.lstrip("+").split("=", 1)[0].strip()
        group = key.replace(".", "/")
        if key in rules or key.startswith(prefixes) or (CONF_DIR / group).is_dir():
            continue
        unread.append(f"{override.split('=', 1)[0]}: no such key is read (the config's keys: --cfg job shows them)")
    return unread


def added_overrides() -> list[str]:
    """The command line's `+key=value` overrides (none when the config was not composed by Hydra's main)."""
    if not HydraConfig.initialized():
        return []
    return [o for o in HydraConfig.get().overrides.task if o.startswith("+")]


def check_config(cfg: DictConfig, schema: type) -> None:
    """Refuse a config with any problem, naming every key at fault, before any work; then give
    every list key its one shape (`listed_paths`)."""
    found = problems_of(cfg, schema) + unread_additions(added_overrides(), schema)
    if found:
        raise ValueError("; ".join(found))
    listed_paths(cfg, rules_of(schema))


def listed_paths(cfg: DictConfig, schema: Mapping[str, Rule]) -> None:
    """A path given alone where a list of paths is allowed (`input=a`) becomes a list of one, so
    that the code reading the config never takes a string for a list of its characters."""
    for key, rule in schema.items():
        present, value = value_of(cfg, key)
        if present and isinstance(value, str) and rule.kind == "list" and rule.item and rule.item.kind == "path":
            with open_dict(cfg):
                OmegaConf.update(cfg, key, [value], merge=False)
