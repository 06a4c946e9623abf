"""Train one model on one fold: `python -m amazon_cls.train [overrides]` (see conf/train.yaml)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from amazon_cls.io import write_json

log = logging.getLogger(__name__)
SCORES = ("val/f2@0.5", "val/f2@0.2", "val/f2", "val/f2_clear_primary")


def instantiate_dict(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config group (callbacks, loggers)."""
    return [instantiate(entry) for entry in (group or {}).values() if entry and "_target_" in entry]


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`last` means this run folder's checkpoints/last.ckpt, when there is one."""
    if ckpt_path == "last":
        last = output_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.is_file() else None
    return ckpt_path


def run(cfg: DictConfig) -> dict[str, float]:
    """Fit, then validate the best checkpoint (fitting its thresholds); returns its scores."""
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    datamodule = instantiate(cfg.data, _convert_="all")  # plain containers keep checkpoints weights_only-loadable
    model = instantiate(cfg.model, _convert_="all")
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=instantiate_dict(cfg.get("callbacks")),
        logger=instantiate_dict(cfg.get("logger")) or False,
    )
    trainer.fit(model, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg.get("ckpt_path"), output_dir))
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items() if key in SCORES}
    if cfg.get("validate_best"):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        (results,) = trainer.validate(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        metrics = {key: float(results[key]) for key in SCORES if key in results}
        metrics["best_checkpoint"] = best
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", metrics)
        log.info("Scores of the best checkpoint on validation fold %s:\n%s", cfg.data.fold, format_scores(metrics))
        log.info("Run folder: %s", output_dir)
    return metrics


def format_scores(metrics: dict[str, Any]) -> str:
    names = {
        "val/f2@0.5": "F2, every label at 0.5",
        "val/f2@0.2": "F2, every label at 0.2",
        "val/f2": "F2, fitted thresholds",
        "val/f2_clear_primary": "F2 of 'clear primary' everywhere",
    }
    return "\n".join(f"  {names[key]:<34} {metrics[key]:.4f}" for key in names if key in metrics)


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    log.debug("Config:\n%s", OmegaConf.to_yaml(cfg))
    metrics = run(cfg)
    return metrics.get(cfg.get("optimized_metric", "val/f2"))


if __name__ == "__main__":
    main()
