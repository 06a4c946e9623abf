"""Figures drawn for files, not screens: matplotlib's object API (no pyplot state, no backend to
choose), saved atomically like every other output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from amazon_cls.store.atomic import write_atomic


def new_figure(*grid: int, figsize: tuple[float, float], dpi: float = 100, squeeze: bool = True) -> tuple[Figure, Any]:
    """A figure and its axes (`grid`: rows, columns; none: one axes; `squeeze=False`: always a 2-D array)."""
    figure = Figure(figsize=figsize, dpi=dpi)
    return figure, figure.subplots(*grid, squeeze=squeeze)


def save_figure(figure: Figure, path: Path, dpi: float | None = None) -> Path:
    return write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
