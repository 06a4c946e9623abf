"""Helpers the tests share: composing the real configs, running entry points as a user would,
the tiny data set's settings and synthetic chip pictures."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict
from PIL import Image

from amazon_cls.core.labels import PROB_COLUMNS, TARGET_COLUMNS
from amazon_cls.runtime.config import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = str(ROOT / "amazon_cls" / "conf")
TINY_DATA = {"num_train": 160, "num_test": 20, "size": 32, "seed": 3}
# Probabilities are written with 6 significant digits: two runs whose numbers differ in the 8th
# digit (another batch split, as under DDP) may print one unit of the 6th apart.
PRINTED_TOLERANCE = 1.5e-6


def run_module(module: str, *overrides: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run `python -m <module> <overrides>` as a user would; fails the test with its stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", module, *overrides], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def schema_of(command: str) -> type:
    """The typed schema `python -m amazon_cls.<command>` checks its config against."""
    import importlib

    return importlib.import_module(f"amazon_cls.{command}").run.schema


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """The real training config, as `python -m amazon_cls.train <overrides>` would see it."""
    return compose_config("train", overrides, output_dir)


def compose_config(name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """The command config `conf/<name>.yaml`, as `python -m amazon_cls.<command> <overrides>` sees it."""
    register_resolvers()  # as every command does when it starts
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir.parent / "logs")
    return cfg


def tiny_overrides(root: Path) -> list[str]:
    """A tiny model on the tiny data set, data loaded in the test process."""
    return [
        "model=tiny",
        f"data.root={root}",
        "data.batch_size=32",
        "data.num_workers=0",
        "data.persistent_workers=false",
        "trainer.precision=32",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
    ]


def smooth_rgb(seed: int, size: int = 64) -> np.ndarray:
    """A smooth random RGB picture (JPEG-friendly, unlike noise)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(base).resize((size, size), Image.BILINEAR))


# Ensemble members made of constructed predictions: chips, test chips and folds of the fake data set.
CHIPS, TEST_CHIPS, FOLDS = 240, 30, 3


def make_member(
    root: Path, model: str, fold: int, probs: np.ndarray, targets: np.ndarray, test: np.ndarray, seed: int = 0
) -> Path:
    """A finished run folder as train.py leaves it, with the given out-of-fold and test probabilities."""
    run_dir = root / f"{model}_fold{fold}_seed{seed}"
    (run_dir / ".hydra").mkdir(parents=True)
    config = {"model": {"backbone": model, "image_size": 32}, "data": {"fold": fold}, "seed": seed}
    OmegaConf.save(OmegaConf.create(config), run_dir / ".hydra" / "config.yaml")
    rows = np.arange(CHIPS) % FOLDS == fold
    val = pd.DataFrame(probs[rows], columns=PROB_COLUMNS)
    val = pd.concat([pd.DataFrame({"image_name": [f"c{i}" for i in np.flatnonzero(rows)], "fold": fold}), val], axis=1)
    val[TARGET_COLUMNS] = targets[rows].astype(int)
    val.to_csv(run_dir / "val_probs.csv", index=False)
    test_frame = pd.DataFrame(test, columns=PROB_COLUMNS)
    test_frame.insert(0, "image_name", [f"t{i}" for i in range(TEST_CHIPS)])
    test_frame.to_csv(run_dir / "test_probs.csv", index=False)
    (run_dir / "best.ckpt").write_bytes(b"")
    outputs = ["val_probs.csv", "test_probs.csv"]
    metrics = {"val/f2": 0.5, "best_checkpoint": str(run_dir / "best.ckpt"), "outputs": outputs}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def can_mount_tmpfs() -> bool:
    probe = Path(tempfile.mkdtemp())
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True)
        return mounted.returncode == 0 and subprocess.run(["umount", str(probe)]).returncode == 0
    except OSError:
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


needs_tmpfs = pytest.mark.skipif(not can_mount_tmpfs(), reason="needs root to mount a small tmpfs (CI runs as root)")


@contextmanager
def small_disk(folder: Path, size: str = "16m") -> Iterator[Path]:
    """A real filesystem of `size` mounted at `folder` (tmpfs), for the full-disk cases."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill `disk` until `leave` bytes are free (all of it, with 0): the file that fills it."""
    filler = disk / "filler"
    with open(filler, "ab") as handle:
        while (free := shutil.disk_usage(disk).free - leave) > 0:
            try:
                handle.write(b"\0" * min(free, 1 << 20))
                handle.flush()
            except OSError:
                break
    return filler


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below `folder` (a filler's aside) by content: what a failed run must leave as it was."""
    return {
        path.relative_to(folder).as_posix(): hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "filler"
    }


def fails_on_a_full_disk(disk: Path, run: Callable[[], object], leave: int = 0) -> str:
    """Run a command again with `disk` full but for `leave` bytes: it must fail with an OutputError
    and leave every file there, its record included, as it was. The error's message."""
    from amazon_cls.store.atomic import OutputError

    before = snapshot(disk)
    fill(disk, leave)
    with pytest.raises(OutputError) as raised:
        run()
    after = snapshot(disk)
    changed = sorted(name for name in before if after.get(name) != before[name])
    assert not changed, f"the previous outputs changed: {changed}"
    assert not list(disk.rglob(".*.tmp")), "temporaries were left"
    assert "No space left on device" in str(raised.value)
    return str(raised.value)
