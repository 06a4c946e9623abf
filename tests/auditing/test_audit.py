"""audit: labels flipped on purpose are ranked near the top, coverage is checked, and
`data.exclude` removes chips from the training folds only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from amazon_cls.audit import run as audit
from amazon_cls.core.labels import LABEL_INDEX, PROB_COLUMNS, TARGET_COLUMNS, parse_tags, vector_to_tags
from amazon_cls.data.datamodule import PlanetDataModule
from amazon_cls.data.layout import DataError, read_labels
from amazon_cls.data.synthetic import write_dataset
from tests.helpers import compose_config, fails_on_a_full_disk, needs_tmpfs, small_disk

FLIPPED = 12


@pytest.fixture(scope="module")
def flipped_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], np.ndarray]:
    """The embedded data set (600 chips) with `FLIPPED` chips' labels changed on purpose: `primary`
    taken off or `agriculture` put on. Returns the root, the flipped chips and the true labels."""
    root = write_dataset(tmp_path_factory.mktemp("audit") / "planet", num_train=600, num_test=0, size=32, seed=5)
    table = pd.read_csv(root / "train_v2.csv", keep_default_na=False)
    names, truth = read_labels(root / "train_v2.csv")
    rng = np.random.default_rng(0)
    flipped = sorted(
        rng.choice(
            [n for n, t in zip(names, truth, strict=True) if t[LABEL_INDEX["primary"]]], FLIPPED, replace=False
        ).tolist()
    )
    for number, name in enumerate(flipped):
        tags = parse_tags(table.loc[table.image_name == name, "tags"].item())
        tags = (
            tags - {"primary"}
            if number % 2
            else tags | {"agriculture"}
            if "agriculture" not in tags
            else tags - {"primary"}
        )
        table.loc[table.image_name == name, "tags"] = " ".join(sorted(tags))
    table.to_csv(root / "train_v2.csv", index=False)
    return root, flipped, truth


def write_runs(root: Path, truth: np.ndarray, folds_dir: Path, out: Path, folds: list[int]) -> list[Path]:
    """Run folders of a good model (its probabilities follow the true labels) trained on the flipped
    labels, one per fold in `folds`, as `train` leaves them."""
    module = PlanetDataModule(str(root), folds_dir=str(folds_dir))
    names, given, assigned = module.labelled_chips()
    probs = np.clip(truth * 0.85 + np.random.default_rng(1).random(truth.shape) * 0.15, 0, 1)
    runs = []
    for fold in folds:
        run = out / f"plain_cnn_fold{fold}"
        (run / ".hydra").mkdir(parents=True)
        config = {
            "model": {"backbone": "plain_cnn", "image_size": 32},
            "data": {"fold": fold, "root": str(root)},
            "seed": 0,
        }
        OmegaConf.save(OmegaConf.create(config), run / ".hydra" / "config.yaml")
        rows = assigned == fold
        frame = pd.DataFrame(probs[rows], columns=PROB_COLUMNS)
        frame.insert(0, "fold", fold)
        frame.insert(0, "image_name", np.asarray(names)[rows])
        frame[TARGET_COLUMNS] = given[rows].astype(int)
        frame.to_csv(run / "val_probs.csv", index=False)
        (run / "best.ckpt").write_bytes(b"")
        metrics = {"best_checkpoint": str(run / "best.ckpt"), "outputs": ["val_probs.csv"]}
        (run / "metrics.json").write_text(json.dumps(metrics))
        runs.append(run)
    return runs


def run_audit(root: Path, runs: list[Path], folds_dir: Path, out: Path, *extra: str) -> dict:
    overrides = [
        f"data.root={root}",
        f"data.folds_dir={folds_dir}",
        f"runs=[{','.join(map(str, runs))}]",
        f"output_dir={out}",
        "min_count=15",
        *extra,
    ]
    return audit(compose_config("audit", overrides, out))


def test_flipped_labels_are_ranked_near_the_top(flipped_data, tmp_path: Path) -> None:
    root, flipped, truth = flipped_data
    runs = write_runs(root, truth, tmp_path / "folds", tmp_path / "runs", folds=list(range(5)))
    summary = run_audit(root, runs, tmp_path / "folds", tmp_path / "audit")
    ranked = pd.read_csv(tmp_path / "audit" / "label_quality.csv", keep_default_na=False)
    assert len(ranked) == 600 and ranked["quality"].is_monotonic_increasing
    top = ranked["image_name"].head(2 * FLIPPED).tolist()  # 4% of the chips
    assert sum(name in top for name in flipped) >= FLIPPED - 1, (flipped, ranked.head(30))
    issues = pd.read_csv(tmp_path / "audit" / "label_issues.csv", keep_default_na=False).set_index("image_name")
    found = [name for name in flipped if name in issues.index]
    # cleanlab's flags are conservative (per-label noise estimates), its ranking is the wider net
    assert len(found) >= FLIPPED // 3 and set(issues.index) <= set(flipped), issues.head(20)
    for name in found:  # the change suggested is the flip undone
        given = set(issues.loc[name, "tags"].split())
        expected = "+primary" if "primary" not in given else "-agriculture"
        assert expected in issues.loc[name, "suggested"].split(), (name, issues.loc[name])
    counts = pd.read_csv(tmp_path / "audit" / "label_counts.csv").set_index("label")
    not_audited = counts.index[~counts.audited].tolist()
    assert not_audited and (counts.loc[not_audited, ["flagged_missing", "flagged_extra"]] == 0).all().all()
    exclude = pd.read_csv(tmp_path / "audit" / "exclude.csv")
    assert set(found) <= set(exclude["image_name"]) and summary["excluded"] == len(issues) == summary["flagged"]
    assert (tmp_path / "audit" / "gallery.png").stat().st_size > 20_000
    assert "Labels with fewer than 15 positives" in (tmp_path / "audit" / "audit.md").read_text()


def test_an_audit_refuses_chips_without_out_of_fold_predictions(flipped_data, tmp_path: Path) -> None:
    root, _, truth = flipped_data
    runs = write_runs(root, truth, tmp_path / "folds", tmp_path / "runs", folds=[0, 1, 2])
    with pytest.raises(
        ValueError,
        match=r"plain_cnn@32px: \d+ chips of the audited folds have no out-of-fold "
        r"prediction .* fold\(s\) \[3, 4\] have no finished run",
    ):
        run_audit(root, runs, tmp_path / "folds", tmp_path / "audit")
    summary = run_audit(root, runs, tmp_path / "folds", tmp_path / "audit", "folds=[1,2]")  # the nested scheme
    assert summary["folds"] == [1, 2] and set(pd.read_csv(tmp_path / "audit" / "label_issues.csv")["fold"]) <= {1, 2}


def test_runs_of_another_labels_file_are_named_as_such(flipped_data, tmp_path: Path) -> None:
    root, _, truth = flipped_data
    runs = write_runs(root, truth, tmp_path / "folds", tmp_path / "runs", folds=list(range(5)))
    other = tmp_path / "other"
    shutil.copytree(root, other)
    labels = pd.read_csv(other / "train_v2.csv", dtype=str, keep_default_na=False)
    labels["image_name"] = "renamed_" + labels["image_name"]
    labels.to_csv(other / "train_v2.csv", index=False)
    for name in labels["image_name"]:
        (other / "train-jpg" / f"{name.removeprefix('renamed_')}.jpg").rename(other / "train-jpg" / f"{name}.jpg")
    with pytest.raises(ValueError) as refused:
        run_audit(other, runs, tmp_path / "other_folds", tmp_path / "audit")
    message = str(refused.value)
    assert (
        f"were trained on ['{root / 'train_v2.csv'}'] (their settings.json says), not on {other / 'train_v2.csv'}"
        in message
    )
    assert "have no finished run" not in message


def test_data_exclude_leaves_the_validation_fold_whole(flipped_data, tmp_path: Path) -> None:
    root, _, _ = flipped_data
    plain = PlanetDataModule(str(root), folds_dir=str(tmp_path / "folds"), image_size=32, fold=0)
    plain.setup()
    train, val = plain.train_set.names, plain.val_set.names
    listed = [*train[:7], *val[:3]]
    pd.DataFrame({"image_name": listed, "quality": 0.1}).to_csv(tmp_path / "exclude.csv", index=False)
    cleaned = PlanetDataModule(
        str(root), folds_dir=str(tmp_path / "folds"), image_size=32, fold=0, exclude=str(tmp_path / "exclude.csv")
    )
    cleaned.setup()
    assert cleaned.train_set.names == [name for name in train if name not in listed[:7]]
    assert cleaned.val_set.names == val  # every validation chip is still scored
    assert cleaned.label_frequency()[1] == len(train) - 7
    pd.DataFrame({"image_name": ["not_a_chip"]}).to_csv(tmp_path / "other.csv", index=False)
    other = PlanetDataModule(
        str(root), folds_dir=str(tmp_path / "folds"), image_size=32, exclude=str(tmp_path / "other.csv")
    )
    with pytest.raises(DataError, match=r"data.exclude=.*other.csv: 1 of its chips are not in .*train_v2.csv"):
        other.setup()


def test_a_run_records_what_it_excluded(tmp_path: Path) -> None:
    from amazon_cls.training.fit import inputs_of

    (tmp_path / "exclude.csv").write_text("image_name\ntrain_1\n")
    cfg = OmegaConf.create({"data": {"root": None, "exclude": str(tmp_path / "exclude.csv")}, "predict_dirs": []})
    first = inputs_of(cfg)["data.exclude.file"]
    (tmp_path / "exclude.csv").write_text("image_name\ntrain_1\ntrain_2\n")
    assert inputs_of(cfg)["data.exclude.file"] != first
    assert vector_to_tags([0] * 17) == ""


@needs_tmpfs
def test_a_full_disk_keeps_the_previous_audit(flipped_data, tmp_path: Path) -> None:
    root, _, truth = flipped_data
    runs = write_runs(root, truth, tmp_path / "folds", tmp_path / "runs", folds=list(range(5)))
    with small_disk(tmp_path / "audit"):
        run_audit(root, runs, tmp_path / "folds", tmp_path / "audit")
        rerun = lambda: run_audit(root, runs, tmp_path / "folds", tmp_path / "audit", "min_count=10")  # noqa: E731
        fails_on_a_full_disk(tmp_path / "audit", rerun, 4000)
