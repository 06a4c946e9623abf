"""Combining members: mean, vote and stack on constructed predictions; resuming a sweep."""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from amazon_cls.blending import methods as blend
from amazon_cls.blending.combine import run_ensemble, stacked
from amazon_cls.blending.members import find_members, model_tables, run_folders
from amazon_cls.core.labels import LABELS, NUM_LABELS, PROB_COLUMNS, TARGET_COLUMNS
from amazon_cls.core.metric import binarize
from amazon_cls.core.thresholds import fit_thresholds
from amazon_cls.train import run as train
from tests.helpers import CHIPS, FOLDS, TEST_CHIPS, compose_train, make_member, run_module, tiny_overrides


@pytest.fixture()
def members(tmp_path: Path) -> tuple[list[Path], dict[str, np.ndarray], np.ndarray]:
    """Model 'good' predicts the truth with some noise; model 'noise' predicts noise."""
    rng = np.random.default_rng(0)
    targets = rng.random((CHIPS, NUM_LABELS)) < 0.3
    probs = {
        "good": np.clip(0.6 * targets + 0.4 * rng.random((CHIPS, NUM_LABELS)), 0, 1),
        "noise": rng.random((CHIPS, NUM_LABELS)),
    }
    tests = {name: rng.random((TEST_CHIPS, NUM_LABELS)) for name in probs}
    run_dirs = [
        make_member(tmp_path, name, fold, p, targets, tests[name]) for name, p in probs.items() for fold in range(FOLDS)
    ]
    return run_dirs, {**probs, **{f"test_{k}": v for k, v in tests.items()}}, targets


def test_mean_and_vote(members: tuple) -> None:
    run_dirs, probs, targets = members
    found = find_members(run_dirs)
    oof, test = model_tables(found, "oof"), model_tables(found, "test")
    order = np.argsort([f"c{i}" for i in range(CHIPS)])  # tables are sorted by chip name
    models, truth = list(oof), targets[order]
    mean = blend.fit("mean", models, stacked(oof), truth)
    np.testing.assert_allclose(mean.apply(stacked(oof)), (probs["good"] + probs["noise"])[order] / 2, atol=1e-5)
    test_order = np.argsort([f"t{i}" for i in range(TEST_CHIPS)])
    expected_test = (probs["test_good"] + probs["test_noise"])[test_order] / 2
    np.testing.assert_allclose(mean.apply(stacked(test)), expected_test, atol=1e-5)
    vote = blend.fit("vote", models, stacked(oof), truth).apply(stacked(oof))
    expected = np.mean([probs[m][order] > fit_thresholds(probs[m][order], truth) for m in ("good", "noise")], axis=0)
    np.testing.assert_allclose(vote, expected, atol=1e-6)


def test_stack_learns_to_trust_the_good_model(members: tuple) -> None:
    run_dirs, _, _ = members
    oof = model_tables(find_members(run_dirs), "oof")
    first = next(iter(oof.values()))
    truth, groups = first[TARGET_COLUMNS].to_numpy(), blend.groups_of(first["fold"].to_numpy())
    scores = {
        m: blend.fitted_f2(blend.cross_fit(m, list(oof), stacked(oof), truth, groups), truth) for m in ("mean", "stack")
    }
    assert scores["stack"] > scores["mean"]


def test_run_ensemble_writes_report_and_ordered_submission(members: tuple, tmp_path: Path) -> None:
    run_dirs, _, _ = members
    order = tmp_path / "sample.csv"
    pd.DataFrame({"image_name": [f"t{i}" for i in reversed(range(TEST_CHIPS))], "tags": ""}).to_csv(order, index=False)
    result = run_ensemble(run_dirs, tmp_path / "out", method="stack", weather=True, order=str(order))
    submission = pd.read_csv(result["submission"])
    assert submission["image_name"].tolist() == [f"t{i}" for i in reversed(range(TEST_CHIPS))]
    report = pd.read_csv(tmp_path / "out" / "ensemble_report.csv")
    assert report["level"].tolist() == ["member"] * 6 + ["model"] * 2 + ["method"] * len(blend.METHODS) + ["ensemble"]
    saved = json.loads((tmp_path / "out" / "combination.json").read_text())
    assert saved["method"] == "stack" and saved["models"] == ["good@32px", "noise@32px"]
    assert len(saved["checkpoints"]["good@32px"]) == FOLDS and list(saved["thresholds"]["none"]) == list(LABELS)
    assert {"f2", "f2_weather", "f2@0.2"} <= set(report.columns)
    assert (tmp_path / "out" / "ensemble_report.md").read_text().startswith("# Ensemble report")
    assert list((tmp_path / "out" / "tensorboard").glob("events.out.tfevents.*"))


def test_the_report_shows_cross_fitted_scores_and_disagreement(members: tuple, tmp_path: Path) -> None:
    """Beside each in-sample F2, the cross-fitted one (lower, for noise most of all); and how often
    the two models' thresholded predictions differ, computed here by hand from their tables."""
    run_dirs, _, _ = members
    result = run_ensemble(run_dirs, tmp_path / "out", method="stack_all")
    report = pd.read_csv(tmp_path / "out" / "ensemble_report.csv").set_index("name")
    noise = report.loc["noise@32px"]
    assert noise["f2_cross_fitted"] < noise["f2"] and noise["rare_f2_cross_fitted"] < noise["rare_f2"]
    oof = model_tables(find_members(run_dirs), "oof")
    tables = [(t[PROB_COLUMNS].to_numpy(), t[TARGET_COLUMNS].to_numpy()) for t in oof.values()]
    predicted = [binarize(probs, fit_thresholds(probs, truth)) for probs, truth in tables]
    (pair,) = result["disagreement"]
    assert pair["disagreement"] == pytest.approx((predicted[0] != predicted[1]).mean())
    markdown = (tmp_path / "out" / "ensemble_report.md").read_text()
    assert "## How often the models disagree" in markdown and "good@32px (other labels, |w|)" in markdown
    run_ensemble([d for d in run_dirs if "_fold0_" in d.name], tmp_path / "one_fold")  # a model = its member
    one_fold = pd.read_csv(tmp_path / "one_fold" / "ensemble_report.csv").set_index("level")
    for column in ("f2_cross_fitted", "rare_f2_cross_fitted"):
        assert one_fold.loc["member", column].tolist() == one_fold.loc["model", column].tolist()


def test_unfinished_members_are_left_out(members: tuple) -> None:
    run_dirs, _, _ = members
    (run_dirs[0] / "metrics.json").unlink()
    assert len(find_members(run_dirs)) == len(run_dirs) - 1


def test_finished_run_is_skipped_and_unfinished_one_resumed(tmp_path: Path, tiny_root: Path, caplog) -> None:
    """What the ensemble sweep does per member (its CLI form is the slow test below)."""
    args = [
        *tiny_overrides(tiny_root),
        "skip_finished=true",
        "ckpt_path=last",
        "callbacks.tensorboard_extras=null",
        "trainer.max_epochs=1",
    ]
    finished, unfinished = tmp_path / "finished", tmp_path / "unfinished"
    for run_dir in (finished, unfinished):
        train(compose_train(args, run_dir))
    finished_mtime = (finished / "metrics.json").stat().st_mtime_ns
    (unfinished / "metrics.json").unlink()  # as if killed after its last checkpoint
    caplog.set_level(logging.INFO)
    for run_dir in (finished, unfinished):
        train(compose_train(args, run_dir))
    assert (finished / "metrics.json").stat().st_mtime_ns == finished_mtime
    log = caplog.text
    assert f"Skipping {finished}" in log
    assert f"Restoring states from the checkpoint path at {unfinished / 'checkpoints' / 'last.ckpt'}" in log
    assert (unfinished / "metrics.json").is_file()


@pytest.mark.slow
def test_sweep_resumes_only_missing_work(tmp_path: Path, tiny_root: Path) -> None:
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "experiment=ensemble",
        *tiny_overrides(tiny_root),
        "data.fold=0,1",
        "data.num_folds=3",
        "trainer.max_epochs=2",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.sweep.dir={sweep}",
    ]
    run_module("amazon_cls.train", *args)
    finished, unfinished = sorted(sweep.glob("tiny_32px_*"))  # named by the model option
    finished_mtime = (finished / "metrics.json").stat().st_mtime_ns
    (unfinished / "metrics.json").unlink()  # as if killed after its last checkpoint
    again = run_module("amazon_cls.train", *args)
    log = again.stdout + again.stderr
    assert (finished / "metrics.json").stat().st_mtime_ns == finished_mtime
    assert f"Skipping {finished}" in log
    assert f"Restoring states from the checkpoint path at {unfinished / 'checkpoints' / 'last.ckpt'}" in log
    assert (unfinished / "metrics.json").is_file()


def test_rare_specialist_rows_and_blend(members: tuple, tmp_path: Path) -> None:
    run_dirs, _, _ = members
    good = [d for d in run_dirs if d.name.startswith("good")]
    run_ensemble(run_dirs, tmp_path / "out", method="mean", specialists=good, specialist_weight=0.5)
    report = pd.read_csv(tmp_path / "out" / "ensemble_report.csv")
    assert report["name"].iloc[-1] == "mean of 2 models + rare specialist (weight 0.5)"
    saved = json.loads((tmp_path / "out" / "combination.json").read_text())
    assert saved["specialists"] == [str(d) for d in good] and saved["specialist_weight"] == 0.5
    assert report["f2"].iloc[-1] > report["f2"].iloc[-2]  # a good specialist helps the noisy mean


def test_a_sweep_folder_lists_its_runs_old_and_new(members: tuple, tmp_path: Path) -> None:
    run_dirs, _, _ = members
    (run_dirs[0] / ".hydra" / "config.yaml").unlink()  # a run that records settings.json only
    (run_dirs[0] / "settings.json").write_text("{}")
    assert run_folders(str(tmp_path), None) == sorted(run_dirs)
    assert run_folders(None, [str(run_dirs[1])]) == [run_dirs[1]]


@pytest.mark.slow
def test_small_chips_ensemble_trains_each_member_with_its_own_budget(tmp_path: Path, tiny_root: Path) -> None:
    """experiment=small_chips_ensemble: one sweep, two architectures, each its own epochs, then one ensemble."""
    sweep = tmp_path / "sweep"
    common = [o for o in tiny_overrides(tiny_root) if not o.startswith(("model=", "trainer.max"))]  # the members'
    run_module(
        "amazon_cls.train",
        "-m",
        "experiment=small_chips_ensemble",
        *common,
        "data.fold=0,1",
        "data.num_folds=3",
        "data.cache=false",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=2",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.sweep.dir={sweep}",
    )
    members = [folder for folder in sweep.iterdir() if folder.is_dir()]
    epochs = {d.name: json.loads((d / "settings.json").read_text())["trainer.max_epochs"] for d in members}
    assert epochs == {
        "plain_cnn_32px_fold0_seed42": 2,
        "plain_cnn_32px_fold1_seed42": 2,
        "chip_statistics_32px_fold0_seed42": 20,
        "chip_statistics_32px_fold1_seed42": 20,
    }
    run_module("amazon_cls.ensemble", f"sweep_dir={sweep}", f"output_dir={tmp_path / 'ensemble'}")
    saved = json.loads((tmp_path / "ensemble" / "combination.json").read_text())
    assert sorted(saved["checkpoints"]) == ["chip_statistics@32px", "plain_cnn@32px"]
