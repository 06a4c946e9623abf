"""The LightningDataModules: one fold of a labelled data set (fit, validate), folders of chips (predict)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from amazon_cls.core.labels import RARE_INDEX
from amazon_cls.core.schema import problems_in
from amazon_cls.data import synthetic
from amazon_cls.data.cache import load_or_build_cache
from amazon_cls.data.check import bad_rows_of
from amazon_cls.data.config import DataConfig
from amazon_cls.data.dataset import ChipDataset, band_statistics, epoch_loader
from amazon_cls.data.folds import fold_file, load_or_create_folds
from amazon_cls.data.layout import LABELS_CSV, DataError, Layout, read_labels, read_name_table
from amazon_cls.data.sources import Source
from amazon_cls.data.transforms import train_transform
from amazon_cls.store import records

log = logging.getLogger(__name__)
KAGGLE_CHIP_EXTENT_M = 768.0  # a Kaggle chip: 256 px of about 3 m


def carries_rare_label(targets: np.ndarray) -> np.ndarray:
    """For every chip (row of `targets`), whether it has at least one rare label."""
    return targets[:, RARE_INDEX].any(axis=1)


def rare_subset(rows: np.ndarray, targets: np.ndarray, seed: int) -> np.ndarray:
    """Every chip with a rare label, plus as many others drawn at random: a rare-label specialist's
    training set, where the rare labels are no longer lost among the common ones."""
    rare = carries_rare_label(targets[rows])
    others = np.random.default_rng(seed).permutation(rows[~rare])[: rare.sum()]
    return np.sort(np.concatenate([rows[rare], others]))


def oversampled(rows: np.ndarray, targets: np.ndarray, factor: int) -> np.ndarray:
    """The training rows with every chip that carries a rare label `factor` times: an epoch shows
    the model its few rare positives more often without dropping any other chip (each repeat is
    augmented on its own)."""
    rare = carries_rare_label(targets[rows])
    return np.sort(np.concatenate([rows, np.repeat(rows[rare], factor - 1)]))


class PlanetDataModule(L.LightningDataModule):
    """One fold of a Kaggle-layout data set (or the embedded synthetic one when `root` is None):
    a `data.contract.TrainingData`.

    The model learns from the training fold what no backbone knows: `label_frequency` (for
    pos_weight=auto) and `band_statistics` (for multi-band chips); see
    `model.callbacks.TrainingFoldStatistics`. The workers and pinned memory are concrete values
    (a command resolves `auto` before building this).
    """

    def __init__(
        self,
        root: str | None = None,
        labels_csv: str = LABELS_CSV,
        format: str = "jpg",
        image_dir: str | None = None,
        image_ext: str | None = None,
        chip_extent_m: float | None = None,
        synthetic_dir: str = "data/synthetic-planet",
        synthetic: dict | None = None,
        folds_dir: str = "outputs/folds",
        cache: bool = False,
        cache_dir: str = "outputs/cache",
        dehaze: bool = False,
        check: bool = True,
        on_bad_chip: str = "fail",
        image_size: int | None = None,  # the model's (model.image_size), passed by the entry point
        fold: int = 0,
        num_folds: int = 5,
        fold_seed: int = 42,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = True,
        seed: int = 0,
        train_subset: str = "all",
        oversample_rare: int = 1,
        exclude: str | None = None,
    ) -> None:
        super().__init__()
        given = {
            "on_bad_chip": on_bad_chip,
            "fold": fold,
            "num_folds": num_folds,
            "batch_size": batch_size,
            "num_workers": num_workers,
            "train_subset": train_subset,
            "oversample_rare": oversample_rare,
        }
        if problems := list(problems_in(DataConfig, given, "data.")):  # the data group's rules, one home
            raise ValueError("; ".join(problems))
        if not isinstance(num_workers, int):  # the schema allows `auto`, which the entry point resolves first
            raise ValueError(f"data.num_workers={num_workers!r}: resolve auto before building the datamodule")
        self.save_hyperparameters(logger=False)
        self.layout = Layout.of_config(self.hparams)  # the one reading of the data keys that name files
        self.synthetic = dict(synthetic or {})
        self.train_set: ChipDataset | None = None
        self.val_set: ChipDataset | None = None
        self._announced = False  # that the embedded data set is used, said once
        self._announced_exclude = False

    @property
    def fold(self) -> int:
        return int(self.hparams.fold)

    @property
    def source(self) -> Source:
        return self.layout.source

    @property
    def ground_extent_m(self) -> float:
        """The ground side of a chip in metres: `data.chip_extent_m`, else what the data set declares
        (`dataset.json` in its root: the embedded set says its own), else a Kaggle chip's 768 m (256 px
        of 3 m; planet-mini32's 32 px copies cover the same)."""
        if self.hparams.chip_extent_m is not None:
            return float(self.hparams.chip_extent_m)
        declared = self.layout.declared("chip_extent_m")
        return float(declared) if declared is not None else KAGGLE_CHIP_EXTENT_M

    @property
    def provenance(self) -> dict[str, Any]:
        """What a model trained on this data learned from, as its checkpoint keeps it: the embedded
        synthetic set (its generator's settings) or a data set's root and its labels file by content."""
        hp = self.hparams
        labels = self.layout.labels_path
        found = {"synthetic": hp.root is None, "fold": self.fold, "num_folds": int(hp.num_folds)}
        if hp.root is None:
            generated = {"generator": dict(self.synthetic), "root": str(Path(self.layout.root).resolve())}
            return {**found, "data": "the embedded synthetic data set", **generated}
        identity = f"{labels.name} blake2b {records.identity(labels)[records.HASH]}" if labels.is_file() else None
        return {**found, "data": str(hp.root), "labels": identity, "exclude": hp.exclude}

    def labelled_chips(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Names, targets and folds of the chips to use (all, or those that passed the data check)."""
        hp = self.hparams
        skip = bad_rows_of(self.layout, hp.cache_dir, hp.on_bad_chip) if hp.check else ()
        names, targets = read_labels(self.layout.labels_path, skip)
        path = fold_file(hp.folds_dir, self.layout.labels_path.stem, names, targets, hp.num_folds, hp.fold_seed)
        return names, targets, load_or_create_folds(names, targets, path, hp.num_folds, hp.fold_seed)

    def prepare_data(self) -> None:
        """Once per node: generate the embedded data if it is the source, check it, write folds and cache."""
        if self.hparams.root is None:
            if not self._announced:
                log.info("data.root is null: using the embedded synthetic data set in %s", self.layout.root)
                self._announced = True
            synthetic.ensure_dataset(self.layout.root, **self.synthetic)
        names, _, _ = self.labelled_chips()
        if self.use_cache:
            self._cache(self.layout.chip_paths(names))

    @property
    def image_size(self) -> int:
        """Pixels fed to the model: the model's own `image_size`, which the entry point passes."""
        if not self.hparams.image_size:
            raise ValueError("PlanetDataModule: no image_size; pass the model's (model.image_size)")
        return int(self.hparams.image_size)

    @property
    def use_cache(self) -> bool:
        """Dehazing is computed once per chip, so it always goes through the cache."""
        return self.hparams.cache or self.hparams.dehaze

    def _cache(self, paths: Sequence[Path]) -> np.ndarray:
        """One cache for every labelled chip: all folds and models of this image size share it."""
        hp = self.hparams
        stem = self.layout.labels_path.stem
        return load_or_build_cache(hp.cache_dir, stem, paths, self.image_size, self.source, hp.dehaze)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        names, targets, folds = self.labelled_chips()
        paths = self.layout.chip_paths(names)
        cache = self._cache(paths) if self.use_cache else None
        train, val = np.flatnonzero(folds != hp.fold), np.flatnonzero(folds == hp.fold)
        if hp.exclude:
            train = self._without_excluded(train, val, names)
        if hp.train_subset == "rare":
            train = rare_subset(train, targets, hp.seed)
        if hp.oversample_rare > 1:
            train = oversampled(train, targets, hp.oversample_rare)
        self.train_set = ChipDataset(
            paths[train], targets[train], self.image_size, train_transform(), cache, train, hp.seed, source=self.source
        )
        self.val_set = ChipDataset(paths[val], targets[val], self.image_size, None, cache, val, source=self.source)

    def _without_excluded(self, train: np.ndarray, val: np.ndarray, names: list[str]) -> np.ndarray:
        """The training rows without the chips of `exclude` (an audit's exclude.csv): they leave
        the training folds only; the validation fold is scored on every chip, as ever."""
        path = Path(self.hparams.exclude)
        listed = set(read_name_table(path, ["image_name"], "exclude file")["image_name"])
        unknown = listed - set(names)
        if unknown:
            raise DataError(
                f"data.exclude={path}: {len(unknown)} of its chips are not in {self.layout.labels_path} "
                f"(e.g. {sorted(unknown)[:3]}); was it made for another data set?"
            )
        dropped = np.array([names[row] in listed for row in train], dtype=bool)
        kept_in_validation = sum(names[row] in listed for row in val)
        if not self._announced_exclude:
            log.info(
                "data.exclude: %d chips left out of the training folds (%d more listed are in validation fold %d "
                "and stay there)",
                dropped.sum(),
                kept_in_validation,
                self.fold,
            )
            self._announced_exclude = True
        return train[~dropped]

    def label_frequency(self) -> tuple[np.ndarray, int]:
        """Chips carrying each label in the training fold, and the fold's number of chips."""
        return self.train_set.targets.sum(axis=0), len(self.train_set)

    def band_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-band mean and standard deviation of (a sample of) the training fold's chips, raw units."""
        return band_statistics(self.train_set)

    def _loader(self, dataset: ChipDataset, shuffle: bool) -> DataLoader:
        hp = self.hparams
        return epoch_loader(
            dataset, hp.batch_size, hp.num_workers, hp.pin_memory, shuffle, hp.seed, hp.persistent_workers
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)
