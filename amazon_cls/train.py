"""Train one model on one fold: `python -m amazon_cls.train [overrides]` (see conf/train.yaml)."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from omegaconf import DictConfig, OmegaConf

from amazon_cls import STARTED, hardware, runs
from amazon_cls.callbacks import ProbabilityWriter, ThresholdOptimizer, TrainingFoldStatistics
from amazon_cls.checks import build
from amazon_cls.data.datamodule import ChipFolders
from amazon_cls.errors import one_line_errors
from amazon_cls.io import remove_stale_temporaries

log = logging.getLogger(__name__)
SCORES = ("val/f2@0.5", "val/f2@0.2", "val/f2", "val/f2_clear_primary", "val/rare_f2")
# The model, not the data module, normalises batches: it knows its backbone's mean and std.
warnings.filterwarnings("ignore", message=r".*overridden `on_after_batch_transfer`.*")


def instantiate_dict(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config group (callbacks, loggers)."""
    return [instantiate(entry) for entry in (group or {}).values() if entry and "_target_" in entry]


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fit, validate the best checkpoint (fitting its thresholds), predict the test folders."""
    output_dir = Path(cfg.paths.output_dir)
    settings = runs.result_settings(cfg)
    runs.check_settings(output_dir, settings, cfg.get("allow_changed_settings", False))
    if cfg.get("skip_finished") and (done := runs.finished_metrics(output_dir)):
        log.info("Skipping %s: finished before (val/f2 %.4f)", output_dir, done.get("val/f2", float("nan")))
        return done
    for folder in (output_dir, cfg.data.cache_dir, cfg.data.folds_dir):
        remove_stale_temporaries(folder)
    for line in hardware.resolve_training(cfg):
        rank_zero_info(f"Hardware choice: {line}")
    L.seed_everything(cfg.seed, workers=True)
    datamodule, model = build(cfg)
    if rank_zero_only.rank == 0:
        runs.record_settings(output_dir, settings)
    test_probs = ProbabilityWriter(output_dir / runs.TEST_PROBS)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=[*instantiate_dict(cfg.get("callbacks")), TrainingFoldStatistics(), test_probs],
        logger=instantiate_dict(cfg.get("logger")) or False,
    )
    trainer.fit(model, datamodule=datamodule, ckpt_path=runs.resolve_ckpt_path(cfg.get("ckpt_path"), output_dir))
    metrics: dict[str, Any] = {key: float(value) for key, value in trainer.callback_metrics.items() if key in SCORES}
    outputs = []
    if cfg.get("validate_best"):
        metrics = validate_best(trainer, model, datamodule)
        outputs = [runs.THRESHOLDS, runs.VAL_REPORT, runs.VAL_PROBS]
    if cfg.predict_dirs:
        folders = ChipFolders(cfg.predict_dirs, cfg.model.image_size, cfg.data.dehaze, cfg.data.batch_size,
                              cfg.data.num_workers, cfg.data.pin_memory)  # fmt: skip
        trainer.predict(model, datamodule=folders, return_predictions=False)
        outputs.append(runs.TEST_PROBS)
    if trainer.is_global_zero:
        runs.write_metrics(output_dir, metrics, outputs)
        log.info("Scores of the best checkpoint on validation fold %s:\n%s", cfg.data.fold, format_scores(metrics))
        log.info("Run folder: %s", output_dir)
    return metrics


def validate_best(trainer: L.Trainer, model: L.LightningModule, datamodule: L.LightningDataModule) -> dict:
    """Validate the best checkpoint with the model's test-time augmentation, so that its out-of-fold
    predictions and thresholds are made like the test predictions; store the thresholds in it."""
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    (results,) = trainer.validate(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
    tta = model.active_tta
    if best and trainer.is_global_zero:  # predict.py reads them from there
        (fitter,) = [c for c in trainer.callbacks if isinstance(c, ThresholdOptimizer)]
        runs.store_thresholds(best, fitter.result.thresholds, tta)
    return {**{key: float(results[key]) for key in SCORES if key in results}, "best_checkpoint": best, "tta": tta}


def format_scores(metrics: dict[str, Any]) -> str:
    names = {
        "val/f2@0.5": "F2, every label at 0.5",
        "val/f2@0.2": "F2, every label at 0.2",
        "val/f2": "F2, fitted thresholds",
        "val/f2_clear_primary": "F2 of 'clear primary' everywhere",
        "val/rare_f2": "mean F2 of the rare labels",
    }
    return "\n".join(f"  {names[key]:<34} {metrics[key]:.4f}" for key in names if key in metrics)


def format_duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@one_line_errors
def main(cfg: DictConfig) -> float | None:
    log.debug("Config:\n%s", OmegaConf.to_yaml(cfg))
    try:
        metrics = run(cfg)
    except SystemExit as stop:  # Lightning's forms of SIGTERM and Ctrl+C; a multirun stops here too
        raise runs.interrupted(stop, Path(cfg.paths.output_dir)) from None
    rank_zero_info(f"Finished in {format_duration(time.monotonic() - STARTED)} (from the start of the process)")
    return metrics.get(cfg.get("optimized_metric", "val/f2"))


if __name__ == "__main__":
    main()
