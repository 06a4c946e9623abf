"""Training end to end on CPU with timm's tiny test model on the tiny synthetic data set."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from amazon_cls.core.labels import LABELS
from amazon_cls.train import run
from tests.helpers import TINY_DATA, compose_config, compose_train, run_module, tiny_overrides


@pytest.mark.parametrize("cache", [False, True])
def test_fast_dev_run(tmp_path: Path, tiny_root: Path, cache: bool) -> None:
    cfg = compose_train([*tiny_overrides(tiny_root), "debug=fdr", f"data.cache={cache}"], tmp_path / "run")
    run(cfg)
    assert bool(list((tmp_path / "logs" / "cache").glob("*.npy"))) == cache


def test_run_folder_holds_every_output(trained_run: Path) -> None:
    names = {p.name for p in trained_run.iterdir()}
    expected = {"thresholds.json", "val_report.csv", "val_probs.csv", "val_probs_notta.csv", "test_probs.csv"}
    assert expected | {"metrics.json", "checkpoints", "tensorboard"} <= names
    checkpoints = {p.name for p in (trained_run / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints and any(n.startswith("best-") for n in checkpoints)
    assert list((trained_run / "tensorboard" / "tiny_32px_fold0_seed42" / "fit").glob("events.out.tfevents.*"))


def test_outputs_agree_with_each_other(trained_run: Path) -> None:
    metrics = json.loads((trained_run / "metrics.json").read_text())
    views = json.loads((trained_run / "thresholds.json").read_text())
    assert set(views) == {"none", "d4"} and metrics["tta"] == "d4"  # fitted under the TTA, and the plain view too
    thresholds = views["d4"]
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
    assert checkpoint["thresholds"] == {view: pytest.approx(values) for view, values in views.items()}
    assert "thresholds" not in checkpoint["state_dict"]  # one home: the plain data the model saves


@pytest.mark.slow
def test_multirun_gives_each_job_its_own_folder(tmp_path: Path, tiny_root: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    run_module(
        "amazon_cls.train",
        "-m",
        *tiny_overrides(tiny_root),
        "data.fold=0,1",
        "trainer.max_epochs=1",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.sweep.dir={sweep_dir}",
    )
    folds = [pd.read_csv(sweep_dir / job / "val_probs.csv")["fold"].unique().tolist() for job in ("0", "1")]
    assert folds == [[0], [1]]


def events_of(folder: Path):  # TensorBoard's EventAccumulator, its events read
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0, "images": 0, "scalars": 0})
    events.Reload()
    return events


def test_tensorboard_shows_scores_curves_and_chips(trained_run: Path) -> None:
    run = trained_run / "tensorboard" / "tiny_32px_fold0_seed42"  # named by model, size, fold and seed
    events = events_of(run / "fit")
    tags = events.Tags()
    assert {"val/f2", "val/f2@0.5", "val/f2@0.2", "train/loss_epoch", "val/loss"} <= set(tags["scalars"])
    assert {f"val_label_f2/{label}" for label in LABELS} <= set(tags["scalars"])
    assert {f"val_threshold/{label}" for label in LABELS} <= set(tags["scalars"])
    assert "epoch" not in tags["scalars"]
    assert {f"val_pr/{label}" for label in LABELS} <= set(tags["tensors"])
    (image,) = events.Images("val_chips")[-1:]
    assert image.width >= 8 * 96
    layout = tags["tensors"]
    assert "custom_scalars__config__" in layout  # the dashboard that leads with F2 and its baselines


def test_the_final_evaluation_is_a_run_of_its_own(trained_run: Path) -> None:
    """The fit's val/f2 is one point per epoch of the plain view; the best checkpoint's, with TTA, is
    apart, and is the score metrics.json reports."""
    run = trained_run / "tensorboard" / "tiny_32px_fold0_seed42"
    fit, final = events_of(run / "fit").Scalars("val/f2"), events_of(run / "final").Scalars("val/f2")
    assert len(fit) == 2 and len(final) == 1  # 2 epochs; one final evaluation
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert final[0].value == pytest.approx(metrics["val/f2"], abs=1e-6)


TRAINING_OPTIONS = [
    "model/loss=focal",
    "model/loss=asl",
    "model.loss.pos_weight=auto",
    "experiment=rare_specialist",
    "data.dehaze=true",
    "tta=none",
    "model.channels_last=false",
    "model/scheduler=step",
    "model.mixup=0.4",
    "rare_weight=0.05",
]


@pytest.mark.parametrize("option", TRAINING_OPTIONS)
def test_every_training_option_round_trips_through_predict(tmp_path: Path, tiny_root: Path, option: str) -> None:
    """A model trained with any documented option loads and predicts (the 4-band chips: test_tiff)."""
    from amazon_cls.predict import run as predict

    short = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "callbacks.tensorboard_extras=null"]
    metrics = run(compose_train([*tiny_overrides(tiny_root), *short, option], tmp_path / "run"))
    tta = "none" if option == "tta=none" else "d4"
    output = tmp_path / "submission.csv"
    overrides = [
        f"ckpt={metrics['best_checkpoint']}",
        f"input={tiny_root / 'test-jpg'}",
        f"output={output}",
        f"tta={tta}",
        "num_workers=0",
        "trainer.enable_progress_bar=false",
    ]
    predict(compose_config("predict", overrides, tmp_path / "predict"))
    assert len(pd.read_csv(output)) == TINY_DATA["num_test"]


def test_auto_pos_weight_follows_label_frequency(tiny_root: Path, tmp_path: Path) -> None:
    from hydra.utils import instantiate

    cfg = compose_train([*tiny_overrides(tiny_root), "model.loss.pos_weight=auto"], tmp_path / "run")
    datamodule, model = instantiate(cfg.data, image_size=cfg.model.image_size), instantiate(cfg.model)
    datamodule.prepare_data()
    datamodule.setup("fit")
    model.use_label_frequency(*datamodule.label_frequency())
    weights = model.loss_fn.pos_weight
    rare, common = LABELS.index("blow_down"), LABELS.index("primary")
    assert weights[rare] > 3 * weights[common] and weights[common] < 1


def test_the_rare_weight_reaches_threshold_fitting_and_the_cross_fitted_score(tiny_root: Path, tmp_path: Path) -> None:
    from hydra.utils import instantiate

    from amazon_cls.core.validation import ValidationResult
    from tests.core.test_metric import random_case

    cfg = compose_train([*tiny_overrides(tiny_root), "rare_weight=0.05"], tmp_path / "run")
    assert instantiate(cfg.callbacks.threshold_optimizer).rare_weight == 0.05
    targets, probs = random_case(0, chips=400)
    scored = {
        weight: ValidationResult(None, probs, probs, targets, probs[0], rare_weight=weight).cross_fitted_scores()
        for weight in (0.0, 1.0)
    }
    assert scored[1.0]["val/rare_f2_cross_fitted"] > scored[0.0]["val/rare_f2_cross_fitted"]
