"""The embedded default data set: Planet-like chips generated deterministically from a seed.

A fresh machine has no Kaggle data, so `python -m amazon_cls.train` trains on this. It follows the
real label rules (exactly one weather label; cloudy chips carry nothing else; rare labels rare, yet
each present often enough for 5 stratified folds) and paints each label with a cue a CNN can learn:
forest texture, field rectangles, road lines, rivers, roofs, pits, smoke, haze, clouds.
It is written in the Kaggle layout as 4-component (CMYK) JPEGs, like the real chips.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from amazon_cls.core.labels import LABELS, RARE
from amazon_cls.data.decode import encode_cmyk_jpeg
from amazon_cls.data.layout import DECLARATION

PIXEL_M = 3.0  # the ground size of a synthetic chip's pixel, as the Kaggle chips' (write_mosaic's default)

WEATHER_PROBS = {"clear": 0.70, "partly_cloudy": 0.16, "haze": 0.07, "cloudy": 0.07}
LAND_PROBS = {
    "primary": 0.93,
    "agriculture": 0.32,
    "road": 0.22,
    "water": 0.19,
    "cultivation": 0.11,
    "habitation": 0.09,
    "bare_ground": 0.03,
    "artisinal_mine": 0.010,
    "blooming": 0.008,
    "blow_down": 0.004,
    "conventional_mine": 0.004,
    "selective_logging": 0.008,
    "slash_burn": 0.006,
}
MIN_RARE_CHIPS = 12  # enough for every label to reach every one of 5 folds

Image = np.ndarray  # float32 (H, W, 3) in [0, 1] while painting


def sample_tags(rng: np.random.Generator) -> set[str]:
    """Draw one chip's labels following the real co-occurrence rules."""
    weather = str(rng.choice(list(WEATHER_PROBS), p=list(WEATHER_PROBS.values())))
    if weather == "cloudy":
        return {"cloudy"}
    tags = {weather} | {label for label, p in LAND_PROBS.items() if rng.random() < p}
    if "cultivation" in tags and rng.random() < 0.8:
        tags.add("agriculture")
    if "habitation" in tags and rng.random() < 0.7:
        tags.add("road")
    return tags


def ensure_rare_labels(tag_sets: list[set[str]], rng: np.random.Generator) -> None:
    """Add rare labels to random non-cloudy chips until each has MIN_RARE_CHIPS chips."""
    candidates = [i for i, tags in enumerate(tag_sets) if "cloudy" not in tags]
    for label in RARE:
        missing = MIN_RARE_CHIPS - sum(label in tags for tags in tag_sets)
        for i in rng.choice(candidates, size=max(missing, 0), replace=False):
            tag_sets[i].add(label)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean smooth noise in about [-1, 1], with `cells` blobs across the chip."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC) / 2.0


def _blend(image: Image, mask: np.ndarray, colour: tuple[float, float, float], alpha: float = 1.0) -> None:
    weight = (mask.astype(np.float32) * alpha)[..., None]
    image[:] = image * (1 - weight) + np.asarray(colour, dtype=np.float32) * weight


def _blob_mask(rng: np.random.Generator, size: int, radius: float, cells: int = 4) -> np.ndarray:
    """An irregular blob of about `radius` pixels at a random place."""
    cy, cx = rng.uniform(radius, size - radius, 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    distance = np.hypot(yy - cy, xx - cx) / radius
    return distance + 0.35 * _smooth_noise(rng, size, cells) < 1.0


def _line_mask(rng: np.random.Generator, size: int, width: int, bend: float = 0.0) -> np.ndarray:
    """A line (straight or winding) crossing the chip."""
    mask = np.zeros((size, size), np.uint8)
    start, end = rng.uniform(0, size, 2), rng.uniform(0, size, 2)
    if rng.random() < 0.5:
        start[0], end[0] = 0, size
    else:
        start[1], end[1] = 0, size
    t = np.linspace(0, 1, 24)[:, None]
    points = start + (end - start) * t
    normal = np.array([-(end - start)[1], (end - start)[0]]) / (np.linalg.norm(end - start) + 1e-6)
    points += normal * bend * size * np.sin(t * np.pi * rng.uniform(1, 3) + rng.uniform(0, np.pi))
    cv2.polylines(mask, [points.astype(np.int32)], False, 1, thickness=width)
    return mask.astype(bool)


def _paint_fields(image: Image, rng: np.random.Generator, count: int, colours: list[tuple]) -> None:
    size = image.shape[0]
    for _ in range(count):
        h, w = rng.integers(size // 5, size // 2, 2)
        y, x = rng.integers(0, size - h), rng.integers(0, size - w)
        colour = colours[rng.integers(len(colours))]
        patch = np.asarray(colour, np.float32) + 0.03 * rng.standard_normal(3).astype(np.float32)
        image[y : y + h, x : x + w] = patch


def _paint_dots(image: Image, rng: np.random.Generator, count: int, colour: tuple, radius: int, near=None) -> None:
    size = image.shape[0]
    canvas = np.zeros((size, size), np.uint8)
    for _ in range(count):
        if near is not None:
            centre = np.clip(near + rng.normal(0, size / 10, 2), 0, size - 1)
        else:
            centre = rng.uniform(0, size, 2)
        cv2.circle(canvas, (int(centre[1]), int(centre[0])), radius, 1, thickness=-1)
    _blend(image, canvas.astype(bool), colour)


def _ground(rng: np.random.Generator, size: int, forest: bool) -> np.ndarray:
    """The chip's ground before any cue: textured green canopy, or smooth bare soil."""
    texture = _smooth_noise(rng, size, size // 4)
    if forest:
        base = np.array([0.10, 0.24, 0.11], np.float32)
        return base + 0.05 * texture[..., None] + 0.02 * rng.standard_normal((size, size, 1)).astype(np.float32)
    base = np.array([0.42, 0.40, 0.27], np.float32)
    return base + 0.04 * _smooth_noise(rng, size, 3)[..., None] + np.zeros((size, size, 3), np.float32)


Painter = Callable[[np.ndarray, np.random.Generator, int, np.ndarray], None]


def _agriculture(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    _paint_fields(image, rng, int(rng.integers(1, 4)), [(0.45, 0.55, 0.30), (0.62, 0.52, 0.36), (0.55, 0.60, 0.35)])


def _cultivation(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    for _ in range(int(rng.integers(3, 7))):
        _blend(image, _blob_mask(rng, size, size / 14, 6), (0.50, 0.42, 0.26), 0.9)


def _bare_ground(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    _blend(image, _blob_mask(rng, size, size / 6), (0.66, 0.46, 0.32))


def _water(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    _blend(image, _line_mask(rng, size, int(rng.integers(3, 6)), bend=0.15), (0.12, 0.17, 0.30))


def _road(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    _blend(image, _line_mask(rng, size, max(1, size // 64)), (0.74, 0.66, 0.52))


def _habitation(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    _paint_dots(image, rng, int(rng.integers(8, 16)), (0.86, 0.86, 0.84), 1, near=centre)


def _selective_logging(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    for _ in range(3):
        _blend(image, _line_mask(rng, size, 1, bend=0.3), (0.30, 0.38, 0.22), 0.8)
    _paint_dots(image, rng, 6, (0.40, 0.45, 0.28), 1)


def _blow_down(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    streak = _blob_mask(rng, size, size / 5) & (np.abs(_smooth_noise(rng, size, 2)) < 0.5)
    _blend(image, streak, (0.36, 0.50, 0.24))


def _blooming(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    _paint_dots(image, rng, int(rng.integers(25, 50)), (0.88, 0.80, 0.48), 0)


def _slash_burn(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    _blend(image, _blob_mask(rng, size, size / 7), (0.12, 0.10, 0.09))
    _blend(image, _blob_mask(rng, size, size / 4), (0.55, 0.55, 0.57), 0.35)


def _artisinal_mine(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    for _ in range(int(rng.integers(2, 5))):
        _blend(image, _blob_mask(rng, size, size / 16, 6), (0.90, 0.72, 0.36))
    _blend(image, _blob_mask(rng, size, size / 18, 6), (0.30, 0.62, 0.56))


def _conventional_mine(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    pit = _blob_mask(rng, size, size / 4)
    terraces = (np.mgrid[0:size, 0:size][0] // max(2, size // 24)) % 2 == 0
    _blend(image, pit, (0.78, 0.75, 0.70))
    _blend(image, pit & terraces, (0.62, 0.60, 0.58))


def _haze(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    _blend(image, np.ones((size, size), bool), (0.72, 0.74, 0.80), float(rng.uniform(0.35, 0.55)))


def _partly_cloudy(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    _blend(image, np.clip((_smooth_noise(rng, size, 4) - rng.uniform(0.1, 0.5)) * 3, 0, 1), (0.95, 0.95, 0.96))


def _cloudy(image: np.ndarray, rng: np.random.Generator, size: int, centre: np.ndarray) -> None:
    _blend(image, np.clip(0.85 + 0.3 * _smooth_noise(rng, size, 3), 0, 1), (0.90, 0.90, 0.92))


# The cue of each label, painted in this order (land first, then what the atmosphere lays over it):
# the order is part of the seed's meaning, so the embedded data set stays the same chips.
PAINTERS: dict[str, Painter] = {
    "agriculture": _agriculture,
    "cultivation": _cultivation,
    "bare_ground": _bare_ground,
    "water": _water,
    "road": _road,
    "habitation": _habitation,
    "selective_logging": _selective_logging,
    "blow_down": _blow_down,
    "blooming": _blooming,
    "slash_burn": _slash_burn,
    "artisinal_mine": _artisinal_mine,
    "conventional_mine": _conventional_mine,
    "haze": _haze,
    "partly_cloudy": _partly_cloudy,
    "cloudy": _cloudy,
}


def render_chip(tags: set[str], rng: np.random.Generator, size: int) -> np.ndarray:
    """Paint a chip for `tags`; returns RGB uint8 (size, size, 3)."""
    image = _ground(rng, size, "primary" in tags).astype(np.float32)
    centre = rng.uniform(size * 0.3, size * 0.7, 2)
    for tag, paint in PAINTERS.items():
        if tag in tags:
            paint(image, rng, size, centre)
    image *= rng.uniform(0.85, 1.15)  # sun angle and exposure vary between scenes
    image += 0.01 * rng.standard_normal(image.shape).astype(np.float32)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _tag_string(tags: set[str]) -> str:
    return " ".join(label for label in LABELS if label in tags)


def write_dataset(
    target: str | os.PathLike, num_train: int = 4000, num_test: int = 400, size: int = 64, seed: int = 0
) -> Path:
    """Write the data set (Kaggle layout) to `target`; the folder appears whole or not at all."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        rng = np.random.default_rng(seed)
        tag_sets = [sample_tags(rng) for _ in range(num_train + num_test)]
        ensure_rare_labels(tag_sets, rng)
        rows = {"train": [], "test": []}
        for split in ("train", "test"):
            (staging / f"{split}-jpg").mkdir()
        for i, tags in enumerate(tag_sets):
            split, index = ("train", i) if i < num_train else ("test", i - num_train)
            name = f"{split}_{index}"
            chip = render_chip(tags, np.random.default_rng([seed, i]), size)
            (staging / f"{split}-jpg" / f"{name}.jpg").write_bytes(encode_cmyk_jpeg(chip))
            rows[split].append({"image_name": name, "tags": _tag_string(tags)})
        pd.DataFrame(rows["train"]).to_csv(staging / "train_v2.csv", index=False)
        pd.DataFrame(rows["test"]).to_csv(staging / "test_labels.csv", index=False)
        sample = pd.DataFrame({"image_name": [r["image_name"] for r in rows["test"]], "tags": "primary clear"})
        sample.to_csv(staging / "sample_submission_v2.csv", index=False)
        declaration = {"chip_extent_m": size * PIXEL_M}  # the scenes of write_mosaic have pixels of PIXEL_M
        (staging / DECLARATION).write_text(json.dumps(declaration) + "\n")
        (staging / "README.md").write_text(
            f"Synthetic Planet-like chips made by amazon_cls.data.synthetic (seed={seed}, size={size}px, "
            f"{num_train} train, {num_test} test). Not real imagery.\n"
        )
        os.replace(staging, target)
    except OSError:
        if not target.is_dir():  # another process may have finished the same data set first
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def ensure_dataset(target: str | os.PathLike, **kwargs) -> Path:
    """Generate the data set at `target` unless it is already there."""
    target = Path(target)
    if (target / "train_v2.csv").is_file():
        return target
    return write_dataset(target, **kwargs)


def write_mosaic(
    path: str | os.PathLike,
    chips: Sequence[np.ndarray | None],
    cols: int,
    crs: str | None = "EPSG:32721",
    origin: tuple[float, float] = (500_000.0, 9_650_000.0),
    pixel: float = PIXEL_M,
    nodata: float | None = 0,
    compress: str = "deflate",
) -> Path:
    """A georeferenced scene for tests, demos and benchmarks: equal square chips (H, W, bands),
    `cols` to a row, written one window at a time as a tiled GeoTIFF. A None chip is nodata.
    The default CRS is UTM zone 21S, where the Amazon is; `origin` is the upper left corner."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    size, bands, dtype = next((c.shape[0], c.shape[2], c.dtype) for c in chips if c is not None)
    rows = -(-len(chips) // cols)
    block = min(256, 16 * -(-size // 16))  # GeoTIFF tiles are multiples of 16 pixels
    profile = {
        "driver": "GTiff",
        "width": cols * size,
        "height": rows * size,
        "count": bands,
        "dtype": dtype.name,
        "crs": crs,
        "transform": Affine(pixel, 0, origin[0], 0, -pixel, origin[1]),
        "nodata": nodata,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": compress,
    }
    fill = np.full((size, size, bands), 0 if nodata is None else nodata, dtype)
    with rasterio.open(path, "w", **profile) as scene:
        for index in range(rows * cols):
            chip = chips[index] if index < len(chips) and chips[index] is not None else fill
            row, col = divmod(index, cols)
            scene.write(chip.transpose(2, 0, 1), window=Window(col * size, row * size, size, size))
    return Path(path)
