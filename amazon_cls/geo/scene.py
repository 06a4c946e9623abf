"""A georeferenced scene: a raster GDAL reads, checked when it opens, and how its bands become
the input of a model trained on a data source.

A scene of N bands is read as the model's source says (`Source.scene_bands`): for the Planet RGB
chips, a 3-band 8-bit visual product as R, G, B and a 4-band analytic product (B, G, R, NIR) by
its R, G, B; for the 4-band TIFF chips, an analytic product as R, G, B, NIR. 16-bit values for an
8-bit model are divided by `scale_16bit` into its range. Whole-scene reads (the nodata mask, the
preview) go strip by strip; chips are read one window at a time (`geo.tiles`).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioIOError
from rasterio.transform import array_bounds
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from amazon_cls.data.sources import Source
from amazon_cls.geo.sensors import Sensor
from amazon_cls.geo.sensors.planet_visual import PLANET_VISUAL

# GDAL's block cache defaults to 5% of RAM and would keep every window read (a whole scene, when
# it fits); each window is read once, so a cache of 64 MB bounds memory and costs nothing. Given as
# bytes: rasterio hands an integer to GDALSetCacheMax64, and "64" was a cache of 64 bytes, under
# which a window warped from another grid took 10x as long (every source block decoded again).
CACHE_BYTES = 64 * 2**20
STRIP_ROWS = 512  # scene rows read at once when the whole scene is read at reduced resolution


def reading() -> rasterio.Env:
    """The GDAL settings every read of a scene runs under (see CACHE_BYTES)."""
    return rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES)


class SceneError(ValueError):
    """A scene the map cannot use; the message names the file."""


@dataclass(frozen=True)
class Footprint:
    """A raster grid: its CRS, transform and size in pixels (a scene's own, or the one it is read onto)."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @classmethod
    def of(cls, path: str | Path) -> Footprint:
        """The grid of the raster at `path` (`grid=` of monitor, or its first scene's)."""
        try:
            with rasterio.open(path) as raster:
                if raster.crs is None:
                    raise SceneError(f"{path}: the grid raster has no CRS")
                return cls(raster.crs, raster.transform, raster.width, raster.height)
        except RasterioIOError as error:
            raise SceneError(f"{path}: not a raster GDAL can read ({error})") from None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return array_bounds(self.height, self.width, self.transform)


@dataclass(frozen=True)
class Scene:
    """An open-able raster and how its bands become a model's input; with `onto`, the scene as
    read onto another grid (warped window by window, never whole: `open_raster`)."""

    path: Path
    crs: CRS
    transform: Affine
    width: int
    height: int
    bands: tuple[int, ...]  # 1-based band indexes in the model's band order
    scale: float  # divisor taking the scene's values to the model's range (1: none)
    source: Source  # what the model was trained on
    dtype: str  # the scene's pixel type
    onto: Footprint | None = None  # the grid it is read onto; None: its own
    sensor: Sensor = PLANET_VISUAL  # how its bands become the model's input
    mask: Path | None = None  # its cloud mask (a sidecar raster the sensor reads), if any
    categorical: bool = False  # its values are classes (a mask): warped by nearest neighbour

    def mask_view(self) -> Scene:
        """Its cloud mask as read onto this scene's grid (class values, nearest neighbour)."""
        if self.mask is None:
            raise ValueError(f"{self.path}: no mask")
        return dataclasses.replace(self, path=self.mask, onto=self.footprint, categorical=True, mask=None)

    @property
    def rescaled(self) -> bool:
        """The pixels are divided by `scale` into the model's 8-bit range (whatever the divisor)."""
        return self.sensor.render is None and self.dtype != self.source.dtype

    @property
    def converted(self) -> bool:
        """Its pixels are not the model's input as they are: rendered by its sensor, or rescaled."""
        return self.sensor.render is not None or self.rescaled

    def to_input(self, pixels: np.ndarray) -> np.ndarray:
        """Raw pixels (any shape) as the model's 8-bit input: the sensor's rendering, or the divisor."""
        if self.sensor.render is not None:
            return np.clip(np.round(self.sensor.render(pixels)), 0, 255).astype(np.uint8)
        if self.rescaled:
            return np.clip(np.round(pixels / self.scale), 0, 255).astype(np.uint8)
        return pixels

    @property
    def footprint(self) -> Footprint:
        return Footprint(self.crs, self.transform, self.width, self.height)

    def read_onto(self, grid: Footprint) -> Scene:
        """This scene as read onto `grid` (its own grid: itself). It must overlap it."""
        if grid == self.footprint:
            return self
        left, bottom, right, top = transform_bounds(self.crs, grid.crs, *self.footprint.bounds)
        g_left, g_bottom, g_right, g_top = grid.bounds
        if left >= g_right or right <= g_left or bottom >= g_top or top <= g_bottom:
            raise SceneError(f"{self.path}: does not overlap the grid it is read onto ({grid.crs.to_string()})")
        return dataclasses.replace(
            self, crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height, onto=grid
        )

    @property
    def resolution(self) -> float:
        return abs(self.transform.a)

    @property
    def rgb(self) -> list[int]:
        """The scene's 1-based red, green and blue bands (for the preview)."""
        return [self.bands[index] for index in self.source.rgb]

    @classmethod
    def open(
        cls,
        path: str | Path,
        source: Source,
        crs: str | None = None,
        bands: Sequence[int] | None = None,
        scale_16bit: float = 257.0,
        sensor: Sensor = PLANET_VISUAL,
        mask: str | Path | None = None,
    ) -> Scene:
        """The scene at `path`, checked for what a model trained on `source` needs and what its
        `sensor` makes of it."""
        path = Path(path)
        if not path.is_file():
            raise SceneError(f"{path}: no such file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)  # refused below, in our words
                raster = rasterio.open(path)
            with raster:
                count, dtype, scene_crs = raster.count, raster.dtypes[0], raster.crs
                transform, width, height = raster.transform, raster.width, raster.height
                georeferenced = not transform.is_identity or bool(raster.gcps[0])
        except RasterioIOError as error:
            raise SceneError(f"{path}: not a raster GDAL can read ({error})") from None
        if not georeferenced:
            raise SceneError(
                f"{path}: no geotransform (where its pixels lie on the ground is unknown); "
                "georeference it first (a GeoTIFF, or a world file beside it)"
            )
        read_last_pixel(path)
        scene_crs = scene_crs_of(path, scene_crs, crs)
        if transform.b or transform.d:
            raise SceneError(f"{path}: a rotated raster; warp it to a north-up grid first (gdalwarp)")
        wanted = len(source.bands)
        chosen = (
            tuple(bands)
            if bands
            else sensor_bands(path, count, dtype, sensor, wanted) or default_bands(path, count, source)
        )
        if len(chosen) != wanted or not all(1 <= band <= count for band in chosen):
            raise SceneError(f"{path}: bands={list(chosen)} must name {wanted} of its bands 1..{count}")
        scale = 1.0 if sensor.render is not None else input_scale(path, dtype, source, scale_16bit)
        scene = cls(path, scene_crs, transform, width, height, chosen, scale, source, dtype, sensor=sensor)
        return dataclasses.replace(scene, mask=checked_mask(Path(mask), scene)) if mask else scene


def read_last_pixel(path: Path) -> None:
    """Read the scene's last pixel: a truncated file fails here, named, rather than mid-prediction."""
    try:
        with reading(), rasterio.open(path) as raster:
            raster.read(1, window=Window(raster.width - 1, raster.height - 1, 1, 1))
    except RasterioIOError as error:
        raise SceneError(f"{path}: damaged or truncated (its last pixels cannot be read: {error})") from None


SAMPLES, SAMPLE_SIDE = 16, 64  # windows sampled across a scene to measure its range


def saturation(scene: Scene, seed: int = 0) -> tuple[float, float, float]:
    """For a 16-bit scene scaled into an 8-bit model: the shares of sampled valid pixels that the
    divisor takes to 255 or more (saturated) and below 1 (black), and their 99th percentile raw."""
    rng = np.random.default_rng(seed)
    side = min(SAMPLE_SIDE, scene.width, scene.height)
    values = []
    with reading(), rasterio.open(scene.path) as raster:
        for _ in range(SAMPLES):
            left, top = rng.integers(0, scene.width - side + 1), rng.integers(0, scene.height - side + 1)
            pixels = raster.read(list(scene.bands), window=Window(left, top, side, side)).astype(np.float64)
            values.append(pixels[:, pixels.max(axis=0) > 0])  # pixels with a value in some band: not nodata
    valid = np.concatenate(values, axis=1).ravel()
    if not valid.size:
        return 0.0, 0.0, 0.0
    scaled = scene.sensor.render(valid) if scene.sensor.render is not None else valid / scene.scale
    return float((scaled >= 255).mean()), float((scaled < 1).mean()), float(np.percentile(valid, 99))


def check_range(scene: Scene, refuse_above: float = 0.5, warn_above: float = 0.05) -> str | None:
    """Refuse a divisor that saturates most pixels, and say (to be logged) when it saturates or
    blackens many: an all-white chip predicts haze and cloud, silently."""
    if not scene.converted:
        return None
    saturated, black, p99 = saturation(scene)
    if scene.rescaled:
        said = f"scale_16bit={scene.scale:g}"
        advice = f"their 99th percentile is {p99:.0f}, so scale_16bit={max(1.0, p99 / 250):.0f} keeps them in range"
    else:
        said = f"sensor={scene.sensor.name}'s rendering"
        advice = f"their 99th percentile is {p99:.0f}: are they {scene.sensor.description.split(':')[0]}'s values?"
    if saturated > refuse_above:
        raise SceneError(f"{scene.path}: {said} takes {100 * saturated:.0f}% of the sampled pixels to white; {advice}")
    if saturated > warn_above or black > 1 - warn_above:
        share, kind = (saturated, "white (255 or more)") if saturated > warn_above else (black, "black (below 1)")
        return f"{scene.path}: {said} takes {100 * share:.0f}% of the sampled pixels to {kind}; {advice}"
    return None


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


def sensor_bands(path: Path, count: int, dtype: str, sensor: Sensor, wanted: int) -> tuple[int, ...] | None:
    """The file's bands the model takes, as its sensor lays them out (None: the sensor leaves it to
    the model's data source); a file the sensor does not make is refused, naming what it expects."""
    if not sensor.bands:
        return None
    if count not in sensor.bands:
        counts = " or ".join(map(str, sorted(sensor.bands)))
        raise SceneError(f"{path}: {count} bands; sensor={sensor.name} reads files of {counts} ({sensor.description})")
    if sensor.render is not None and dtype != sensor.dtype:
        raise SceneError(f"{path}: {dtype} pixels; sensor={sensor.name} reads {sensor.dtype} ({sensor.description})")
    layout = sensor.bands[count]
    if len(layout) < wanted:
        raise SceneError(f"{path}: sensor={sensor.name} gives {len(layout)} bands; the model takes {wanted}")
    return layout[:wanted]


def checked_mask(path: Path, scene: Scene) -> Path:
    """A cloud mask that opens and covers its scene, or one line saying what is wrong with it."""
    try:
        with rasterio.open(path) as raster:
            crs, bounds, count = raster.crs, raster.bounds, raster.count
    except RasterioIOError as error:
        raise SceneError(f"{path}: not a mask raster GDAL can read ({error})") from None
    if count < scene.sensor.mask_bands:
        raise SceneError(f"{path}: {count} band(s); sensor={scene.sensor.name} reads masks of {scene.sensor.mask}")
    if crs is None:
        raise SceneError(f"{path}: the mask has no CRS")
    left, bottom, right, top = transform_bounds(crs, scene.crs, *bounds)
    s_left, s_bottom, s_right, s_top = scene.footprint.bounds
    slack = 0.5 * abs(scene.transform.a)  # half a pixel: reprojected bounds round
    if left > s_left + slack or bottom > s_bottom + slack or right < s_right - slack or top < s_top - slack:
        raise SceneError(f"{path}: the mask does not cover its scene {scene.path} (a mask for another scene?)")
    return path


def default_bands(path: Path, count: int, source: Source) -> tuple[int, ...]:
    """The scene's bands in the model's order, as the model's data source reads a scene of `count` bands."""
    if count in source.scene_bands:
        return tuple(source.scene_bands[count])
    known = " or ".join(f"{n} bands (used as {list(b)})" for n, b in source.scene_bands.items()) or "none by default"
    raise SceneError(
        f"{path}: {count} bands; the model takes {len(source.bands)} ({', '.join(source.bands)}) and reads "
        f"scenes of {known}; name another layout's bands with bands=[...] (1-based)"
    )


def input_scale(path: Path, dtype: str, source: Source, scale_16bit: float) -> float:
    """Pixels of the model's own type feed it as they are; 16-bit pixels for an 8-bit model are
    divided by `scale_16bit` (257 maps 0-65535 onto 0-255)."""
    if dtype == source.dtype:
        return 1.0
    if dtype == "uint16" and source.dtype == "uint8":
        if scale_16bit <= 0:
            raise SceneError(f"scale_16bit={scale_16bit}: must be positive")
        return scale_16bit
    raise SceneError(
        f"{path}: {dtype} pixels; this model reads {source.dtype} bands ({', '.join(source.bands)})"
        + (", or 16-bit ones scaled by scale_16bit" if source.dtype == "uint8" else "")
    )


@contextmanager
def open_raster(scene: Scene) -> Iterator[rasterio.io.DatasetReaderBase]:
    """The scene to read from: its file, or a WarpedVRT of it onto the grid it is read onto (windows
    of the VRT are warped as they are read; outside the scene's footprint they are nodata). Reads
    go under `reading()`."""
    with rasterio.open(scene.path) as raster:
        if scene.onto is None:
            yield raster
            return
        grid = scene.onto
        nodata = raster.nodata if raster.nodata is not None else 0
        with WarpedVRT(
            raster,
            crs=grid.crs,
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling.nearest if scene.categorical else Resampling.bilinear,
            src_nodata=nodata,
            nodata=nodata,
        ) as warped:
            yield warped


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
    with reading(), open_raster(scene) as source:
        for top in range(0, scene.height, STRIP_ROWS):
            bottom = min(scene.height, top + STRIP_ROWS)
            height = round(bottom / reduction) - round(top / reduction)
            if height > 0:
                pixels = read(source, Window(0, top, scene.width, bottom - top))
                pixels = cv2.merge(list(pixels)) if pixels.ndim == 3 else pixels
                strips.append(cv2.resize(pixels, (width, height), interpolation=interpolation))
    return np.concatenate(strips, axis=0)
