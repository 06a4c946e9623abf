"""What `map` writes for a scene: a registry of output formats, one file each in this folder,
chosen with `outputs=[...]`, in formats GIS tools open (QGIS, GDAL, geopandas)::

    chips    <scene>_chips.geojson  one polygon per predicted chip, EPSG:4326; row, col, tags, 17 probabilities
    labels   <scene>_labels.tif     17 bands of probabilities at chip resolution, the scene's CRS; nodata -1
    preview  <scene>_preview.png    the scene's RGB with chips coloured by the labels people look for
    summary  <scene>_summary.csv    chips per label and the area they cover, in hectares
    classes  <scene>_classes.tif    the most alarming label per cell, a palette; QGIS style, class names beside it
    html     <scene>_map.html       the scene and its chips in the browser, offline (Leaflet inlined)

and, written last, `<scene>_map.json`: the settings and counts that made them (the scene is done).

A new format is a module here that registers an `Output` (every module is imported with the package).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amazon_cls.core.labels import vector_to_tags
from amazon_cls.core.registry import Registry
from amazon_cls.geo.grid import Grid
from amazon_cls.geo.scene import Scene
from amazon_cls.store.done import Done

DONE = "_map.json"


@dataclass
class SceneResult:
    """A scene's predicted chips: their grid cells, probabilities and 0/1 labels."""

    scene: Scene
    grid: Grid
    cells: list[tuple[int, int]]
    probs: np.ndarray  # chips x labels
    labels: np.ndarray  # chips x labels, 0/1

    def tags(self) -> list[str]:
        return [vector_to_tags(row) for row in self.labels]

    def cell_boxes(self) -> np.ndarray:
        """Each chip's cell as (left, top, right, bottom) in scene pixels (`geo.grid`)."""
        return self.grid.cell_boxes(self.cells)


@dataclass(frozen=True)
class Output:
    """One output format: the suffix of its file after the scene's name, and its writer."""

    suffix: str
    write: Callable[[Path, SceneResult], Any]
    sidecars: tuple[str, ...] = ()  # the suffixes of files its writer puts beside it (a QGIS style, ...)


OUTPUTS: Registry[Output] = Registry("outputs")


def output_paths(output_dir: Path, scene: Path, names: Sequence[str]) -> dict[str, Path]:
    """The files of the chosen outputs of a scene (each output's, then its sidecars'), and its
    record (`done`), last."""
    paths = {}
    for name in names:
        paths[name] = output_dir / f"{scene.stem}{OUTPUTS[name].suffix}"
        paths.update({name + suffix: output_dir / f"{scene.stem}{suffix}" for suffix in OUTPUTS[name].sidecars})
    return {**paths, "done": output_dir / f"{scene.stem}{DONE}"}


def write_outputs(
    paths: dict[str, Path], result: SceneResult, record: dict[str, Any], inputs: Sequence[str | Path]
) -> None:
    """Every chosen output of a scene, as one set: a failed write keeps the previous outputs and
    their record; the record comes back last, once they all exist."""
    done = Done(paths["done"])
    files = {name: path for name, path in paths.items() if name != "done"}
    with done.rewriting():
        for name, path in files.items():
            if name in OUTPUTS:  # a sidecar is written by its output's writer
                OUTPUTS[name].write(path, result)
    done.write(files.values(), record, inputs)


def finished(paths: dict[str, Path], settings: dict, inputs: Sequence[str | Path]) -> bool:
    """This scene was mapped with these settings from these inputs as they are now, and every output
    is there as it was written."""
    outputs = [path for name, path in paths.items() if name != "done"]
    return Done(paths["done"]).finished(outputs, {"settings": settings}, inputs) is not None


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
