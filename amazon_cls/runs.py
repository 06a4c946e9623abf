"""The files a run or an ensemble writes and reads, defined once: their names, formats and rules.

A training run's folder holds:
    checkpoints/best-*.ckpt, checkpoints/last.ckpt   weights, with the label list and thresholds as plain data
    thresholds.json      label -> threshold, fitted on the validation fold
    val_report.csv       per label: support, predicted, precision, recall, F2, threshold
    val_probs.csv        image_name, fold, p_<label> x17, t_<label> x17 (val_probs_notta.csv: the plain view)
    test_probs.csv       image_name, p_<label> x17 of the prediction folders
    metrics.json         the scores and the list of outputs; written last, so its presence means finished
Submissions are `image_name,tags`, with the probabilities beside them in `<stem>_probs.csv`.
A finished run is an ensemble's member: its model (backbone @ image size), fold, seed and tables.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import OmegaConf

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
HYDRA_CONFIG = ".hydra/config.yaml"
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
    """A probability table indexed by chip name (names read as strings), or None if absent."""
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"image_name": str}, keep_default_na=False).set_index("image_name")


def write_thresholds(path: Path, thresholds: np.ndarray) -> Path:
    return write_json(path, dict(zip(LABELS, np.asarray(thresholds).tolist(), strict=True)))


def read_thresholds(path: str | Path) -> np.ndarray:
    """Thresholds from a `label -> threshold` JSON file, in label order."""
    thresholds = json.loads(Path(path).read_text())
    check_label_vocabulary(list(thresholds), source=str(path))
    return np.array([thresholds[label] for label in LABELS], dtype=np.float64)


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


def resolve_ckpt_path(ckpt_path: str | None, run_dir: Path) -> str | None:
    """`last` means this run folder's checkpoints/last.ckpt, when there is one."""
    if ckpt_path == "last":
        last = run_dir / CHECKPOINTS / LAST_CHECKPOINT
        return str(last) if last.is_file() else None
    return ckpt_path


def interrupted(stop: SystemExit, run_dir: Path) -> SystemExit:
    """The exit of an interrupted run: never status 0, with what it saved and how to resume.

    Lightning turns SIGTERM into a SystemExit without a code (status 0, which a scheduler or
    `make` takes for success) and Ctrl+C into status 1. They become 143 and 130, the shells'
    statuses for those signals; the run is not marked finished (metrics.json is written last).
    """
    signal_name, code = ("SIGTERM", 143) if isinstance(stop, SIGTERMException) else ("SIGINT", 130)
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
    order = pd.read_csv(order_csv, usecols=["image_name"], dtype=str, keep_default_na=False)["image_name"]
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


@dataclass
class Member:
    """One finished training run and its prediction tables (indexed by image_name)."""

    run_dir: Path
    model: str
    fold: int
    seed: int
    oof: pd.DataFrame  # fold, p_* (TTA as trained), t_*
    oof_plain: pd.DataFrame | None  # the same without TTA, when the run used TTA
    test: pd.DataFrame | None  # p_* of the test chips
    checkpoint: str  # the best checkpoint, which predicts new chips


def load_member(run_dir: Path) -> Member | None:
    """The member in `run_dir`, or None if that run has not finished."""
    metrics = finished_metrics(run_dir)
    if metrics is None:
        return None
    cfg = OmegaConf.load(run_dir / HYDRA_CONFIG)
    model = f"{cfg.model.backbone}@{cfg.model.image_size}px"
    return Member(
        run_dir=run_dir,
        model=model,
        fold=int(cfg.data.fold),
        seed=int(cfg.seed),
        oof=read_frame(run_dir / VAL_PROBS),
        oof_plain=read_frame(run_dir / VAL_PROBS_PLAIN),
        test=read_frame(run_dir / TEST_PROBS),
        checkpoint=str(metrics.get("best_checkpoint", "")),
    )


def find_members(run_dirs: list[Path]) -> list[Member]:
    """Finished members among `run_dirs` (unfinished ones are reported and left out)."""
    members = []
    for run_dir in run_dirs:
        member = load_member(run_dir)
        if member is None:
            log.warning("Leaving out %s: no finished run there (metrics.json and its outputs)", run_dir)
        else:
            members.append(member)
    if not members:
        raise FileNotFoundError(f"no finished members in {[str(d) for d in run_dirs]}")
    return members


def model_tables(members: list[Member], table: str) -> dict[str, pd.DataFrame]:
    """Per model: the chosen table of its members, seeds averaged and folds concatenated."""
    tables: dict[str, pd.DataFrame] = {}
    for model in sorted({m.model for m in members}):
        frames = [getattr(m, table) for m in members if m.model == model]
        if any(frame is None for frame in frames):
            continue
        stacked = pd.concat(frames)
        tables[model] = stacked.groupby(level=0, sort=True).mean()
    return tables


def common_chips(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Restrict every model to the chips all models predicted (warns about the rest)."""
    names = sorted(set.intersection(*(set(t.index) for t in tables.values())))
    for model, table in tables.items():
        if len(table) != len(names):
            log.warning(
                "%s: %d of its %d chips are not predicted by every model; left out",
                model,
                len(table) - len(names),
                len(table),
            )
    return {model: table.loc[names] for model, table in tables.items()}
