"""Shared fixtures: a tiny synthetic data set and composed configs pointing into tmp folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from amazon_cls.data.synthetic import write_dataset

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = str(ROOT / "conf")
TINY_DATA = {"num_train": 240, "num_test": 20, "size": 32, "seed": 3}


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """240 labelled + 20 test synthetic chips at 32 px, in the Kaggle layout."""
    return write_dataset(tmp_path_factory.mktemp("data") / "tiny", **TINY_DATA)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_root: Path) -> Path:
    """A finished 2-epoch run of the tiny model on the tiny data set (its run folder)."""
    from amazon_cls.train import run

    output_dir = tmp_path_factory.mktemp("train") / "run"
    run(compose_train([*tiny_overrides(tiny_root), f"data.predict_dirs=[{tiny_root / 'test-jpg'}]"], output_dir))
    return output_dir


def run_module(module: str, *overrides: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run `python -m <module> <overrides>` as a user would; fails the test with its stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", module, *overrides], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """The real training config, as `python -m amazon_cls.train <overrides>` would see it."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
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
