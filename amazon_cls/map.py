"""Map whole georeferenced scenes: which chips show roads, mines, slash-and-burn or clearings, for example::

    python -m amazon_cls.map ckpt=<model.ckpt> scene=<scene.tif> [output_dir=...] [chip_size=256] \\
        [stride=256] [tta=d4] ["outputs=[chips,labels,classes,preview,summary]"]
    python -m amazon_cls.map ensemble=<ensemble folder> "scene=[a.tif,b.tif]" trainer=ddp

Each scene is read by windows (rasterio), cut into chips, predicted through the same
`Trainer.predict` path as `predict` (a checkpoint, or an ensemble as `ensemble` combined it), and
written in the chosen formats (`geo.outputs`). A scene whose outputs were made with the same
settings is not mapped again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from amazon_cls.runtime.command import command, is_rank_zero, task

log = logging.getLogger(__name__)
# What changes a scene's outputs: a scene mapped with the same values is not mapped again.
RESULT_KEYS = ("ckpt", "ensemble", "thresholds", "tta", "chip_size", "stride", "resolution", "edge", "min_valid",
               "crs", "bands", "scale_16bit", "postprocess", "outputs")  # fmt: skip


def plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


@task("map", hardware="predict")
def run(cfg: DictConfig) -> dict[str, Any]:
    """Everything `python -m amazon_cls.map` does; returns each scene's summary (on rank 0)."""
    from amazon_cls.core.labels import PROB_COLUMNS  # heavy libraries load once the config composed
    from amazon_cls.core.metric import predict_labels
    from amazon_cls.geo import outputs
    from amazon_cls.geo.grid import Tiling, chip_name, make_grid
    from amazon_cls.geo.outputs.summary import summary_table
    from amazon_cls.geo.scene import Scene, check_range
    from amazon_cls.geo.tiles import SceneTiles
    from amazon_cls.inference.predictor import PredictionRun, Predictor
    from amazon_cls.store.atomic import remove_stale_temporaries
    from amazon_cls.store.records import identity

    remove_stale_temporaries(cfg.output_dir)
    predictor = Predictor.of(cfg.ckpt, cfg.ensemble, cfg.tta, cfg.thresholds)
    names = list(cfg.outputs)
    for name in names:
        outputs.OUTPUTS[name]  # an unknown format is refused before any work
    stride = cfg.chip_size if cfg.stride is None else cfg.stride
    tiling = Tiling(cfg.chip_size, stride, cfg.resolution, cfg.edge, cfg.min_valid)
    source = predictor.input_source()
    scenes = [Scene.open(p, source, cfg.crs, cfg.bands, cfg.scale_16bit) for p in cfg.scene]  # all checked first
    for warning in filter(None, map(check_range, scenes)):
        log.warning("%s", warning)
    stems = [scene.path.stem for scene in scenes]
    if len(set(stems)) < len(stems):
        twice = sorted({stem for stem in stems if stems.count(stem) > 1})
        raise ValueError(f"scenes named {twice} twice: their outputs in {cfg.output_dir} would overwrite each other")
    grids = [make_grid(scene, tiling) for scene in scenes]
    prediction = PredictionRun(cfg.trainer, cfg.batch_size, cfg.num_workers, cfg.pin_memory)
    output_dir = Path(cfg.output_dir)
    settings = {key: plain(cfg[key]) for key in RESULT_KEYS}
    inputs = [identity(path) for path in predictor.inputs()]  # by what they are: a model re-trained in place differs
    summaries = {}
    for scene, grid in zip(scenes, grids, strict=True):
        files = outputs.output_paths(output_dir, scene.path, names)
        scene_settings = {**settings, "scene": str(scene.path), "inputs": [identity(scene.path), *inputs]}
        if outputs.finished(files, scene_settings):
            if is_rank_zero():
                log.info("%s: already mapped with these settings in %s; skipped", scene.path, output_dir)
            continue
        if is_rank_zero():
            scaled = f", divided by {scene.scale:g} (scale_16bit) into 8 bits" if scene.rescaled else ""
            log.info(
                "Mapping %s (%d x %d px, %s, bands %s as the model's input%s): %d x %d chips, %d skipped as "
                "nodata; with %s", scene.path, scene.width, scene.height, scene.crs.to_string(), list(scene.bands),
                scaled, grid.rows, grid.cols, grid.skipped, predictor.describe(),
            )  # fmt: skip
        tiles = lambda model, scene=scene, grid=grid: SceneTiles(  # noqa: E731
            scene, grid, model.hparams.image_size, model.hparams.dehaze, **prediction.loader
        )
        frame = predictor.predict(prediction, tiles, cfg.compile)
        if frame is None:
            continue  # another rank writes
        cells = grid.chips()
        probs = frame.set_index("image_name").loc[[chip_name(*cell) for cell in cells], PROB_COLUMNS].to_numpy()
        labels = predict_labels(probs, predictor.thresholds, cfg.postprocess.weather)
        result = outputs.SceneResult(scene, grid, cells, probs, labels)
        counts = {"chips": len(cells), "skipped": grid.skipped, "grid": [grid.rows, grid.cols]}
        outputs.write_outputs(files, result, {"settings": scene_settings, **counts})
        summary = summary_table(result)
        log.info("%s: chips per label and their area\n%s", scene.path.name, summary.to_string(index=False))
        log.info("Wrote %s", ", ".join(str(p) for p in files.values()))
        summaries[str(scene.path)] = summary
    return summaries


main = command(run)

if __name__ == "__main__":
    main()
