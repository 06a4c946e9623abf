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

from typing import Any

from omegaconf import DictConfig

from amazon_cls.geo.config import MapConfig
from amazon_cls.runtime.command import command, task


@task("map", MapConfig, hardware="predict")
def run(cfg: DictConfig) -> dict[str, Any]:
    """Everything `python -m amazon_cls.map` does; returns each scene's summary (on rank 0)."""
    from amazon_cls.geo.mapping import map_scenes  # heavy libraries load once the config is checked
    from amazon_cls.inference.predictor import PredictionRun, Predictor

    predictor = Predictor.of(cfg.ckpt, cfg.ensemble, cfg.tta, cfg.thresholds)
    prediction = PredictionRun(cfg.trainer, cfg.batch_size, cfg.num_workers, cfg.pin_memory)
    return map_scenes(cfg, prediction, predictor)


main = command(run, exit_at_once=True)  # a finished prediction waits for no teardown

if __name__ == "__main__":
    main()
