"""Monitoring an area: constructed series of the embedded data set's chips with known answers.

The series' logic is tested with an oracle in the model's place (it says of each chip the tags
the chip was placed with), so that the answers do not hang on a tiny model's accuracy; the path
through a real checkpoint and `Trainer.predict` is tested on its own (reuse of dates)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image

from amazon_cls.core.labels import LABEL_INDEX, NUM_LABELS
from amazon_cls.data.layout import read_labels
from amazon_cls.data.sources import SOURCES
from amazon_cls.data.synthetic import write_mosaic
from amazon_cls.geo.change.monitoring import monitor
from amazon_cls.geo.change.series import dated_scenes
from amazon_cls.geo.grid import Tiling, chip_name
from amazon_cls.geo.mapping import map_scenes
from amazon_cls.geo.scene import Scene, SceneError
from amazon_cls.geo.sensors import SENSORS
from amazon_cls.inference.predictor import Predictor
from amazon_cls.monitor import run as monitor_command
from amazon_cls.store.tables import probability_frame
from tests.helpers import compose_config, fails_on_a_full_disk, needs_tmpfs, small_disk

SIDE, CHIP, PIXEL = 4, 32, 3.0
ORIGIN = (500_000.0, 9_650_000.0)
DATES = ("2016-06-01", "2016-07-01", "2016-08-01", "2016-09-01")
FOREST = {"clear", "primary"}
# the cells' tags at each date (every other cell is forest)
LAYOUTS = {
    DATES[0]: {},
    DATES[1]: {
        (0, 0): {"clear", "primary", "agriculture"},
        (0, 1): {"clear", "primary", "agriculture"},
        (1, 3): {"clear", "primary", "artisinal_mine"},
        (3, 3): {"clear", "primary", "road"},
        (2, 1): {"cloudy"},
    },
    DATES[2]: {
        (0, 0): {"clear", "primary", "agriculture"},
        (0, 1): {"clear", "primary", "agriculture"},
        (1, 3): {"partly_cloudy", "primary", "artisinal_mine"},
    },
    DATES[3]: {(2, 2): {"clear", "primary", "slash_burn"}},
}


@pytest.fixture(scope="module")
def chips_by_tags(tiny_root: Path) -> dict[str, np.ndarray]:
    """A chip of the tiny data set for each kind placed: forest, fields, a mine, a road, cloud, a burn."""
    names, targets = read_labels(tiny_root / "train_v2.csv")
    chosen = {}
    for kind in ("forest", "agriculture", "artisinal_mine", "road", "cloudy", "slash_burn"):
        for name, target in zip(names, targets, strict=True):
            tags = {label for label in LABEL_INDEX if target[LABEL_INDEX[label]]}
            if (kind == "forest" and tags == FOREST) or (kind != "forest" and kind in tags):
                chosen[kind] = np.asarray(Image.open(tiny_root / "train-jpg" / f"{name}.jpg").convert("RGB"))
                break
    return chosen


def kind_of(tags: set[str]) -> str:
    return next(
        (kind for kind in ("agriculture", "artisinal_mine", "road", "cloudy", "slash_burn") if kind in tags), "forest"
    )


def write_series(folder: Path, chips: dict[str, np.ndarray], dates=DATES) -> list[Path]:
    paths = []
    for day in dates:
        layout = LAYOUTS[day]
        tiles = [chips[kind_of(layout.get(divmod(k, SIDE), FOREST))] for k in range(SIDE * SIDE)]
        paths.append(write_mosaic(folder / f"{day}.tif", tiles, cols=SIDE, origin=ORIGIN, pixel=PIXEL))
    return paths


class Oracle(Predictor):
    """Says of each chip the tags it was placed with (the scene's date tells the layout)."""

    def predict(self, run, chips_for, compile=False) -> pd.DataFrame:
        tiles = chips_for(SimpleNamespace(hparams=SimpleNamespace(image_size=CHIP, dehaze=False)))
        tiles.setup("predict")
        layout = LAYOUTS[tiles.scene.path.stem]
        cells = tiles.predict_set.cells
        probs = np.full((len(cells), NUM_LABELS), 0.02)
        for k, cell in enumerate(cells):
            probs[k, [LABEL_INDEX[tag] for tag in layout.get(cell, FOREST)]] = 0.95
        self.calls = getattr(self, "calls", 0) + 1
        return probability_frame([chip_name(*cell) for cell in cells], probs)


@pytest.fixture()
def oracle(trained_run: Path, tmp_path: Path) -> Oracle:
    (tmp_path / "half.json").write_text(json.dumps({label: 0.5 for label in LABEL_INDEX}))
    base = Predictor.of(
        str(next((trained_run / "checkpoints").glob("best-*.ckpt"))), None, "d4", str(tmp_path / "half.json")
    )
    return Oracle(**vars(base))


def monitor_cfg(tmp_path: Path, scenes: list[Path], *extra: str):
    overrides = [
        f"scenes=[{','.join(map(str, scenes))}]",
        f"output_dir={tmp_path / 'out'}",
        f"chip_size={CHIP}",
        "operating_point=f2",
        *extra,
    ]
    return compose_config("monitor", overrides, tmp_path / "hydra")


LOADER = SimpleNamespace(loader={})


def test_three_dates_raise_confirmed_retracted_and_no_alerts_where_they_should(
    tmp_path: Path, chips_by_tags: dict, oracle: Oracle
) -> None:
    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    summary = monitor(monitor_cfg(tmp_path, scenes), LOADER, oracle)
    cells = [f["properties"] for f in json.loads((tmp_path / "out" / "alert_cells.geojson").read_text())["features"]]
    found = {(c["row"], c["col"]): (c["type"], c["confidence"], c["first_seen"], c["last_forest"]) for c in cells}
    assert found == {
        (0, 0): ("agriculture", "confirmed", DATES[1], DATES[0]),
        (0, 1): ("agriculture", "confirmed", DATES[1], DATES[0]),
        (1, 3): ("mines", "confirmed", DATES[1], DATES[0]),  # seen again through thin cloud
        (3, 3): ("road", "retracted", DATES[1], DATES[0]),  # forest again at the next date
    }  # the cloudy cell (2, 1) raises nothing, and is forest again at date 3: nothing
    alerts = gpd.read_file(tmp_path / "out" / "alerts.geojson")
    fields = alerts[alerts["type"] == "agriculture"].iloc[0]
    assert fields["cells"] == 2 and fields["area_ha"] == pytest.approx(2 * (CHIP * PIXEL) ** 2 / 1e4)
    assert len(alerts) == 3 and shapely.LinearRing(list(fields.geometry.exterior.coords)).is_ccw
    assert summary["alerts"] == {"confirmed": 2, "retracted": 1}
    assert summary["area_ha"] == pytest.approx(3 * (CHIP * PIXEL) ** 2 / 1e4)  # the retracted road not counted
    history = pd.read_csv(tmp_path / "out" / "history.csv")
    cloud = history[(history["row"] == 2) & (history["col"] == 1)].set_index("date")
    assert not cloud.loc[DATES[1], "observable"] and cloud.loc[DATES[2], "observable"]
    for name in ("alerts.gpkg", "timeline.png", "report.md", "monitor.json"):
        assert (tmp_path / "out" / name).is_file(), name
    assert sorted(p.name for p in (tmp_path / "out" / "evidence").iterdir()) == [f"{a}.png" for a in alerts["alert_id"]]
    assert "Caveats" in (tmp_path / "out" / "report.md").read_text()


def test_adding_a_date_predicts_that_scene_only(tmp_path: Path, chips_by_tags: dict, oracle: Oracle) -> None:
    scenes = write_series(tmp_path, chips_by_tags)
    first = monitor(monitor_cfg(tmp_path, scenes[:3]), LOADER, oracle)
    assert (first["predicted"], oracle.calls) == (3, 3)
    again = monitor(monitor_cfg(tmp_path, scenes[:3]), LOADER, oracle)
    assert oracle.calls == 3 and (again["predicted"], again["reused"]) == (0, 3)  # the same command: nothing done
    assert again["alerts"] == first["alerts"]  # the record read back
    fourth = monitor(monitor_cfg(tmp_path, scenes), LOADER, oracle)
    assert (fourth["predicted"], fourth["reused"], oracle.calls) == (1, 3, 4)  # counted, not timed
    cells = [f["properties"] for f in json.loads((tmp_path / "out" / "alert_cells.geojson").read_text())["features"]]
    burn = [(c["row"], c["col"], c["first_seen"], c["confidence"]) for c in cells if c["type"] == "slash_burn"]
    assert burn == [(2, 2, DATES[3], "probable")]


def test_a_regions_file_splits_an_alert_across_a_border(tmp_path: Path, chips_by_tags: dict, oracle: Oracle) -> None:
    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    cell = CHIP * PIXEL
    border = ORIGIN[0] + 1.5 * cell  # through the middle of cell (0, 1): the fields are 1.5 cells west of it
    west = shapely.box(ORIGIN[0] - 1000, ORIGIN[1] - 5 * cell, border, ORIGIN[1] + 1000)
    east = shapely.box(border, ORIGIN[1] - 5 * cell, ORIGIN[0] + 5 * cell, ORIGIN[1] + 1000)
    regions = gpd.GeoDataFrame({"name": ["west", "east"]}, geometry=[west, east], crs="EPSG:32721").to_crs(4326)
    regions.to_file(tmp_path / "regions.geojson", driver="GeoJSON")
    monitor(monitor_cfg(tmp_path, scenes, f"regions={tmp_path / 'regions.geojson'}", "region_key=name"), LOADER, oracle)
    totals = pd.read_csv(tmp_path / "out" / "regions.csv")
    fields = totals[totals["type"] == "agriculture"].set_index("name")["area_ha"]
    assert fields["west"] == pytest.approx(1.5 * cell**2 / 1e4, rel=1e-3)
    assert fields["east"] == pytest.approx(0.5 * cell**2 / 1e4, rel=1e-3)
    assert "road" not in set(totals["type"])  # retracted: kept in the alerts, never counted


def test_a_scene_on_another_grid_is_read_onto_the_first(tmp_path: Path, chips_by_tags: dict) -> None:
    """The second date shifted by half a cell and covering only part of the area, in the same CRS,
    and a third in the neighbouring UTM zone: each read onto the first scene's grid."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    first = write_mosaic(tmp_path / "2016-06-01.tif", [chips_by_tags["forest"]] * 16, cols=SIDE, origin=ORIGIN)
    east = (ORIGIN[0] + CHIP * PIXEL / 2, ORIGIN[1])  # half a cell east; 2 x 2 chips: part of the area
    shifted = write_mosaic(tmp_path / "2016-07-01.tif", [chips_by_tags["agriculture"]] * 4, cols=2, origin=east)
    import rasterio

    with rasterio.open(first) as source:
        transform, width, height = calculate_default_transform(
            source.crs, "EPSG:32720", source.width, source.height, *source.bounds
        )
        profile = {**source.profile, "crs": "EPSG:32720", "transform": transform, "width": width, "height": height}
        with rasterio.open(tmp_path / "2016-08-01.tif", "w", **profile) as target:
            for band in (1, 2, 3):
                reproject(rasterio.band(source, band), rasterio.band(target, band), resampling=Resampling.nearest)
    from amazon_cls.data.sources import SOURCES

    scenes = [first, shifted, tmp_path / "2016-08-01.tif"]
    footprint, grid, dated = dated_scenes([str(p) for p in scenes], None, SOURCES["jpg"], Tiling(CHIP, CHIP))
    assert (grid.rows, grid.cols) == (SIDE, SIDE) and footprint.crs.to_epsg() == 32721
    kept = dated[1].grid.kept
    assert kept[:2, :2].all() and not kept[2:].any() and not kept[:, 3].any()  # only where it covers the grid
    from amazon_cls.geo.tiles import SceneChips

    chips = SceneChips(dated[1].scene, dated[1].grid, CHIP)
    inner = chips[chips.names.index("r0_c1")]["image"].numpy()  # wholly inside the shifted scene
    fields = chips_by_tags["agriculture"]
    expected = np.hstack(
        [fields[:, CHIP // 2 :], fields[:, : CHIP // 2]]
    )  # the right half of one chip, the left of the next
    assert np.abs(inner.astype(int) - expected.astype(int)).max() <= 1
    assert dated[2].grid.kept.sum() >= 12  # the other zone's scene lands on most of the grid


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("one scene", "scenes: a series needs two or more scenes of one area, got 1"),
        ("no date", "undated.tif: no date: give dates=[...]"),
        ("same date", "share the date 2016-06-01; a series holds one scene per date"),
        ("no overlap", "does not overlap the grid it is read onto"),
        ("regions without key", "give region_key=<attribute> naming each region"),
        ("precision above 1", "alert_precision=1.5: must be > 0 and < 1"),
        ("future by name", "2030-01-01.tif: dated 2030-01-01 (from its name), after today"),
        ("future given", "2016-07-01.tif: dated 2099-07-01 (from dates=[...]), after today"),
        ("one file twice", "2016-06-01.tif (dated 2016-07-01) is the same file as"),
        ("a copy twice", "copy.tif (dated 2016-07-01) is the same file as"),
    ],
)
def test_bad_series_are_refused_before_any_work(
    tmp_path: Path, chips_by_tags: dict, trained_run: Path, case: str, message: str
) -> None:
    ckpt = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    forest = [chips_by_tags["forest"]] * 4
    a = write_mosaic(tmp_path / "2016-06-01.tif", forest, cols=2)
    b = write_mosaic(tmp_path / "2016-07-01.tif", forest, cols=2)
    scenes, extra = [a, b], []
    if case == "one scene":
        scenes = [a]
    elif case == "no date":
        scenes = [a, write_mosaic(tmp_path / "undated.tif", forest, cols=2)]
    elif case == "same date":
        scenes = [a, write_mosaic(tmp_path / "again_20160601.tif", forest, cols=2)]
    elif case == "no overlap":
        scenes = [a, write_mosaic(tmp_path / "2016-08-01.tif", forest, cols=2, origin=(700_000.0, 9_000_000.0))]
    elif case == "future by name":
        scenes = [a, write_mosaic(tmp_path / "2030-01-01.tif", forest, cols=2)]
    elif case == "future given":
        extra = ["dates=[2016-06-01,2099-07-01]"]
    elif case == "one file twice":
        scenes, extra = [a, a], ["dates=[2016-06-01,2016-07-01]"]
    elif case == "a copy twice":
        scenes, extra = [a, tmp_path / "copy.tif"], ["dates=[2016-06-01,2016-07-01]"]
        (tmp_path / "copy.tif").write_bytes(a.read_bytes())
    elif case == "regions without key":
        gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326).to_file(tmp_path / "r.gpkg")
        extra = [f"regions={tmp_path / 'r.gpkg'}"]
    else:
        extra = ["alert_precision=1.5"]
    overrides = [
        f"ckpt={ckpt}",
        f"scenes=[{','.join(map(str, scenes))}]",
        f"output_dir={tmp_path / 'out'}",
        f"chip_size={CHIP}",
        "num_workers=0",
        "trainer.enable_progress_bar=false",
        *extra,
    ]
    with pytest.raises((ValueError, SceneError), match=re.escape(message)):
        monitor_command(compose_config("monitor", overrides, tmp_path / "hydra"))
    assert not (tmp_path / "out" / "predictions").exists()  # refused before any prediction


def test_a_series_dated_ahead_is_read_when_allowed(tmp_path: Path, chips_by_tags: dict) -> None:
    days = {"2031-06-01": [chips_by_tags["forest"]] * 4, "2031-07-01": [chips_by_tags["agriculture"]] * 4}
    scenes = [str(write_mosaic(tmp_path / f"{day}.tif", chips, cols=2)) for day, chips in days.items()]
    with pytest.raises(ValueError, match="allow_future_dates=true"):
        dated_scenes(scenes, None, SOURCES["jpg"], Tiling(CHIP, CHIP))
    _, _, dated = dated_scenes(scenes, None, SOURCES["jpg"], Tiling(CHIP, CHIP), allow_future_dates=True)
    assert [str(d.date) for d in dated] == ["2031-06-01", "2031-07-01"]


def test_the_command_predicts_through_the_model_and_reuses_dates(
    tmp_path: Path, chips_by_tags: dict, trained_run: Path
) -> None:
    """The real path: a checkpoint through Trainer.predict, the operating point fitted on the run's
    out-of-fold chips, then one more date predicting one scene."""
    scenes = write_series(tmp_path, chips_by_tags)
    ckpt = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    common = [
        f"ckpt={ckpt}",
        f"output_dir={tmp_path / 'out'}",
        f"chip_size={CHIP}",
        "num_workers=0",
        "trainer.enable_progress_bar=false",
        "alert_precision=0.5",
    ]
    first = monitor_command(compose_config("monitor", [*common, f"scenes=[{scenes[0]},{scenes[1]}]"], tmp_path / "h"))
    assert first["predicted"] == 2 and first["operating_point"][0]["label"] == "agriculture"
    later = monitor_command(
        compose_config("monitor", [*common, f"scenes=[{','.join(map(str, scenes[:3]))}]"], tmp_path / "h")
    )
    assert (later["predicted"], later["reused"]) == (1, 2)
    assert "## Operating point" in (tmp_path / "out" / "report.md").read_text()


@needs_tmpfs
def test_a_full_disk_keeps_the_previous_run_its_evidence_and_its_record(
    tmp_path: Path, chips_by_tags: dict, oracle: Oracle
) -> None:
    scenes = write_series(tmp_path, chips_by_tags)
    with small_disk(tmp_path / "out"):
        first = monitor(monitor_cfg(tmp_path, scenes[:3]), LOADER, oracle)
        assert first["cell_alerts"] and (tmp_path / "out" / "evidence").is_dir()
        fails_on_a_full_disk(tmp_path / "out", lambda: monitor(monitor_cfg(tmp_path, scenes), LOADER, oracle), 20_000)
        (tmp_path / "out" / "filler").unlink()
        again = monitor(monitor_cfg(tmp_path, scenes[:3]), LOADER, oracle)
        assert again == {**first, "predicted": 0, "reused": 3}  # still finished: the same record, nothing done


def write_mask(path: Path, hidden: list[tuple[int, int]], origin=ORIGIN, side: int = SIDE, bands: int = 1) -> Path:
    """A cloud mask on the series' grid: 1 over the `hidden` cells, 0 elsewhere."""
    import rasterio
    from affine import Affine

    values = np.zeros((bands, side * CHIP, side * CHIP), np.uint8)
    for row, col in hidden:
        values[:, row * CHIP : (row + 1) * CHIP, col * CHIP : (col + 1) * CHIP] = 1
    profile = {"driver": "GTiff", "width": side * CHIP, "height": side * CHIP, "count": bands, "dtype": "uint8"}
    transform = Affine(PIXEL, 0, origin[0], 0, -PIXEL, origin[1])
    with rasterio.open(path, "w", crs="EPSG:32721", transform=transform, **profile) as raster:
        raster.write(values)
    return path


def test_a_cloud_only_the_mask_sees_raises_no_alert_and_is_counted(
    tmp_path: Path, chips_by_tags: dict, oracle: Oracle
) -> None:
    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    masks = [write_mask(tmp_path / f"mask_{k}.tif", [(3, 3)] if k == 1 else []) for k in range(3)]
    listed = f"masks=[{','.join(map(str, masks))}]"
    summary = monitor(monitor_cfg(tmp_path, scenes, listed), LOADER, oracle)
    cells = [f["properties"] for f in json.loads((tmp_path / "out" / "alert_cells.geojson").read_text())["features"]]
    assert (3, 3) not in {(c["row"], c["col"]) for c in cells}  # the road under the mask's cloud: never seen
    assert {(c["row"], c["col"]) for c in cells} == {(0, 0), (0, 1), (1, 3)}
    assert summary["hidden"]["mask"] == 1 and summary["hidden"]["model"] >= 1  # and the model's own cloud
    assert "1 by the cloud masks" in (tmp_path / "out" / "report.md").read_text()


def test_masks_that_do_not_fit_their_scenes_are_refused_by_name(
    tmp_path: Path, chips_by_tags: dict, oracle: Oracle
) -> None:
    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    elsewhere = write_mask(tmp_path / "elsewhere.tif", [], origin=(ORIGIN[0] + 5000, ORIGIN[1]))
    fine = [write_mask(tmp_path / f"m{k}.tif", []) for k in range(2)]
    with pytest.raises(SceneError, match=r"elsewhere\.tif: the mask does not cover its scene .*2016-06-01\.tif"):
        monitor(monitor_cfg(tmp_path, scenes, f"masks=[{elsewhere},{fine[0]},{fine[1]}]"), LOADER, oracle)
    with pytest.raises(ValueError, match=r"masks: 2 masks for 3 scenes; give one per scene"):
        monitor(monitor_cfg(tmp_path, scenes, f"masks=[{fine[0]},{fine[1]}]"), LOADER, oracle)
    with pytest.raises(SceneError, match=r"m0\.tif: 1 band\(s\); sensor=planetscope_visual reads masks of ortho_udm2"):
        Scene.open(scenes[0], SOURCES["jpg"], sensor=SENSORS["planetscope_visual"], mask=fine[0])


def stac_items(scenes: list[Path], masks: list[Path] | None = None, up: str = "") -> list:
    """STAC items of the scenes, dated as their names, with hrefs relative to the JSON (`up`: "../"
    where the JSON lies a folder below the scenes)."""
    from datetime import datetime

    import pystac

    items = []
    for k, scene in enumerate(scenes):
        when = datetime.fromisoformat(scene.stem + "T10:00:00+00:00")
        item = pystac.Item(f"scene-{k}", geometry=None, bbox=None, datetime=when, properties={})
        item.add_asset("data", pystac.Asset(href=up + scene.name, roles=["data"]))
        if masks:
            item.add_asset("cloud_mask", pystac.Asset(href=up + masks[k].name, roles=["cloud"]))
        items.append(item)
    return items


def test_a_stac_item_collection_gives_what_the_files_give(tmp_path: Path, chips_by_tags: dict, oracle: Oracle) -> None:
    import pystac

    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    masks = [write_mask(tmp_path / f"mask_{k}.tif", [(3, 3)] if k == 1 else []) for k in range(3)]
    plain = monitor(monitor_cfg(tmp_path, scenes, f"masks=[{','.join(map(str, masks))}]"), LOADER, oracle)
    expected = (tmp_path / "out" / "alert_cells.geojson").read_text()
    collection = tmp_path / "items.json"
    collection.write_text(json.dumps(pystac.ItemCollection(stac_items(scenes, masks)).to_dict()))
    (tmp_path / "items").mkdir()
    for item in stac_items(scenes, masks, up="../"):
        (tmp_path / "items" / f"{item.id}.json").write_text(json.dumps(item.to_dict()))
    for entry in (collection, tmp_path / "items"):
        out = tmp_path / f"out_{entry.name}"
        found = monitor(monitor_cfg(tmp_path, [entry], f"output_dir={out}"), LOADER, oracle)
        assert (out / "alert_cells.geojson").read_text() == expected
        assert (found["alerts"], found["hidden"], found["dates"]) == (plain["alerts"], plain["hidden"], plain["dates"])


def test_a_stac_item_without_the_sensors_asset_is_refused_by_name(tmp_path: Path, chips_by_tags: dict) -> None:
    import pystac

    from amazon_cls.geo.stac import stac_scenes

    scenes = write_series(tmp_path, chips_by_tags, DATES[:2])
    items = stac_items(scenes)
    items[1].assets["thumbnail"] = items[1].assets.pop("data")
    items[1].assets["thumbnail"].roles = ["thumbnail"]
    (tmp_path / "items.json").write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    with pytest.raises(SceneError, match=r"STAC item scene-1: no image asset for sensor=nicfi \(analytic, data; nor"):
        stac_scenes(str(tmp_path / "items.json"), SENSORS["nicfi"])


def split_in_two(scene: Path, folder: Path) -> list[Path]:
    """The scene as two tiles, its west and east halves, on its grid."""
    import rasterio
    from rasterio.windows import Window

    folder.mkdir(exist_ok=True)
    tiles = []
    with rasterio.open(scene) as raster:
        half = raster.width // 2
        for name, window in (
            ("west", Window(0, 0, half, raster.height)),
            ("east", Window(half, 0, half, raster.height)),
        ):
            profile = {**raster.profile, "width": window.width, "height": window.height}
            profile["transform"] = raster.window_transform(window)
            tiles.append(folder / f"{scene.stem}_{name}.tif")
            with rasterio.open(tiles[-1], "w", **profile) as out:
                out.write(raster.read(window=window))
    return tiles


def test_a_dates_tiles_are_read_as_one_raster(tmp_path: Path, chips_by_tags: dict, oracle: Oracle) -> None:
    import pystac

    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    monitor(monitor_cfg(tmp_path, scenes), LOADER, oracle)
    expected = (tmp_path / "out" / "alert_cells.geojson").read_text()
    items = []
    for scene in scenes:
        for k, tile in enumerate(split_in_two(scene, tmp_path / "tiles")):
            (item,) = stac_items([Path(scene.stem + ".tif")])  # dated by the scene's name
            item.id, item.assets["data"].href = f"{scene.stem}-{k}", f"tiles/{tile.name}"
            items.append(item)
    (tmp_path / "items.json").write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    out = tmp_path / "out_tiles"
    found = monitor(monitor_cfg(tmp_path, [tmp_path / "items.json"], f"output_dir={out}"), LOADER, oracle)
    assert (out / "alert_cells.geojson").read_text() == expected
    assert sorted(p.name for p in (out / "tiles").iterdir()) == [f"{day}.vrt" for day in DATES[:3]]
    assert found["scenes"] == 3
    calls = oracle.calls
    monitor(monitor_cfg(tmp_path, [tmp_path / "items.json"], f"output_dir={out}"), LOADER, oracle)
    assert oracle.calls == calls  # the same tiles: the same VRTs, nothing to do


def basin(path: Path, name: str = "basin") -> Path:
    """One region around the whole series, as a GeoJSON at `path`."""
    cell = CHIP * PIXEL
    area = shapely.box(ORIGIN[0] - 1000, ORIGIN[1] - 5 * cell, ORIGIN[0] + 5 * cell, ORIGIN[1] + 1000)
    gpd.GeoDataFrame({"name": [name]}, geometry=[area], crs="EPSG:32721").to_file(path, driver="GeoJSON")
    return path


def test_editing_the_regions_redoes_the_totals_not_the_predictions(
    tmp_path: Path, chips_by_tags: dict, oracle: Oracle
) -> None:
    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    regions = basin(tmp_path / "regions.geojson")
    given = [f"regions={regions}", "region_key=name"]
    monitor(monitor_cfg(tmp_path, scenes, *given), LOADER, oracle)
    calls = oracle.calls
    basin(regions, "renamed")
    again = monitor(monitor_cfg(tmp_path, scenes, *given), LOADER, oracle)
    assert oracle.calls == calls and again["predicted"] == 0  # every date's probabilities reused
    assert set(pd.read_csv(tmp_path / "out" / "regions.csv")["name"]) == {"renamed"}


def test_the_geopackage_is_one_gdal_3_6_reads_without_a_warning(
    tmp_path: Path, chips_by_tags: dict, oracle: Oracle
) -> None:
    import sqlite3

    monitor(monitor_cfg(tmp_path, write_series(tmp_path, chips_by_tags, DATES[:3])), LOADER, oracle)
    with sqlite3.connect(tmp_path / "out" / "alerts.gpkg") as database:
        assert database.execute("PRAGMA user_version").fetchone()[0] == 10200  # GeoPackage 1.2
        kinds = dict(database.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall())
        assert kinds == {"alerts": "features", "layer_styles": "attributes"}
        (table, geometry, qml, default), *others = database.execute(
            "SELECT f_table_name, f_geometry_column, styleQML, useAsDefault FROM layer_styles"
        ).fetchall()
        columns = {name: kind for _, name, kind, *_ in database.execute("PRAGMA table_info(alerts)")}
    assert (table, geometry, default, others) == ("alerts", "geom", 1, [])
    assert columns["first_seen"] == columns["last_forest"] == "DATETIME"  # QGIS's temporal controller reads them
    assert qml == (tmp_path / "out" / "alerts.qml").read_text() == (tmp_path / "out" / "alert_cells.qml").read_text()


def test_the_alert_style_colours_types_and_outlines_confidence() -> None:
    import xml.etree.ElementTree as ET

    from amazon_cls.core.labels import ALARMS
    from amazon_cls.geo.outputs.preview import COLOURS
    from amazon_cls.geo.styles import alerts_qml

    root = ET.fromstring(alerts_qml({kind: COLOURS[kind] for kind in ALARMS}).split("\n", 1)[1])
    renderer = root.find("renderer-v2")
    assert (renderer.get("type"), renderer.get("attr")) == ("categorizedSymbol", "type")
    categories = {c.get("value"): c.get("symbol") for c in renderer.iter("category")}
    assert set(categories) == set(ALARMS)
    for kind, index in categories.items():
        layer = renderer.find(f"symbols/symbol[@name='{index}']/layer")
        options = {o.get("name"): o.get("value") for o in layer.find("Option")}
        red, green, blue = (int(COLOURS[kind][k : k + 2], 16) for k in (1, 3, 5))
        assert options["outline_color"] == f"{red},{green},{blue},255"  # the preview's palette
        defined = {
            p.get("name"): {o.get("name"): o.get("value") for o in p}
            for p in layer.find("data_defined_properties/Option/Option[@name='properties']")
        }
        assert "'probable' THEN 'dash'" in defined["outlineStyle"]["expression"]
        assert "'retracted' THEN '128,128,128,255'" in defined["outlineColor"]["expression"]
        assert all(p["active"] == "true" and p["type"] == "3" for p in defined.values())
    temporal = root.find("temporal")
    assert (temporal.get("enabled"), temporal.get("startField"), temporal.get("accumulate")) == ("1", "first_seen", "1")


def test_the_report_says_where_from_what_and_what_each_operating_point_alerts(
    tmp_path: Path, chips_by_tags: dict, oracle: Oracle
) -> None:
    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    regions = basin(tmp_path / "regions.geojson")
    summary = monitor(monitor_cfg(tmp_path, scenes, f"regions={regions}", "region_key=name"), LOADER, oracle)
    report = (tmp_path / "out" / "report.md").read_text()
    alerts = gpd.read_file(tmp_path / "out" / "alerts.geojson")
    centres = alerts.to_crs("EPSG:32721").geometry.centroid.to_crs("EPSG:4326")
    assert np.allclose(alerts["lat"], centres.y, atol=1e-6) and np.allclose(alerts["lon"], centres.x, atol=1e-6)
    assert set(alerts["region"]) == {"basin"}
    assert summary["warning"] is None and "Warning" not in report  # trained on a data set's real files
    assert re.search(
        r"trained on .*tiny.*, train_v2.csv blake2b [0-9a-f]{32}, fold 0 of 5, 2 epochs, out-of-fold F2 0", report
    )
    assert "**alerted cell area 3 ha**" in report and "A cell counts whole" in report  # 3 cells of 0.9 ha
    assert "## Regions" in report and "| basin |" in report
    road = alerts[alerts["confidence"] == "retracted"].iloc[0]
    retracted = report.split("## Retracted alerts")[1].split("## Caveats")[0]
    assert f"| {road['alert_id']} | road |" in retracted and f"evidence/{road['alert_id']}.png" in retracted
    with Image.open(tmp_path / "out" / "evidence" / f"{road['alert_id']}.png") as image:
        panels = image.size[0] / image.size[1]
    assert panels > 2  # every date of the retracted cell, not just before and after
    compared = report.split("What each operating point would alert")[1].split("## Totals")[0]
    assert "| f2 | all | 2 | 3 |" in compared and "| precision | all |" in compared  # fields and a mine: 3 cells


def as_demo_model(checkpoint: Path, target: Path) -> Path:
    """The checkpoint as if trained on the embedded synthetic data set (its provenance says so)."""
    import torch

    content = torch.load(checkpoint, weights_only=True, map_location="cpu")
    root = str(target.parent / "data" / "synthetic-planet")
    trained_on = {"synthetic": True, "data": "the embedded synthetic data set", "root": root, "fold": 0, "num_folds": 5}
    content["hyper_parameters"]["trained_on"] = trained_on
    torch.save(content, target)
    return target


def test_a_demo_model_on_real_scenes_is_warned_about_and_the_report_says_so_first(
    tmp_path: Path, chips_by_tags: dict, trained_run: Path, caplog: pytest.LogCaptureFixture
) -> None:
    demo = as_demo_model(next((trained_run / "checkpoints").glob("best-*.ckpt")), tmp_path / "demo.ckpt")
    base = Predictor.of(str(demo), None, "d4", None)
    inside = tmp_path / "data" / "synthetic-planet" / "test-jpg"
    assert base.demo_warning("these chips", [inside]) is None  # its own data set's chips: what it is for
    assert "demo.ckpt was trained on the embedded synthetic data set" in base.demo_warning("these chips", [tmp_path])
    oracle = Oracle(**vars(base))
    caplog.set_level("WARNING")
    scenes = write_series(tmp_path, chips_by_tags, DATES[:3])
    summary = monitor(monitor_cfg(tmp_path, scenes), LOADER, oracle)
    report = (tmp_path / "out" / "report.md").read_text().splitlines()
    assert report[2] == f"> **Warning.** {summary['warning']}." and "means nothing" in report[2]
    assert summary["warning"] in caplog.text
    caplog.clear()
    map_cfg = [f"scene=[{scenes[0]}]", f"output_dir={tmp_path / 'map'}", f"chip_size={CHIP}"]
    map_scenes(compose_config("map", map_cfg, tmp_path / "hydra"), LOADER, oracle)
    assert "what it says of these scenes means nothing" in caplog.text
