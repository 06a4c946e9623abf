"""Predict folders of chips with a trained checkpoint or an ensemble and write a Kaggle submission.

    python -m amazon_cls.predict ckpt=<model.ckpt> input=<folder> output=<submission.csv>
    python -m amazon_cls.predict ensemble=<ensemble folder> input=<folder> output=<submission.csv>
    python -m amazon_cls.predict ckpt=... "input=[test-jpg,test-jpg-additional]" output=... \\
        order=sample_submission_v2.csv tta=d4 thresholds=<thresholds.json>
    python -m amazon_cls.predict ... trainer=ddp            # every GPU of this machine
    python -m amazon_cls.predict ... trainer=ddp trainer.num_nodes=4

Writes `image_name,tags` to `output` and the probabilities beside it (`<output stem>_probs.csv`).
An ensemble folder's models are combined as `ensemble` combined them (see `predictor.py`).
Prediction is Lightning's `Trainer.predict`, so precision and devices come from the `trainer` group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig

from amazon_cls import runs
from amazon_cls.data.datamodule import ChipFolders
from amazon_cls.data.layout import read_name_table
from amazon_cls.errors import one_line_errors
from amazon_cls.predictor import PredictionRun, Predictor

log = logging.getLogger(__name__)


def as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Everything `python -m amazon_cls.predict` does; returns the paths written (on rank 0)."""
    prediction = PredictionRun(cfg.trainer, cfg.batch_size, cfg.num_workers)
    # every input file is checked before any chip is predicted
    predictor = Predictor.of(cfg.ckpt, cfg.ensemble, cfg.thresholds)
    if cfg.order:
        read_name_table(Path(cfg.order), ["image_name"], "order file")
    folders = lambda model: ChipFolders(  # noqa: E731
        as_list(cfg.input), model.hparams.image_size, model.hparams.dehaze, **prediction.loader
    )
    rank_zero_info(f"Predicting {as_list(cfg.input)} with {predictor.describe()} (tta={cfg.tta})")
    frame = predictor.predict(prediction, folders, cfg.tta, cfg.compile)
    if frame is None:
        return {}
    output = Path(cfg.output)
    submission, probs = runs.write_submission(output, frame, predictor.thresholds, cfg.postprocess.weather, cfg.order)
    log.info("Wrote %s and %s", submission, probs)
    return {"submission": submission, "probs": probs}


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
@one_line_errors
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
