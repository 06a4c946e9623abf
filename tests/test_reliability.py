"""Nothing lost: non-finite losses stop cleanly, chips broken mid-run are named, resumes are exact."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from amazon_cls.data.chips import ChipDecodeError
from amazon_cls.labels import LabelVocabularyError
from amazon_cls.module import ChipClassifier
from amazon_cls.train import run
from tests.helpers import ROOT, compose_train, run_module, tiny_overrides


class NaNAtStep(ChipClassifier):
    """A model whose loss turns NaN at a given global step, as a diverging run's would."""

    def __init__(self, nan_step: int = 5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.nan_step = nan_step

    def training_step(self, batch, batch_idx):
        if self.global_step == self.nan_step:
            batch["target"] = batch["target"] * float("nan")
        return super().training_step(batch, batch_idx)


def test_non_finite_loss_stops_with_step_batch_and_chips(tmp_path: Path, tiny_root: Path) -> None:
    overrides = [*tiny_overrides(tiny_root), "trainer.max_epochs=3", "+model.nan_step=8"]
    cfg = compose_train([*overrides, f"model._target_={NaNAtStep.__module__}.NaNAtStep"], tmp_path / "run")
    with pytest.raises(FloatingPointError) as error:
        run(cfg)
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    per_epoch = last["global_step"] // (last["epoch"] + 1)
    assert last["epoch"] == 8 // per_epoch - 1  # the last good state: the epoch before the NaN
    expected = rf"non-finite training loss \(nan\) at global step 8 \(epoch {8 // per_epoch}, batch {8 % per_epoch}\)"
    assert re.match(expected + r", chips train_\d+, train_\d+", str(error.value)), str(error.value)


def test_chip_broken_during_training_is_named(tmp_path: Path, tiny_root: Path) -> None:
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    cfg = compose_train([*tiny_overrides(root), "data.check=false"], tmp_path / "run")
    (root / "train-jpg" / "train_17.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(ChipDecodeError, match=r"train_17\.jpg: cannot decode image"):
        run(cfg)


def test_checkpoint_with_other_labels_is_refused(tmp_path: Path, trained_run: Path) -> None:
    ckpt = torch.load(trained_run / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["labels"] = ["clear", "cloudy", "forest"]
    torch.save(ckpt, tmp_path / "other.ckpt")
    with pytest.raises(LabelVocabularyError, match=r"other\.ckpt.*differs from this project's"):
        ChipClassifier.from_checkpoint(tmp_path / "other.ckpt")
    assert ChipClassifier.from_checkpoint(trained_run / "checkpoints" / "last.ckpt").hparams.backbone == "test_resnet"


class CrashAtEpoch(L.Callback):
    """Stops a run at the start of an epoch, as a kill would: last.ckpt holds the epoch before."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_crashed_run_resumes_to_the_same_result(tmp_path: Path, tiny_root: Path) -> None:
    """The in-process form of the test below: same scores and thresholds as an uninterrupted run."""
    args = [
        *tiny_overrides(tiny_root),
        "trainer.max_epochs=4",
        "data.batch_size=16",
        "callbacks.tensorboard_extras=null",
    ]
    whole = run(compose_train(args, tmp_path / "whole"))
    crash = f"+callbacks.crash={{_target_: {CrashAtEpoch.__module__}.CrashAtEpoch, epoch: 2}}"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(compose_train([*args, crash], tmp_path / "resumed"))
    assert torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    again = run(compose_train([*args, "ckpt_path=last"], tmp_path / "resumed"))
    for key in ("val/f2@0.5", "val/f2@0.2", "val/f2"):
        assert again[key] == pytest.approx(whole[key], abs=1e-6)
    assert json.loads((tmp_path / "resumed" / "thresholds.json").read_text()) == json.loads(
        (tmp_path / "whole" / "thresholds.json").read_text()
    )


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path: Path, tiny_root: Path) -> None:
    args = [
        *tiny_overrides(tiny_root),
        "trainer.max_epochs=5",
        "data.batch_size=16",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    run_module("amazon_cls.train", *args, f"hydra.run.dir={tmp_path / 'whole'}")

    resumed = tmp_path / "resumed"
    command = [sys.executable, "-m", "amazon_cls.train", *args, f"hydra.run.dir={resumed}"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (resumed / "checkpoints" / "last.ckpt").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (resumed / "metrics.json").exists(), "the run finished before it could be killed"
    killed_at = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["epoch"]
    run_module("amazon_cls.train", *args, f"hydra.run.dir={resumed}", "ckpt_path=last")

    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    again = json.loads((resumed / "metrics.json").read_text())
    assert killed_at < 4
    for key in ("val/f2@0.5", "val/f2@0.2", "val/f2"):
        assert again[key] == pytest.approx(whole[key], abs=1e-6)
    assert json.loads((resumed / "thresholds.json").read_text()) == json.loads(
        (tmp_path / "whole" / "thresholds.json").read_text()
    )
