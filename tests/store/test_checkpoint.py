"""Old checkpoints are read in today's form through the versioned upgraders beside the reader."""

from __future__ import annotations

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
