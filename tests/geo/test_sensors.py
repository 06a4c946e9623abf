"""Sensors as data: a NICFI-like quad made by inverting the `nicfi` profile's rendering reads as
the 8-bit scene it was made from, maps as it does, and is dated by its name; files a profile does
not make are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from amazon_cls.data.sources import SOURCES
from amazon_cls.data.synthetic import write_mosaic
from amazon_cls.geo.change.series import dated_from
from amazon_cls.geo.scene import Scene, SceneError
from amazon_cls.geo.sensors import SENSORS
from amazon_cls.map import run as map_scenes
from tests.helpers import compose_config

LOW, HIGH, GAMMA = 64.0, 5454.0, 1.855  # Earth Engine's true-colour rendering of NICFI
JPG = SOURCES["jpg"]


def as_nicfi(rgb_scene: Path, target: Path, offset: float = 0.0, alpha: bool = True) -> Path:
    """The 8-bit scene as B, G, R, N reflectance x 10000 (with an alpha band): the rendering inverted."""
    with rasterio.open(rgb_scene) as raster:
        rgb, profile = raster.read().astype(np.float64), raster.profile
    raw = offset + LOW + (rgb / 255.0) ** GAMMA * (HIGH - LOW)
    bgrn = np.stack([raw[2], raw[1], raw[0], raw[1]]).round().astype(np.uint16)
    bands = [bgrn, np.full((1, *bgrn.shape[1:]), 255, np.uint16)] if alpha else [bgrn]
    profile.update(count=5 if alpha else 4, dtype="uint16", nodata=None, photometric="minisblack")
    with rasterio.open(target, "w", **profile) as out:
        out.write(np.concatenate(bands))
    return target


@pytest.fixture(scope="module")
def rgb_scene(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    chips = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((tiny_root / "test-jpg").glob("*.jpg"))[:9]]
    return write_mosaic(tmp_path_factory.mktemp("rgb") / "scene.tif", chips, cols=3, compress=None)


@pytest.mark.parametrize(("sensor", "alpha"), [("nicfi", True), ("planetscope_sr", False)])
def test_a_reflectance_product_reads_as_the_8_bit_scene_it_renders(
    tmp_path: Path, rgb_scene: Path, sensor: str, alpha: bool
) -> None:
    quad = as_nicfi(rgb_scene, tmp_path / "quad.tif", alpha=alpha)
    rendered = Scene.open(quad, JPG, sensor=SENSORS[sensor])
    assert rendered.bands == (3, 2, 1) and rendered.converted and not rendered.rescaled
    with rasterio.open(rgb_scene) as a, rasterio.open(quad) as b:
        expected, raw = a.read([1, 2, 3]), b.read(list(rendered.bands))
    assert np.abs(rendered.to_input(raw).astype(int) - expected).max() <= 1  # the rounding of the inversion


def test_sentinel2_takes_off_its_offset(tmp_path: Path, rgb_scene: Path) -> None:
    with rasterio.open(rgb_scene) as raster:
        rgb, profile = raster.read().astype(np.float64), raster.profile
    raw = (1000 + LOW + (rgb / 255.0) ** GAMMA * (HIGH - LOW)).round().astype(np.uint16)  # B04, B03, B02 stacked
    profile.update(dtype="uint16", photometric="minisblack")
    path = tmp_path / "S2A_MSIL2A_20220315T135111_N0400_R024_T21MXT_20220315T170000.tif"
    with rasterio.open(path, "w", **profile) as out:
        out.write(raw)
    scene = Scene.open(path, JPG, sensor=SENSORS["sentinel2_l2a"])
    assert np.abs(scene.to_input(raw).astype(int) - rgb).max() <= 1
    assert dated_from(path, None, scene.sensor) == (
        __import__("datetime").date(2022, 3, 15),
        "its name, as sensor=sentinel2_l2a names files",
    )


def test_a_nicfi_mosaic_is_dated_by_its_name(tmp_path: Path, rgb_scene: Path) -> None:
    quad = as_nicfi(rgb_scene, tmp_path / "planet_medres_normalized_analytic_2021-03_mosaic.tif")
    day, where = dated_from(quad, None, SENSORS["nicfi"])
    assert (str(day), where) == ("2021-03-01", "its name, as sensor=nicfi names files")


def test_files_a_profile_does_not_make_are_refused_by_name(tmp_path: Path, rgb_scene: Path) -> None:
    with pytest.raises(SceneError, match=r"scene\.tif: 3 bands; sensor=nicfi reads files of 4 or 5 \(Planet NICFI"):
        Scene.open(rgb_scene, JPG, sensor=SENSORS["nicfi"])
    with rasterio.open(rgb_scene) as raster:
        profile, rgb = raster.profile, raster.read()
    profile.update(count=4)
    with rasterio.open(tmp_path / "bytes.tif", "w", **profile) as out:
        out.write(np.concatenate([rgb, rgb[:1]]))
    with pytest.raises(SceneError, match=r"bytes\.tif: uint8 pixels; sensor=nicfi reads uint16"):
        Scene.open(tmp_path / "bytes.tif", JPG, sensor=SENSORS["nicfi"])
    with pytest.raises(ValueError, match=r"sensor='landsat': choose one of \['nicfi', 'planet_visual'"):
        SENSORS["landsat"]


def test_map_of_the_quad_gives_the_labels_of_the_8_bit_scene(
    tmp_path: Path, rgb_scene: Path, trained_run: Path
) -> None:
    ckpt = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    quad = as_nicfi(rgb_scene, tmp_path / "quad.tif")
    labels = {}
    for scene, sensor in ((rgb_scene, "planet_visual"), (quad, "nicfi")):
        overrides = [f"ckpt={ckpt}", f"scene={scene}", f"sensor={sensor}", f"output_dir={tmp_path / sensor}"]
        cfg = compose_config("map", [*overrides, "chip_size=32", "num_workers=0", "tta=none"], tmp_path / "h")
        map_scenes(cfg)
        features = json.loads(next((tmp_path / sensor).glob("*_chips.geojson")).read_text())["features"]
        labels[sensor] = {(f["properties"]["row"], f["properties"]["col"]): f["properties"]["tags"] for f in features}
    assert labels["nicfi"] == labels["planet_visual"]


def test_each_sensors_mask_hides_its_cloud_shadow_and_haze() -> None:
    udm2 = np.zeros((8, 1, 6), np.uint8)
    udm2[0] = 1  # clear
    udm2[2, 0, 1], udm2[3, 0, 2], udm2[4, 0, 3], udm2[5, 0, 4] = 1, 1, 1, 1  # shadow, light haze, heavy haze, cloud
    assert SENSORS["planetscope_sr"].hidden(udm2).tolist() == [[False, True, False, True, True, False]]
    scl = np.array([[[4, 3, 8, 9, 10, 5]]], np.uint8)  # vegetation, shadow, cloud medium, high, cirrus, bare soil
    assert SENSORS["sentinel2_l2a"].hidden(scl).tolist() == [[False, True, True, True, True, False]]
    assert SENSORS["nicfi"].hidden(np.array([[[0, 2]]])).tolist() == [[False, True]]  # a plain mask: not 0 hides
