"""Make the documentation's pictures from a real run, so that they can be made again (`make figures`).

    python docs/figures.py [--data planet_dev] [--epochs 15] [--out docs/images]

It trains the tiny model on a data config (`planet_dev`: the 623 real chips beside the checkout;
`planet`: the embedded synthetic set), builds a three-date series of georeferenced scenes from
chips of the run's validation fold (chips the model never trained on), with changes placed at the
second date, then runs `map` and `monitor` on them as a user would and draws:

- `pipeline.png`: scene -> grid -> chips -> probabilities -> cells -> alert;
- `map_preview.jpg`, `monitor_evidence.jpg`, `timeline.png`: the commands' own pictures;
- `training_curves.png`: the run's F2 and loss by epoch, read from its TensorBoard events;
- `dehaze_example.jpg`: a hazy chip before and after `data.dehaze`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SIDE = 6  # the scene is SIDE x SIDE chips
CHANGES = {(1, 1): "agriculture", (1, 4): "road", (3, 2): "habitation", (4, 4): "agriculture", (2, 0): "agriculture"}
REVERTED = {(2, 0)}  # forest again at the third date: a retracted alert
DATES = ("2016-06-01", "2016-07-01", "2016-08-01")


def run(module: str, *overrides: str) -> None:
    """`python -m amazon_cls.<module> <overrides>`, as a user runs it; stops on failure."""
    print("$ python -m", module, *overrides, flush=True)
    subprocess.run([sys.executable, "-m", module, *overrides], cwd=ROOT, check=True)


def chips_of(data_config: str) -> tuple[Path, pd.DataFrame]:
    """The data set's image folder and its labels (`image_name`, `tags`, as sets)."""
    from hydra import compose, initialize_config_module

    from amazon_cls.runtime.config import register_resolvers
    from amazon_cls.runtime.paths import set_project_root

    register_resolvers()
    set_project_root()
    with initialize_config_module("amazon_cls.conf", version_base="1.3"):
        cfg = compose("check", overrides=[f"data={data_config}"], return_hydra_config=True)
    root = Path(cfg.data.root) if cfg.data.root else ROOT / "data" / "synthetic-planet"
    labels = pd.read_csv(root / cfg.data.labels_csv, dtype=str, keep_default_na=False)
    labels["tags"] = labels["tags"].str.split().map(set)
    return root / (cfg.data.image_dir or "train-jpg"), labels


def load(folder: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(next(folder.glob(f"{name}.*"))).convert("RGB"))


def series(folder: Path, labels: pd.DataFrame, out_of_fold: set[str], work: Path) -> list[Path]:
    """Three dated scenes of forest chips; the placed changes at the second date, one reverted at the third."""
    from amazon_cls.data.synthetic import write_mosaic

    unseen = labels[labels["image_name"].isin(out_of_fold)]
    forest = [n for n, tags in zip(unseen["image_name"], unseen["tags"], strict=True) if tags == {"clear", "primary"}]
    changed = {}
    for cell, tag in CHANGES.items():
        names = [
            n for n, tags in zip(unseen["image_name"], unseen["tags"], strict=True) if tag in tags and "clear" in tags
        ]
        changed[cell] = names[len(changed) % len(names)]
    if len(forest) < SIDE * SIDE:
        raise SystemExit(f"the validation fold holds {len(forest)} clear primary chips; {SIDE * SIDE} are needed")
    base = {divmod(k, SIDE): forest[k] for k in range(SIDE * SIDE)}
    layouts = [base, {**base, **changed}, {**base, **{c: n for c, n in changed.items() if c not in REVERTED}}]
    scenes = []
    for day, layout in zip(DATES, layouts, strict=True):
        tiles = [load(folder, layout[divmod(k, SIDE)]) for k in range(SIDE * SIDE)]
        scenes.append(write_mosaic(work / f"area_{day}.tif", tiles, cols=SIDE))
    return scenes


def training_curves(run_dir: Path, out: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next((run_dir / "tensorboard").glob("*/fit"))))
    events.Reload()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    for tag, label in (
        ("val/f2", "fitted thresholds"),
        ("val/f2@0.2", "every label at 0.2"),
        ("val/f2_cross_fitted", "cross-fitted"),
    ):
        points = events.Scalars(tag)
        left.plot([p.step for p in points], [p.value for p in points], marker="o", label=label)
    left.set(title="validation F2 (TensorBoard: val/f2...)", xlabel="step")
    left.legend(fontsize=8)
    for tag in ("train/loss_step", "val/loss"):
        points = events.Scalars(tag)
        right.plot([p.step for p in points], [p.value for p in points], label=tag)
    right.set(title="loss", xlabel="step")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "training_curves.png", dpi=90)
    plt.close(fig)


def pipeline(scene: Path, chips_file: Path, preview: Path, evidence: Path, out: Path) -> None:
    """The pipeline in five panels, from the run's own files."""
    import geopandas as gpd
    import rasterio

    with rasterio.open(scene) as source:
        image = np.moveaxis(source.read(), 0, -1)
    size = image.shape[0] // SIDE
    chips = gpd.read_file(chips_file)
    probs = chips.sort_values(["row", "col"]).filter(like="p_").to_numpy()
    cell = next(iter(CHANGES))
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.6), gridspec_kw={"width_ratios": [1, 1, 0.8, 1, 1.6]})
    axes[0].imshow(image)
    axes[0].set_title("1. a scene")
    axes[1].imshow(image)
    for k in range(SIDE + 1):
        axes[1].axhline(k * size, color="white", lw=0.8)
        axes[1].axvline(k * size, color="white", lw=0.8)
    axes[1].add_patch(plt.Rectangle((cell[1] * size, cell[0] * size), size, size, fill=False, ec="red", lw=2))
    axes[1].set_title("2. a grid of chips")
    columns = [c for c in chips.columns if c.startswith("p_")]
    row = probs[cell[0] * SIDE + cell[1]]
    axes[2].barh([c[2:] for c in columns], row, color="tab:green")
    axes[2].invert_yaxis()
    axes[2].tick_params(axis="y", labelsize=6)
    axes[2].set_title("3. each chip's probabilities")
    axes[3].imshow(Image.open(preview))
    axes[3].set_title("4. cells by their labels")
    axes[4].imshow(Image.open(evidence))
    axes[4].set_title("5. a change between dates: an alert")
    for axis in axes[[0, 1, 3, 4]]:
        axis.axis("off")
    fig.tight_layout()
    fig.savefig(out / "pipeline.png", dpi=90)
    plt.close(fig)


def dehaze_example(folder: Path, labels: pd.DataFrame, out: Path) -> None:
    from amazon_cls.data.dehaze import dehaze

    name = next(n for n, tags in zip(labels["image_name"], labels["tags"], strict=True) if "haze" in tags)
    chip = load(folder, name)
    Image.fromarray(np.hstack([chip, dehaze(chip)])).save(out / "dehaze_example.jpg", quality=90)


def as_jpeg(source: Path, target: Path) -> None:
    """A picture as a JPEG: the repository keeps photographs small."""
    Image.open(source).convert("RGB").save(target, quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="planet_dev", help="a data config: planet_dev (real chips) or planet")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="amazon-cls-figures-"))
    run_dir = work / "run"
    run("amazon_cls.train", f"data={args.data}", f"trainer.max_epochs={args.epochs}", f"hydra.run.dir={run_dir}")
    ckpt = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    folder, labels = chips_of(args.data)
    out_of_fold = set(pd.read_csv(run_dir / "val_probs.csv", dtype={"image_name": str})["image_name"])
    scenes = series(folder, labels, out_of_fold, work)
    run("amazon_cls.map", f"ckpt={ckpt}", f"scene={scenes[1]}", f"output_dir={work / 'map'}")
    listed = ",".join(str(s) for s in scenes)
    run(
        "amazon_cls.monitor",
        f"ckpt={ckpt}",
        f"scenes=[{listed}]",
        "operating_point=f2",
        f"output_dir={work / 'monitor'}",
    )
    args.out.mkdir(parents=True, exist_ok=True)
    preview = work / "map" / f"{scenes[1].stem}_preview.png"
    evidence = max((work / "monitor" / "evidence").glob("*.png"), key=lambda p: p.stat().st_size)
    as_jpeg(preview, args.out / "map_preview.jpg")
    as_jpeg(evidence, args.out / "monitor_evidence.jpg")
    shutil.copy(work / "monitor" / "timeline.png", args.out / "timeline.png")
    training_curves(run_dir, args.out)
    pipeline(scenes[1], work / "map" / f"{scenes[1].stem}_chips.geojson", preview, evidence, args.out)
    dehaze_example(folder, labels, args.out)
    print(f"Wrote the pictures into {args.out}; the run and scenes are in {work}")


if __name__ == "__main__":
    main()
