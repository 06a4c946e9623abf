"""The rare-label specialist: its training subset, its loss, and its blend into an ensemble."""

from pathlib import Path

import numpy as np
import pandas as pd

from amazon_cls.blending.methods import blend_rare
from amazon_cls.core.labels import LABELS, NUM_LABELS, PROB_COLUMNS, RARE, RARE_INDEX
from amazon_cls.data.datamodule import PlanetDataModule, oversampled, rare_subset
from amazon_cls.data.layout import read_labels
from amazon_cls.model.module import ChipClassifier
from amazon_cls.train import run
from tests.helpers import compose_train, tiny_overrides


def test_rare_subset_keeps_every_rare_chip_and_as_many_others(tiny_root: Path) -> None:
    _, targets = read_labels(tiny_root / "train_v2.csv")
    rows = np.arange(0, len(targets), 2)  # a "training fold"
    subset = rare_subset(rows, targets, seed=0)
    is_rare = targets[:, RARE_INDEX].any(axis=1)
    assert set(rows[is_rare[rows]]) <= set(subset) <= set(rows)
    assert (~is_rare[subset]).sum() == is_rare[rows].sum()


def test_oversampling_repeats_the_rare_chips_and_keeps_every_other(tiny_root: Path) -> None:
    _, targets = read_labels(tiny_root / "train_v2.csv")
    rows = np.arange(0, len(targets), 2)
    is_rare = targets[:, RARE_INDEX].any(axis=1)
    assert is_rare[rows].any() and not is_rare[rows].all()
    repeated = oversampled(rows, targets, factor=3)
    times = np.bincount(repeated, minlength=len(targets))[rows]
    assert (times == np.where(is_rare[rows], 3, 1)).all()


def test_oversampled_training_fold_counts_its_repeats(tmp_path: Path, tiny_root: Path) -> None:
    def training_fold(factor: int) -> PlanetDataModule:
        data = PlanetDataModule(
            root=str(tiny_root), folds_dir=str(tmp_path), check=False, image_size=32, oversample_rare=factor
        )
        data.setup("fit")
        return data

    once, twice = training_fold(1), training_fold(2)
    rare_in_fold = once.train_set.targets[:, RARE_INDEX].any(axis=1).sum()
    assert len(twice.train_set) == len(once.train_set) + rare_in_fold
    assert len(twice.val_set) == len(once.val_set)
    rare = RARE_INDEX
    (frequency, chips), (frequency_once, _) = twice.label_frequency(), once.label_frequency()
    assert chips == len(twice.train_set)
    assert (frequency[rare] == 2 * frequency_once[rare]).all()  # pos_weight=auto sees the repeats


def test_specialist_learns_only_the_rare_labels() -> None:
    model = ChipClassifier(
        backbone="test_resnet", pretrained=False, loss_labels="rare", loss={"pos_weight": [2.0] * 17}
    )
    assert [LABELS[i] for i in model.learned.tolist()] == list(RARE)
    assert model.loss_fn.pos_weight.shape == (len(RARE),)


def test_specialist_run(tmp_path: Path, tiny_root: Path) -> None:
    cfg = compose_train([*tiny_overrides(tiny_root), "experiment=rare_specialist"], tmp_path / "run")
    assert cfg.callbacks.model_checkpoint.monitor == "val/rare_f2"
    metrics = run(cfg)
    assert 0 <= metrics["val/rare_f2"] <= 1


def test_blend_moves_only_the_rare_columns() -> None:
    rng = np.random.default_rng(0)
    names = pd.Index([f"c{i}" for i in range(50)])
    main = rng.random((50, NUM_LABELS))
    specialist = pd.DataFrame(rng.random((50, NUM_LABELS)), index=names[::-1], columns=PROB_COLUMNS)
    blended = blend_rare(main, specialist.loc[names].to_numpy(), weight=0.25)
    rare = RARE_INDEX
    common = [i for i in range(NUM_LABELS) if i not in rare]
    np.testing.assert_array_equal(blended[:, common], main[:, common])
    expected = 0.75 * main[:, rare] + 0.25 * specialist.loc[names].to_numpy()[:, rare]
    np.testing.assert_allclose(blended[:, rare], expected)
