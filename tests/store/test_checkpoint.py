"""Old checkpoints are read in today's form through the versioned upgraders beside the reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amazon_cls.store.checkpoint import HPARAMS_VERSION, HPARAMS_VERSION_KEY, CheckpointError, checkpoint_hparams

FLAT = {
    "backbone": "test_resnet",
    "loss": "focal",
    "focal_gamma": 3.0,
    "scheduler": "cosine",
    "warmup_pct": 0.2,
    "optimizer": "sgd",
    "lr": 0.01,
    "weight_decay": 0.0,
}


def test_a_flat_checkpoint_of_version_1_is_read_with_its_groups() -> None:
    hparams = checkpoint_hparams({"hyper_parameters": FLAT})
    assert hparams["loss"] == {"name": "focal", "gamma": 3.0}
    assert hparams["scheduler"] == {"name": "cosine", "warmup_pct": 0.2}
    assert hparams["optimizer"] == {"name": "sgd", "lr": 0.01, "weight_decay": 0.0}
    assert hparams["backbone"] == "test_resnet"


def test_todays_checkpoint_is_read_as_it_is() -> None:
    today = {"backbone": "x", "loss": {"name": "bce"}, "optimizer": {"name": "adamw", "lr": 1e-3}}
    assert checkpoint_hparams({"hyper_parameters": today, HPARAMS_VERSION_KEY: HPARAMS_VERSION}) == today
    assert checkpoint_hparams({"hyper_parameters": today}) == today  # before versions were recorded


def test_a_checkpoint_from_a_newer_version_is_refused_by_name() -> None:
    with pytest.raises(CheckpointError, match="made by a newer amazon-cls"):
        checkpoint_hparams({"hyper_parameters": {}, HPARAMS_VERSION_KEY: HPARAMS_VERSION + 1})


def test_a_trained_checkpoint_says_what_it_learned_from_its_epochs_and_out_of_fold_f2(
    trained_run: Path, tiny_root: Path
) -> None:
    from amazon_cls.store.checkpoint import provenance, read_checkpoint
    from amazon_cls.store.records import HASH, identity

    metrics = json.loads((trained_run / "metrics.json").read_text())
    found = provenance(read_checkpoint(next((trained_run / "checkpoints").glob("best-*.ckpt"))))
    assert found["val_f2"] == pytest.approx(metrics["val/f2"]) and found["epochs"] == 2  # best of a 2-epoch run
    trained_on = found["trained_on"]
    assert trained_on["data"] == str(tiny_root) and not trained_on["synthetic"]
    assert trained_on["labels"] == f"train_v2.csv blake2b {identity(tiny_root / 'train_v2.csv')[HASH]}"
    assert (trained_on["fold"], trained_on["num_folds"]) == (0, 5)
