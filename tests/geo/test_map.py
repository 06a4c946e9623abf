"""Mapping georeferenced scenes: a mosaic of the tiny data set's test chips in UTM zone 21S."""

from __future__ import annotations

import json
import logging
import os
import signal
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from PIL import Image
from rasterio.warp import transform as reproject_points

from amazon_cls.blending.combine import run_ensemble
from amazon_cls.core.labels import LABELS, PROB_COLUMNS
from amazon_cls.data.decode import read_chip
from amazon_cls.data.sources import SOURCES
from amazon_cls.data.synthetic import write_mosaic
from amazon_cls.geo import scene as scene_module
from amazon_cls.geo.grid import Tiling, make_grid
from amazon_cls.geo.scene import Scene, SceneError
from amazon_cls.geo.tiles import SceneChips
from amazon_cls.map import run as map_scenes
from amazon_cls.predict import run as predict
from tests.helpers import PRINTED_TOLERANCE, TINY_DATA, compose_config, run_module

JPG = SOURCES["jpg"]
CHIP = TINY_DATA["size"]
CRS = "EPSG:32721"  # WGS 84 / UTM zone 21S: the Amazon near Manaus
ORIGIN = (500_000.0, 9_650_000.0)  # upper left corner, metres
PIXEL = 3.0  # metres, like Planet's scenes
ROWS, COLS = 5, 4  # chip rows and columns; the last chip row is a nodata band


def mosaic_chips(tiny_root: Path) -> list[np.ndarray | None]:
    """The first ROWS - 1 rows of test chips, then a row of nodata chips."""
    chips = [read_chip(path, JPG) for path in sorted((tiny_root / "test-jpg").glob("*.jpg"))]
    return [*chips[: (ROWS - 1) * COLS], *[None] * COLS]


def write_scene(path: Path, bands: np.ndarray, crs: str | None = CRS) -> Path:
    """A one-chip-per-scene GeoTIFF of `bands` (count, height, width)."""
    return write_mosaic(path, [bands.transpose(1, 2, 0)], cols=1, crs=crs, origin=ORIGIN, pixel=PIXEL)


@pytest.fixture(scope="module")
def scenes(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The mosaic as a visual product (R, G, B, 8-bit) and as an analytic one (B, G, R, NIR, 16-bit)."""
    folder = tmp_path_factory.mktemp("scenes")
    chips = mosaic_chips(tiny_root)
    analytic = [
        None if rgb is None else np.dstack([rgb[..., ::-1], rgb.mean(2).astype(np.uint8)]).astype(np.uint16) * 257
        for rgb in chips
    ]
    mosaic = lambda name, tiles: write_mosaic(folder / name, tiles, COLS, CRS, ORIGIN, PIXEL)  # noqa: E731
    return {"visual": mosaic("visual.tif", chips), "analytic": mosaic("analytic.tif", analytic)}


@pytest.fixture(scope="module")
def checkpoint(trained_run: Path) -> Path:
    return next((trained_run / "checkpoints").glob("best-*.ckpt"))


def map_overrides(output_dir: Path, *extra: str) -> list[str]:
    return [
        f"output_dir={output_dir}",
        f"chip_size={CHIP}",
        "num_workers=0",  # stride: chip_size by default
        "trainer.enable_progress_bar=false",
        *extra,
    ]


def run_map(tmp_path: Path, *overrides: str) -> dict:
    return map_scenes(compose_config("map", list(overrides), tmp_path / "hydra"))


def read_features(path: Path) -> pd.DataFrame:
    collection = json.loads(path.read_text())
    rows = [{**f["properties"], "ring": f["geometry"]["coordinates"][0]} for f in collection["features"]]
    return pd.DataFrame(rows).set_index([pd.Index([f"r{r['row']}_c{r['col']}" for r in rows])])


def predict_cut_chips(tmp_path: Path, scene: Path, source: str) -> pd.DataFrame:
    """`predict` on every chip window of the scene cut out as a lossless file."""
    folder = tmp_path / "cut"
    folder.mkdir()
    with rasterio.open(scene) as raster:
        rgb = raster.read([1, 2, 3]).transpose(1, 2, 0)
    for row in range(ROWS - 1):
        for col in range(COLS):
            window = rgb[row * CHIP : (row + 1) * CHIP, col * CHIP : (col + 1) * CHIP]
            Image.fromarray(window).save(folder / f"r{row}_c{col}.png")
    output = tmp_path / "cut.csv"
    predict(
        compose_config(
            "predict",
            [source, f"input={folder}", f"output={output}", "num_workers=0", "trainer.enable_progress_bar=false"],
            tmp_path / "hydra_predict",
        )
    )
    tags = pd.read_csv(output).set_index("image_name")["tags"].fillna("")
    probs = pd.read_csv(tmp_path / "cut_probs.csv").set_index("image_name")
    return probs.assign(tags=tags)


def test_map_tags_equal_predict_on_the_same_chips_cut_out(tmp_path: Path, scenes: dict, checkpoint: Path) -> None:
    summaries = run_map(tmp_path, f"ckpt={checkpoint}", f"scene={scenes['visual']}", *map_overrides(tmp_path / "out"))
    features = read_features(tmp_path / "out" / "visual_chips.geojson")
    expected = predict_cut_chips(tmp_path, scenes["visual"], f"ckpt={checkpoint}")
    assert sorted(features.index) == sorted(expected.index)  # the nodata row is skipped
    features = features.loc[expected.index]
    assert list(features["tags"]) == list(expected["tags"].str.strip())
    np.testing.assert_allclose(features[PROB_COLUMNS].to_numpy(), expected[PROB_COLUMNS].to_numpy(), atol=1e-5)
    summary = summaries[str(scenes["visual"])].set_index("label")
    tagged = features["tags"].str.split().explode().value_counts()
    assert summary["chips"].to_dict() == {label: int(tagged.get(label, 0)) for label in LABELS}
    hectares_per_chip = (CHIP * PIXEL) ** 2 / 1e4
    np.testing.assert_allclose(summary["hectares"], summary["chips"] * hectares_per_chip)


def test_polygons_fall_exactly_on_the_chip_windows(tmp_path: Path, scenes: dict, checkpoint: Path) -> None:
    run_map(tmp_path, f"ckpt={checkpoint}", f"scene={scenes['visual']}", *map_overrides(tmp_path))
    collection = json.loads((tmp_path / "visual_chips.geojson").read_text())
    assert collection["scene_crs"] == CRS
    for feature in collection["features"]:
        ring = np.array(feature["geometry"]["coordinates"][0])
        xs, ys = reproject_points("EPSG:4326", CRS, ring[:, 0].tolist(), ring[:, 1].tolist())
        left, top = (
            ORIGIN[0] + feature["properties"]["col"] * CHIP * PIXEL,
            ORIGIN[1] - feature["properties"]["row"] * CHIP * PIXEL,
        )
        right, bottom = left + CHIP * PIXEL, top - CHIP * PIXEL
        polygon = shapely.Polygon(np.column_stack([xs, ys]))
        assert shapely.symmetric_difference(polygon, shapely.box(left, bottom, right, top)).area < 1e-3  # m²
        assert shapely.LinearRing(ring).is_ccw  # RFC 7946


def test_label_raster_matches_the_scene(tmp_path: Path, scenes: dict, checkpoint: Path) -> None:
    run_map(tmp_path, f"ckpt={checkpoint}", f"scene={scenes['visual']}", *map_overrides(tmp_path))
    features = read_features(tmp_path / "visual_chips.geojson")
    with rasterio.open(scenes["visual"]) as scene, rasterio.open(tmp_path / "visual_labels.tif") as labels:
        assert labels.crs == scene.crs
        assert labels.transform == scene.transform @ Affine.scale(CHIP)
        assert labels.descriptions == LABELS
        assert (labels.height, labels.width, labels.count) == (ROWS, COLS, len(LABELS))
        bands = labels.read()
        assert (bands[:, ROWS - 1] == labels.nodata).all()  # the nodata band of the scene
    for _, row in features.iterrows():
        np.testing.assert_allclose(bands[:, row["row"], row["col"]], row[PROB_COLUMNS].to_numpy(float), atol=1e-6)
    preview = Image.open(tmp_path / "visual_preview.png")
    assert preview.width > 200 and preview.height > 200


def test_analytic_16bit_scene_maps_like_the_visual_one(tmp_path: Path, scenes: dict, checkpoint: Path) -> None:
    for kind in ("visual", "analytic"):
        run_map(tmp_path, f"ckpt={checkpoint}", f"scene={scenes[kind]}", *map_overrides(tmp_path))
    visual, analytic = (read_features(tmp_path / f"{kind}_chips.geojson") for kind in ("visual", "analytic"))
    assert list(analytic["tags"]) == list(visual["tags"])
    np.testing.assert_allclose(analytic[PROB_COLUMNS].to_numpy(float), visual[PROB_COLUMNS].to_numpy(float), atol=1e-6)


def test_an_ensemble_maps_as_it_predicts(tmp_path: Path, scenes: dict, trained_run: Path, tiny_root: Path) -> None:
    run_ensemble([trained_run], tmp_path / "ensemble")
    source = f"ensemble={tmp_path / 'ensemble'}"
    run_map(tmp_path, source, f"scene={scenes['visual']}", *map_overrides(tmp_path / "out"))
    features = read_features(tmp_path / "out" / "visual_chips.geojson")
    expected = predict_cut_chips(tmp_path, scenes["visual"], source)
    assert list(features.loc[expected.index, "tags"]) == list(expected["tags"].str.strip())
    # predict ensemble= combines new chips as `ensemble` combined its members' test predictions
    output = tmp_path / "again.csv"
    # (in fp32, as the members predicted their test chips)
    overrides = [
        source,
        f"input={tiny_root / 'test-jpg'}",
        f"output={output}",
        "num_workers=0",
        "trainer.enable_progress_bar=false",
        "trainer.precision=32",
    ]
    predict(compose_config("predict", overrides, tmp_path / "hydra_again"))
    combined = pd.read_csv(tmp_path / "ensemble" / "submission_probs.csv").set_index("image_name").sort_index()
    again = pd.read_csv(tmp_path / "again_probs.csv").set_index("image_name").sort_index()
    np.testing.assert_allclose(again[PROB_COLUMNS].to_numpy(), combined[PROB_COLUMNS].to_numpy(), atol=1e-6)


def test_a_mapped_scene_is_not_mapped_again(tmp_path: Path, scenes: dict, checkpoint: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    overrides = [f"ckpt={checkpoint}", f"scene={scenes['visual']}", *map_overrides(tmp_path)]
    assert run_map(tmp_path, *overrides)
    assert run_map(tmp_path, *overrides) == {}
    assert "already mapped with these settings" in caplog.text
    assert run_map(tmp_path, *overrides, "tta=none")  # other settings: mapped again


def test_windowed_reading_never_loads_the_whole_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scene 32 strips (and 64 chip rows) tall: the grid and the chips are read a strip or a
    window at a time, so the peak stays far below the scene's size."""
    monkeypatch.setattr(scene_module, "STRIP_ROWS", 128)
    side, chip = 1024, 64
    rng = np.random.default_rng(0)
    parts = [rng.integers(1, 256, (side, side, 3), dtype=np.uint8) for _ in range(4)]
    path = write_mosaic(tmp_path / "large.tif", parts, cols=1)  # 4 x 1024 rows, 1024 columns
    scene_bytes = sum(part.nbytes for part in parts)
    del parts
    tracemalloc.start()
    scene = Scene.open(path, JPG)
    grid = make_grid(scene, Tiling(chip, chip))
    chips = SceneChips(scene, grid, image_size=32)
    for start in range(0, len(chips), 64):
        chips.__getitems__(list(range(start, min(start + 64, len(chips)))))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(chips) == (4 * side // chip) * (side // chip)
    assert peak < scene_bytes / 8, f"peak {peak / 1e6:.1f} MB for a {scene_bytes / 1e6:.1f} MB scene"


def test_scenes_are_read_under_a_block_cache_of_megabytes() -> None:
    """rasterio hands an integer GDAL_CACHEMAX to GDAL in bytes: "64" meant 64 bytes, under which
    each window warped from another grid decoded its source blocks again (10x slower)."""
    from rasterio.env import get_gdal_config

    with scene_module.reading():
        assert get_gdal_config("GDAL_CACHEMAX") >= 16 * 2**20


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no_crs", "the raster has no CRS; give one with crs="),
        ("two_bands", "2 bands; the model takes 3 .red, green, blue. and reads scenes of 3 bands"),
        ("too_small", "is larger than the scene"),
        ("not_raster", "not a raster GDAL can read"),
        ("same_name", "twice: their outputs"),
    ],
)
def test_bad_scenes_get_errors_that_name_the_file(tmp_path: Path, checkpoint: Path, case: str, message: str) -> None:
    pixels = np.full((3, 64, 64), 100, np.uint8)
    path = tmp_path / f"{case}.tif"
    if case == "no_crs":
        write_scene(path, pixels, crs=None)
    elif case == "two_bands":
        write_scene(path, pixels[:2])
    elif case == "too_small":
        write_scene(path, pixels[:, :16, :16])
    elif case == "same_name":  # two scenes whose outputs would have the same names
        (tmp_path / "other").mkdir()
        write_scene(path, pixels)
        write_scene(tmp_path / "other" / path.name, pixels)
        path = f"[{path},{tmp_path / 'other' / path.name}]"
    else:
        path.write_text("image_name,tags\n")
    with pytest.raises(ValueError if case == "same_name" else SceneError, match=message) as raised:
        run_map(tmp_path, f"ckpt={checkpoint}", f"scene={path}", *map_overrides(tmp_path))
    assert (case == "same_name" and "'same_name'" in str(raised.value)) or str(path) in str(raised.value)
    if case == "no_crs":  # allowed with an explicit CRS
        assert run_map(tmp_path, f"ckpt={checkpoint}", f"scene={path}", f"crs={CRS}", *map_overrides(tmp_path))


@pytest.mark.slow
def test_two_process_ddp_maps_two_scenes_like_one_process(tmp_path: Path, scenes: dict, checkpoint: Path) -> None:
    """trainer=ddp_cpu from the command line: 2 gloo processes share each scene's chips."""
    scene_list = f"scene=[{scenes['visual']},{scenes['analytic']}]"
    for trainer in ("cpu", "ddp_cpu"):
        run_module(
            "amazon_cls.map",
            f"ckpt={checkpoint}",
            scene_list,
            *map_overrides(tmp_path / trainer),
            f"trainer={trainer}",
            "trainer.precision=32",
            f"hydra.run.dir={tmp_path / trainer}",
        )
    for kind in ("visual", "analytic"):
        one, two = (read_features(tmp_path / trainer / f"{kind}_chips.geojson") for trainer in ("cpu", "ddp_cpu"))
        assert list(two.index) == list(one.index) and list(two["tags"]) == list(one["tags"])
        np.testing.assert_allclose(
            two[PROB_COLUMNS].to_numpy(float), one[PROB_COLUMNS].to_numpy(float), atol=PRINTED_TOLERANCE
        )


@pytest.mark.parametrize(
    ("tiling", "expected", "last_row_kept"),
    [
        (Tiling(48, 48, edge="pad"), (4, 3, 48, 48), False),  # the last row and column reach past the edge
        (Tiling(48, 48, edge="skip"), (3, 2, 48, 48), True),  # whole chips only; rows 96-144 are 2/3 valid
        (Tiling(32, 16), (9, 7, 32, 16), False),  # overlapping chips
        (Tiling(32, 32, resolution=2 * PIXEL), (3, 2, 64, 64), False),  # a chip covers 32 pixels of 6 m
    ],
)
def test_chip_grid(scenes: dict, tiling: Tiling, expected: tuple, last_row_kept: bool) -> None:
    grid = make_grid(Scene.open(scenes["visual"], JPG), tiling)  # 128 x 160 px, the last 32 rows nodata
    assert (grid.rows, grid.cols, grid.window_size, grid.step) == expected
    assert grid.kept[0].all()
    assert grid.kept[-1].all() if last_row_kept else not grid.kept[-1].any()


def test_sigterm_stops_a_map_with_status_143_and_nothing_written(
    tmp_path: Path, scenes: dict, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lightning only notes a SIGTERM outside training; the map stops at the next batch, writes
    nothing for the scene, and exits as a shell reports SIGTERM."""
    read = SceneChips.read_window

    def read_then_terminate(self: SceneChips, window):
        os.kill(os.getpid(), signal.SIGTERM)  # Lightning's handler sets trainer.received_sigterm
        return read(self, window)

    monkeypatch.setattr(SceneChips, "read_window", read_then_terminate)
    with pytest.raises(SystemExit) as stopped:
        run_map(tmp_path, f"ckpt={checkpoint}", f"scene={scenes['visual']}", *map_overrides(tmp_path / "out"))
    assert stopped.value.code == 143
    assert (
        not (tmp_path / "out" / "visual_map.json").exists() and not (tmp_path / "out" / "visual_chips.geojson").exists()
    )


def test_a_new_output_format_is_one_registered_writer(tmp_path: Path, scenes: dict, checkpoint: Path) -> None:
    """Chip centres as a CSV: registered, chosen with outputs=[...], and only the chosen formats written."""
    from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult

    def write_centres(path: Path, result: SceneResult) -> None:
        boxes = result.cell_boxes()
        xs, ys = result.scene.transform * ((boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2)
        pd.DataFrame({"x": xs, "y": ys, "tags": result.tags()}).to_csv(path, index=False)

    OUTPUTS.register("centres")(Output("_centres.csv", write_centres))
    try:
        run_map(
            tmp_path,
            f"ckpt={checkpoint}",
            f"scene={scenes['visual']}",
            "outputs=[chips,centres]",
            *map_overrides(tmp_path / "out"),
        )
        written = sorted(path.name for path in (tmp_path / "out").iterdir())
        assert written == ["visual_centres.csv", "visual_chips.geojson", "visual_chips.qml", "visual_map.json"]
        centres = pd.read_csv(tmp_path / "out" / "visual_centres.csv")
        assert len(centres) == (ROWS - 1) * COLS and centres["x"].min() == ORIGIN[0] + CHIP * PIXEL / 2
    finally:
        OUTPUTS._entries.pop("centres")


def test_options_round_trip_through_an_ensemble_and_a_map(tmp_path: Path, tiny_root: Path, scenes: dict) -> None:
    """pos_weight=auto (a loss with buffers) and a rare-label specialist: trained, ensembled, then
    applied to new chips by `predict ensemble=` and `map ensemble=`."""
    from amazon_cls.train import run as train
    from tests.helpers import compose_train, tiny_overrides

    short = [
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "callbacks.tensorboard_extras=null",
        f"predict_dirs=[{tiny_root / 'test-jpg'}]",
    ]
    for name, option in (("weighted", "model.loss.pos_weight=auto"), ("rare", "experiment=rare_specialist")):
        train(compose_train([*tiny_overrides(tiny_root), *short, option], tmp_path / name))
    run_ensemble([tmp_path / "weighted"], tmp_path / "ensemble", specialists=[tmp_path / "rare"])
    common = [f"ensemble={tmp_path / 'ensemble'}", "num_workers=0", "trainer.enable_progress_bar=false"]
    predict(
        compose_config(
            "predict",
            [*common, f"input={tiny_root / 'test-jpg'}", f"output={tmp_path / 'sub.csv'}"],
            tmp_path / "hydra_predict",
        )
    )
    assert len(pd.read_csv(tmp_path / "sub.csv")) == TINY_DATA["num_test"]
    summaries = run_map(
        tmp_path, *common, f"scene={scenes['visual']}", f"output_dir={tmp_path / 'map'}", f"chip_size={CHIP}"
    )
    assert summaries[str(scenes["visual"])]["chips"].sum() > 0


def test_the_qgis_ready_outputs(tmp_path: Path, scenes: dict, checkpoint: Path) -> None:
    """A GeoPackage of the cells, a one-band class raster with its colour table, a georeferenced preview."""
    import xml.etree.ElementTree as ET

    import geopandas as gpd

    from amazon_cls.core.labels import ALARMS

    run_map(
        tmp_path,
        f"ckpt={checkpoint}",
        f"scene={scenes['visual']}",
        "outputs=[chips,gpkg,classes,overlay]",
        *map_overrides(tmp_path / "out"),
    )
    cells = gpd.read_file(tmp_path / "out" / "visual_chips.gpkg", layer="chips")
    assert len(cells) == (ROWS - 1) * COLS and cells.crs.to_string() == CRS
    assert cells["is_primary"].dtype == bool and {"tags", "p_primary", "alarm"} <= set(cells.columns)
    assert set(cells["alarm"]) <= {"none", *ALARMS}
    style = ET.parse(tmp_path / "out" / "visual_chips.qml").getroot().find("renderer-v2")
    assert style.get("attr") == "alarm" and {c.get("value") for c in style.iter("category")} == set(ALARMS)
    with rasterio.open(tmp_path / "out" / "visual_classes.tif") as raster, rasterio.open(scenes["visual"]) as scene:
        classes = raster.read(1)
        assert set(np.unique(classes)) <= {*range(8), 255} and (classes[-1] == 255).all()  # the nodata row
        assert raster.colormap(1)[1][:3] == (0xE4, 0x1A, 0x1C) and raster.tags(1)["1"] == "mines"
        assert raster.bounds == scene.bounds
    palette = ET.parse(tmp_path / "out" / "visual_classes.qml").getroot().find("pipe/rasterrenderer")
    assert palette.get("type") == "paletted"
    entries = {int(e.get("value")): (e.get("label"), int(e.get("alpha"))) for e in palette.iter("paletteEntry")}
    assert entries[0] == ("none", 0) and entries[1] == ("mines", 255) and len(entries) == 8  # "none" transparent

    aux = ET.parse(tmp_path / "out" / "visual_classes.tif.aux.xml").getroot()
    assert [c.text or "" for c in aux.iter("Category")][:2] == ["none", "mines"]  # GDAL's category names
    with rasterio.open(tmp_path / "out" / "visual_preview.tif") as overlay, rasterio.open(scenes["visual"]) as scene:
        assert overlay.count == 3 and overlay.crs == scene.crs
        np.testing.assert_allclose(overlay.bounds, scene.bounds)


def test_a_stride_larger_than_the_chip_is_refused_not_counted_as_seen(tmp_path: Path, scenes: dict) -> None:
    """Cells would cover ground no chip saw (stride 512 with 256 px chips saw 44% of a scene)."""
    with pytest.raises(ValueError, match=r"stride=64 is larger than chip_size=32: the ground between chips"):
        Tiling(32, 64)
    from amazon_cls.runtime.schema import check_config
    from tests.helpers import schema_of

    scene = next(iter(scenes.values()))
    cfg = compose_config("map", ["ckpt=pyproject.toml", f"scene={scene}", "chip_size=32", "stride=48"], tmp_path)
    with pytest.raises(ValueError, match=r"stride=48 is larger than chip_size=32"):
        check_config(cfg, schema_of("map"))
    assert Tiling(32, 32).stride == 32 and Tiling(32, 16).stride == 16  # side by side, and overlapping: both fine
