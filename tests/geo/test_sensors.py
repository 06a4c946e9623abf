"""Sensors as data: a NICFI-like quad made by inverting the `nicfi` profile's rendering reads as
the 8-bit scene it was made from, maps as it does, and is dated by its name; files a profile does
not make are refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image

from amazon_cls.core.labels import LABEL_INDEX, NUM_LABELS
from amazon_cls.data.sources import SOURCES
from amazon_cls.data.synthetic import write_mosaic
from amazon_cls.geo.change.monitoring import monitor
from amazon_cls.geo.change.series import dated_from
from amazon_cls.geo.grid import chip_name
from amazon_cls.geo.imitate import as_nicfi_quad, quads_as_stac, split_in_quads
from amazon_cls.geo.scene import Scene, SceneError
from amazon_cls.geo.sensors import SENSORS
from amazon_cls.inference.predictor import Predictor
from amazon_cls.map import run as map_scenes
from amazon_cls.store.tables import probability_frame
from tests.geo.test_monitor import CHIP, DATES, LOADER, monitor_cfg, write_series
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


class ContentOracle(Predictor):
    """Says of each chip the tags of the placed chip whose mean colour is nearest: an oracle that
    sees pixels (through the scene's sensor and grid) rather than cell numbers."""

    references: ClassVar[dict[str, np.ndarray]] = {}  # the placed chips, by kind

    def predict(self, run, chips_for, compile=False) -> pd.DataFrame:
        tiles = chips_for(SimpleNamespace(hparams=SimpleNamespace(image_size=CHIP, dehaze=False)))
        tiles.setup("predict")
        chips = tiles.predict_set
        kinds = list(self.references)
        means = np.stack([self.references[kind].reshape(-1, 3).mean(0) for kind in kinds])
        probs = np.full((len(chips.cells), NUM_LABELS), 0.02)
        for k in range(len(chips.cells)):
            seen = chips._chip(k).reshape(-1, 3).mean(0)
            kind = kinds[int(np.argmin(np.linalg.norm(means - seen, axis=1)))]
            probs[k, [LABEL_INDEX[tag] for tag in TAGS_OF[kind]]] = 0.95
        return probability_frame([chip_name(*cell) for cell in chips.cells], probs)


TAGS_OF = {
    "forest": ("clear", "primary"),
    "agriculture": ("clear", "primary", "agriculture"),
    "artisinal_mine": ("clear", "primary", "artisinal_mine"),
    "road": ("clear", "primary", "road"),
    "cloudy": ("cloudy",),
    "slash_burn": ("clear", "primary", "slash_burn"),
}


def test_the_same_area_two_ways_gives_the_same_alerts(tmp_path: Path, chips_by_tags: dict, trained_run: Path) -> None:
    """(a) 8-bit RGB GeoTIFFs in UTM at 3 m; (b) the same as NICFI-like quads: EPSG:3857 at 4.77 m,
    B, G, R, N by the inverse of the `nicfi` profile's rendering, an alpha band, each date cut into
    2 x 2 quads and given as a STAC ItemCollection, read onto (a)'s grid (`grid=`). Two resamplings
    (3 -> 4.77 -> 3 m) blur the chips; their mean colours, which the oracle reads, move by a few
    grey levels (tolerance: none on the alerts, the same cells; 1% on the areas)."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    scenes = write_series(tmp_path / "a", chips_by_tags, DATES[:3])
    whole = [as_nicfi_quad(scene, tmp_path / "b" / scene.name) for scene in scenes]
    quads = {
        scene.stem: split_in_quads(quad, tmp_path / "b" / "quads") for scene, quad in zip(scenes, whole, strict=True)
    }
    items = quads_as_stac(quads, tmp_path / "b" / "items.json")
    base = Predictor.of(str(next((trained_run / "checkpoints").glob("best-*.ckpt"))), None, "none", None)
    oracle = ContentOracle(**vars(base))
    oracle.references = chips_by_tags
    found = {}
    for name, series, extra in (("a", scenes, []), ("b", [items], ["sensor=nicfi", f"grid={scenes[0]}"])):
        cfg = monitor_cfg(tmp_path, series, f"output_dir={tmp_path / ('out_' + name)}", *extra)
        summary = monitor(cfg, LOADER, oracle)
        cells = json.loads((tmp_path / f"out_{name}" / "alert_cells.geojson").read_text())["features"]
        found[name] = (
            sorted(
                (c["properties"]["row"], c["properties"]["col"], c["properties"]["type"], c["properties"]["confidence"])
                for c in cells
            ),
            summary["area_ha"],
        )
    assert len(list((tmp_path / "out_b" / "tiles").glob("*.vrt"))) == 3  # each date's four quads, one raster
    assert found["b"][0] == found["a"][0] and found["a"][0]  # the same cell alerts, and some
    assert found["b"][1] == pytest.approx(found["a"][1], rel=0.01)
