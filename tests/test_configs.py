"""Every option of every config group composes, and the objects it names can be built."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from amazon_cls.runtime import hardware
from amazon_cls.store.checkpoint import AtomicCheckpointIO
from tests.helpers import CONF_DIR, compose_train

GROUP_OPTIONS = [
    (group, path.stem)
    for group in (
        "data",
        "model",
        "model/loss",
        "model/scheduler",
        "trainer",
        "callbacks",
        "logger",
        "debug",
        "experiment",
        "hparams_search",
    )
    for path in sorted((Path(CONF_DIR) / group).glob("*.yaml"))
    if (group, path.stem) != ("model", "base")  # the options' common part, not an option
]


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_config_composes(group: str, option: str, tmp_path: Path) -> None:
    overrides = [f"{group}={option}"]
    if group == "experiment":
        overrides.append("data.root=/some/kaggle/data")
    cfg = compose_train(overrides, tmp_path)
    assert "image_size" not in cfg.data and cfg.model.image_size > 0  # one home: the model
    assert cfg.trainer.precision in ("auto", "32", 32, "16-mixed", "bf16-mixed")
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"trainer\.accelerator=gpu: this machine has no CUDA GPU"):
            hardware.resolve_config(cfg)
        return
    hardware.resolve_config(cfg)
    assert cfg.trainer.precision in ("32", 32, "16-mixed", "bf16-mixed")


def test_default_config_builds_data_model_and_trainer(tmp_path: Path, tiny_root: Path) -> None:
    cfg = compose_train(["model=tiny", f"data.root={tiny_root}"], tmp_path)
    hardware.resolve_config(cfg)  # as the entry point does
    datamodule = instantiate(cfg.data, image_size=cfg.model.image_size)
    model = instantiate(cfg.model)
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=False)
    assert datamodule.hparams.fold == 0 and model.hparams.backbone == "test_resnet"
    assert trainer.checkpoint_callback.monitor == "val/f2"
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


@pytest.mark.parametrize(("model", "size"), [("resnet50", 224), ("densenet121", 224), ("inception_v3", 299)])
def test_model_input_size_comes_from_timm(model: str, size: int, tmp_path: Path) -> None:
    cfg = compose_train([f"model={model}"], tmp_path)
    assert cfg.model.image_size == size
    assert compose_train([f"model={model}", "model.image_size=128"], tmp_path).model.image_size == 128


@pytest.mark.parametrize("launcher", ["joblib", "slurm"])
def test_ensemble_sweep_composes_with_each_launcher(launcher: str, tmp_path: Path) -> None:
    cfg = compose_train(["experiment=ensemble", f"hydra/launcher={launcher}", "data.root=/data"], tmp_path)
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert "model" in cfg.hydra.sweeper.params and "data.fold" in cfg.hydra.sweeper.params
    assert launcher.replace("slurm", "submitit") in cfg.hydra.launcher._target_.lower()
