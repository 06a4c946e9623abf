"""The LightningDataModule: Kaggle-layout chips -> raw integer batches for one fold.

Workers ship uint8 (or, for 4-band TIFFs, uint16) NHWC batches, several times smaller than float
and channels_last for free; the model normalises the whole batch on its device
(see `ChipClassifier.on_after_batch_transfer`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from amazon_cls.data import synthetic
from amazon_cls.data.batches import BatchBuffers
from amazon_cls.data.cache import load_or_build_cache
from amazon_cls.data.check import bad_rows_of, read_labels_csv
from amazon_cls.data.chips import load_chip
from amazon_cls.data.folds import fold_file, load_or_create_folds
from amazon_cls.data.transforms import train_transform
from amazon_cls.hardware import resolve_num_workers, resolve_pin_memory
from amazon_cls.labels import LABEL_INDEX, NUM_LABELS, RARE, parse_tags, tags_to_vector

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


class EpochSampler(Sampler):
    """Yields (epoch, index) keys: this rank's share of a permutation seeded by (seed, epoch).

    Order and augmentation become functions of (seed, epoch, index) alone (the dataset seeds each
    chip's augmentation from its key), so a run resumed from a checkpoint sees exactly the batches
    of an uninterrupted one, whatever the workers did. Under DDP each rank takes every
    world_size-th key; the last ones wrap around so ranks have equal work (the validation gather
    removes the repeats).
    """

    def __init__(self, size: int, seed: int, shuffle: bool) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    @staticmethod
    def _rank_and_world() -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def __len__(self) -> int:
        return -(-self.size // self._rank_and_world()[1])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rank, world = self._rank_and_world()
        order = (
            np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
            if self.shuffle
            else np.arange(self.size)
        )
        padded = np.resize(order, len(self) * world)  # repeats the first keys to fill the last ranks
        for index in padded[rank::world]:
            yield self.epoch, int(index)


class ChipDataset(Dataset):
    """Chips (and, when known, their 17-label targets), served a batch at a time as a dict of raw
    NHWC images (uint8 RGB, or uint16 R, G, B, NIR bands for TIFF chips), targets and indices.

    `cache`, when given, holds decoded chips and replaces decoding: `paths[i]` is `cache[cache_rows[i]]`.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        targets: np.ndarray | None,
        image_size: int,
        transform: A.Compose | None = None,
        cache: np.ndarray | None = None,
        cache_rows: np.ndarray | None = None,
        seed: int = 0,
        dehaze: bool = False,
    ) -> None:
        self.paths = list(paths)
        self.names = [path.stem for path in self.paths]
        self.targets = targets if targets is not None else np.zeros((len(self.paths), NUM_LABELS), np.float32)
        self.image_size = image_size
        self.transform = transform
        self.cache = cache
        self.cache_rows = cache_rows if cache_rows is not None else np.arange(len(self.paths))
        self.seed = seed
        self.dehaze = dehaze
        self.buffers = BatchBuffers(num_workers=0, per_worker=0)  # chip_loader gives its own

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """One chip: the batch of one, unbatched."""
        return {name: value[0] for name, value in self.__getitems__([key]).items()}

    def __getitems__(self, keys: Sequence[int | tuple[int, int]]) -> dict[str, torch.Tensor]:
        """A whole batch, which the DataLoader fetches in one call (see `chip_loader`): each chip is
        written straight into one batch array (a reused shared-memory buffer when in a worker, see
        `batches.BatchBuffers`), with no per-chip tensors to collate.

        Keys are indices, or (epoch, index) from `EpochSampler`; then the augmentation is seeded once
        per batch from (seed, epoch, indices), so a resumed run sees the same batches as an
        uninterrupted one.
        """
        epochs, indices = zip(*(key if isinstance(key, tuple) else (None, key) for key in keys), strict=True)
        if self.transform is not None and epochs[0] is not None:
            state = np.random.SeedSequence([self.seed, epochs[0], *indices]).generate_state(1)[0]
            self.transform.set_random_seed(int(state))
        images = pixels = None
        for slot, index in enumerate(indices):
            image = self._chip(index)
            if self.transform is not None:
                image = self.transform(image=image)["image"]
            if images is None:
                images = self.buffers.new((len(indices), *image.shape), image.dtype)
                pixels = images.numpy()
            elif image.shape != pixels.shape[1:] or image.dtype != pixels.dtype:
                raise ValueError(
                    f"{self.paths[index]}: a {image.dtype} chip of shape {image.shape} in a batch of "
                    f"{pixels.dtype} chips of shape {pixels.shape[1:]}; keep one format per folder"
                )
            pixels[slot] = image
        return {
            "image": images,
            "target": torch.from_numpy(self.targets[list(indices)]),
            "index": torch.tensor(indices, dtype=torch.int64),
        }

    def _chip(self, index: int) -> np.ndarray:
        if self.cache is not None:
            return self.cache[self.cache_rows[index]]  # read only; copied into the batch
        return load_chip(self.paths[index], self.image_size, self.dehaze)


def whole_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The collate function of `ChipDataset` loaders: `__getitems__` has built the batch already."""
    return batch


def chip_loader(dataset: ChipDataset, batch_size: int, num_workers: int, **options: Any) -> DataLoader:
    """A DataLoader that fetches whole batches from `dataset` (a copy, with batch buffers of its own)."""
    dataset = copy.copy(dataset)
    dataset.buffers = BatchBuffers(num_workers)
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=whole_batch, **options)


def read_labels(labels_csv: Path, skip_rows: Collection[int] = ()) -> tuple[list[str], np.ndarray]:
    """Chip names and multi-hot targets of an `image_name,tags` CSV, without the rows in `skip_rows`."""
    table = read_labels_csv(labels_csv)
    keep = np.setdiff1d(np.arange(len(table)), np.asarray(list(skip_rows), dtype=int))
    names = table["image_name"].iloc[keep].tolist()
    targets = np.zeros((len(keep), NUM_LABELS), np.float32)
    for i, (row, tags) in enumerate(zip(keep, table["tags"].iloc[keep], strict=True)):
        targets[i] = tags_to_vector(parse_tags(tags), where=f"{labels_csv} row {row + 2} ({names[i]})")
    return names, targets


def rare_subset(rows: np.ndarray, targets: np.ndarray, seed: int) -> np.ndarray:
    """Every chip with a rare label, plus as many others drawn at random: a rare-label specialist's
    training set, where the rare labels are no longer lost among the common ones."""
    rare = targets[rows][:, [LABEL_INDEX[name] for name in RARE]].any(axis=1)
    others = np.random.default_rng(seed).permutation(rows[~rare])[: rare.sum()]
    return np.sort(np.concatenate([rows[rare], others]))


def list_chips(folders: Sequence[str | os.PathLike]) -> list[Path]:
    """Every image file in `folders`, sorted by name within each folder (for prediction)."""
    paths: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not a folder of chips")
        paths += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return paths


class PlanetDataModule(L.LightningDataModule):
    """One fold of a Kaggle-layout data set (or the embedded synthetic one when `root` is None)."""

    def __init__(
        self,
        root: str | None = None,
        labels_csv: str = "train_v2.csv",
        format: str = "jpg",  # jpg or tif; folder and bands follow from it in conf/data/planet.yaml
        image_dir: str = "train-jpg",
        image_ext: str = ".jpg",
        synthetic_dir: str = "data/synthetic-planet",
        synthetic: dict | None = None,
        folds_dir: str = "outputs/folds",
        cache: bool = False,
        cache_dir: str = "outputs/cache",
        dehaze: bool = False,
        check: bool = True,
        on_bad_chip: str = "fail",
        image_size: int = 64,
        fold: int = 0,
        num_folds: int = 5,
        fold_seed: int = 42,
        batch_size: int = 64,
        num_workers: int | str = "auto",
        pin_memory: bool | str | None = "auto",
        persistent_workers: bool = True,
        predict_dirs: Sequence[str] = (),
        seed: int = 0,
        train_subset: str = "all",
    ) -> None:
        super().__init__()
        if train_subset not in ("all", "rare"):
            raise ValueError(f"data.train_subset={train_subset!r}; choose all or rare")
        if not 0 <= fold < num_folds:
            raise ValueError(f"data.fold={fold} must be in [0, {num_folds - 1}] for data.num_folds={num_folds}")
        self.save_hyperparameters(logger=False)
        self.root = Path(root) if root else Path(synthetic_dir)
        self.synthetic = dict(synthetic or {})
        self.train_set: ChipDataset | None = None
        self.val_set: ChipDataset | None = None
        self.predict_set: ChipDataset | None = None

    @property
    def labels_path(self) -> Path:
        return self.root / self.hparams.labels_csv

    def labelled_chips(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Names, targets and folds of the chips to use (all, or those that passed the data check)."""
        hp = self.hparams
        skip = (
            bad_rows_of(self.root, hp.labels_csv, hp.image_dir, hp.image_ext, hp.cache_dir, hp.on_bad_chip)
            if hp.check
            else ()
        )
        names, targets = read_labels(self.labels_path, skip)
        path = fold_file(hp.folds_dir, self.labels_path.stem, names, targets, hp.num_folds, hp.fold_seed)
        return names, targets, load_or_create_folds(names, targets, path, hp.num_folds, hp.fold_seed)

    def prepare_data(self) -> None:
        """Once per node: generate the embedded data if it is the source, check it, write folds and cache."""
        if not self.hparams.root:
            synthetic.ensure_dataset(self.root, **self.synthetic)
        names, _, _ = self.labelled_chips()
        if self.use_cache:
            self._cache(self.chip_paths(names))

    @property
    def use_cache(self) -> bool:
        """Dehazing is computed once per chip, so it always goes through the cache."""
        return self.hparams.cache or self.hparams.dehaze

    def chip_paths(self, names: Sequence[str]) -> np.ndarray:
        hp = self.hparams
        return np.array([self.root / hp.image_dir / f"{name}{hp.image_ext}" for name in names], dtype=object)

    def _cache(self, paths: Sequence[Path]) -> np.ndarray:
        """One cache for every labelled chip: all folds and models of this image size share it."""
        hp = self.hparams
        return load_or_build_cache(hp.cache_dir, Path(hp.labels_csv).stem, paths, hp.image_size, hp.dehaze)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if stage == "predict":
            self.predict_set = ChipDataset(list_chips(hp.predict_dirs), None, hp.image_size, dehaze=hp.dehaze)
            return
        names, targets, folds = self.labelled_chips()
        paths = self.chip_paths(names)
        cache = self._cache(paths) if self.use_cache else None
        train, val = np.flatnonzero(folds != hp.fold), np.flatnonzero(folds == hp.fold)
        if hp.train_subset == "rare":
            train = rare_subset(train, targets, hp.seed)
        self.train_set = ChipDataset(
            paths[train], targets[train], hp.image_size, train_transform(), cache, train, hp.seed
        )
        self.val_set = ChipDataset(paths[val], targets[val], hp.image_size, None, cache, val)

    def _loader(self, dataset: ChipDataset, shuffle: bool) -> DataLoader:
        hp = self.hparams
        workers = int(resolve_num_workers(hp.num_workers).value)
        return chip_loader(
            dataset,
            hp.batch_size,
            workers,
            sampler=EpochSampler(len(dataset), hp.seed, shuffle),
            drop_last=shuffle and len(dataset) > hp.batch_size,
            pin_memory=bool(resolve_pin_memory(hp.pin_memory).value),
            persistent_workers=hp.persistent_workers and workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_set, shuffle=False)
