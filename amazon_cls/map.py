"""Map whole georeferenced scenes: which chips show roads, mines, slash-and-burn or clearings.

    python -m amazon_cls.map ckpt=<model.ckpt> scene=<scene.tif> [output_dir=...] [chip_size=256] \\
        [stride=256] [tta=d4]
    python -m amazon_cls.map ensemble=<ensemble folder> "scene=[a.tif,b.tif]" trainer=ddp

Each scene is read by windows (rasterio), cut into chips, predicted through the same
`Trainer.predict` path as `predict` (a checkpoint, or an ensemble as `ensemble` combined it), and
written as GeoJSON, a label GeoTIFF, a preview PNG and a summary (see `scene_outputs.py`). A scene
whose outputs were made with the same settings is not mapped again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf

from amazon_cls import scene_outputs
from amazon_cls.data.scene import Scene, SceneTiles, Tiling, chip_name, make_grid
from amazon_cls.errors import one_line_errors
from amazon_cls.labels import PROB_COLUMNS
from amazon_cls.metrics import predict_labels
from amazon_cls.module import ChipClassifier
from amazon_cls.predictor import PredictionRun, Predictor

log = logging.getLogger(__name__)
# What changes a scene's outputs: a scene mapped with the same values is not mapped again.
RESULT_KEYS = ("ckpt", "ensemble", "thresholds", "tta", "chip_size", "stride", "resolution", "edge", "min_valid",
               "crs", "bands", "scale_16bit", "postprocess")  # fmt: skip


def in_chans_of(predictor: Predictor) -> int:
    """The input bands every model of the predictor takes (they must agree)."""
    found = {ChipClassifier.hparams_of(ckpt)["in_chans"] for ckpt in predictor.needed()}
    if len(found) != 1:
        raise ValueError(f"the models take different band counts {sorted(found)}; map with one kind at a time")
    return found.pop()


def run(cfg: DictConfig) -> dict[str, Any]:
    """Everything `python -m amazon_cls.map` does; returns each scene's summary (on rank 0)."""
    prediction = PredictionRun(cfg.trainer, cfg.batch_size, cfg.num_workers)
    predictor = Predictor.of(cfg.ckpt, cfg.ensemble, cfg.thresholds)
    stride = cfg.chip_size if cfg.stride is None else cfg.stride
    tiling = Tiling(cfg.chip_size, stride, cfg.resolution, cfg.edge, cfg.min_valid)
    in_chans = in_chans_of(predictor)
    paths = [cfg.scene] if isinstance(cfg.scene, str) else list(cfg.scene)
    scenes = [Scene.open(p, in_chans, cfg.crs, cfg.bands, cfg.scale_16bit) for p in paths]  # all checked first
    stems = [scene.path.stem for scene in scenes]
    if len(set(stems)) < len(stems):
        twice = sorted({stem for stem in stems if stems.count(stem) > 1})
        raise ValueError(f"scenes named {twice} twice: their outputs in {cfg.output_dir} would overwrite each other")
    grids = [make_grid(scene, tiling) for scene in scenes]
    output_dir = Path(cfg.output_dir)
    plain = lambda value: OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value  # noqa: E731
    settings = {key: plain(cfg[key]) for key in RESULT_KEYS}
    summaries = {}
    for scene, grid in zip(scenes, grids, strict=True):
        outputs = scene_outputs.output_paths(output_dir, scene.path)
        scene_settings = {**settings, "scene": str(scene.path)}
        if scene_outputs.finished(outputs, scene_settings):
            rank_zero_info(f"{scene.path}: already mapped with these settings in {output_dir}; skipped")
            continue
        scaled = f", divided by {scene.scale:g} (scale_16bit) into 8 bits" if scene.scale != 1 else ""
        rank_zero_info(
            f"Mapping {scene.path} ({scene.width} x {scene.height} px, {scene.crs.to_string()}, bands "
            f"{list(scene.bands)} as the model's input{scaled}): {grid.rows} x {grid.cols} chips, {grid.skipped} "
            f"skipped as nodata; with {predictor.describe()}"
        )
        tiles = lambda model, scene=scene, grid=grid: SceneTiles(  # noqa: E731
            scene, grid, model.hparams.image_size, model.hparams.dehaze, **prediction.loader
        )
        frame = predictor.predict(prediction, tiles, cfg.tta, cfg.compile)
        if frame is None:
            continue  # another rank writes
        cells = grid.chips()
        probs = frame.set_index("image_name").loc[[chip_name(*cell) for cell in cells], PROB_COLUMNS].to_numpy()
        labels = predict_labels(probs, predictor.thresholds, cfg.postprocess.weather)
        result = scene_outputs.SceneResult(scene, grid, cells, probs, labels)
        summary = scene_outputs.write_outputs(outputs, result, scene_settings)
        log.info("%s: chips per label and their area\n%s", scene.path.name, summary.to_string(index=False))
        log.info("Wrote %s", ", ".join(str(p) for p in outputs.values()))
        summaries[str(scene.path)] = summary
    return summaries


@hydra.main(version_base="1.3", config_path="../conf", config_name="map")
@one_line_errors
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
