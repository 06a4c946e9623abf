"""A resumed or skipped run is the run it claims to be; an ensemble combines only members that belong together."""

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from amazon_cls.blending.combine import run_ensemble
from amazon_cls.core.labels import NUM_LABELS
from amazon_cls.store.run_folder import differences
from amazon_cls.train import run
from tests.helpers import CHIPS, FOLDS, TEST_CHIPS, compose_train, make_member, tiny_overrides

ONE_EPOCH = ["trainer.max_epochs=1", "callbacks.tensorboard_extras=null"]


def test_resuming_with_another_fold_is_refused_naming_the_key(tmp_path: Path, tiny_root: Path) -> None:
    args = [*tiny_overrides(tiny_root), *ONE_EPOCH]
    run(compose_train(args, tmp_path / "run"))
    with pytest.raises(
        ValueError, match=r"run made with other settings \(data\.fold: 0 -> 1\); use another run folder"
    ):
        run(compose_train([*args, "data.fold=1", "ckpt_path=last"], tmp_path / "run"))
    run(compose_train([*args, "data.fold=1", "ckpt_path=last", "allow_changed_settings=true"], tmp_path / "run"))


def test_a_finished_run_skipped_with_other_settings_is_refused_and_untouched(tmp_path: Path, tiny_root: Path) -> None:
    args = [*tiny_overrides(tiny_root), *ONE_EPOCH, "skip_finished=true"]
    run(compose_train(args, tmp_path / "run"))
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=r"model\.optimizer\.lr: 0\.003 -> 0\.01"):
        run(compose_train([*args, "model.optimizer.lr=0.01"], tmp_path / "run"))
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*") if p.is_file()} == files
    assert run(compose_train(args, tmp_path / "run"))["val/f2"] > 0  # the same settings: skipped


def test_a_setting_newer_than_the_record_counts_as_changed_only_away_from_its_old_behaviour() -> None:
    recorded = {"data.fold": 0}  # recorded before rare_weight and data.oversample_rare existed
    assert differences(recorded, {"data.fold": 0, "rare_weight": 0.0, "data.oversample_rare": 1}) == []
    assert differences(recorded, {"data.fold": 0, "rare_weight": 0.05}) == ["rare_weight: 0.0 -> 0.05"]


@pytest.fixture()
def two_members(tmp_path: Path) -> tuple[list[Path], np.ndarray]:
    rng = np.random.default_rng(0)
    targets = rng.random((CHIPS, NUM_LABELS)) < 0.3
    dirs = [
        make_member(tmp_path, "m", fold, rng.random((CHIPS, NUM_LABELS)), targets, rng.random((TEST_CHIPS, NUM_LABELS)))
        for fold in range(FOLDS)
    ]
    return dirs, targets


def test_members_of_other_fold_assignments_are_refused(two_members: tuple, tmp_path: Path) -> None:
    dirs, _ = two_members
    config = OmegaConf.load(dirs[1] / ".hydra" / "config.yaml")
    config.data.num_folds = 5
    OmegaConf.save(config, dirs[1] / ".hydra" / "config.yaml")
    with pytest.raises(
        ValueError,
        match=rf"members {dirs[0]} and {dirs[1]} were trained on different fold assignments "
        r"\(data\.num_folds: None -> 5\)",
    ):
        run_ensemble(dirs, tmp_path / "out")


def test_a_member_without_test_probabilities_is_named(two_members: tuple, tmp_path: Path) -> None:
    dirs, _ = two_members
    (dirs[2] / "test_probs.csv").unlink()
    metrics = json.loads((dirs[2] / "metrics.json").read_text())
    (dirs[2] / "metrics.json").write_text(json.dumps({**metrics, "outputs": ["val_probs.csv"]}))
    with pytest.raises(
        ValueError, match=rf"1 of 3 members have no test_probs\.csv while the others do \(e\.g\. {dirs[2]}\)"
    ):
        run_ensemble(dirs, tmp_path / "out")


def test_a_damaged_member_file_is_named(two_members: tuple, tmp_path: Path) -> None:
    dirs, _ = two_members
    text = (dirs[1] / "val_probs.csv").read_text()
    (dirs[1] / "val_probs.csv").write_text(text[: len(text) // 2])  # cut mid-row, as a full disk would
    with pytest.raises(ValueError, match=rf"{dirs[1] / 'val_probs.csv'}: damaged probability file"):
        run_ensemble(dirs, tmp_path / "out")


def test_an_earlier_submission_never_sits_beside_a_new_report(two_members: tuple, tmp_path: Path) -> None:
    dirs, _ = two_members
    assert "submission" in run_ensemble(dirs, tmp_path / "out", method="mean")
    for run_dir in dirs:  # the same members, now without test probabilities
        (run_dir / "test_probs.csv").unlink()
        metrics = json.loads((run_dir / "metrics.json").read_text())
        (run_dir / "metrics.json").write_text(json.dumps({**metrics, "outputs": ["val_probs.csv"]}))
    assert "submission" not in run_ensemble(dirs, tmp_path / "out", method="mean")
    assert not (tmp_path / "out" / "submission.csv").exists() and (tmp_path / "out" / "ensemble_report.md").exists()


def test_a_run_stopped_by_a_bad_value_records_nothing(tmp_path: Path, tiny_root: Path) -> None:
    """The corrected command may then use the same run folder."""
    args = [*tiny_overrides(tiny_root), *ONE_EPOCH]
    with pytest.raises(Exception, match=r"data\.fold=7 must be below data\.num_folds=5"):
        run(compose_train([*args, "data.fold=7"], tmp_path / "run"))
    assert not (tmp_path / "run" / "settings.json").exists()
    run(compose_train([*args, "data.fold=1"], tmp_path / "run"))
    assert json.loads((tmp_path / "run" / "settings.json").read_text())["data.fold"] == 1
