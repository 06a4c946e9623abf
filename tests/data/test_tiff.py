"""4-band TIFF chips (B, G, R, NIR, 16-bit), as the competition's train-tif-v2 folder holds them."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch

from amazon_cls.core.labels import PROB_COLUMNS
from amazon_cls.data.decode import load_chip, read_chip
from amazon_cls.data.layout import Layout
from amazon_cls.data.sources import SOURCES
from amazon_cls.data.synthetic import write_mosaic
from amazon_cls.geo.scene import Scene, SceneError
from amazon_cls.map import run as map_scenes
from amazon_cls.model.module import ChipClassifier
from amazon_cls.predict import run as predict
from amazon_cls.train import run
from tests.helpers import compose_config, compose_train, tiny_overrides

JPG, TIF = SOURCES["jpg"], SOURCES["tif"]


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
            root / "train-tif-v2" / f"{name}.tif", to_bands(read_chip(tiny_root / "train-jpg" / f"{name}.jpg", JPG))
        )
    return root


def test_tiff_bands_come_in_rgb_nir_order(tif_root: Path, tiny_root: Path) -> None:
    bands = read_chip(tif_root / "train-tif-v2" / "train_0.tif", TIF)
    rgb = read_chip(tiny_root / "train-jpg" / "train_0.jpg", JPG)
    assert bands.dtype == np.uint16 and bands.shape == (32, 32, 4)
    np.testing.assert_array_equal(bands[..., :3], rgb.astype(np.uint16) * 40 + 2000)
    assert load_chip(tif_root / "train-tif-v2" / "train_0.tif", 16, TIF).shape == (16, 16, 4)


@pytest.fixture(scope="module")
def four_band_run(tif_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The tiny model trained on the 4-band chips: its run folder and metrics."""
    run_dir = tmp_path_factory.mktemp("tif_run") / "run"
    cfg = compose_train([*tiny_overrides(tif_root), "data.format=tif", "data.cache=true"], run_dir)
    assert cfg.model.in_chans == 4 and Layout.of_config(cfg.data).image_dir == "train-tif-v2"
    return run_dir, run(cfg)


def test_training_on_four_bands(four_band_run: tuple[Path, dict]) -> None:
    run_dir, metrics = four_band_run
    model = ChipClassifier.from_checkpoint(metrics["best_checkpoint"])
    first_conv = next(m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.in_channels == 4
    mean = model.mean.flatten()
    assert 2000 < mean[0] < 2000 + 40 * 255 and mean[3] > mean[1]  # per-band statistics of these chips
    probs = pd.read_csv(run_dir / "val_probs.csv")[PROB_COLUMNS].to_numpy()
    assert np.isfinite(probs).all() and metrics["val/f2"] > 0


def test_a_four_band_model_maps_an_analytic_scene_as_it_predicts_its_chips(
    four_band_run: tuple[Path, dict], tif_root: Path, tmp_path: Path
) -> None:
    """B, G, R, NIR 16-bit scene -> raw R, G, B, NIR chips, as the TIFF chip files give them."""
    names = [f"train_{i}" for i in range(16)]
    chips = [tifffile.imread(tif_root / "train-tif-v2" / f"{name}.tif") for name in names]  # B, G, R, NIR
    scene = write_mosaic(tmp_path / "analytic.tif", chips, cols=4)
    folder = tmp_path / "chips"
    folder.mkdir()
    for index, name in enumerate(names):  # the same chips, named by their place in the scene
        shutil.copy(tif_root / "train-tif-v2" / f"{name}.tif", folder / f"r{index // 4}_c{index % 4}.tif")
    ckpt = four_band_run[1]["best_checkpoint"]
    common = ["num_workers=0", "trainer.enable_progress_bar=false"]
    map_scenes(
        compose_config(
            "map",
            [f"ckpt={ckpt}", f"scene={scene}", f"output_dir={tmp_path / 'out'}", "chip_size=32", "stride=32", *common],
            tmp_path / "hydra",
        )
    )
    predict(
        compose_config(
            "predict",
            [f"ckpt={ckpt}", f"input={folder}", f"output={tmp_path / 'sub.csv'}", *common],
            tmp_path / "hydra_predict",
        )
    )
    expected = pd.read_csv(tmp_path / "sub.csv").set_index("image_name")["tags"].fillna("")
    features = json.loads((tmp_path / "out" / "analytic_chips.geojson").read_text())["features"]
    mapped = {f"r{f['properties']['row']}_c{f['properties']['col']}": f["properties"]["tags"] for f in features}
    assert mapped == {name: tags.strip() for name, tags in expected.items()}
    rgb = write_mosaic(tmp_path / "visual.tif", [chip[..., 2::-1].astype(np.uint8) for chip in chips], cols=4)
    with pytest.raises(SceneError, match="3 bands; the model takes 4"):
        Scene.open(rgb, TIF)
