"""Every value of a training config checked before any data is read: for a run, and for each member
of a sweep before the first one trains (a sweep that fails at its sixth member has wasted five)."""

from __future__ import annotations

from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.utils import instantiate
from omegaconf import DictConfig

from amazon_cls import hardware


def build(cfg: DictConfig, **model_overrides: Any) -> tuple[Any, Any]:
    """The data module and the model of a training config; their constructors check their values,
    and the model checks that the backbone takes the image size. No data is read."""
    if (cfg.trainer.get("max_epochs") or 0) < 1 and not cfg.trainer.get("fast_dev_run"):
        raise ValueError(f"trainer.max_epochs={cfg.trainer.get('max_epochs')}: must be at least 1")
    hardware.resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)  # a GPU trainer needs a GPU
    # plain containers keep checkpoints weights_only-loadable
    datamodule = instantiate(cfg.data, _convert_="all", image_size=cfg.model.image_size)
    model = instantiate(cfg.model, _convert_="all", tta=cfg.tta, dehaze=cfg.data.dehaze, **model_overrides)
    model.check_image_size()
    return datamodule, model


def sweep_members(config: DictConfig) -> list[list[str]]:
    """The overrides of every job of a basic sweep, as Hydra's basic sweeper expands them."""
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    overrides = parser.parse_overrides([*params, *config.hydra.overrides.task])
    return [list(job) for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


class CheckSweepMembers(Callback):
    """Hydra callback: at the start of a training multirun, build every member's config (without
    pretrained weights) and stop, naming the member, on the first bad value."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if "model" not in config or "data" not in config or "trainer" not in config:
            return  # not a training config
        loader = GlobalHydra.instance().config_loader()
        for overrides in sweep_members(config):
            member = loader.load_sweep_config(config, overrides)
            try:
                build(member, pretrained=False)
            except Exception as error:  # any bad value: name the member before anything trains
                # Hydra turns a callback's exceptions into warnings; SystemExit stops the sweep (status 1)
                raise SystemExit(f"Error in sweep member [{' '.join(overrides)}]: {error}") from None
