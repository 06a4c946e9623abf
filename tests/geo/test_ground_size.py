"""The model knows its ground size: a checkpoint keeps its training chips' ground side, and
`chip_size=auto` cuts chips of that ground size from any scene, in metres on the ground."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from affine import Affine
from PIL import Image
from rasterio.crs import CRS

from amazon_cls.data.layout import DECLARATION
from amazon_cls.data.synthetic import write_mosaic
from amazon_cls.geo.grid import Tiling, chip_pixels, grid_for, ground_pixel_m, pixel_sides_m
from amazon_cls.geo.scene import Footprint
from amazon_cls.map import run as map_scenes
from amazon_cls.store.checkpoint import checkpoint_hparams
from tests.helpers import TINY_DATA, compose_config, compose_train, tiny_overrides

KAGGLE_M = 768.0


def footprint(crs: str, pixel: float, x: float, y: float, side: int = 4096) -> Footprint:
    return Footprint(CRS.from_string(crs), Affine(pixel, 0, x, 0, -pixel, y), side, side)


def mercator_y(lat: float) -> float:
    return 6_378_137.0 * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


@pytest.mark.parametrize(
    ("grid", "pixels"),
    [
        (footprint("EPSG:32721", 3.0, 500_000, 9_650_000), 256),  # a Kaggle-like scene: 256 px of 3 m
        (footprint("EPSG:32721", 10.0, 500_000, 9_650_000), 77),  # Sentinel-2 at 10 m
        (footprint("EPSG:3857", 4.77, -6_000_000, mercator_y(0.0) + 4.77 * 2048), 161),  # a NICFI quad at the equator
        (footprint("EPSG:3857", 4.77, -6_000_000, mercator_y(-9.0) + 4.77 * 2048), 163),  # at 9 S: 4.71 m on the ground
        (footprint("EPSG:4326", 3.0 / 111_320, -57.0, -3.0), 256),  # degrees of about 3 m
    ],
)
def test_a_model_of_kaggle_chips_cuts_768_m_from_any_scene(grid: Footprint, pixels: int) -> None:
    """About: a Web Mercator pixel is not square on the ellipsoid (at the equator 4.77 m across,
    4.74 m down), and the chip's side is the mean of the two."""
    assert abs(chip_pixels(KAGGLE_M, grid) - pixels) <= 1
    size, step = Tiling("auto", chip_extent_m=KAGGLE_M).window(grid)
    assert size == step == chip_pixels(KAGGLE_M, grid)


@pytest.mark.parametrize(("lat", "ground"), [(-9.0, 0.988), (-20.0, 0.94)])
def test_a_web_mercator_metre_is_less_on_the_ground_away_from_the_equator(lat: float, ground: float) -> None:
    grid = footprint("EPSG:3857", 1.0, -6_000_000, mercator_y(lat) + 2048)
    across, down = pixel_sides_m(grid)
    assert across == pytest.approx(ground, abs=0.001) and down == pytest.approx(ground, abs=0.01)
    assert ground_pixel_m(grid) == pytest.approx((across + down) / 2)


def test_a_stride_in_scene_pixels_and_a_model_that_does_not_say(tmp_path: Path) -> None:
    grid = footprint("EPSG:32721", 3.0, 500_000, 9_650_000, side=1024)
    assert Tiling("auto", stride=64, chip_extent_m=KAGGLE_M).window(grid) == (256, 64)
    assert Tiling("auto").window(grid) == (256, 256)  # an older checkpoint: 256 px, as before (warned)
    with pytest.raises(ValueError, match="stride=300 is larger than the chip"):
        grid_for(grid, Tiling("auto", stride=300, chip_extent_m=KAGGLE_M))


def test_the_checkpoint_keeps_its_chips_ground_size_and_map_cuts_it(
    tmp_path: Path, trained_run: Path, tiny_root: Path
) -> None:
    ckpt = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    extent = checkpoint_hparams(torch.load(ckpt, weights_only=True))["chip_extent_m"]
    assert extent == TINY_DATA["size"] * 3.0  # the embedded set: its chips' pixels at 3 m
    chips = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((tiny_root / "test-jpg").glob("*.jpg"))[:16]]
    for pixel, side in ((3.0, 32), (6.0, 16)):  # the same chips at 3 m, and at 6 m: chips of 96 m either way
        scene = write_mosaic(tmp_path / f"scene_{int(pixel)}m.tif", chips, cols=4, pixel=pixel)
        overrides = [f"ckpt={ckpt}", f"scene={scene}", f"output_dir={tmp_path / 'map'}", "num_workers=0"]
        cfg = compose_config("map", [*overrides, "trainer.enable_progress_bar=false"], tmp_path / "hydra")
        assert cfg.chip_size == "auto"  # the default
        map_scenes(cfg)
        record = json.loads((tmp_path / "map" / f"scene_{int(pixel)}m_map.json").read_text())
        assert record["grid"] == [4 * 32 // side] * 2  # 4 x 4 chips of 32 px at 3 m; 8 x 8 of 16 px at 6 m


@pytest.mark.parametrize(("given", "kept"), [([], 768.0), (["data.chip_extent_m=200"], 200.0)])
def test_a_kaggle_layout_set_is_768_m_unless_the_config_says(
    tmp_path: Path, tiny_root: Path, given: list[str], kept: float
) -> None:
    from amazon_cls.training.fit import build

    root = tmp_path / "kaggle"
    shutil.copytree(tiny_root, root, ignore=shutil.ignore_patterns(DECLARATION))  # no declaration: a Kaggle set
    _, model = build(compose_train([*tiny_overrides(root), *given], tmp_path / "run"))
    assert model.hparams.chip_extent_m == kept
