"""The one road from a scene to probabilities, shared by `map` and `monitor`: a raster opened with
its bands and scale (`Scene`), a grid of chips over it (`Tiling`), each chip read window by window
(`SceneTiles`) and predicted through `Trainer.predict`. Its settings are one config group that both
commands compose (`conf/pipeline/scene.yaml`), and what of them changes a scene's probabilities is
named here once (`MODEL_KEYS`, `SCENE_KEYS`), for the records that let a finished scene be skipped."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from amazon_cls.data.sources import Source
from amazon_cls.geo.grid import UNKNOWN_EXTENT_PX, Grid, Tiling
from amazon_cls.geo.scene import Scene
from amazon_cls.geo.sensors import SENSORS
from amazon_cls.geo.tiles import SceneTiles
from amazon_cls.inference.predictor import PredictionRun, Predictor
from amazon_cls.runtime.command import is_rank_zero

log = logging.getLogger(__name__)

# What changes a scene's probabilities: the model and its view, and how the scene becomes chips.
MODEL_KEYS = ("ckpt", "ensemble", "tta")
SCENE_KEYS = (
    "chip_size",
    "stride",
    "resolution",
    "edge",
    "min_valid",
    "crs",
    "bands",
    "scale_16bit",
    "sensor",
    "masks",
)


def as_data(value: Any) -> Any:
    """A config value as plain data (lists and dicts, interpolations resolved), as a record keeps it."""
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def settings_of(cfg: DictConfig, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values of `keys`, as a record of finished work keeps them."""
    return {key: as_data(cfg[key]) for key in keys}


def tiling_of(cfg: DictConfig, predictor: Predictor) -> Tiling:
    """The grid's rule: chips of `chip_size` every `stride` pixels (default: side by side); with
    `chip_size=auto`, chips of the ground size the model was trained on."""
    extent = predictor.chip_extent_m() if cfg.chip_size == "auto" else None
    if cfg.chip_size == "auto" and extent is None and is_rank_zero():
        log.warning(
            "chip_size=auto: %s does not record its chips' ground size (a checkpoint made before "
            "models kept it): chips of %d px, as before; give chip_size=<pixels>",
            predictor.describe(),
            UNKNOWN_EXTENT_PX,
        )
    return Tiling(cfg.chip_size, cfg.stride, cfg.resolution, cfg.edge, cfg.min_valid, extent)


def open_scene(cfg: DictConfig, path: str | Path, source: Source, mask: str | None = None) -> Scene:
    """A scene read as the model's data source reads one, with the pipeline's bands, CRS, scale,
    sensor and its cloud mask."""
    return Scene.open(path, source, cfg.crs, cfg.bands, cfg.scale_16bit, SENSORS[cfg.sensor], mask)


def masks_of(cfg: DictConfig, scenes: list[str]) -> list[str | None]:
    """Each scene's cloud mask (`masks=`, one per scene in their order), or none."""
    if cfg.masks is None:
        return [None] * len(scenes)
    if len(cfg.masks) != len(scenes):
        raise ValueError(f"masks: {len(cfg.masks)} masks for {len(scenes)} scenes; give one per scene, in their order")
    return list(cfg.masks)


def predict_scene(
    predictor: Predictor, prediction: PredictionRun, scene: Scene, grid: Grid, compile: bool = False
) -> pd.DataFrame | None:
    """The probabilities of the grid's kept chips (`image_name` is the chip's cell); None on other ranks."""

    def chips_for(model: Any) -> SceneTiles:  # as this model reads them: its input size, its haze removal
        return SceneTiles(scene, grid, model.hparams.image_size, model.hparams.dehaze, **prediction.loader)

    return predictor.predict(prediction, chips_for, compile)
