"""The sensor study of `docs/results/sensors.md`: the same ground two ways, and the cost of a quad.

    python docs/sensor_study.py --ckpt <model.ckpt> [--chips ../shared/data/planet-dev] [--work DIR]

1. **The same area, two ways.** The series of `area_study.py` (real 256 px chips at 3 m in UTM,
   placed changes and cloud) is monitored (a) as those 8-bit GeoTIFFs and (b) as a NICFI-like
   month per date: reprojected to EPSG:3857 at 4.77 m, B, G, R, N by the inverse of the `nicfi`
   rendering with an alpha band, cut into 2 x 2 quads and listed in a STAC ItemCollection, read
   onto (a)'s grid through `sensor=nicfi`. It prints how the alert cells, the areas and the
   probabilities of every cell agree, and each cell where the alerts differ.
2. **A quad's cost.** One 4096 x 4096 NICFI-like quad of real chips (EPSG:3857 at 4.77 m near
   9 degrees south) mapped with `chip_size=auto` (stride = chip), without and with D4 TTA, each
   twice, interleaved: the command's wall time, the quad's own time in it (from its log: read,
   predicted, written), the start of Python with the libraries, and the time to read and prepare
   its chips alone (no model), on this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from area_study import DATES, SIDE, layouts, run, scenes, study_parser  # the same series

ROOT = Path(__file__).resolve().parents[1]
QUAD_PX = 4096


def alert_cells(folder: Path) -> pd.DataFrame:
    features = json.loads((folder / "alert_cells.geojson").read_text())["features"]
    columns = ["row", "col", "type", "first_seen", "confidence"]
    return pd.DataFrame([f["properties"] for f in features], columns=None).reindex(columns=columns)


def two_ways(ckpt: Path, chips: Path, work: Path, seed: int) -> dict:
    from amazon_cls.geo.imitate import as_nicfi_quad, quads_as_stac, split_in_quads

    work.mkdir(parents=True, exist_ok=True)
    labels = pd.read_csv(chips / "labels.csv", dtype=str, keep_default_na=False)
    dates, truth = layouts(labels, np.random.default_rng(seed))
    plain = scenes(chips / "images", dates, work)
    quads = {}
    for day, scene in zip(DATES, plain, strict=True):
        quads[day] = split_in_quads(as_nicfi_quad(scene, work / f"nicfi_{day}.tif"), work / "quads")
    items = quads_as_stac(quads, work / "items.json")
    common = [f"ckpt={ckpt}", "operating_point=f2"]
    started = time.perf_counter()
    run("amazon_cls.monitor", *common, f"scenes=[{','.join(map(str, plain))}]", f"output_dir={work / 'a'}")
    seconds_a = time.perf_counter() - started
    started = time.perf_counter()
    run(
        "amazon_cls.monitor",
        *common,
        f"scenes=[{items}]",
        "sensor=nicfi",
        f"grid={plain[0]}",
        f"output_dir={work / 'b'}",
    )
    seconds_b = time.perf_counter() - started
    a, b = alert_cells(work / "a"), alert_cells(work / "b")
    both = a.merge(b, on=["row", "col"], how="outer", suffixes=("_a", "_b"), indicator=True)
    same = both[(both["_merge"] == "both") & (both["type_a"] == both["type_b"])]
    history = [pd.read_csv(work / side / "history.csv").set_index(["date", "row", "col"]) for side in ("a", "b")]
    probs = [c for c in history[0].columns if c.startswith("p_")]
    gap = (history[0][probs] - history[1].loc[history[0].index, probs]).abs()
    changed = {c for c, t in truth.items() if t == "change"}
    summary = [json.loads((work / side / "monitor.json").read_text()) for side in ("a", "b")]
    differ = both[~both.index.isin(same.index)]
    return {
        "cells": SIDE * SIDE,
        "alert_cells_a": len(a),
        "alert_cells_b": len(b),
        "same_cell_and_type": len(same),
        "same_first_seen": int((same["first_seen_a"] == same["first_seen_b"]).sum()),
        "same_confidence": int((same["confidence_a"] == same["confidence_b"]).sum()),
        "right_a": int(sum(r * SIDE + c in changed for r, c in zip(a["row"], a["col"], strict=True))),
        "right_b": int(sum(r * SIDE + c in changed for r, c in zip(b["row"], b["col"], strict=True))),
        "area_ha_a": summary[0]["area_ha"],
        "area_ha_b": summary[1]["area_ha"],
        "prob_gap_mean": float(gap.to_numpy().mean()),
        "prob_gap_p99": float(np.quantile(gap.to_numpy(), 0.99)),
        "prob_gap_max": float(gap.to_numpy().max()),
        "tags_agree": float((history[0]["tags"] == history[1].loc[history[0].index, "tags"]).mean()),
        "seconds_a": round(seconds_a, 1),
        "seconds_b": round(seconds_b, 1),
        "differ": differ.drop(columns="_merge").to_dict(orient="records"),
    }


def quad_of_chips(chips: Path, target: Path, seed: int) -> Path:
    """A 4096 x 4096 NICFI-like quad of real chips (each 256 px chip once, at 4.77 m), EPSG:3857."""
    import rasterio
    from affine import Affine

    from amazon_cls.geo.imitate import NICFI_CRS, NICFI_PIXEL_M, reflectance

    names = sorted(p for p in (chips / "images").glob("*.jpg"))
    order = np.random.default_rng(seed).permutation(len(names))
    per_side = QUAD_PX // 256
    profile = {"driver": "GTiff", "width": QUAD_PX, "height": QUAD_PX, "count": 5, "dtype": "uint16"}
    profile.update(crs=NICFI_CRS, photometric="minisblack", tiled=True, compress="deflate")
    profile["transform"] = Affine(NICFI_PIXEL_M, 0, -6_000_000.0, 0, -NICFI_PIXEL_M, -1_000_000.0)  # near 9 S
    with rasterio.open(target, "w", **profile) as out:
        for k in range(per_side * per_side):
            rgb = np.asarray(Image.open(names[order[k % len(names)]]).convert("RGB")).transpose(2, 0, 1)
            bands = np.concatenate([reflectance(rgb.astype(np.float64)), np.full((1, 256, 256), 255, np.uint16)])
            row, col = divmod(k, per_side)
            out.write(bands, window=rasterio.windows.Window(col * 256, row * 256, 256, 256))
    return target


def chips_only_seconds(quad: Path, ckpt: Path) -> tuple[float, int]:
    """Reading and preparing every chip of the quad as `map` does (no model): seconds, chips."""
    from amazon_cls.geo.grid import Tiling, make_grid
    from amazon_cls.geo.scene import Scene
    from amazon_cls.geo.sensors import SENSORS
    from amazon_cls.geo.tiles import SceneTiles
    from amazon_cls.inference.predictor import Predictor

    predictor = Predictor.of(str(ckpt), None, "none", None)
    scene = Scene.open(quad, predictor.input_source(), sensor=SENSORS["nicfi"])
    grid = make_grid(scene, Tiling("auto", chip_extent_m=predictor.chip_extent_m()))
    tiles = SceneTiles(scene, grid, 32, batch_size=64, num_workers=os.cpu_count() or 1)
    tiles.setup("predict")
    started = time.perf_counter()
    for _ in tiles.predict_dataloader():
        pass
    return time.perf_counter() - started, len(grid.chips())


def logged_seconds(log: str) -> float:
    """The seconds between `map`'s "Mapping <scene>" line and its table of labels: the quad read,
    predicted and written, without the command's start (Python, the model, the Trainer)."""
    stamps = [
        datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
        for line in log.splitlines()
        if "amazon_cls.geo.mapping" in line and ("] - Mapping " in line or "chips per label" in line)
    ]
    return (stamps[-1] - stamps[0]).total_seconds()


def quad_cost(ckpt: Path, chips: Path, work: Path, seed: int) -> dict:
    quad = quad_of_chips(chips, work / "planet_medres_normalized_analytic_2020-09_mosaic.tif", seed)
    timings = {}
    for k, tta in enumerate(("none", "d4", "none", "d4")):  # interleaved, each twice, each mapped anew
        overrides = [f"ckpt={ckpt}", f"scene={quad}", "sensor=nicfi", f"tta={tta}", f"output_dir={work / str(k)}"]
        print("$ python -m amazon_cls.map", *overrides, flush=True)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "amazon_cls.map", *overrides], cwd=ROOT, check=True, capture_output=True, text=True
        )
        timings.setdefault(f"map_seconds_tta_{tta}", []).append(round(time.perf_counter() - started, 1))
        timings.setdefault(f"quad_seconds_tta_{tta}", []).append(round(logged_seconds(done.stdout + done.stderr), 1))
    prepared, count = chips_only_seconds(quad, ckpt)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import amazon_cls.map, torch, lightning"], cwd=ROOT, check=True)
    return {
        **timings,
        "start_seconds": round(time.perf_counter() - started, 1),
        "chips": count,
        "chips_only_seconds": round(prepared, 1),
    }


def main() -> None:
    parser = study_parser(__doc__)
    parser.add_argument("--skip", choices=("two_ways", "quad"), default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="amazon-cls-sensors-"))
    work.mkdir(parents=True, exist_ok=True)
    found = {}
    if args.skip != "two_ways":
        found["two_ways"] = two_ways(args.ckpt, args.chips, work / "two_ways", args.seed)
    if args.skip != "quad":
        (work / "quad").mkdir(exist_ok=True)
        found["quad"] = quad_cost(args.ckpt, args.chips, work / "quad", args.seed)
    print(json.dumps(found, indent=2, default=str))
    print(f"Everything is in {work}")


if __name__ == "__main__":
    main()
