"""Baseline for context: a random forest on per-chip colour statistics, scored like the CNNs.

    python -m amazon_cls.baseline data.root=<kaggle data> data.fold=0

Same folds, same threshold fitting and the same F2 as `amazon_cls.train`, so its scores sit in
the same table as the deep models' (the run folder gets metrics.json and val_probs.csv).
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from amazon_cls.model.config import BaselineConfig
from amazon_cls.runtime.command import command, task

log = logging.getLogger(__name__)


@task("baseline", BaselineConfig, hardware="data")
def run(cfg: DictConfig) -> dict[str, float]:
    from amazon_cls.model.baseline import run_baseline

    datamodule = instantiate(cfg.data, _convert_="all", cache=False)  # features decode chips at their own size
    metrics = run_baseline(datamodule, Path(cfg.paths.output_dir), cfg.trees, cfg.seed)
    print("\n".join(f"{key:<22} {value:.4f}" for key, value in metrics.items()))
    return metrics


main = command(run)

if __name__ == "__main__":
    main()
