"""The whole of `map`: every scene opened and checked first, then each one cut into chips,
predicted through the scene pipeline (`geo.pipeline`) and written in the chosen formats
(`geo.outputs`), its record last; a scene mapped before with the same settings from the same files
is skipped."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from amazon_cls.core.labels import PROB_COLUMNS
from amazon_cls.core.metric import predict_labels
from amazon_cls.data.sources import Source
from amazon_cls.geo import outputs
from amazon_cls.geo.grid import Grid, chip_name, make_grid
from amazon_cls.geo.outputs.summary import summary_table
from amazon_cls.geo.pipeline import MODEL_KEYS, SCENE_KEYS, masks_of, open_scene, predict_scene, settings_of, tiling_of
from amazon_cls.geo.scene import Scene, check_range
from amazon_cls.inference.predictor import PredictionRun, Predictor
from amazon_cls.runtime.command import is_rank_zero
from amazon_cls.store.atomic import remove_stale_temporaries

log = logging.getLogger(__name__)
# What changes a scene's outputs besides the pipeline's MODEL_KEYS and SCENE_KEYS.
RESULT_KEYS = ("thresholds", "postprocess", "outputs")


def map_scenes(cfg: DictConfig, prediction: PredictionRun, predictor: Predictor) -> dict[str, pd.DataFrame]:
    """Everything `python -m amazon_cls.map` does once its config is checked; each scene's summary (rank 0)."""
    remove_stale_temporaries(cfg.output_dir)
    names = list(cfg.outputs)
    for name in names:
        outputs.OUTPUTS[name]  # an unknown format is refused before any work
    scenes = opened_scenes(cfg, predictor.input_source())
    tiling = tiling_of(cfg, predictor)
    grids = [make_grid(scene, tiling) for scene in scenes]
    settings = settings_of(cfg, (*MODEL_KEYS, *SCENE_KEYS, *RESULT_KEYS))
    if is_rank_zero() and (warning := predictor.demo_warning("these scenes")):
        log.warning("%s", warning)
    summaries = {}
    for scene, grid in zip(scenes, grids, strict=True):
        files = outputs.output_paths(Path(cfg.output_dir), scene.path, names)
        record = {**settings, "scene": str(scene.path)}
        inputs = [scene.path, *([scene.mask] if scene.mask else []), *predictor.inputs()]  # by what they are
        if outputs.finished(files, record, inputs):
            if is_rank_zero():
                log.info("%s: already mapped with these settings in %s; skipped", scene.path, cfg.output_dir)
            continue
        if is_rank_zero():
            log.info("%s; with %s", describe(scene, grid), predictor.describe())
        frame = predict_scene(predictor, prediction, scene, grid, cfg.compile)
        if frame is not None:  # on rank 0: the others leave the writing to it
            summaries[str(scene.path)] = write_scene(cfg, scene, grid, frame, predictor, files, record, inputs)
    return summaries


def opened_scenes(cfg: DictConfig, source: Source) -> list[Scene]:
    """Every scene of `cfg.scene`, opened and checked before any is mapped; two of one name are refused."""
    scenes = [
        open_scene(cfg, path, source, mask)
        for path, mask in zip(cfg.scene, masks_of(cfg, list(cfg.scene)), strict=True)
    ]
    for warning in filter(None, map(check_range, scenes)):
        log.warning("%s", warning)
    stems = [scene.path.stem for scene in scenes]
    if len(set(stems)) < len(stems):
        twice = sorted({stem for stem in stems if stems.count(stem) > 1})
        raise ValueError(f"scenes named {twice} twice: their outputs in {cfg.output_dir} would overwrite each other")
    return scenes


def describe(scene: Scene, grid: Grid) -> str:
    """What is mapped: the scene, how its bands become the model's input, its chips."""
    scaled = f", divided by {scene.scale:g} (scale_16bit) into 8 bits" if scene.rescaled else ""
    return (
        f"Mapping {scene.path} ({scene.width} x {scene.height} px, {scene.crs.to_string()}, bands "
        f"{list(scene.bands)} as the model's input{scaled}): {grid.rows} x {grid.cols} chips, {grid.skipped} "
        "skipped as nodata"
    )


def write_scene(
    cfg: DictConfig,
    scene: Scene,
    grid: Grid,
    frame: pd.DataFrame,
    predictor: Predictor,
    files: dict[str, Path],
    record: dict[str, Any],
    inputs: list[str | Path],
) -> pd.DataFrame:
    """A scene's labels from its probabilities, every chosen output and its record; its summary."""
    cells = grid.chips()
    probs = frame.set_index("image_name").loc[[chip_name(*cell) for cell in cells], PROB_COLUMNS].to_numpy()
    labels = predict_labels(probs, predictor.thresholds, cfg.postprocess.weather)
    result = outputs.SceneResult(scene, grid, cells, probs, labels)
    counts = {"chips": len(cells), "skipped": grid.skipped, "grid": [grid.rows, grid.cols]}
    outputs.write_outputs(files, result, {"settings": record, **counts}, inputs)
    summary = summary_table(result)
    log.info("%s: chips per label and their area\n%s", scene.path.name, summary.to_string(index=False))
    log.info("Wrote %s", ", ".join(str(path) for path in files.values()))
    return summary
