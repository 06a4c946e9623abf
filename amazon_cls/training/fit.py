"""One training run: the config's objects built and checked, the fit, the final validation of the
best checkpoint (its thresholds fitted under the run's TTA and saved in it), the test folders'
predictions, and metrics.json, written last."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only, rank_zero_warn
from omegaconf import DictConfig

from amazon_cls.core.validation import SCORES, format_scores
from amazon_cls.data.datamodule import PlanetDataModule
from amazon_cls.data.layout import Layout, list_chips, read_labels_csv
from amazon_cls.data.sources import SOURCES
from amazon_cls.data.to_predict import ChipFolders
from amazon_cls.inference.writer import ProbabilityWriter
from amazon_cls.model.callbacks import ThresholdOptimizer, TrainingFoldStatistics
from amazon_cls.model.module import ChipClassifier
from amazon_cls.model.tensorboard import final_loggers
from amazon_cls.runtime.signals import interrupted
from amazon_cls.runtime.trainer import make_trainer, quiet_lightning
from amazon_cls.store.atomic import remove_stale_temporaries
from amazon_cls.store.checkpoint import read_checkpoint
from amazon_cls.store.records import fingerprint
from amazon_cls.store.run_folder import RunDamaged, RunFolder, result_settings

log = logging.getLogger(__name__)


def build(cfg: DictConfig, **model_overrides: Any) -> tuple[PlanetDataModule, ChipClassifier]:
    """The data module and the model of a training config; their constructors check their values,
    and the model checks that the backbone takes the image size. No data is read."""
    if (cfg.trainer.get("max_epochs") or 0) < 1 and not cfg.trainer.get("fast_dev_run"):
        raise ValueError(f"trainer.max_epochs={cfg.trainer.get('max_epochs')}: must be at least 1")
    # plain containers keep checkpoints weights_only-loadable
    datamodule = instantiate(cfg.data, _convert_="all", image_size=cfg.model.image_size)
    model = instantiate(
        cfg.model,
        _convert_="all",
        tta=cfg.tta,
        dehaze=cfg.data.dehaze,
        source=cfg.data.format,
        chip_extent_m=datamodule.ground_extent_m,  # what map and monitor cut from a scene (chip_size=auto)
        trained_on=datamodule.provenance,  # what the model learned from, shown where it maps real scenes
        **model_overrides,
    )
    model.example_input_array = model.blank_input()  # the model summary's sizes and FLOPs
    model.check_image_size()
    return datamodule, model


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Every `_target_` entry of a config group (callbacks, loggers)."""
    return [instantiate(entry) for entry in (group or {}).values() if entry and "_target_" in entry]


def train(cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()) -> dict[str, Any]:
    """Fit, validate the best checkpoint (fitting its thresholds), predict the test folders; the
    config's `auto` values are resolved already. Returns the scores of the run. `extra_callbacks`
    join the config's (a search's pruning, say)."""
    folder = RunFolder(Path(cfg.paths.output_dir))
    settings = {**result_settings(cfg), **inputs_of(cfg)}
    folder.check_settings(settings, cfg.get("allow_changed_settings", False))
    if cfg.get("skip_finished") and (done := finished_before(folder)):
        log.info("Skipping %s: finished before (val/f2 %.4f)", folder.path, done.get("val/f2", float("nan")))
        return done
    folder.forget_finished()  # from here on its outputs are rewritten
    for path in (folder.path, cfg.data.cache_dir, cfg.data.folds_dir):
        remove_stale_temporaries(path)
    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True)
    datamodule, model = build(cfg)
    if rank_zero_only.rank == 0:
        folder.record_settings(settings)
    callbacks = instantiate_group(cfg.get("callbacks"))
    if not any(isinstance(callback, ThresholdOptimizer) for callback in callbacks):
        rank_zero_warn("No ThresholdOptimizer among the callbacks: the thresholds stay at 0.2 and no F2 is computed")
    test_probs = ProbabilityWriter(folder.test_probs)
    # the statistics first, so that a callback copying the model (the weight average) copies them
    trainer = make_trainer(
        cfg.trainer,
        callbacks=[TrainingFoldStatistics(), *callbacks, *extra_callbacks, test_probs],
        logger=instantiate_group(cfg.get("logger")) or False,
    )
    resume = folder.resolve_ckpt_path(cfg.get("ckpt_path"))
    if resume and resume != "hpc":
        read_checkpoint(resume)  # a damaged file is named here, not by Lightning's zip reader mid-restore
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume)
    metrics: dict[str, Any] = {key: float(value) for key, value in trainer.callback_metrics.items() if key in SCORES}
    outputs: list[Path] = []
    if cfg.get("validate_best"):
        metrics = validate_best(trainer, model, datamodule, folder)
        outputs = [folder.thresholds, folder.val_report, folder.val_probs] if metrics.get("val/f2") is not None else []
    if cfg.predict_dirs:
        folders = ChipFolders(
            cfg.predict_dirs,
            model.hparams.image_size,
            model.data_source,
            model.hparams.dehaze,
            cfg.data.batch_size,
            cfg.data.num_workers,
            cfg.data.pin_memory,
        )
        trainer.predict(model, datamodule=folders, return_predictions=False)
        outputs.append(folder.test_probs)
    if trainer.is_global_zero:
        folder.write_metrics(metrics, outputs)
        log.info("Scores of the best checkpoint on validation fold %s:\n%s", cfg.data.fold, format_scores(metrics))
        rank_zero_info(f"Run folder: {folder.path}")
    return metrics


def inputs_of(cfg: DictConfig) -> dict[str, str]:
    """What the run reads, by content: the labels file and chips of a data set on disk (the embedded
    one is a function of its settings), and the chips of the folders it predicts."""
    inputs = {}
    if cfg.data.root is not None:
        layout = Layout.of_config(cfg.data)
        names = read_labels_csv(layout.labels_path)["image_name"]
        inputs["data.files"] = fingerprint([layout.labels_path, *layout.chip_paths(names)])
    if cfg.data.get("exclude"):
        inputs["data.exclude.file"] = fingerprint([Path(cfg.data.exclude)])
    if cfg.predict_dirs:
        source = SOURCES[cfg.data.format]
        inputs["predict_dirs.files"] = fingerprint(list_chips(cfg.predict_dirs, source.suffixes))
    return inputs


def finished_before(folder: RunFolder) -> dict[str, Any] | None:
    """The run's scores if it finished and its files are as it left them; a damaged run is run again."""
    try:
        return folder.finished_metrics()
    except RunDamaged as damage:
        log.warning("%s; running it again", damage)
        return None


def validate_best(
    trainer: L.Trainer, model: ChipClassifier, datamodule: PlanetDataModule, folder: RunFolder
) -> dict[str, Any]:
    """Validate the best checkpoint with the model's test-time augmentation, so that its out-of-fold
    predictions and thresholds are made like the test predictions, and save it again through
    Lightning, carrying them. (Without a checkpoint callback, the final weights are saved.)"""
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    trainer.loggers = final_loggers(trainer.loggers)  # a run of its own, not one more point of the fit's series
    epochs = epochs_of(best) if best else trainer.current_epoch
    (results,) = trainer.validate(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
    model.scores = {"epochs": epochs, "val/f2": float(results["val/f2"])} if "val/f2" in results else {}
    path = Path(best) if best else folder.final_checkpoint
    trainer.save_checkpoint(path, weights_only=True)  # the model's on_save_checkpoint adds its thresholds
    scores = {key: float(results[key]) for key in SCORES if key in results}
    return {**scores, "best_checkpoint": str(path), "tta": model.active_tta}


def epochs_of(checkpoint: str) -> int:
    """How many epochs the model of a checkpoint saved during the fit had trained."""
    return int(read_checkpoint(checkpoint)["epoch"]) + 1


def interrupted_training(stop: SystemExit, folder: RunFolder) -> SystemExit:
    """The exit of a run stopped by SIGTERM or Ctrl+C: what it saved and how to resume it."""
    last = folder.last_checkpoint
    kept = f"{last} holds the last finished epoch" if last.is_file() else "no checkpoint was saved yet"
    resume = (
        f"the run is not marked finished. Resume with the same command and ckpt_path=last hydra.run.dir={folder.path}"
    )
    return interrupted(stop, kept, resume)
