"""4-band TIFF chips (B, G, R, NIR, 16-bit), as the competition's train-tif-v2 folder holds them."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch

from amazon_cls.data.chips import load_chip, read_chip
from amazon_cls.data.layout import Layout
from amazon_cls.labels import PROB_COLUMNS
from amazon_cls.module import ChipClassifier
from amazon_cls.train import run
from tests.helpers import compose_train, tiny_overrides


def to_bands(rgb: np.ndarray) -> np.ndarray:
    """16-bit B, G, R, NIR from an RGB chip: vegetation (green) is bright in the near infrared."""
    rgb = rgb.astype(np.uint16) * 40 + 2000
    nir = rgb[..., 1] * 2
    return np.stack([rgb[..., 2], rgb[..., 1], rgb[..., 0], nir], axis=-1)


@pytest.fixture(scope="module")
def tif_root(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tif")
    (root / "train-tif-v2").mkdir()
    table = pd.read_csv(tiny_root / "train_v2.csv")
    table.to_csv(root / "train_v2.csv", index=False)
    for name in table["image_name"]:
        tifffile.imwrite(
            root / "train-tif-v2" / f"{name}.tif", to_bands(read_chip(tiny_root / "train-jpg" / f"{name}.jpg"))
        )
    return root


def test_tiff_bands_come_in_rgb_nir_order(tif_root: Path, tiny_root: Path) -> None:
    bands = read_chip(tif_root / "train-tif-v2" / "train_0.tif")
    rgb = read_chip(tiny_root / "train-jpg" / "train_0.jpg")
    assert bands.dtype == np.uint16 and bands.shape == (32, 32, 4)
    np.testing.assert_array_equal(bands[..., :3], rgb.astype(np.uint16) * 40 + 2000)
    assert load_chip(tif_root / "train-tif-v2" / "train_0.tif", 16).shape == (16, 16, 4)


def test_training_on_four_bands(tif_root: Path, tmp_path: Path) -> None:
    cfg = compose_train([*tiny_overrides(tif_root), "data.format=tif", "data.cache=true"], tmp_path / "run")
    assert cfg.model.in_chans == 4 and Layout.of_config(cfg.data).image_dir == "train-tif-v2"
    metrics = run(cfg)
    model = ChipClassifier.from_checkpoint(metrics["best_checkpoint"])
    first_conv = next(m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.in_channels == 4
    mean = model.mean.flatten()
    assert 2000 < mean[0] < 2000 + 40 * 255 and mean[3] > mean[1]  # per-band statistics of these chips
    probs = pd.read_csv(tmp_path / "run" / "val_probs.csv")[PROB_COLUMNS].to_numpy()
    assert np.isfinite(probs).all() and metrics["val/f2"] > 0
