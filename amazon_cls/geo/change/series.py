"""A series of scenes of one area: their dates, the one grid they are read onto, and each date's
predictions of every cell, reused when a scene was predicted before from the same files with the
same settings (adding a date predicts that scene only).

A date is given (`dates=`), else read from the file's TIFFTAG_DATETIME, else from its name in its
sensor's form (a NICFI `YYYY-MM_mosaic`), else from a `YYYY-MM-DD` or `YYYYMMDD` in its name.
Scenes may differ in footprint, CRS and pixel size: each is read onto the grid (the first scene's,
or `grid=<raster>`) through a WarpedVRT, window by window.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio

from amazon_cls.core.labels import NUM_LABELS, PROB_COLUMNS
from amazon_cls.data.sources import Source
from amazon_cls.geo.change.shards import Block
from amazon_cls.geo.grid import Grid, Tiling, chip_name, grid_for, kept_on
from amazon_cls.geo.scene import Footprint, Scene, SceneError
from amazon_cls.geo.sensors import Sensor, date_in_name
from amazon_cls.store.atomic import write_csv
from amazon_cls.store.done import Done
from amazon_cls.store.monitor_folder import MonitorFolder
from amazon_cls.store.records import HASH, identity
from amazon_cls.store.tables import read_frame

log = logging.getLogger(__name__)
NAMED_DATES = (r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)", r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")


@dataclass(frozen=True)
class Dated:
    """A scene at its date, read onto the series' grid, and the chips of it that hold enough pixels."""

    date: date
    scene: Scene
    grid: Grid


@dataclass(frozen=True)
class Series:
    """Every date's probabilities of every cell of the grid (dates x cells x 17, NaN where not read)."""

    dates: list[date]
    scenes: list[Scene]
    grid: Grid
    footprint: Footprint
    probs: np.ndarray
    read: np.ndarray  # dates x cells: the cell was read (enough valid pixels)
    block: Block | None = None  # the cells this run covers (a shard's block); None: the whole grid

    @property
    def cells(self) -> list[tuple[int, int]]:
        """The cells the run covers, row by row (each cell's index is `row * grid.cols + col`)."""
        return (self.block or Block(range(self.grid.rows), range(self.grid.cols))).cells()


def date_of(path: Path, given: str | None = None) -> date:
    """The scene's date: given, its TIFFTAG_DATETIME, or a date in its name; else refused, naming it."""
    return dated_from(path, given)[0]


def dated_from(path: Path, given: str | None = None, sensor: Sensor | None = None) -> tuple[date, str]:
    """The scene's date and where it came from (`dates=[...]`, its TIFFTAG_DATETIME, its name in
    its sensor's form, a date in its name)."""
    if given is not None:
        try:
            return date.fromisoformat(str(given)), "dates=[...]"
        except ValueError:
            raise ValueError(f"dates: {given!r} (for {path.name}) is not a date like 2016-06-01") from None
    with rasterio.open(path) as raster:
        stamp = raster.tags().get("TIFFTAG_DATETIME", "")
    if stamp:
        try:
            return datetime.strptime(stamp[:10], "%Y:%m:%d").date(), "its TIFFTAG_DATETIME"
        except ValueError:
            pass  # an unreadable tag: the name may still tell
    if sensor is not None and (day := sensor.date_in(path.stem)) is not None:
        return day, f"its name, as sensor={sensor.name} names files"
    if (day := date_in_name(path.stem, NAMED_DATES)) is not None:
        return day, "its name"
    raise SceneError(
        f"{path}: no date: give dates=[...], or a file with TIFFTAG_DATETIME, or a YYYY-MM-DD or YYYYMMDD in its name"
    )


def dated_scenes(
    paths: Sequence[str],
    dates: Sequence[str] | None,
    source: Source,
    tiling: Tiling,
    grid_raster: str | None = None,
    open_scene: Callable[[str], Scene] | None = None,
    allow_future_dates: bool = False,
    today: date | None = None,
) -> tuple[Footprint, Grid, list[Dated]]:
    """Every scene opened, dated and read onto the grid, sorted by date; every problem (one scene,
    missing, repeated or future dates, one file at two dates, a scene outside the grid) is refused
    before any work."""
    if len(paths) < 2:
        raise ValueError(f"scenes: a series needs two or more scenes of one area, got {len(paths)}")
    if dates is not None and len(dates) != len(paths):
        raise ValueError(f"dates: {len(dates)} dates for {len(paths)} scenes; give one per scene, in their order")
    scenes = [(open_scene or (lambda p: Scene.open(p, source)))(path) for path in paths]
    found = [dated_from(scene.path, dates[i] if dates else None, scene.sensor) for i, scene in enumerate(scenes)]
    when = [day for day, _ in found]
    twice = sorted({str(day) for day in when if when.count(day) > 1})
    if twice:
        same = [str(scene.path.name) for scene, day in zip(scenes, when, strict=True) if str(day) in twice]
        raise ValueError(f"scenes {same} share the date {twice[0]}; a series holds one scene per date")
    check_in_time(scenes, found, today or date.today(), allow_future_dates)
    footprint = Footprint.of(grid_raster) if grid_raster else scenes[0].footprint
    grid = grid_for(footprint, tiling, grid_raster or scenes[0].path)
    dated = []
    for day, scene in sorted(zip(when, scenes, strict=True), key=lambda pair: pair[0]):
        onto = scene.read_onto(footprint)
        dated.append(Dated(day, onto, kept_on(onto, grid, tiling.min_valid)))
    return footprint, grid, dated


def check_in_time(scenes: list[Scene], found: list[tuple[date, str]], today: date, allow_future: bool) -> None:
    """A series makes sense in time: no scene dated after today (unless allowed), and no file, by
    what it holds, at two dates."""
    for scene, (day, where) in zip(scenes, found, strict=True):
        if day > today and not allow_future:
            raise ValueError(
                f"{scene.path}: dated {day} (from {where}), after today ({today}); fix its date, or give "
                "allow_future_dates=true for a series that really is dated ahead"
            )
    for first in range(len(scenes)):
        for second in range(first + 1, len(scenes)):
            if same_content(scenes[first].path, scenes[second].path):
                raise ValueError(
                    f"{scenes[second].path} (dated {found[second][0]}) is the same file as {scenes[first].path} "
                    f"(dated {found[first][0]}): one image cannot be two dates of a series"
                )


def same_content(first: Path, second: Path) -> bool:
    """The two paths hold the same bytes: the same file, or a copy (hashed only when the sizes agree)."""
    if first.resolve() == second.resolve() or os.path.samefile(first, second):
        return True
    if first.stat().st_size != second.stat().st_size:
        return False
    return identity(first)[HASH] == identity(second)[HASH]  # the records' hash, kept for them too


def cached(folder: MonitorFolder, dated: Dated, record: dict[str, Any], read: list[Path | str]) -> pd.DataFrame | None:
    """The probabilities of a date predicted before with the same settings from the same files."""
    table, done = folder.prediction(dated.date, dated.scene.path)
    return read_frame(table) if Done(done).finished([table], record, read) else None


def store(
    folder: MonitorFolder, dated: Dated, frame: pd.DataFrame, record: dict[str, Any], read: list[Path | str]
) -> None:
    """A date's probabilities, then the record that they are done."""
    table, done = folder.prediction(dated.date, dated.scene.path)
    with Done(done).rewriting():
        write_csv(table, frame)
    Done(done).write([table], record, read)


def assemble(
    footprint: Footprint,
    grid: Grid,
    dated: list[Dated],
    predict: Callable[[Dated], pd.DataFrame | None],
    folder: MonitorFolder,
    settings: dict[str, Any],
    inputs: list[str],
    block: Block | None = None,
) -> tuple[Series | None, int]:
    """The series, predicting each date not predicted before (`predict(dated)` -> its chips'
    probability table, None on other ranks); returns it and how many scenes were predicted."""
    cells = grid.rows * grid.cols
    probs = np.full((len(dated), cells, NUM_LABELS), np.nan, np.float32)
    read = np.zeros((len(dated), cells), bool)
    predicted = 0
    for t, item in enumerate(dated):
        record = {"settings": settings, "scene": str(item.scene.path)}
        files = [item.scene.path, *([item.scene.mask] if item.scene.mask else []), *inputs]
        frame = cached(folder, item, record, files)
        if frame is None:
            frame = predict(item)
            predicted += 1
            if frame is None:
                continue  # another rank writes
            store(folder, item, frame, record, files)
            frame = frame.set_index("image_name")
        else:
            log.info("%s (%s): predicted before with these settings; reused", item.scene.path, item.date)
        kept = item.grid.chips()
        index = [row * grid.cols + col for row, col in kept]
        probs[t, index] = frame.loc[[chip_name(*cell) for cell in kept], PROB_COLUMNS].to_numpy()
        read[t, index] = True
    if frame is None:
        return None, predicted
    return Series([d.date for d in dated], [d.scene for d in dated], grid, footprint, probs, read, block), predicted
