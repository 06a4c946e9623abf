"""Predict folders of chips with a trained checkpoint or an ensemble and write a Kaggle submission, for example::

    python -m amazon_cls.predict ckpt=<model.ckpt> input=<folder> output=<submission.csv>
    python -m amazon_cls.predict ensemble=<ensemble folder> input=<folder> output=<submission.csv>
    python -m amazon_cls.predict ckpt=... "input=[test-jpg,test-jpg-additional]" output=... \\
        order=sample_submission_v2.csv tta=d4 thresholds=<thresholds.json>
    python -m amazon_cls.predict ... trainer=ddp            # every GPU of this machine
    python -m amazon_cls.predict ... trainer=ddp trainer.num_nodes=4

Writes `image_name,tags` to `output` and the probabilities beside it (`<output stem>_probs.csv`).
An ensemble folder's models are combined as `ensemble` combined them (`inference.predictor`).
Prediction is Lightning's `Trainer.predict`, so precision and devices come from the `trainer` group.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from amazon_cls.inference.config import PredictConfig
from amazon_cls.runtime.command import command, is_rank_zero, task

log = logging.getLogger(__name__)


@task("predict", PredictConfig, hardware="predict")
def run(cfg: DictConfig) -> dict[str, Path]:
    """Everything `python -m amazon_cls.predict` does; returns the paths written (on rank 0)."""
    from amazon_cls.data.layout import read_name_table
    from amazon_cls.data.submission import write_submission
    from amazon_cls.data.to_predict import ChipFolders  # heavy libraries load once the config composed
    from amazon_cls.inference.predictor import PredictionRun, Predictor
    from amazon_cls.store.atomic import remove_stale_temporaries

    remove_stale_temporaries(Path(cfg.output).parent)
    predictor = Predictor.of(cfg.ckpt, cfg.ensemble, cfg.tta, cfg.thresholds)  # every input checked first
    if cfg.order:
        read_name_table(Path(cfg.order), ["image_name"], "order file")
    prediction = PredictionRun(cfg.trainer, cfg.batch_size, cfg.num_workers, cfg.pin_memory)
    source = predictor.input_source()
    folders = lambda model: ChipFolders(  # noqa: E731
        list(cfg.input), model.hparams.image_size, source, model.hparams.dehaze, **prediction.loader
    )
    if is_rank_zero():
        if warning := predictor.demo_warning("these chips", list(cfg.input)):
            log.warning("%s", warning)
        log.info("Predicting %s with %s (tta=%s)", list(cfg.input), predictor.describe(), cfg.tta)
    frame = predictor.predict(prediction, folders, cfg.compile)
    if frame is None:
        return {}
    submission, probs = write_submission(
        cfg.output, frame, predictor.thresholds, cfg.postprocess.weather, cfg.order, cfg.escape_formulas
    )
    log.info("Wrote %s and %s", submission, probs)
    return {"submission": submission, "probs": probs}


main = command(run, exit_at_once=True)  # a finished prediction waits for no teardown

if __name__ == "__main__":
    main()
