"""A scene's grid: chips of `chip_size` every `stride` pixels, which are kept (enough valid
pixels), and where each chip's window lies in the scene."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from amazon_cls.geo.scene import Scene, SceneError, read_reduced

EDGES = ("pad", "skip")


@dataclass(frozen=True)
class Tiling:
    """How a scene is cut into chips (sizes in pixels at the target resolution)."""

    chip_size: int = 256
    stride: int = 256
    resolution: float | None = None  # ground units (metres) per pixel to resample to; None: the scene's own
    edge: str = "pad"  # pad: edge chips are padded with nodata; skip: only whole chips
    min_valid: float = 0.5  # chips with a smaller share of valid pixels (inside the footprint) are skipped

    def __post_init__(self) -> None:
        if self.chip_size < 1 or self.stride < 1:
            raise ValueError(f"chip_size={self.chip_size}, stride={self.stride}: both must be at least 1")
        if self.edge not in EDGES:
            raise ValueError(f"edge={self.edge!r}: choose one of {EDGES}")
        if not 0 <= self.min_valid <= 1:
            raise ValueError(f"min_valid={self.min_valid}: must be in [0, 1]")
        if self.resolution is not None and self.resolution <= 0:
            raise ValueError(f"resolution={self.resolution}: must be positive (ground units per pixel)")


@dataclass(frozen=True)
class Grid:
    """The chips of a scene: windows in the scene's pixels, and which are kept."""

    rows: int
    cols: int
    window_size: int  # scene pixels per chip side
    step: int  # scene pixels between chips
    kept: np.ndarray  # (rows, cols) bool: enough valid pixels to predict

    def window(self, row: int, col: int) -> Window:
        return Window(col * self.step, row * self.step, self.window_size, self.window_size)

    def chips(self) -> list[tuple[int, int]]:
        return [(int(r), int(c)) for r, c in zip(*np.nonzero(self.kept), strict=True)]

    @property
    def skipped(self) -> int:
        return int(self.kept.size - self.kept.sum())


def chip_name(row: int, col: int) -> str:
    return f"r{row}_c{col}"


def make_grid(scene: Scene, tiling: Tiling) -> Grid:
    """Windows of `chip_size` (resampled: its ground size) every `stride`; chips mostly outside the
    footprint (nodata, or padding beyond the edge) are not kept."""
    if tiling.resolution and not scene.crs.is_projected:
        raise SceneError(f"{scene.path}: resolution={tiling.resolution} needs a projected CRS (metres), not degrees")
    factor = tiling.resolution / scene.resolution if tiling.resolution else 1.0
    size, step = round(tiling.chip_size * factor), max(1, round(tiling.stride * factor))
    if size > scene.width or size > scene.height:
        raise SceneError(
            f"{scene.path}: chip_size={tiling.chip_size} ({size} scene pixels) is larger than the scene "
            f"({scene.width} x {scene.height})"
        )
    count = (lambda extent: math.ceil((extent - size) / step) + 1) if tiling.edge == "pad" else (
        lambda extent: (extent - size) // step + 1
    )  # fmt: skip
    rows, cols = count(scene.height), count(scene.width)
    valid = valid_fractions(scene, rows, cols, size, step)
    return Grid(rows, cols, size, step, valid >= max(tiling.min_valid, 1e-9))


def valid_fractions(scene: Scene, rows: int, cols: int, size: int, step: int) -> np.ndarray:
    """Each chip's share of valid pixels, from the dataset mask at reduced resolution (about
    16 x 16 samples per chip)."""
    reduction = max(1, size // 16)
    mask = read_reduced(scene, reduction, lambda raster, window: raster.dataset_mask(window=window)) > 0
    fractions = np.zeros((rows, cols))
    side = max(1, round(size / reduction))
    for row in range(rows):
        for col in range(cols):
            top, left = row * step // reduction, col * step // reduction
            fractions[row, col] = mask[top : top + side, left : left + side].sum()
    return fractions / side**2
