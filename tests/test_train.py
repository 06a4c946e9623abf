"""Training end to end on CPU with timm's tiny test model on the tiny synthetic data set."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from amazon_cls.labels import LABELS
from amazon_cls.train import run
from tests.conftest import compose_train, tiny_overrides


def test_fast_dev_run(tmp_path: Path, tiny_root: Path) -> None:
    cfg = compose_train([*tiny_overrides(tiny_root), "debug=fdr"], tmp_path / "run")
    run(cfg)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_root: Path) -> Path:
    output_dir = tmp_path_factory.mktemp("train") / "run"
    run(compose_train(tiny_overrides(tiny_root), output_dir))
    return output_dir


def test_run_folder_holds_every_output(trained_run: Path) -> None:
    names = {p.name for p in trained_run.iterdir()}
    assert {"thresholds.json", "val_report.csv", "val_probs.csv", "metrics.json", "checkpoints", "tensorboard"} <= names
    checkpoints = {p.name for p in (trained_run / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints and any(n.startswith("best-") for n in checkpoints)
    assert list((trained_run / "tensorboard").glob("events.out.tfevents.*"))


def test_outputs_agree_with_each_other(trained_run: Path) -> None:
    metrics = json.loads((trained_run / "metrics.json").read_text())
    thresholds = json.loads((trained_run / "thresholds.json").read_text())
    assert list(thresholds) == list(LABELS)
    assert metrics["val/f2"] >= metrics["val/f2@0.2"]
    report = pd.read_csv(trained_run / "val_report.csv")
    assert report["label"].tolist() == list(LABELS)
    probs = pd.read_csv(trained_run / "val_probs.csv")
    assert probs["image_name"].is_unique and (probs["fold"] == 0).all()
    (fold_file,) = (trained_run.parent / "logs" / "folds").glob("*.csv")
    folds = pd.read_csv(fold_file)
    assert set(probs["image_name"]) == set(folds.loc[folds["fold"] == 0, "image_name"])
    assert [c for c in probs.columns if c.startswith("p_")] == [f"p_{label}" for label in LABELS]
    checkpoint = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True)
    assert checkpoint["labels"] == list(LABELS)
    assert checkpoint["thresholds"] == pytest.approx(thresholds)
    assert torch.allclose(checkpoint["state_dict"]["thresholds"], torch.tensor(list(thresholds.values())))
