"""What training promises beyond a config: a run without callbacks, the one DDP sampler, and the
registries a loss or a schedule is chosen from."""

import json
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from amazon_cls.core.thresholds import START_THRESHOLD, UNKNOWN_VIEW
from amazon_cls.model.losses import LOSSES
from amazon_cls.model.schedulers import SCHEDULERS
from amazon_cls.runtime.trainer import make_trainer
from amazon_cls.train import run
from tests.helpers import compose_train, tiny_overrides

ONE_EPOCH = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2"]


def test_no_callbacks_trains_with_thresholds_at_the_start_and_a_warning(tmp_path: Path, tiny_root: Path) -> None:
    with pytest.warns(UserWarning, match="No ThresholdOptimizer among the callbacks: the thresholds stay at 0.2"):
        metrics = run(compose_train([*tiny_overrides(tiny_root), *ONE_EPOCH, "callbacks=none"], tmp_path / "run"))
    checkpoint = torch.load(metrics["best_checkpoint"], weights_only=True)  # Lightning's own checkpoint
    assert set(checkpoint["thresholds"]) == {UNKNOWN_VIEW}
    assert set(checkpoint["thresholds"][UNKNOWN_VIEW].values()) == {START_THRESHOLD}
    assert "val/f2" not in json.loads((tmp_path / "run" / "metrics.json").read_text())


def test_the_distributed_sampler_is_ours_whatever_the_trainer_config_says(tmp_path: Path) -> None:
    cfg = compose_train(["trainer.precision=32"], tmp_path)
    with open_dict(cfg):
        del cfg.trainer["use_distributed_sampler"]  # a trainer config written without the line
    assert make_trainer(cfg.trainer, logger=False)._accelerator_connector.use_distributed_sampler is False
    with open_dict(cfg):
        cfg.trainer.use_distributed_sampler = True
    with pytest.raises(ValueError, match=r"trainer\.use_distributed_sampler=true: this project's loaders shard"):
        make_trainer(cfg.trainer, logger=False)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.loss.name=hinge", r"model\.loss\.name='hinge': choose one of \['asl', 'bce', 'focal'\]"),
        ("+model.loss.gamma=3", r"model\.loss\.gamma: not an option of this choice \(it takes \['pos_weight'\]\)"),
        ("model.scheduler.name=linear", r"model\.scheduler\.name='linear': choose one of \['constant', 'cosine'"),
        ("tta=d8", r"tta='d8': choose one of \['d4', 'none'\]"),
        ("model.optimizer.name=adamv", r"model\.optimizer\.name='adamv': timm has no optimizer of that name; close"),
    ],
)
def test_a_choice_outside_a_registry_is_refused_naming_the_key(
    tmp_path: Path, tiny_root: Path, override: str, message: str
) -> None:
    with pytest.raises(Exception, match=message):  # a ValueError, or Hydra's wrapping of the constructor's
        run(compose_train([*tiny_overrides(tiny_root), override], tmp_path / "run"))
    assert not (tmp_path / "run" / "settings.json").exists()


def test_a_new_loss_and_schedule_are_a_registered_function_each(tmp_path: Path, tiny_root: Path, caplog) -> None:
    """The cost of an extension: a function and its config values, nothing else changed."""

    @LOSSES.register("squared")
    def squared(pos_weight: torch.Tensor | None = None) -> torch.nn.Module:
        return SquaredError()

    @SCHEDULERS.register("halving")
    def halving(optimizer: torch.optim.Optimizer, total_steps: int, every: int = 2) -> torch.optim.lr_scheduler.StepLR:
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=every, gamma=0.5)

    overrides = [
        "model.loss.name=squared",
        "model/scheduler=constant",
        "model.scheduler.name=halving",
        "+model.scheduler.every=1",
        "callbacks.lr_monitor=null",
    ]
    metrics = run(compose_train([*tiny_overrides(tiny_root), *ONE_EPOCH, *overrides], tmp_path / "run"))
    hparams = torch.load(metrics["best_checkpoint"], weights_only=True)["hyper_parameters"]
    assert hparams["loss"]["name"] == "squared" and hparams["scheduler"] == {"name": "halving", "every": 1}
    assert metrics["val/f2"] > 0


class SquaredError(torch.nn.Module):
    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return ((torch.sigmoid(logits) - targets) ** 2).mean()


@pytest.fixture(autouse=True)
def registered_names_are_removed_after_each_test():
    yield
    for registry, name in ((LOSSES, "squared"), (SCHEDULERS, "halving")):
        registry._entries.pop(name, None)


def test_the_weight_average_is_what_the_run_validates_saves_and_predicts(tmp_path: Path, tiny_root: Path) -> None:
    """With the EMA callback the fit's checkpoints carry the average as their weights and the last
    weights beside them; after the fit the average is the model, so the best checkpoint saved again
    with its thresholds holds the average too (not the last weights, which Lightning's callback
    would leave in the model and a weights-only save would write)."""
    no_monitor = "callbacks.model_checkpoint.monitor=null"  # the best checkpoint is then the last epoch's
    overrides = [*tiny_overrides(tiny_root), "callbacks=[default,ema]", "callbacks.ema.decay=0.9", no_monitor]
    metrics = run(compose_train(overrides, tmp_path / "run"))
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    best = torch.load(metrics["best_checkpoint"], weights_only=True)
    weights = [key for key, value in last["state_dict"].items() if value.is_floating_point()]
    assert any(not torch.equal(last["state_dict"][k], last["current_model_state"][k]) for k in weights)
    assert "current_model_state" not in best
    for key in weights:
        torch.testing.assert_close(best["state_dict"][key], last["state_dict"][key], rtol=0, atol=0)
