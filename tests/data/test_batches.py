"""Workers reuse their shared-memory batch buffers, and never one the main process still holds."""

import gc
from pathlib import Path

import numpy as np
import pytest
import torch

from amazon_cls.data.batches import LENT, NEVER_USED
from amazon_cls.data.dataset import ChipDataset, EpochSampler, chip_loader
from amazon_cls.data.layout import list_chips
from amazon_cls.data.sources import SOURCES
from amazon_cls.data.transforms import train_transform

JPG = SOURCES["jpg"]


@pytest.fixture()
def dataset(tiny_root: Path) -> ChipDataset:
    return ChipDataset(list_chips([tiny_root / "train-jpg"], JPG.suffixes)[:96], None, 32, train_transform(), seed=3)


def epoch_batches(loader: torch.utils.data.DataLoader, epoch: int) -> list[dict]:
    loader.sampler.set_epoch(epoch)
    return list(loader)


def make_loader(dataset: ChipDataset, workers: int) -> torch.utils.data.DataLoader:
    sampler = EpochSampler(len(dataset), 3, shuffle=True)
    return chip_loader(dataset, 8, workers, sampler=sampler, persistent_workers=workers > 0)


def test_buffers_come_back_and_serve_epoch_after_epoch(dataset: ChipDataset) -> None:
    loader = make_loader(dataset, workers=1)
    reference = make_loader(dataset, workers=0)
    for epoch in range(3):
        expected = epoch_batches(reference, epoch)
        loader.sampler.set_epoch(epoch)
        for batch, wanted in zip(loader, expected, strict=True):
            torch.testing.assert_close(batch, wanted, rtol=0, atol=0)
            del batch  # the buffer goes back to the worker
    gc.collect()
    states = loader.dataset.buffers.table[0].numpy()
    assert not (states == LENT).any()
    assert 0 < (states != NEVER_USED).sum() <= 4  # 36 batches from a few buffers


def test_batches_still_held_are_never_overwritten(dataset: ChipDataset) -> None:
    loader = make_loader(dataset, workers=1)
    reference = make_loader(dataset, workers=0)
    batches = epoch_batches(loader, 0)  # 12 batches: more than a worker keeps buffers
    view = batches[3]["image"][2:5]  # only a view of this batch survives
    pixels = batches[5]["image"].numpy()  # only a numpy array of this one
    held = {i: batch for i, batch in enumerate(batches) if i not in (3, 5)}
    del batches
    for _ in range(2):
        epoch_batches(loader, 1)  # the worker needs buffers while ours are held
    expected = epoch_batches(reference, 0)
    for i, batch in held.items():
        torch.testing.assert_close(batch, expected[i], rtol=0, atol=0)
    np.testing.assert_array_equal(view.numpy(), expected[3]["image"][2:5].numpy())
    np.testing.assert_array_equal(pixels, expected[5]["image"].numpy())
