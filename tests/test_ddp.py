"""DDP on CPU: two gloo processes; the gathered validation fold holds each chip exactly once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate
from omegaconf import open_dict

from amazon_cls.data.datamodule import read_labels
from amazon_cls.data.folds import fold_file, load_or_create_folds
from amazon_cls.labels import PROB_COLUMNS
from amazon_cls.train import instantiate_dict
from tests.conftest import compose_train, tiny_overrides

ROOT = Path(__file__).resolve().parents[1]


def odd_fold(tiny_root: Path, folds_dir: Path, num_folds: int) -> tuple[int, set[str]]:
    """A fold with an odd number of chips, so the distributed sampler must pad one rank."""
    names, targets = read_labels(tiny_root / "train_v2.csv")
    path = fold_file(folds_dir, "train_v2", names, targets, num_folds, seed=42)
    folds = load_or_create_folds(names, targets, path, num_folds, seed=42)
    fold = next(f for f in range(num_folds) if (folds == f).sum() % 2 == 1)
    return fold, set(np.asarray(names)[folds == fold])


def test_ddp_cpu_gathers_each_validation_chip_once(tmp_path: Path, tiny_root: Path) -> None:
    fold, expected = odd_fold(tiny_root, tmp_path / "logs" / "folds", num_folds=7)
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "amazon_cls.train", "trainer=ddp_cpu", *tiny_overrides(tiny_root),
        "trainer.max_epochs=1", "data.num_folds=7", f"data.fold={fold}", "data.batch_size=8",
        f"paths.log_dir={tmp_path / 'logs'}", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    probs = pd.read_csv(run_dir / "val_probs.csv")
    assert len(probs) == len(expected) and set(probs["image_name"]) == expected

    # the same checkpoint validated by one process gives the same probabilities, thresholds and F2
    single_dir = tmp_path / "single"
    cfg = compose_train(
        [*tiny_overrides(tiny_root), "data.num_folds=7", f"data.fold={fold}", "data.batch_size=8"], single_dir
    )
    with open_dict(cfg):
        cfg.paths.log_dir = str(tmp_path / "logs")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    model = instantiate(cfg.model, _convert_="all", image_size=cfg.data.image_size)
    model.tta = "d4"
    trainer = instantiate(cfg.trainer, callbacks=instantiate_dict(cfg.callbacks), logger=False)
    (single,) = trainer.validate(model, instantiate(cfg.data, _convert_="all"), ckpt_path=metrics["best_checkpoint"])
    for key in ("val/f2@0.5", "val/f2@0.2", "val/f2"):
        assert single[key] == pytest.approx(metrics[key], abs=1e-6)
    assert json.loads((single_dir / "thresholds.json").read_text()) == json.loads(
        (run_dir / "thresholds.json").read_text()
    )
    single_probs = pd.read_csv(single_dir / "val_probs.csv").set_index("image_name").loc[probs["image_name"]]
    np.testing.assert_allclose(single_probs[PROB_COLUMNS].to_numpy(), probs[PROB_COLUMNS].to_numpy(), atol=1e-5)
