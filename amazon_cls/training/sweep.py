"""Every member of a training multirun checked before the first one trains (a sweep that fails at
its sixth member has wasted five)."""

from __future__ import annotations

import itertools
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def sweep_members(config: DictConfig) -> list[list[str]]:
    """The overrides of every job of a basic sweep: the product of each key's values, a key given
    twice taking its last value (as Hydra's basic sweeper expands them)."""
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    choices: dict[str, list[str]] = {}
    for override in parser.parse_overrides([*params, *config.hydra.overrides.task]):
        key = override.get_key_element()
        if override.is_sweep_override():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*choices.values())]


class CheckSweepMembers(Callback):
    """Hydra callback: at the start of a training multirun, build every member's config (without
    pretrained weights) and stop, naming the member, on the first bad value."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if "model" not in config or "data" not in config or "trainer" not in config:
            return  # not a training config
        from amazon_cls.runtime.hardware import resolve_config  # heavy: only when a sweep checks its members
        from amazon_cls.runtime.schema import check_config
        from amazon_cls.training.config import TrainConfig
        from amazon_cls.training.fit import build

        loader = GlobalHydra.instance().config_loader()
        for overrides in sweep_members(config):
            member = loader.load_sweep_config(config, overrides)
            try:
                check_config(member, TrainConfig)
                resolve_config(member)
                build(member, pretrained=False)
            except Exception as error:  # any bad value: name the member before anything trains
                # Hydra turns a callback's exceptions into warnings; SystemExit stops the sweep (status 1)
                raise SystemExit(f"Error in sweep member [{' '.join(overrides)}]: {error}") from None
