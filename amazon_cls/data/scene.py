"""Georeferenced scenes -> chips: a raster read by windows with rasterio, its chip grid, and the
datamodule `map` predicts.

A scene is a 3-band 8-bit visual product (R, G, B) or a 4-band 16-bit analytic product (B, G, R,
NIR). Its bands are mapped to what the model was trained on: RGB (16-bit values divided by
`scale_16bit` into the 8-bit range) or, for a 4-band model, raw 16-bit R, G, B, NIR. Chips are read
one window at a time, never the whole scene, and prepared like chip files of the same windows
(`chips.resize` to the model's image size, which also resamples to a target ground resolution).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioIOError
from rasterio.windows import Window

from amazon_cls.data.chips import resize
from amazon_cls.data.datamodule import ChipsToPredict
from amazon_cls.data.dataset import ChipDataset
from amazon_cls.data.dehaze import dehaze as remove_haze
from amazon_cls.labels import NUM_LABELS

# GDAL's block cache defaults to 5% of RAM and would keep every window read (a whole scene, when
# it fits); each window is read once, so a small cache bounds memory and costs nothing.
CACHE_MB = 64
STRIP_ROWS = 512  # scene rows read at once when the whole scene is read at reduced resolution
RGB_BANDS = {3: (1, 2, 3), 4: (3, 2, 1)}  # visual: R, G, B; analytic: B, G, R, NIR
NIR_BAND = 4
EDGES = ("pad", "skip")


def reading() -> rasterio.Env:
    """The GDAL settings every read of a scene runs under (see CACHE_MB)."""
    return rasterio.Env(GDAL_CACHEMAX=CACHE_MB)


class SceneError(ValueError):
    """A scene the map cannot use; the message names the file."""


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
class Scene:
    """An open-able raster and how its bands become a model's input."""

    path: Path
    crs: CRS
    transform: Affine
    width: int
    height: int
    bands: tuple[int, ...]  # 1-based band indexes in the model's order: R, G, B(, NIR)
    scale: float  # divisor taking the scene's values to the model's range (1: none)

    @property
    def resolution(self) -> float:
        return abs(self.transform.a)

    @classmethod
    def open(
        cls,
        path: str | Path,
        in_chans: int,
        crs: str | None = None,
        bands: Sequence[int] | None = None,
        scale_16bit: float = 257.0,
    ) -> Scene:
        """The scene at `path`, checked for what a model with `in_chans` input bands needs."""
        path = Path(path)
        if not path.is_file():
            raise SceneError(f"{path}: no such file")
        try:
            with rasterio.open(path) as source:
                count, dtype, scene_crs = source.count, source.dtypes[0], source.crs
                transform, width, height = source.transform, source.width, source.height
        except RasterioIOError as error:
            raise SceneError(f"{path}: not a raster GDAL can read ({error})") from None
        scene_crs = scene_crs_of(path, scene_crs, crs)
        if transform.b or transform.d:
            raise SceneError(f"{path}: a rotated raster; warp it to a north-up grid first (gdalwarp)")
        chosen = tuple(bands) if bands else default_bands(path, count, in_chans)
        if len(chosen) != in_chans or not all(1 <= band <= count for band in chosen):
            raise SceneError(f"{path}: bands={list(chosen)} must name {in_chans} of its bands 1..{count}")
        return cls(path, scene_crs, transform, width, height, chosen, input_scale(path, dtype, in_chans, scale_16bit))


def scene_crs_of(path: Path, found: CRS | None, override: str | None) -> CRS:
    """The scene's CRS; a raster without one needs an explicit `crs=`, which never replaces a file's own."""
    if override is None:
        if found is None:
            raise SceneError(f"{path}: the raster has no CRS; give one with crs=<EPSG:code or WKT> if you know it")
        return found
    try:
        given = CRS.from_user_input(override)
    except CRSError as error:
        raise SceneError(f"crs={override!r}: not a coordinate reference system ({error})") from None
    if found is not None and found != given:
        raise SceneError(f"{path}: has its own CRS {found.to_string()}; crs={override} is for rasters without one")
    return given


def default_bands(path: Path, count: int, in_chans: int) -> tuple[int, ...]:
    """R, G, B(, NIR) of a 3-band visual or 4-band analytic (B, G, R, NIR) product."""
    if count not in RGB_BANDS:
        raise SceneError(
            f"{path}: {count} bands; expected 3 (R, G, B visual product) or 4 (B, G, R, NIR analytic "
            "product), or name them with bands=[r,g,b] (1-based)"
        )
    if in_chans == 4 and count == 4:
        return (*RGB_BANDS[4], NIR_BAND)
    if in_chans == 3:
        return RGB_BANDS[count]
    raise SceneError(f"{path}: {count} bands, but the model takes {in_chans} (R, G, B, NIR)")


def input_scale(path: Path, dtype: str, in_chans: int, scale_16bit: float) -> float:
    """8-bit scenes feed RGB models as they are; 16-bit scenes feed 4-band models raw (as the
    training TIFFs did) and RGB models divided by `scale_16bit` (257 maps 0-65535 onto 0-255)."""
    if dtype == "uint8" and in_chans == 3:
        return 1.0
    if dtype == "uint16":
        if in_chans == 3 and scale_16bit <= 0:
            raise SceneError(f"scale_16bit={scale_16bit}: must be positive")
        return scale_16bit if in_chans == 3 else 1.0
    raise SceneError(
        f"{path}: {dtype} pixels; this model reads 8-bit RGB or 16-bit bands"
        + (" (it was trained on 16-bit R, G, B, NIR)" if in_chans == 4 else "")
    )


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
    mask = read_reduced(scene, reduction, lambda source, window: source.dataset_mask(window=window)) > 0
    fractions = np.zeros((rows, cols))
    side = max(1, round(size / reduction))
    for row in range(rows):
        for col in range(cols):
            top, left = row * step // reduction, col * step // reduction
            fractions[row, col] = mask[top : top + side, left : left + side].sum()
    return fractions / side**2


def read_reduced(
    scene: Scene,
    reduction: float,
    read: Callable[[rasterio.DatasetReader, Window], np.ndarray],
    interpolation: int = cv2.INTER_NEAREST,
) -> np.ndarray:
    """`read(source, window)` (bands x rows x cols, or rows x cols) over the whole scene, at
    1/`reduction` of its resolution: a strip of STRIP_ROWS rows at a time, read in full and shrunk
    with cv2, so only the reduced raster (rows, cols[, bands]) is kept. (GDAL's own reduced reads,
    `out_shape=`, decompress each tile again for every row they sample: 40x slower.)"""
    width = max(1, round(scene.width / reduction))
    strips = []
    with reading(), rasterio.open(scene.path) as source:
        for top in range(0, scene.height, STRIP_ROWS):
            bottom = min(scene.height, top + STRIP_ROWS)
            height = round(bottom / reduction) - round(top / reduction)
            if height > 0:
                pixels = read(source, Window(0, top, scene.width, bottom - top))
                pixels = cv2.merge(list(pixels)) if pixels.ndim == 3 else pixels
                strips.append(cv2.resize(pixels, (width, height), interpolation=interpolation))
    return np.concatenate(strips, axis=0)


class SceneChips(ChipDataset):
    """The kept chips of a scene, read window by window (the file is opened once per worker)."""

    def __init__(self, scene: Scene, grid: Grid, image_size: int, dehaze: bool = False) -> None:
        super().__init__([], None, image_size, dehaze=dehaze)
        self.scene, self.grid = scene, grid
        self.cells = grid.chips()
        self.names = [chip_name(row, col) for row, col in self.cells]
        self.paths = [Path(f"{scene.path}#{name}") for name in self.names]  # how errors name a chip
        self.targets = np.zeros((len(self.cells), NUM_LABELS), np.float32)
        self._source: rasterio.DatasetReader | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_source": None}  # workers open the file themselves

    def _chip(self, index: int) -> np.ndarray:
        pixels = self.read_window(self.grid.window(*self.cells[index]))
        if self.scene.scale != 1.0:
            pixels = np.clip(np.round(pixels / self.scene.scale), 0, 255).astype(np.uint8)
        chip = resize(pixels, self.image_size)  # as a chip file of the window would be resized
        return remove_haze(chip) if self.dehaze else chip

    def read_window(self, window: Window) -> np.ndarray:
        """The window's pixels (H, W, bands); the part beyond the scene's edge is 0 (nodata).
        The inside part is read plainly: rasterio's boundless reads cost a VRT each, 4x slower."""
        if self._source is None:
            self._source = rasterio.open(self.scene.path)
        size, bands = int(window.width), len(self.scene.bands)
        inside = window.intersection(Window(0, 0, self.scene.width, self.scene.height))
        with reading():
            bands_first = self._source.read(list(self.scene.bands), window=inside)
        pixels = cv2.merge(list(bands_first))  # (H, W, bands); 20x faster than a transposed copy
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        if pixels.shape[:2] == (size, size):
            return pixels
        padded = np.zeros((size, size, bands), pixels.dtype)
        top, left = int(inside.row_off - window.row_off), int(inside.col_off - window.col_off)
        padded[top : top + pixels.shape[0], left : left + pixels.shape[1]] = pixels
        return padded


class SceneTiles(ChipsToPredict):
    """A scene's kept chips to predict."""

    def __init__(self, scene: Scene, grid: Grid, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scene, self.grid = scene, grid

    def setup(self, stage: str | None = None) -> None:
        self.predict_set = SceneChips(self.scene, self.grid, self.image_size, self.dehaze)
