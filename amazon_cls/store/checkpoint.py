"""The project's checkpoints: Lightning's files, written atomically beside their final name, and
read back with `weights_only=True` (no code stored in a file runs).

Besides Lightning's `state_dict` and `hyper_parameters`, a checkpoint carries, as plain data, the
label list its outputs mean (`labels`) and the thresholds fitted for it, per view (`thresholds`,
see `core.thresholds`); the model writes both in `on_save_checkpoint`. Checkpoints of older
versions (a flat threshold mapping, a `thresholds` buffer in the state dict) are read too.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from amazon_cls.core.labels import check_label_vocabulary
from amazon_cls.core.thresholds import Thresholds
from amazon_cls.store.atomic import write_atomic

LEGACY_THRESHOLD_BUFFER = "thresholds"  # the state-dict key of the thresholds in older checkpoints


class CheckpointError(ValueError):
    """A file that is not one of this project's checkpoints; the message names it."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, atomic in the checkpoint's own folder (Lightning's own save
    goes through the system temp folder, and a move across filesystems is a copy)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        write_atomic(path, lambda tmp: save_through_file(checkpoint, tmp))


def save_through_file(checkpoint: dict[str, Any], path: Path) -> None:
    """`torch.save` through a Python file: a full disk is then the OSError it is ("No space left on
    device"), which the atomic write names in one line, not torch's `enforce fail` RuntimeError."""
    try:
        with open(path, "wb") as file:
            torch.save(checkpoint, file)
    except RuntimeError as error:  # torch's zip writer fails again while closing, over what stopped it
        if error.__context__ is not None:  # a full disk's OSError, or a signal's exit (SIGTERM mid-write)
            raise error.__context__ from None
        raise


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint of this project, read with weights_only=True, its label list checked."""
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except pickle.UnpicklingError as error:  # torch's advice to retry with weights_only=False is never passed on
        if "global" not in str(error).lower():  # not a pickle of objects at all: damaged, or another kind of file
            raise CheckpointError(f"{path}: not a readable checkpoint ({unpickling_reason(error)})") from None
        raise CheckpointError(
            f"{path}: not a checkpoint of this project: it holds Python objects or code besides weights, "
            "which are never loaded here; re-save the weights from a source you trust"
        ) from None
    except Exception as error:  # torch raises many types for files that are not checkpoints
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise CheckpointError(f"{path}: not a checkpoint of this project (no state_dict and hyper_parameters)")
    check_label_vocabulary(checkpoint.get("labels"), source=str(path))
    return checkpoint


def unpickling_reason(error: Exception) -> str:
    """What torch's unpickler found wrong, without its advice to load the file with weights_only=False."""
    text = str(error)
    reason = text.split("error:", 1)[-1].split("Check the documentation", 1)[0] if "error:" in text else text
    return " ".join(reason.split()) or type(error).__name__


def checkpoint_thresholds(checkpoint: dict[str, Any], source: str) -> Thresholds:
    """The thresholds a checkpoint carries, per view. An older checkpoint's flat mapping has the
    view it recorded beside it (`thresholds_tta`), else the plain one it was fitted on in training."""
    stored = checkpoint.get("thresholds")
    if stored is None:
        raise CheckpointError(f"{source}: carries no thresholds")
    if isinstance(stored, dict) and stored and not all(isinstance(v, dict) for v in stored.values()):
        stored = {checkpoint.get("thresholds_tta", "none"): stored}
    return Thresholds.from_json(stored, source)


def model_state(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights to load into the model (without an older checkpoint's threshold buffer)."""
    return {key: value for key, value in checkpoint["state_dict"].items() if key != LEGACY_THRESHOLD_BUFFER}


# The hyperparameters' versions, each upgrader taking a checkpoint from its version to the next, as
# Raster Vision's register_config(upgrader=...) does: an old checkpoint is read in today's form.
HPARAMS_VERSION = 2  # 1: flat optimizer, schedule and loss keys; 2: each in its group (model/loss, ...)
HPARAMS_VERSION_KEY = "hparams_version"
SCORES_KEY = "scores"  # the best checkpoint's epochs and out-of-fold scores, written once it is validated


def provenance(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """What a model learned from and how well it does, as its checkpoint says: the data (`trained_on`:
    the embedded synthetic set, or a root and its labels by content), the epochs of the best
    checkpoint and its out-of-fold F2; None for what a checkpoint made before they were kept lacks."""
    scores = checkpoint.get(SCORES_KEY) or {}
    return {
        "trained_on": checkpoint["hyper_parameters"].get("trained_on"),
        "epochs": scores.get("epochs"),
        "val_f2": scores.get("val/f2"),
    }


def nested_groups(hparams: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: the flat optimizer, schedule and loss keys become their groups."""
    loss = {"name": hparams.pop("loss", "bce"), "pos_weight": hparams.pop("pos_weight", None)}
    gamma = hparams.pop("focal_gamma", None)
    if loss["name"] == "focal":
        loss = {"name": "focal", "gamma": gamma if gamma is not None else 2.0}
    scheduler = {"name": hparams.pop("scheduler", "cosine")}
    warmup = hparams.pop("warmup_pct", None)
    if scheduler["name"] in ("cosine", "onecycle") and warmup is not None:
        scheduler["warmup_pct"] = warmup
    optimizer = {
        "name": hparams.pop("optimizer", "adamw"),
        "lr": hparams.pop("lr", 1e-3),
        "weight_decay": hparams.pop("weight_decay", 1e-4),
    }
    return {**hparams, "optimizer": optimizer, "scheduler": scheduler, "loss": loss}


UPGRADERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: nested_groups}


def checkpoint_hparams(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's hyperparameters in today's form: each upgrader from its version on, in turn.
    Checkpoints made before versions were recorded are told apart by their form."""
    hparams = dict(checkpoint["hyper_parameters"])
    version = checkpoint.get(HPARAMS_VERSION_KEY) or (2 if isinstance(hparams.get("loss"), Mapping) else 1)
    if not isinstance(version, int) or version > HPARAMS_VERSION:
        raise CheckpointError(
            f"hyperparameters of version {version!r}: made by a newer amazon-cls than this one "
            f"(which reads versions up to {HPARAMS_VERSION}); update it to read this checkpoint"
        )
    for step in range(int(version), HPARAMS_VERSION):
        hparams = UPGRADERS[step](hparams)
    return hparams
