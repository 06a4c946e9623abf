"""Train one model on one fold: `python -m amazon_cls.train [overrides]` (see conf/train.yaml)."""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf

from amazon_cls import STARTED, hardware
from amazon_cls.callbacks import ThresholdOptimizer, store_thresholds
from amazon_cls.data.datamodule import list_chips
from amazon_cls.io import write_csv, write_json
from amazon_cls.predict import predict_chips, probability_frame

log = logging.getLogger(__name__)
SCORES = ("val/f2@0.5", "val/f2@0.2", "val/f2", "val/f2_clear_primary", "val/rare_f2")
# The model, not the data module, normalises batches: it knows its backbone's mean and std.
warnings.filterwarnings("ignore", message=r".*overridden `on_after_batch_transfer`.*")


def instantiate_dict(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config group (callbacks, loggers)."""
    return [instantiate(entry) for entry in (group or {}).values() if entry and "_target_" in entry]


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`last` means this run folder's checkpoints/last.ckpt, when there is one."""
    if ckpt_path == "last":
        last = output_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.is_file() else None
    return ckpt_path


def finished_metrics(output_dir: Path) -> dict[str, Any] | None:
    """The scores of a run that finished (metrics.json is written last, and lists its outputs)."""
    try:
        metrics = json.loads((output_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    outputs = [output_dir / name for name in metrics.get("outputs", [])] + [Path(metrics.get("best_checkpoint", ""))]
    return metrics if all(path.is_file() for path in outputs) else None


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fit, validate the best checkpoint (fitting its thresholds), predict the test folders."""
    output_dir = Path(cfg.paths.output_dir)
    if cfg.get("skip_finished") and (done := finished_metrics(output_dir)):
        log.info("Skipping %s: finished before (val/f2 %.4f)", output_dir, done.get("val/f2", float("nan")))
        return done
    for line in hardware.resolve_training(cfg):
        rank_zero_info(f"Hardware choice: {line}")
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data, _convert_="all")  # plain containers keep checkpoints weights_only-loadable
    model = instantiate(cfg.model, _convert_="all", image_size=cfg.data.image_size)  # stored for predict
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=instantiate_dict(cfg.get("callbacks")),
        logger=instantiate_dict(cfg.get("logger")) or False,
    )
    trainer.fit(model, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg.get("ckpt_path"), output_dir))
    metrics: dict[str, Any] = {key: float(value) for key, value in trainer.callback_metrics.items() if key in SCORES}
    outputs = []
    if cfg.get("validate_best"):
        metrics = validate_best(trainer, model, datamodule, tta=cfg.get("tta", "none"))
        outputs = ["thresholds.json", "val_report.csv", "val_probs.csv"]
    if trainer.is_global_zero:
        if cfg.data.predict_dirs:
            outputs.append(predict_test(cfg, model, trainer, output_dir))
        write_json(output_dir / "metrics.json", {**metrics, "outputs": outputs})
        log.info("Scores of the best checkpoint on validation fold %s:\n%s", cfg.data.fold, format_scores(metrics))
        log.info("Run folder: %s", output_dir)
    return metrics


def validate_best(trainer: L.Trainer, model: L.LightningModule, datamodule: L.LightningDataModule, tta: str) -> dict:
    """Validate the best checkpoint with test-time augmentation, so that its out-of-fold predictions
    and thresholds are made like the test predictions; store those thresholds in the checkpoint."""
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    model.tta = tta
    (results,) = trainer.validate(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
    if best and trainer.is_global_zero:  # predict.py reads them from there
        (fitter,) = [c for c in trainer.callbacks if isinstance(c, ThresholdOptimizer)]
        store_thresholds(best, fitter.result.thresholds, tta)
    return {**{key: float(results[key]) for key in SCORES if key in results}, "best_checkpoint": best, "tta": tta}


def predict_test(cfg: DictConfig, model: L.LightningModule, trainer: L.Trainer, output_dir: Path) -> str:
    """Probabilities of every chip in data.predict_dirs, with the same TTA as the out-of-fold ones."""
    paths = list_chips(cfg.data.predict_dirs)
    model.to(trainer.strategy.root_device)
    probs = predict_chips(
        model,
        paths,
        tta=cfg.get("tta", "none"),
        batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        precision=str(cfg.trainer.precision),
        image_size=cfg.data.image_size,
        dehaze=cfg.data.dehaze,
    )
    write_csv(output_dir / "test_probs.csv", probability_frame([p.stem for p in paths], probs))
    return "test_probs.csv"


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
def main(cfg: DictConfig) -> float | None:
    log.debug("Config:\n%s", OmegaConf.to_yaml(cfg))
    metrics = run(cfg)
    rank_zero_info(f"Finished in {format_duration(time.monotonic() - STARTED)} (from the start of the process)")
    return metrics.get(cfg.get("optimized_metric", "val/f2"))


if __name__ == "__main__":
    main()
