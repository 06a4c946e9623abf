"""`<scene>_summary.csv`: chips per label and the area their cells cover, in hectares (a cell is
the stride square around a chip's centre, clipped to the scene, so overlapping chips and padded
edges count only the ground they speak for)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from amazon_cls.core.labels import LABELS
from amazon_cls.geo.grid import cells_frame, hectares
from amazon_cls.geo.outputs import OUTPUTS, Output, SceneResult
from amazon_cls.store.atomic import write_csv


def summary_table(result: SceneResult) -> pd.DataFrame:
    area = hectares(cells_frame(result.scene, result.grid, result.cells))
    positive = result.labels.astype(bool)
    return pd.DataFrame(
        {"label": list(LABELS), "chips": positive.sum(0), "hectares": [area[column].sum() for column in positive.T]}
    )


def write_summary(path: Path, result: SceneResult) -> Path:
    return write_csv(path, summary_table(result))


OUTPUTS.register("summary")(Output("_summary.csv", write_summary))
