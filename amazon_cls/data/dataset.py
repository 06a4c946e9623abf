"""Chips -> raw integer batches: the sampler, the dataset and the loader every stage uses.

Workers ship the chips' own integer type (uint8 RGB; 16-bit TIFF bands stay uint16) in NHWC
batches, several times smaller than float
and channels_last for free; the model normalises the whole batch on its device
(see `ChipClassifier.on_after_batch_transfer`).
"""

from __future__ import annotations

import copy
import multiprocessing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from amazon_cls.core.labels import NUM_LABELS
from amazon_cls.data.batches import BatchBuffers
from amazon_cls.data.decode import load_chip
from amazon_cls.data.sources import SOURCES, Source

if TYPE_CHECKING:  # a training transform: predicting never imports albumentations
    import albumentations as A


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
    NHWC images (decoded as their `source` decodes them), targets and indices.

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
        source: Source | None = None,
    ) -> None:
        self.paths = list(paths)
        self.source = source or SOURCES["jpg"]
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
        return load_chip(self.paths[index], self.image_size, self.source, self.dehaze)


def whole_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The collate function of `ChipDataset` loaders: `__getitems__` has built the batch already."""
    return batch


def chip_loader(dataset: ChipDataset, batch_size: int, num_workers: int, **options: Any) -> DataLoader:
    """A DataLoader that fetches whole batches from `dataset` (a copy, with batch buffers of its own)."""
    dataset = copy.copy(dataset)
    dataset.buffers = BatchBuffers(num_workers)
    if num_workers:
        options.setdefault("multiprocessing_context", worker_start_method())
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=whole_batch, **options)


def worker_start_method() -> str | None:
    """How the loader's workers start: Python's own default (None), except inside a joblib worker
    (`hydra/launcher=joblib`), whose default ('loky') cannot start them: there, the platform's first."""
    if multiprocessing.get_start_method(allow_none=True) in (None, *multiprocessing.get_all_start_methods()):
        return None
    return multiprocessing.get_all_start_methods()[0]


def epoch_loader(
    dataset: ChipDataset,
    batch_size: int,
    num_workers: int,
    pin_memory: bool,
    shuffle: bool = False,
    seed: int = 0,
    persistent_workers: bool = False,
) -> DataLoader:
    """The loader of every stage: `EpochSampler` keys (this rank's share) and whole batches.
    (The workers and pinned memory are concrete here: a command resolves `auto` once, in
    `runtime.hardware.resolve_config`.)"""
    return chip_loader(
        dataset,
        batch_size,
        num_workers,
        sampler=EpochSampler(len(dataset), seed, shuffle),
        drop_last=shuffle and len(dataset) > batch_size,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
    )


def band_statistics(dataset: ChipDataset, chips: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every band over (a sample of) the dataset's chips, raw units."""
    rows = np.random.default_rng(seed).permutation(len(dataset))[:chips]
    sampled = [dataset[int(i)]["image"].numpy() for i in rows]
    pixels = np.concatenate([chip.reshape(-1, chip.shape[-1]) for chip in sampled])
    return pixels.mean(0, dtype=np.float64), np.maximum(pixels.std(0, dtype=np.float64), 1.0)
