"""The files a run or an ensemble writes and reads, defined once: their names, formats and rules.

A training run's folder holds:
    checkpoints/best-*.ckpt, checkpoints/last.ckpt   weights, with the label list and thresholds as plain data
    thresholds.json      label -> threshold, fitted on the validation fold
    val_report.csv       per label: support, predicted, precision, recall, F2, threshold
    val_probs.csv        image_name, fold, p_<label> x17, t_<label> x17 (val_probs_notta.csv: the plain view)
    test_probs.csv       image_name, p_<label> x17 of the prediction folders
    metrics.json         the scores and the list of outputs; written last, so its presence means finished
    settings.json        the settings that change results, recorded at the first start and never rewritten
Submissions are `image_name,tags`, with the probabilities beside them in `<stem>_probs.csv`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from amazon_cls.data.layout import read_name_table
from amazon_cls.io import write_atomic, write_csv, write_json
from amazon_cls.labels import LABELS, PROB_COLUMNS, TARGET_COLUMNS, check_label_vocabulary, vector_to_tags
from amazon_cls.metrics import predict_labels

CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
THRESHOLDS = "thresholds.json"
VAL_REPORT = "val_report.csv"
VAL_PROBS = "val_probs.csv"
VAL_PROBS_PLAIN = "val_probs_notta.csv"
TEST_PROBS = "test_probs.csv"
METRICS = "metrics.json"
SETTINGS = "settings.json"
HYDRA_CONFIG = ".hydra/config.yaml"
COMBINATION = "combination.json"  # an ensemble folder's combination: all that applies it to new chips
# What changes a run's results: its data and folds, model, optimiser and schedule, epochs, seed, TTA.
RESULT_KEYS = ("data.root", "data.synthetic", "data.labels_csv", "data.format", "data.image_dir", "data.image_ext",
               "data.num_folds", "data.fold", "data.fold_seed", "data.train_subset", "data.dehaze", "data.on_bad_chip",
               "model", "trainer.max_epochs", "seed", "tta")  # fmt: skip
FOLD_KEYS = ("data.root", "data.synthetic", "data.labels_csv", "data.num_folds", "data.fold_seed")
log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A file that is not one of this project's checkpoints; the message names it."""


def probability_frame(names: Sequence[str], probs: np.ndarray) -> pd.DataFrame:
    """image_name + p_<label> x17: test probabilities, ensembles, submissions' `_probs` files."""
    return pd.concat([pd.DataFrame({"image_name": list(names)}), pd.DataFrame(probs, columns=PROB_COLUMNS)], axis=1)


def validation_frame(names: Sequence[str], fold: int, probs: np.ndarray, targets: np.ndarray) -> pd.DataFrame:
    """The out-of-fold table an ensemble reads: image_name, fold, p_<label> x17, t_<label> x17."""
    return pd.concat(
        [
            pd.DataFrame({"image_name": list(names), "fold": fold}),
            pd.DataFrame(probs, columns=PROB_COLUMNS),
            pd.DataFrame(targets.astype(np.int8), columns=TARGET_COLUMNS),
        ],
        axis=1,
    )


def read_frame(path: Path) -> pd.DataFrame | None:
    """A probability table indexed by chip name (names read as strings), or None if absent; a
    damaged file (truncated, other columns, values outside [0, 1]) is an error naming it."""
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(
            path, dtype={"image_name": str}, keep_default_na=False, na_values={c: [""] for c in PROB_COLUMNS}
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path}: damaged probability file ({error})") from None
    missing = [column for column in ["image_name", *PROB_COLUMNS] if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a probability file of this project's 17 labels (missing {missing[:3]} ...)")
    probs = frame[PROB_COLUMNS].apply(pd.to_numeric, errors="coerce").to_numpy()
    bad = np.flatnonzero(~((probs >= 0) & (probs <= 1)).all(axis=1))
    if len(bad):
        raise ValueError(f"{path}: damaged probability file: {len(bad)} rows with missing or out-of-range "
                         f"probabilities (first: line {bad[0] + 2})")  # fmt: skip
    return frame.set_index("image_name")


def write_thresholds(path: Path, thresholds: np.ndarray) -> Path:
    return write_json(path, dict(zip(LABELS, np.asarray(thresholds).tolist(), strict=True)))


def read_thresholds(path: str | Path) -> np.ndarray:
    """Thresholds from a `label -> threshold` JSON file (every label once, in any order), in label order."""
    try:
        thresholds = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable thresholds file ({error})") from error
    return thresholds_of(thresholds, path)


def thresholds_of(thresholds: Any, path: str | Path) -> np.ndarray:
    """A `label -> threshold` mapping read from `path`, checked (every label once, numbers in
    [0, 1]), in label order."""
    if not isinstance(thresholds, dict) or sorted(thresholds) != sorted(LABELS):
        found = sorted(thresholds) if isinstance(thresholds, dict) else type(thresholds).__name__
        raise ValueError(f"{path}: needs each of the 17 labels exactly once as a key; found {found}")
    bad = {label: value for label, value in thresholds.items() if not _is_probability(value)}
    if bad:
        raise ValueError(f"{path}: thresholds must be numbers in [0, 1]; found {bad}")
    return np.array([thresholds[label] for label in LABELS], dtype=np.float64)


def _is_probability(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def write_metrics(run_dir: Path, metrics: dict[str, Any], outputs: list[str]) -> Path:
    """metrics.json, last of a run's files: it lists the outputs that make the run finished."""
    return write_json(run_dir / METRICS, {**metrics, "outputs": outputs})


def finished_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The scores of a run that finished: metrics.json exists and every output it lists exists."""
    try:
        metrics = json.loads((run_dir / METRICS).read_text())
    except (OSError, ValueError):
        return None
    outputs = [run_dir / name for name in metrics.get("outputs", [])] + [Path(metrics.get("best_checkpoint", ""))]
    return metrics if all(path.is_file() for path in outputs) else None


def result_settings(cfg: DictConfig) -> dict[str, Any]:
    """The settings that change a run's results, as flat dotted keys with resolved values."""
    settings: dict[str, Any] = {}
    for key in RESULT_KEYS:
        value = OmegaConf.select(cfg, key)
        if isinstance(value, DictConfig):
            value = OmegaConf.to_container(value, resolve=True)
            settings.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            settings[key] = value
    return settings


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    return [f"{key}: {recorded.get(key)!r} -> {current.get(key)!r}"
            for key in sorted(set(recorded) | set(current)) if recorded.get(key) != current.get(key)]  # fmt: skip


def check_settings(run_dir: Path, settings: dict[str, Any], allow_changes: bool = False) -> None:
    """Refuse to resume or skip a run recorded with other settings (a resumed model trained on
    another fold would report out-of-fold scores on its own training chips)."""
    path = run_dir / SETTINGS
    if not path.is_file():
        return
    changed = differences(json.loads(path.read_text()), settings)
    if changed and not allow_changes:
        raise ValueError(
            f"{run_dir}: this run folder holds a run made with other settings ({'; '.join(changed)}); "
            "use another run folder (hydra.run.dir), or allow_changed_settings=true to continue anyway"
        )


def record_settings(run_dir: Path, settings: dict[str, Any]) -> None:
    """Record a run's settings at its first start (once its config passed every check); never rewritten."""
    if not (run_dir / SETTINGS).is_file():
        write_json(run_dir / SETTINGS, settings)


def resolve_ckpt_path(ckpt_path: str | None, run_dir: Path) -> str | None:
    """`last` means this run folder's newest state: the checkpoint Lightning saves when SLURM
    preempts a job (`hpc_ckpt_<n>.ckpt`, mid-epoch) if newer than checkpoints/last.ckpt, which
    is saved after each validation. (With no ckpt_path, Lightning itself resumes from the former.)"""
    if ckpt_path != "last":
        return ckpt_path
    candidates = [*run_dir.glob("hpc_ckpt_*.ckpt"), run_dir / CHECKPOINTS / LAST_CHECKPOINT]
    existing = [path for path in candidates if path.is_file()]
    if not existing:
        return None
    newest = max(existing, key=lambda path: path.stat().st_mtime_ns)
    return "hpc" if newest.name.startswith("hpc_ckpt_") else str(newest)


def interruption(stop: SystemExit) -> tuple[str, int]:
    """The signal behind a SystemExit Lightning raised for it, and the shells' exit status for it."""
    return ("SIGTERM", 143) if isinstance(stop, SIGTERMException) else ("SIGINT", 130)


def interrupted(stop: SystemExit, run_dir: Path) -> SystemExit:
    """The exit of an interrupted run: never status 0, with what it saved and how to resume.

    Lightning turns SIGTERM into a SystemExit without a code (status 0, which a scheduler or
    `make` takes for success) and Ctrl+C into status 1. They become 143 and 130, the shells'
    statuses for those signals; the run is not marked finished (metrics.json is written last).
    """
    signal_name, code = interruption(stop)
    last = run_dir / CHECKPOINTS / LAST_CHECKPOINT
    saved = f"{last} holds the last finished epoch" if last.is_file() else "no checkpoint was saved yet"
    log.error(
        "Interrupted (%s): %s; the run is not marked finished. Resume with the same command and "
        "ckpt_path=last hydra.run.dir=%s",
        signal_name,
        saved,
        run_dir,
    )
    return SystemExit(code)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint of this project, read with weights_only=True (no code in the file runs)."""
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except Exception as error:  # torch raises many types for files that are not checkpoints
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise CheckpointError(f"{path}: not a checkpoint of this project (no state_dict and hyper_parameters)")
    check_label_vocabulary(checkpoint.get("labels"), source=str(path))
    return checkpoint


def store_thresholds(ckpt_path: str | Path, thresholds: np.ndarray, tta: str) -> None:
    """Put thresholds fitted on the validated checkpoint's predictions (made with `tta`) into it."""
    checkpoint = read_checkpoint(ckpt_path)
    checkpoint["state_dict"]["thresholds"] = torch.as_tensor(thresholds, dtype=torch.float32)
    checkpoint["thresholds"] = dict(zip(LABELS, np.asarray(thresholds).tolist(), strict=True))
    checkpoint["thresholds_tta"] = tta
    write_atomic(ckpt_path, lambda tmp: torch.save(checkpoint, tmp))


def submission_frame(names: Sequence[str], y_pred: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"image_name": list(names), "tags": [vector_to_tags(row) for row in y_pred]})


def order_like(frame: pd.DataFrame, order_csv: str | Path) -> pd.DataFrame:
    """Rows in exactly the order of `order_csv` (a sample submission); the two row sets must match."""
    order = read_name_table(Path(order_csv), ["image_name"], "order file")["image_name"]
    missing = pd.Index(order).difference(frame["image_name"])
    extra = pd.Index(frame["image_name"]).difference(order)
    if len(missing) or len(extra) or not order.is_unique:
        raise ValueError(
            f"{order_csv}: row sets differ: {len(missing)} chips listed there were not predicted "
            f"(e.g. {list(missing[:3])}), {len(extra)} predicted chips are not listed (e.g. {list(extra[:3])})"
            + ("" if order.is_unique else ", and it lists some chips twice")
        )
    return frame.set_index("image_name").loc[order].reset_index()


def write_submission(
    output: str | Path,
    probs: pd.DataFrame,
    thresholds: np.ndarray,
    weather_rules: bool = False,
    order: str | Path | None = None,
) -> tuple[Path, Path]:
    """`image_name,tags` at `output` and the probabilities at `<output stem>_probs.csv`."""
    if order:
        probs = order_like(probs, order)
    y_pred = predict_labels(probs[PROB_COLUMNS].to_numpy(), thresholds, weather_rules)
    output = Path(output)
    probs_path = output.with_name(f"{output.stem}_probs.csv")
    write_csv(probs_path, probs)
    write_csv(output, submission_frame(probs["image_name"], y_pred))
    return output, probs_path
