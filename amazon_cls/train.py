"""Train one model on one fold: `python -m amazon_cls.train [overrides]` (see conf/train.yaml).

python -m amazon_cls.train model=densenet121 data.root=/data/planet
python -m amazon_cls.train -m model=resnet50,densenet121 data.fold=0,1      # a sweep of 4 runs
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from amazon_cls.runtime.command import command, task
from amazon_cls.training.config import TrainConfig

log = logging.getLogger(__name__)


@task("train", TrainConfig, hardware="train")
def run(cfg: DictConfig) -> dict[str, Any]:
    """Resolve this machine's `auto` values, then fit, validate and predict (`training.fit.train`)."""
    from amazon_cls.store.run_folder import RunFolder
    from amazon_cls.training.fit import interrupted_training, train

    log.debug("Config:\n%s", OmegaConf.to_yaml(cfg))
    try:
        return train(cfg)
    except SystemExit as stop:  # Lightning's forms of SIGTERM and Ctrl+C; a multirun stops here too
        raise interrupted_training(stop, RunFolder(Path(cfg.paths.output_dir))) from None


main = command(run)

if __name__ == "__main__":
    main()
