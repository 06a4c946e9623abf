"""A scene's grid: chips of `chip_size` every `stride` pixels, which are kept (enough valid
pixels), where each chip's window lies in the scene, and what a cell is.

A chip's cell is the stride x stride square around the chip's centre, the first and last of a
row or column reaching out to their chip's edge, clipped to the scene: the ground its prediction
speaks for (each pixel goes to the nearest chip centre). Cells tile the chips' ground without
overlap whatever the stride, so areas, the label raster's pixels (the stride squares) and the
map's polygons all come from this one definition (`cell_boxes`, `cells_frame`, `Grid.cell_transform`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from pyproj import Geod, Proj, Transformer
from rasterio.windows import Window

from amazon_cls.core.schema import problems_in
from amazon_cls.geo.config import SceneConfig
from amazon_cls.geo.scene import Footprint, Scene, SceneError, read_reduced


@dataclass(frozen=True)
class Tiling:
    """How a scene is cut into chips: `chip_size` and `stride` in pixels at the target resolution,
    or `chip_size="auto"`: chips of `chip_extent_m` on the ground (the model's training chips), in
    each scene's own pixels, with `stride` in scene pixels (None: side by side)."""

    chip_size: int | str = 256
    stride: int | None = None  # None: the chip's size
    resolution: float | None = None  # ground units (metres) per pixel to resample to; None: the scene's own
    edge: str = "pad"  # pad: edge chips are padded with nodata; skip: only whole chips
    min_valid: float = 0.5  # chips with a smaller share of valid pixels (inside the footprint) are skipped
    chip_extent_m: float | None = None  # with chip_size="auto"; None: a model that does not say (256 px)

    def __post_init__(self) -> None:
        rules = {key: value for key, value in dataclasses.asdict(self).items() if key != "chip_extent_m"}
        if problems := list(problems_in(SceneConfig, rules)):  # the pipeline's rules, one home
            raise ValueError("; ".join(problems))

    def window(self, footprint: Footprint) -> tuple[int, int]:
        """A chip's size and the step between chips, in the pixels of `footprint`."""
        if self.chip_size == "auto":
            size = chip_pixels(self.chip_extent_m, footprint) if self.chip_extent_m else UNKNOWN_EXTENT_PX
            return size, self.stride or size
        factor = self.resolution / abs(footprint.transform.a) if self.resolution else 1.0
        size = round(int(self.chip_size) * factor)
        return size, max(1, round((self.stride or int(self.chip_size)) * factor))


UNKNOWN_EXTENT_PX = 256  # chip_size=auto with a model that does not record its chips' ground size: as before


def ground_pixel_m(footprint: Footprint) -> float:
    """The side of a pixel on the ground at the raster's centre, in metres: the mean of its two
    sides (`pixel_sides_m`)."""
    return sum(pixel_sides_m(footprint)) / 2


def pixel_sides_m(footprint: Footprint) -> tuple[float, float]:
    """A pixel's width and height on the ground at the raster's centre, in metres (geodesic, on
    WGS 84): a metre of Web Mercator is 0.988 m across at 9 degrees south, a degree no metre at all."""
    centre = (footprint.width / 2, footprint.height / 2)
    corners = [footprint.transform * (centre[0] + dx, centre[1] + dy) for dx, dy in ((0, 0), (1, 0), (0, 1))]
    to_degrees = Transformer.from_crs(footprint.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_degrees.transform([x for x, _ in corners], [y for _, y in corners])
    geod = Geod(ellps="WGS84")
    return geod.inv(lon[0], lat[0], lon[1], lat[1])[2], geod.inv(lon[0], lat[0], lon[2], lat[2])[2]


def chip_pixels(extent_m: float, footprint: Footprint) -> int:
    """How many of the raster's pixels make `extent_m` metres on the ground."""
    return max(1, round(extent_m / ground_pixel_m(footprint)))


@dataclass(frozen=True)
class Grid:
    """The chips of a scene: windows in the scene's pixels, and which are kept."""

    rows: int
    cols: int
    window_size: int  # scene pixels per chip side
    step: int  # scene pixels between chips
    kept: np.ndarray  # (rows, cols) bool: enough valid pixels to predict
    width: int = 0  # the scene's size in pixels, which cells are clipped to
    height: int = 0
    masked: np.ndarray | None = None  # (rows, cols) bool: kept by their pixels, left out by the cloud mask

    def window(self, row: int, col: int) -> Window:
        return Window(col * self.step, row * self.step, self.window_size, self.window_size)

    def cell_boxes(self, cells: Sequence[tuple[int, int]]) -> np.ndarray:
        """Each cell as (left, top, right, bottom) in scene pixels (see the module's docstring)."""
        rows, cols = (np.asarray(cells, dtype=np.float64).reshape(-1, 2)).T
        left, right = self._span(cols, self.cols)
        top, bottom = self._span(rows, self.rows)
        boxes = np.stack([left, top, right, bottom], axis=1)
        return np.clip(boxes, 0, [self.width, self.height, self.width, self.height])

    def _span(self, index: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Where the cells of chips `index` (of `count` along an axis) begin and end, in pixels."""
        start = index * self.step + (self.window_size - self.step) / 2  # the stride square around the centre
        end = start + self.step
        first, last = index == 0, index == count - 1
        start = np.where(first, np.minimum(start, 0.0), start)  # reaching out to the chip's edge
        end = np.where(last, np.maximum(end, (count - 1) * self.step + self.window_size), end)
        return start, end

    def cell_transform(self, scene_transform: Affine) -> Affine:
        """The transform of a raster with one pixel per cell (pixel (row, col) is chip (row, col)'s cell)."""
        offset = (self.window_size - self.step) / 2
        return scene_transform * Affine.translation(offset, offset) * Affine.scale(self.step)

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
    return kept_on(scene, grid_for(scene.footprint, tiling, scene.path), tiling.min_valid)


def grid_for(footprint: Footprint, tiling: Tiling, name: str | Path = "the grid") -> Grid:
    """The chips of `tiling` on a raster grid (every chip kept: see `kept_on`)."""
    if tiling.resolution and not footprint.crs.is_projected:
        raise SceneError(f"{name}: resolution={tiling.resolution} needs a projected CRS (metres), not degrees")
    size, step = tiling.window(footprint)
    if step > size:
        raise SceneError(
            f"stride={tiling.stride} is larger than the chip ({size} scene pixels): the ground between chips, "
            "which no chip sees, would be mapped and counted; give a stride up to the chip size"
        )
    if size > footprint.width or size > footprint.height:
        raise SceneError(
            f"{name}: chip_size={tiling.chip_size} ({size} scene pixels) is larger than the scene "
            f"({footprint.width} x {footprint.height})"
        )
    count = (
        (lambda extent: math.ceil((extent - size) / step) + 1)
        if tiling.edge == "pad"
        else (lambda extent: (extent - size) // step + 1)
    )
    rows, cols = count(footprint.height), count(footprint.width)
    return Grid(rows, cols, size, step, np.ones((rows, cols), bool), footprint.width, footprint.height)


def kept_on(scene: Scene, grid: Grid, min_valid: float) -> Grid:
    """The grid with the chips `scene` (read onto the grid) has at least `min_valid` valid pixels of
    (its cloud mask's hidden pixels are not valid), and, with a mask, those the mask alone took."""
    least = max(min_valid, 1e-9)
    reduction = max(1, grid.window_size // 16)  # about 16 x 16 samples per chip
    valid = read_reduced(scene, reduction, lambda raster, window: raster.dataset_mask(window=window)) > 0
    hidden = hidden_pixels(scene, reduction, valid.shape)
    shares = lambda pixels: chip_shares(pixels, grid, reduction)  # noqa: E731
    kept = shares(valid if hidden is None else valid & ~hidden) >= least
    if not kept.any():
        raise SceneError(
            f"{scene.path}: no chip has min_valid={min_valid} of valid pixels: the scene is "
            "nodata (or outside its footprint) everywhere"
        )
    masked = None if hidden is None else (shares(valid) >= least) & ~kept
    return dataclasses.replace(grid, kept=kept, masked=masked)


def hidden_pixels(scene: Scene, reduction: int, shape: tuple[int, ...]) -> np.ndarray | None:
    """The pixels the scene's cloud mask hides (the sensor says which), at the reduced resolution;
    None without a mask."""
    if scene.mask is None:
        return None
    hidden = read_reduced(
        scene.mask_view(),
        reduction,
        lambda raster, window: scene.sensor.hidden(raster.read(window=window)).astype(np.uint8),
    )
    return hidden[: shape[0], : shape[1]] > 0


def chip_shares(pixels: np.ndarray, grid: Grid, reduction: int) -> np.ndarray:
    """Each chip's share of the true `pixels` (a reduced raster of the scene)."""
    fractions = np.zeros((grid.rows, grid.cols))
    side = max(1, round(grid.window_size / reduction))
    for row in range(grid.rows):
        for col in range(grid.cols):
            top, left = row * grid.step // reduction, col * grid.step // reduction
            fractions[row, col] = pixels[top : top + side, left : left + side].sum()
    return fractions / side**2


def cells_frame(
    scene: Scene | Footprint, grid: Grid, cells: Sequence[tuple[int, int]], **columns: Sequence
) -> gpd.GeoDataFrame:
    """The cells as polygons in the scene's (or grid's) CRS, with `columns` beside row and col."""
    boxes = grid.cell_boxes(cells)
    xs, ys = scene.transform * (boxes[:, [0, 2]].T, boxes[:, [1, 3]].T)  # the corners in scene coordinates
    polygons = shapely.box(np.minimum(*xs), np.minimum(*ys), np.maximum(*xs), np.maximum(*ys))
    rows, cols = np.asarray(cells, dtype=int).reshape(-1, 2).T
    return gpd.GeoDataFrame({"row": rows, "col": cols, **columns}, geometry=polygons, crs=scene.crs)


PLANAR_AREA_TOLERANCE = (
    0.001  # areal scale this close to 1 at the cells: planar areas are ground areas (UTM near its meridian)
)


def hectares(cells: gpd.GeoDataFrame) -> np.ndarray:
    """Each cell's ground area in hectares: the planar area where the projection keeps areas at the
    cells (UTM), else the geodesic area on the WGS 84 ellipsoid (pyproj's `Geod`): a grid in degrees
    (EPSG:4326) or in Web Mercator (EPSG:3857, whose areas grow away from the equator)."""
    crs = cells.crs
    if crs.is_projected and planar_areas_hold(cells):
        metres = crs.axis_info[0].unit_conversion_factor
        return cells.area.to_numpy() * metres**2 / 1e4
    geod = Geod(ellps="WGS84")
    lonlat = cells.geometry.to_crs("EPSG:4326").to_numpy()
    return np.array([abs(geod.geometry_area_perimeter(polygon)[0]) for polygon in lonlat]) / 1e4


def planar_areas_hold(cells: gpd.GeoDataFrame) -> bool:
    """The projection's areal scale factor is within `PLANAR_AREA_TOLERANCE` of 1 at the corners and
    the centre of the cells' extent."""
    left, bottom, right, top = cells.total_bounds
    xs = np.array([left, right, left, right, (left + right) / 2])
    ys = np.array([bottom, bottom, top, top, (bottom + top) / 2])
    lon, lat = Transformer.from_crs(cells.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    scale = Proj(cells.crs).get_factors(lon, lat).areal_scale
    return bool(np.all(np.abs(np.asarray(scale) - 1) <= PLANAR_AREA_TOLERANCE))
