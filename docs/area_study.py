"""The area study of `docs/results/area.md`: monitor a series built from real chips with placed
changes, sample it, review the sample from what was placed, and estimate the area, as a user would.

    python docs/area_study.py --ckpt <model.ckpt> [--chips ../shared/data/planet-dev] [--work DIR]
        [--screenshot docs/images/review_page.png]

The scene is SIDE x SIDE cells of real 256 px chips (3 m pixels: 59 ha cells) at three dates:
forest everywhere but fields that were always there (`other`), forest lost at the second date (some
of it forest again at the third: no loss over the period) and at the third, cells under cloud at
the second date, and cells under cloud at every date (unobservable). The truth of each cell is
known, so the reviewer's `reference` is filled from it: what a perfect reviewer would say.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SIDE = 20
DATES = ("2016-06-01", "2016-07-01", "2016-08-01")
CHANGE_TAGS = ("agriculture", "road", "habitation", "bare_ground", "slash_burn", "artisinal_mine")
PLACED = {"fields": 40, "lost_2": 50, "reverted": 12, "lost_3": 15, "cloud_2": 20, "cloud_always": 8}


def run(module: str, *overrides: str) -> None:
    print("$ python -m", module, *overrides, flush=True)
    subprocess.run([sys.executable, "-m", module, *overrides], cwd=ROOT, check=True)


def layouts(labels: pd.DataFrame, rng: np.random.Generator) -> tuple[list[list[str]], dict[int, str]]:
    """Each date's chip per cell, and each cell's truth (change, no_change, or unknown under cloud)."""
    tags = labels.set_index("image_name")["tags"].str.split().map(set)
    forest = [n for n, t in tags.items() if t == {"clear", "primary"}]
    cloudy = [n for n, t in tags.items() if "cloudy" in t]
    changed = [n for n, t in tags.items() if "clear" in t and set(CHANGE_TAGS) & t]
    fields = [n for n, t in tags.items() if "clear" in t and "agriculture" in t]
    cells = rng.permutation(SIDE * SIDE)
    groups, start = {}, 0
    for name, count in PLACED.items():
        groups[name], start = cells[start : start + count], start + count
    base = [str(rng.choice(forest)) for _ in range(SIDE * SIDE)]
    dates = [list(base), list(base), list(base)]
    truth = dict.fromkeys(range(SIDE * SIDE), "no_change")
    for cell in groups["fields"]:
        chip = str(rng.choice(fields))
        for layout in dates:
            layout[cell] = chip
    for cell in (*groups["lost_2"], *groups["reverted"]):
        chip = str(rng.choice(changed))
        dates[1][cell], dates[2][cell] = chip, chip
        truth[cell] = "change"
    for cell in groups["reverted"]:
        dates[2][cell], truth[cell] = base[cell], "no_change"  # forest again: nothing lost over the period
    for cell in groups["lost_3"]:
        dates[2][cell], truth[cell] = str(rng.choice(changed)), "change"
    for cell in groups["cloud_2"]:
        dates[1][cell] = str(rng.choice(cloudy))
    for cell in groups["cloud_always"]:
        for layout in dates:
            layout[cell] = str(rng.choice(cloudy))
        truth[cell] = "unknown"
    return dates, truth


def scenes(folder: Path, dates: list[list[str]], work: Path) -> list[Path]:
    from amazon_cls.data.synthetic import write_mosaic

    written = []
    for day, layout in zip(DATES, dates, strict=True):
        tiles = [np.asarray(Image.open(folder / f"{name}.jpg").convert("RGB")) for name in layout]
        written.append(write_mosaic(work / f"area_{day}.tif", tiles, cols=SIDE))
    return written


def screenshot(page: Path, target: Path) -> None:
    """The review page as a reviewer sees it, in headless chromium."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1000,720"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(page.as_uri())
        time.sleep(1)
        driver.save_screenshot(str(target))
    finally:
        driver.quit()


def estimate(work: Path, seed: int, overrides: list[str], truth: dict[int, str]) -> dict:
    """Draw the sample `seed`, review it from the truth, estimate: the change row of area.csv."""
    folder = work / f"sample_{seed}"
    run("amazon_cls.sample", f"monitor={work / 'monitor'}", f"output_dir={folder}", f"seed={seed}", *overrides)
    units = pd.read_csv(folder / "sample.csv", dtype=str, keep_default_na=False)
    cell = units["row"].astype(int) * SIDE + units["col"].astype(int)
    units["reference"] = [truth[c] if truth[c] != "unknown" else "unclear" for c in cell]
    units.to_csv(folder / "reviewed.csv", index=False)
    strata = f"strata={folder / 'strata.csv'}"
    run("amazon_cls.area", f"sample={folder / 'reviewed.csv'}", strata, f"output_dir={folder / 'area'}")
    change = pd.read_csv(folder / "area" / "area.csv").set_index("class").loc["change"]
    return {**change.to_dict(), "units": len(units)}


def study_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments every study on planet-dev chips takes: the model, the chips, a folder, a seed."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--chips", type=Path, default=ROOT.parent / "shared" / "data" / "planet-dev")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main() -> None:
    parser = study_parser(__doc__)
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--sample", nargs="*", default=[], help="sample's overrides (size=120 target_se=null ...)")
    parser.add_argument("--seeds", type=int, default=1, help="draw this many samples (seed 0, 1, ...) of the one map")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="amazon-cls-area-"))
    work.mkdir(parents=True, exist_ok=True)
    labels = pd.read_csv(args.chips / "labels.csv", dtype=str, keep_default_na=False)
    dates, truth = layouts(labels, np.random.default_rng(args.seed))
    listed = ",".join(map(str, scenes(args.chips / "images", dates, work)))
    run(
        "amazon_cls.monitor",
        f"ckpt={args.ckpt}",
        f"scenes=[{listed}]",
        "operating_point=f2",
        f"output_dir={work / 'monitor'}",
    )
    cells = pd.read_csv(work / "monitor" / "cells.csv")
    true_ha = float(cells["area_ha"][[c for c, t in truth.items() if t == "change"]].sum())
    found = [estimate(work, seed, args.sample, truth) for seed in range(args.seeds)]
    covered = sum(row["ci95_low_ha"] <= true_ha <= row["ci95_high_ha"] for row in found)
    print(json.dumps({"true_change_ha": true_ha, "first": found[0], "covered": f"{covered} of {len(found)}"}, indent=2))
    print(pd.read_csv(work / "sample_0" / "area" / "accuracy.csv").to_string(index=False))
    if args.screenshot:
        screenshot(work / "sample_0" / "review.html", args.screenshot)
    print(f"Everything is in {work}")


if __name__ == "__main__":
    main()
