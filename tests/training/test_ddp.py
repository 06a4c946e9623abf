"""DDP on CPU: two gloo processes; the gathered validation fold holds each chip exactly once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict

from amazon_cls.core.labels import PROB_COLUMNS
from amazon_cls.data.dataset import EpochSampler
from amazon_cls.data.folds import fold_file, load_or_create_folds
from amazon_cls.data.layout import read_labels
from amazon_cls.model.distributed import gather_unique
from amazon_cls.runtime.trainer import make_trainer
from amazon_cls.training.fit import instantiate_group
from tests.helpers import compose_train, tiny_overrides

ROOT = Path(__file__).resolve().parents[1]


def odd_fold(tiny_root: Path, folds_dir: Path, num_folds: int) -> tuple[int, set[str]]:
    """A fold with an odd number of chips, so the distributed sampler must pad one rank."""
    names, targets = read_labels(tiny_root / "train_v2.csv")
    path = fold_file(folds_dir, "train_v2", names, targets, num_folds, seed=42)
    folds = load_or_create_folds(names, targets, path, num_folds, seed=42)
    fold = next(f for f in range(num_folds) if (folds == f).sum() % 2 == 1)
    return fold, set(np.asarray(names)[folds == fold])


class FakeRank:
    """A LightningModule's all_gather as one rank of two sees it: its own tensor stacked with the
    other rank's tensor from the same call (recorded beforehand)."""

    device = torch.device("cpu")

    def __init__(self, other_rank_calls: list[torch.Tensor] | None = None) -> None:
        self.calls: list[torch.Tensor] = []
        self.other = list(other_rank_calls or [])

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        self.calls.append(tensor.clone())
        return torch.stack([tensor, self.other.pop(0) if self.other else tensor])


def test_two_ranks_share_an_odd_fold_and_the_gather_keeps_each_chip_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The logic of the slow test below without processes: equal shares, then no chip twice."""
    size = 7
    shares = []
    for rank in (0, 1):
        monkeypatch.setattr(EpochSampler, "_rank_and_world", staticmethod(lambda rank=rank: (rank, 2)))
        shares.append(torch.tensor([index for _, index in EpochSampler(size, seed=0, shuffle=True)]))
    assert [len(share) for share in shares] == [4, 4]  # equal work: one chip served twice
    probs = [torch.rand(len(share), 17) for share in shares]
    rank_1 = FakeRank()
    gather_unique(rank_1, shares[1], probs[1])
    index, gathered = gather_unique(FakeRank(rank_1.calls), shares[0], probs[0])
    assert index.tolist() == list(range(size))
    for chip, row in zip(index, gathered, strict=True):
        rank = 0 if chip in shares[0] else 1
        np.testing.assert_array_equal(row, probs[rank][shares[rank].tolist().index(chip)].numpy())


@pytest.mark.slow
def test_ddp_cpu_gathers_each_validation_chip_once(tmp_path: Path, tiny_root: Path) -> None:
    fold, expected = odd_fold(tiny_root, tmp_path / "logs" / "folds", num_folds=7)
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "amazon_cls.train",
        "trainer=ddp_cpu",
        *tiny_overrides(tiny_root),
        "trainer.max_epochs=1",
        "data.num_folds=7",
        f"data.fold={fold}",
        "data.batch_size=8",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.run.dir={run_dir}",
    ]
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
    model = instantiate(cfg.model, _convert_="all", tta="d4")
    trainer = make_trainer(cfg.trainer, callbacks=instantiate_group(cfg.callbacks), logger=False)
    datamodule = instantiate(cfg.data, _convert_="all", image_size=cfg.model.image_size)
    (single,) = trainer.validate(model, datamodule, ckpt_path=metrics["best_checkpoint"])
    for key in ("val/f2@0.5", "val/f2@0.2", "val/f2"):
        assert single[key] == pytest.approx(metrics[key], abs=1e-6)
    assert json.loads((single_dir / "thresholds.json").read_text()) == json.loads(
        (run_dir / "thresholds.json").read_text()
    )
    single_probs = pd.read_csv(single_dir / "val_probs.csv").set_index("image_name").loc[probs["image_name"]]
    np.testing.assert_allclose(single_probs[PROB_COLUMNS].to_numpy(), probs[PROB_COLUMNS].to_numpy(), atol=1e-5)
