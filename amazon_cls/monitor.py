"""Monitor an area over time: dated alerts of forest becoming fields, roads, mines or burn scars, for example::

    python -m amazon_cls.monitor ckpt=<model.ckpt> "scenes=[2016-06-01.tif,2016-07-01.tif,2016-08-01.tif]"
    python -m amazon_cls.monitor ensemble=<folder> "scenes=[a.tif,b.tif]" "dates=[2016-06-01,2016-07-01]" \\
        regions=<municipalities.gpkg> region_key=name alert_precision=0.8 [trainer=ddp]
    python -m amazon_cls.monitor -m ckpt=<model.ckpt> "scenes=[...]" shard=0,1,2,3 num_shards=4 \\
        'output_dir=<out>/shard_${shard}' hydra/launcher=joblib
    python -m amazon_cls.monitor "merge=[<out>/shard_0,<out>/shard_1,<out>/shard_2,<out>/shard_3]" output_dir=<out>/all

Every scene is read onto one grid, predicted through `Trainer.predict` as `map` predicts (a date
predicted before with the same settings is reused), and each cell's labels from one observable
date to the next raise alerts: merged polygons with their dates and confidence, region totals, a
timeline, before/after evidence and a report (`geo.change`). A large area runs as one job per block
of the grid (`shard=`), and the blocks are joined (`merge=`: `geo.change.shards`).
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from amazon_cls.geo.config import MonitorConfig
from amazon_cls.runtime.command import command, is_rank_zero, task

log = logging.getLogger(__name__)


@task("monitor", MonitorConfig, hardware="predict")
def run(cfg: DictConfig) -> dict:
    from amazon_cls.geo.change.monitoring import merging, monitor  # heavy libraries load once the config composed
    from amazon_cls.inference.predictor import PredictionRun, Predictor

    cfg = merging(cfg)  # merge=[...]: the shards' model, scenes and chips
    predictor = Predictor.of(cfg.ckpt, cfg.ensemble, cfg.tta, cfg.thresholds)
    prediction = PredictionRun(cfg.trainer, cfg.batch_size, cfg.num_workers, cfg.pin_memory)
    summary = monitor(cfg, prediction, predictor)
    if summary and is_rank_zero():
        log.info(
            "%d scenes (%d predicted, %d reused): %d alerts, %.1f ha; report: %s/report.md",
            summary["scenes"],
            summary["predicted"],
            summary["reused"],
            sum(summary["alerts"].values()),
            summary["area_ha"],
            cfg.output_dir,
        )
    return summary


main = command(run, exit_at_once=True)  # a finished prediction waits for no teardown

if __name__ == "__main__":
    main()
