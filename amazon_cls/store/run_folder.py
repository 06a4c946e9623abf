"""A training run's folder, defined once: the names of its files and the rules that keep it honest:

- `checkpoints/best-*.ckpt, checkpoints/last.ckpt`: weights, with the label list and thresholds as plain data
- `thresholds.json`: the best checkpoint's thresholds per view, fitted on the validation fold
- `val_report.csv`: per label: support, predicted, precision, recall, F2, threshold
- `val_probs.csv`: image_name, fold, p_<label> x17, t_<label> x17 (val_probs_notta.csv: the plain view)
- `test_probs.csv`: image_name, p_<label> x17 of the prediction folders
- `metrics.json`: the scores and the list of outputs; written last, so its presence means finished
- `settings.json`: the settings that change results, recorded at the first start and never rewritten
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from amazon_cls.store.atomic import write_json
from amazon_cls.store.done import Done
from amazon_cls.store.folder import File
from amazon_cls.store.records import changed

# What changes a run's results: its data and folds, model, optimiser and schedule, epochs, seed, TTA.
RESULT_KEYS = (
    "data.root",
    "data.synthetic",
    "data.labels_csv",
    "data.format",
    "data.image_dir",
    "data.image_ext",
    "data.num_folds",
    "data.fold",
    "data.fold_seed",
    "data.train_subset",
    "data.dehaze",
    "data.on_bad_chip",
    "data.oversample_rare",
    "data.exclude",
    "model",
    "model_name",
    "trainer.max_epochs",
    "seed",
    "rare_weight",
    "tta",
)
# Settings added after runs were first recorded, at the value that does what runs did without them.
ADDED_SETTINGS = {"data.oversample_rare": 1, "rare_weight": 0.0, "model.mixup": 0.0}
# What decides which chips are in which fold: members of one ensemble agree on these.
FOLD_KEYS = ("data.root", "data.synthetic", "data.labels_csv", "data.num_folds", "data.fold_seed")


class RunDamaged(ValueError):
    """A run folder whose record of finishing does not match its files; the message names them."""


@dataclass(frozen=True)
class RunFolder:
    """The files of one training run (one model x fold x seed)."""

    path: Path

    checkpoints = File("checkpoints")
    last_checkpoint = File("checkpoints", "last.ckpt")
    final_checkpoint = File("checkpoints", "final.ckpt")  # without a checkpoint callback: no best to keep
    thresholds = File("thresholds.json")
    val_report = File("val_report.csv")
    val_probs = File("val_probs.csv")
    val_probs_plain = File("val_probs_notta.csv")
    test_probs = File("test_probs.csv")
    metrics = File("metrics.json")
    settings = File("settings.json")
    hydra_config = File(".hydra", "config.yaml")

    def write_metrics(self, metrics: dict[str, Any], outputs: list[Path]) -> Path:
        """metrics.json, last of a run's files (`store.done`): the scores, and the outputs that make
        the run finished, the best checkpoint among them, each named by content (`store.records`)."""
        best = [Path(metrics["best_checkpoint"])] if metrics.get("best_checkpoint") else []
        Done(self.metrics).write([*outputs, *best], metrics)
        return self.metrics

    def finished_metrics(self) -> dict[str, Any] | None:
        """The scores of a run that finished, or None if it has not (no metrics.json). A metrics.json
        that does not match the files it lists (gone, cut, rewritten since) is an error naming them."""
        if not self.metrics.is_file():
            return None
        try:
            metrics = json.loads(self.metrics.read_text())
        except (OSError, ValueError) as error:
            raise RunDamaged(f"{self.metrics}: unreadable ({error})") from None
        problems = Done(self.metrics).problems(metrics) + self.legacy_problems(metrics)
        if problems:
            raise RunDamaged(f"{self.metrics} says the run finished, but {'; '.join(problems)}")
        return metrics

    def legacy_problems(self, metrics: dict[str, Any]) -> list[str]:
        """What is wrong with the outputs an older run's metrics.json lists: names only (each must
        exist) and the best checkpoint by identity beside them."""
        outputs = metrics.get("outputs", [])
        recorded = list(metrics.get("checkpoint", []))
        if isinstance(outputs, list):
            names = [self.path / name for name in outputs] + [Path(metrics.get("best_checkpoint", ""))]
            recorded += [{"path": str(p), "size": -1, "mtime_ns": -1} for p in names if not p.is_file()]
        return [problem for problem in map(changed, recorded) if problem]

    def forget_finished(self) -> None:
        """Remove metrics.json before any output is rewritten: a record never outlives what it describes."""
        Done(self.metrics).forget()

    def recorded_settings(self) -> dict[str, Any] | None:
        """The settings recorded at the run's first start (runs made before settings.json: its Hydra config)."""
        if self.settings.is_file():
            return json.loads(self.settings.read_text())
        if self.hydra_config.is_file() and isinstance(config := OmegaConf.load(self.hydra_config), DictConfig):
            return result_settings(config)
        return None

    def check_settings(self, settings: dict[str, Any], allow_changes: bool = False) -> None:
        """Refuse to resume or skip a run recorded with other settings (a resumed model trained on
        another fold would report out-of-fold scores on its own training chips)."""
        if not self.settings.is_file():
            return
        changed = differences(json.loads(self.settings.read_text()), settings)
        if changed and not allow_changes:
            raise ValueError(
                f"{self.path}: this run folder holds a run made with other settings ({'; '.join(changed)}); "
                "use another run folder (hydra.run.dir), or allow_changed_settings=true to continue anyway"
            )

    def record_settings(self, settings: dict[str, Any]) -> None:
        """Record a run's settings at its first start (once its config passed every check); never rewritten."""
        if not self.settings.is_file():
            write_json(self.settings, settings)

    def resolve_ckpt_path(self, ckpt_path: str | None) -> str | None:
        """`last` means this folder's newest state: the checkpoint Lightning saves when SLURM
        preempts a job (`hpc_ckpt_<n>.ckpt`, mid-epoch) if newer than checkpoints/last.ckpt, which
        is saved after each validation. (With no ckpt_path, Lightning itself resumes from the former.)"""
        if ckpt_path != "last":
            return ckpt_path
        candidates = [*self.path.glob("hpc_ckpt_*.ckpt"), self.last_checkpoint]
        existing = [path for path in candidates if path.is_file()]
        if not existing:
            return None
        newest = max(existing, key=lambda path: path.stat().st_mtime_ns)
        return "hpc" if newest.name.startswith("hpc_ckpt_") else str(newest)


def result_settings(cfg: DictConfig) -> dict[str, Any]:
    """The settings that change a run's results, as flat dotted keys with resolved values."""
    settings: dict[str, Any] = {}
    for key in RESULT_KEYS:
        value = OmegaConf.select(cfg, key)
        if isinstance(value, DictConfig):
            settings.update(flatten(cast(dict[str, Any], OmegaConf.to_container(value, resolve=True)), key))
        else:
            settings[key] = value
    return settings


def flatten(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Nested mappings as dotted keys (`model.loss.name`)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}.{key}"))
        else:
            flat[f"{prefix}.{key}"] = value
    return flat


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings that differ; a setting newer than the record counts only if it is not at the
    value that reproduces what runs did before it existed (`ADDED_SETTINGS`)."""
    recorded = {**{key: value for key, value in ADDED_SETTINGS.items() if key in current}, **recorded}
    return [
        f"{key}: {recorded.get(key)!r} -> {current.get(key)!r}"
        for key in sorted(set(recorded) | set(current))
        if recorded.get(key) != current.get(key)
    ]


def fold_assignment(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that decide which chips are in which fold."""
    return {key: value for key, value in settings.items() if key.startswith(FOLD_KEYS)}
