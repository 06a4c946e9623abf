"""Nothing lost: non-finite losses stop cleanly, chips broken mid-run are named, resumes are exact."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from amazon_cls.core.labels import LabelVocabularyError
from amazon_cls.data.decode import ChipDecodeError
from amazon_cls.model.module import ChipClassifier
from amazon_cls.store import atomic as amazon_io
from amazon_cls.store import checkpoint as checkpoint_module
from amazon_cls.store.checkpoint import AtomicCheckpointIO
from amazon_cls.store.run_folder import RunFolder
from amazon_cls.train import run
from amazon_cls.training.fit import interrupted_training
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
        "trainer.max_epochs=3",
        "data.batch_size=32",
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


class SigtermAtEpoch(CrashAtEpoch):
    """Raises what Lightning raises after a SIGTERM, at the start of an epoch."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise SIGTERMException


def test_sigterm_is_a_failure_that_says_how_to_resume(tmp_path: Path, tiny_root: Path, caplog) -> None:
    """The in-process form of the subprocess test below."""
    stop = f"+callbacks.stop={{_target_: {SigtermAtEpoch.__module__}.SigtermAtEpoch, epoch: 1}}"
    cfg = compose_train([*tiny_overrides(tiny_root), "callbacks.tensorboard_extras=null", stop], tmp_path / "run")
    with pytest.raises(SystemExit) as raised:
        run(cfg)
    assert raised.value.code == 143  # not 0, which a scheduler would take for success
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert f"Interrupted (SIGTERM): {tmp_path / 'run' / 'checkpoints' / 'last.ckpt'} holds the last finished epoch" in (
        caplog.text
    )
    assert f"ckpt_path=last hydra.run.dir={tmp_path / 'run'}" in caplog.text
    assert interrupted_training(SystemExit(1), RunFolder(tmp_path / "run")).code == 130  # Lightning's Ctrl+C


@pytest.mark.slow
def test_sigterm_stops_a_sweep_with_a_failure(tmp_path: Path, tiny_root: Path) -> None:
    """A real SIGTERM to a multirun during its first member: exit 143, nothing marked finished,
    the second member never starts."""
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "amazon_cls.train",
        "-m",
        *tiny_overrides(tiny_root),
        "data.fold=0,1",
        "trainer.max_epochs=50",
        "data.batch_size=16",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.sweep.dir={sweep}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not (sweep / "0" / "checkpoints" / "last.ckpt").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 143, output[-3000:]
    assert "Interrupted (SIGTERM)" in output
    assert not (sweep / "0" / "metrics.json").exists() and not (sweep / "1").exists()


def test_a_checkpoint_write_that_fails_leaves_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    """A full disk halfway through a checkpoint: the previous checkpoint stays whole, nothing else remains."""
    path = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 1}, path)

    def full_disk(obj, target) -> None:  # torch.save writes through the file the checkpoint IO opened
        target.write(b"\x80partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        AtomicCheckpointIO().save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_temporaries_of_killed_writes_are_removed_at_the_next_start(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    killed = tmp_path / "cache" / f".planet-64px.npy.{amazon_io.HOST}-{dead_pid}.abc123.tmp"
    running = tmp_path / f".metrics.json.{amazon_io.HOST}-{os.getpid()}.def456.tmp"
    elsewhere = tmp_path / f".metrics.json.other_host-{dead_pid}.ghi789.tmp"  # shared filesystem
    for path in (killed, running, elsewhere):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert amazon_io.remove_stale_temporaries(tmp_path) == [killed]
    assert not killed.exists() and running.exists() and elsewhere.exists()


@pytest.mark.slow
def test_slurm_preemption_saves_requeues_and_resumes(tmp_path: Path, tiny_root: Path) -> None:
    """SLURM's warning signal (SIGUSR1) on CPU: Lightning saves hpc_ckpt_1.ckpt in the run folder and
    calls `scontrol requeue <job>` (a fake one here); the SIGTERM that follows ends the job as a
    failure; the requeued job, the same command, resumes from that checkpoint and finishes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    (bin_dir / "scontrol").chmod(0o755)
    slurm = {
        "SLURM_NTASKS": "1",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "train",
        "SLURM_NODELIST": "localhost",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
    }
    env = {**os.environ, **slurm, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "amazon_cls.train",
        *tiny_overrides(tiny_root),
        "trainer.max_epochs=30",
        "data.batch_size=16",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.run.dir={run_dir}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGUSR1)
    while not (run_dir / "hpc_ckpt_1.ckpt").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 143, output[-3000:]
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    assert not (run_dir / "metrics.json").exists()
    resumed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (
        f"Restoring states from the checkpoint path at {run_dir / 'hpc_ckpt_1.ckpt'}" in resumed.stdout + resumed.stderr
    )
    assert (run_dir / "metrics.json").is_file()
