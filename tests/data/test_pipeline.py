"""The fast input pipeline gives the reference pixels: reduced-scale decoding, D4, the cache."""

import dataclasses
import os
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from amazon_cls.data.cache import cache_file, load_or_build_cache
from amazon_cls.data.dataset import ChipDataset, EpochSampler, chip_loader
from amazon_cls.data.decode import encode_cmyk_jpeg, load_chip, read_chip, resize
from amazon_cls.data.sources import SOURCES
from amazon_cls.data.transforms import FastD4, train_transform
from tests.helpers import smooth_rgb

JPG = SOURCES["jpg"]

GROUP = ["e", "r90", "r180", "r270", "v", "hvt", "h", "t"]


@pytest.fixture()
def chips(tmp_path: Path) -> list[Path]:
    paths = []
    for i in range(6):
        path = tmp_path / f"chip_{i}.jpg"
        path.write_bytes(encode_cmyk_jpeg(smooth_rgb(i, size=128)))
        paths.append(path)
    return paths


@pytest.mark.parametrize("element", GROUP)
def test_fast_d4_gives_albumentations_pixels(element: str) -> None:
    image = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    np.testing.assert_array_equal(FastD4(p=1).apply(image, element), A.D4(p=1).apply(image, element))


def test_full_size_fast_decode_is_the_reference_decode(chips: list[Path]) -> None:
    for path in chips:
        with Image.open(path) as image:
            reference = np.asarray(image.convert("RGB"))
        np.testing.assert_array_equal(load_chip(path, 128, JPG), reference)


def test_reduced_scale_decode_matches_decode_then_shrink(chips: list[Path]) -> None:
    for path in chips:
        fast = load_chip(path, 64, JPG).astype(int)
        reference = resize(read_chip(path, JPG), 64).astype(int)
        assert fast.shape == (64, 64, 3)
        assert np.abs(fast - reference).mean() < 2.0


def test_cache_holds_the_decoded_chips_and_is_rebuilt_when_a_source_changes(chips: list[Path], tmp_path: Path) -> None:
    cache = load_or_build_cache(tmp_path / "cache", "chips", chips, 64, JPG)
    dataset = ChipDataset(chips, None, 64)
    for i in range(len(chips)):
        np.testing.assert_array_equal(cache[i], dataset[i]["image"].numpy())
    first_file = cache_file(tmp_path / "cache", "chips", chips, 64, JPG)
    assert load_or_build_cache(tmp_path / "cache", "chips", chips, 64, JPG).filename == cache.filename  # reused

    chips[2].write_bytes(encode_cmyk_jpeg(smooth_rgb(99, size=128)))
    os.utime(chips[2], ns=(1, 1))  # a different modification time, whatever the clock's resolution
    rebuilt = load_or_build_cache(tmp_path / "cache", "chips", chips, 64, JPG)
    assert Path(rebuilt.filename) != first_file
    np.testing.assert_array_equal(rebuilt[2], load_chip(chips[2], 64, JPG))
    assert not np.array_equal(rebuilt[2], cache[2])


def test_cached_and_decoded_datasets_serve_the_same_chips(chips: list[Path], tmp_path: Path) -> None:
    cache = load_or_build_cache(tmp_path / "cache", "chips", chips, 32, JPG)
    rows = np.array([4, 1, 3])
    cached = ChipDataset([chips[r] for r in rows], None, 32, cache=cache, cache_rows=rows)
    decoded = ChipDataset([chips[r] for r in rows], None, 32)
    for i in range(len(rows)):
        np.testing.assert_array_equal(cached[i]["image"].numpy(), decoded[i]["image"].numpy())


def test_dehaze_restores_contrast_of_a_hazed_chip() -> None:
    from amazon_cls.data.dehaze import dehaze
    from amazon_cls.data.synthetic import render_chip

    # forest with a river and a road: dark in some channel everywhere, as the prior assumes
    clear = render_chip({"clear", "primary", "water", "road"}, np.random.default_rng(0), 64).astype(np.float32)
    hazy = (0.45 * clear + 0.55 * np.array([200, 205, 215], np.float32)).astype(np.uint8)
    restored = dehaze(hazy).astype(np.float32)
    assert restored.std() > 1.5 * hazy.std()
    assert np.abs(restored - clear).mean() < np.abs(hazy - clear).mean() / 2


def test_dehazed_chips_are_cached_apart(chips: list[Path], tmp_path: Path) -> None:
    plain = load_or_build_cache(tmp_path, "chips", chips, 64, JPG)
    dehazed = load_or_build_cache(tmp_path, "chips", chips, 64, JPG, dehaze=True)
    assert plain.filename != dehazed.filename and "dehazed" in Path(dehazed.filename).name
    np.testing.assert_array_equal(dehazed[1], load_chip(chips[1], 64, JPG, dehaze=True))


def test_a_batch_holds_the_chips_served_one_by_one(chips: list[Path]) -> None:
    targets = np.eye(len(chips), 17, dtype=np.float32)
    dataset = ChipDataset(chips, targets, 64)
    batch = dataset.__getitems__([3, 0, 5])
    assert batch["image"].shape == (3, 64, 64, 3) and batch["image"].dtype == torch.uint8
    for slot, index in enumerate([3, 0, 5]):
        np.testing.assert_array_equal(batch["image"][slot].numpy(), load_chip(chips[index], 64, JPG))
        np.testing.assert_array_equal(batch["target"][slot].numpy(), targets[index])
    assert batch["index"].tolist() == [3, 0, 5]
    np.testing.assert_array_equal(dataset[5]["image"].numpy(), batch["image"][2].numpy())


def test_worker_batches_are_the_in_process_batches_and_d4_views_of_the_chips(chips: list[Path]) -> None:
    dataset = ChipDataset(chips, None, 32, train_transform(), seed=7)

    def batches(workers: int) -> list[dict]:
        loader = chip_loader(dataset, 4, workers, sampler=EpochSampler(len(chips), 7, shuffle=True))
        loader.sampler.set_epoch(1)
        return list(loader)

    in_process, from_worker = batches(0), batches(1)  # the worker's batches come through shared memory
    assert [len(batch["image"]) for batch in from_worker] == [4, 2]
    views = []
    for ours, theirs in zip(in_process, from_worker, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
        for image, index in zip(ours["image"].numpy(), ours["index"].tolist(), strict=True):
            plain = load_chip(chips[index], 32, JPG)
            views += [e for e in GROUP if np.array_equal(image, FastD4(p=1).apply(plain, e))][:1]
    assert len(views) == len(chips) and len(set(views)) > 1  # every chip a D4 view, not all the same one


def test_a_batch_mixing_chip_kinds_names_the_odd_file(chips: list[Path], tmp_path: Path) -> None:
    """A source whose files decode to arrays of another type or shape (a folder of mixed products)."""
    tif = tmp_path / "chip_9.tif"
    tifffile.imwrite(tif, np.zeros((128, 128, 4), np.uint16))
    mixed = dataclasses.replace(
        JPG,
        decode=lambda data, path, size: (
            tifffile.imread(path) if str(path).endswith(".tif") else JPG.decode(data, path, size)
        ),
    )
    with pytest.raises(ValueError, match=r"chip_9\.tif: a uint16 chip of shape \(32, 32, 4\) in a batch of uint8"):
        ChipDataset([chips[0], tif], None, 32, source=mixed).__getitems__([0, 1])
