"""A data source is one file: a 13-band Sentinel-2 source (tests/sentinel2_source.py, the file a
user would drop into amazon_cls/data/sources/) trains, predicts and maps with nothing else changed."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch

from amazon_cls.core.labels import LABELS
from amazon_cls.data.decode import read_chip
from amazon_cls.data.sources import SOURCES
from amazon_cls.model.module import ChipClassifier
from amazon_cls.predict import run as predict
from amazon_cls.train import run as train
from tests.helpers import compose_config, compose_train, tiny_overrides
from tests.sentinel2_source import BANDS, SENTINEL2


def thirteen_bands(rgb: np.ndarray) -> np.ndarray:
    """16-bit reflectances: B2, B3, B4 from the chip's blue, green, red; the others mixtures of them."""
    rgb = rgb.astype(np.float32)
    mix = [rgb.mean(2), *rgb.transpose(2, 0, 1)[::-1]]  # B1 coastal, B2 blue, B3 green, B4 red
    mix += [(rgb[..., 0] + rgb[..., 1]) / 2] * 4 + [rgb[..., 1] * 1.5] * 5  # red edge, NIR, SWIR
    return (np.stack(mix[: len(BANDS)], axis=-1) * 30 + 500).astype(np.uint16)


@pytest.fixture(scope="module")
def s2_root(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("s2")
    (root / "train-s2").mkdir()
    (root / "test-s2").mkdir()
    table = pd.read_csv(tiny_root / "train_v2.csv")
    table.to_csv(root / "train_v2.csv", index=False)
    jpg = SOURCES["jpg"]
    for split, names in (("train", table["image_name"]), ("test", [f"test_{i}" for i in range(8)])):
        for name in names:
            rgb = read_chip(tiny_root / f"{split}-jpg" / f"{name}.jpg", jpg)
            tifffile.imwrite(root / f"{split}-s2" / f"{name}.tif", thirteen_bands(rgb))
    return root


def test_the_source_is_registered_and_decodes_its_files(s2_root: Path) -> None:
    assert SOURCES["s2"] is SENTINEL2
    chip = read_chip(s2_root / "train-s2" / "train_0.tif", SENTINEL2)
    assert chip.shape == (32, 32, 13) and chip.dtype == np.uint16


def test_a_thirteen_band_source_trains_and_predicts(s2_root: Path, tmp_path: Path) -> None:
    cfg = compose_train([*tiny_overrides(s2_root), "data.format=s2"], tmp_path / "run")
    assert cfg.model.in_chans == 13  # from the source's bands
    metrics = train(cfg)
    model = ChipClassifier.from_checkpoint(metrics["best_checkpoint"])
    first_conv = next(m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.in_channels == 13 and model.data_source is SENTINEL2
    assert model.mean.flatten()[1] > 500  # per-band statistics measured on the training chips
    output = tmp_path / "submission.csv"
    overrides = [
        f"ckpt={metrics['best_checkpoint']}",
        f"input={s2_root / 'test-s2'}",
        f"output={output}",
        "num_workers=0",
        "trainer.enable_progress_bar=false",
    ]
    predict(compose_config("predict", overrides, tmp_path / "predict"))
    submission = pd.read_csv(output, keep_default_na=False)
    assert len(submission) == 8 and all(set(tags.split()) <= set(LABELS) for tags in submission["tags"])
