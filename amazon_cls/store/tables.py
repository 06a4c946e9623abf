"""The probability tables every stage exchanges, defined once: their columns and how they are read.

image_name, p_<label> x17                    test probabilities, ensembles, a submission's `_probs`
image_name, fold, p_<label> x17, t_<label> x17   out-of-fold predictions with their targets
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from amazon_cls.core.labels import PROB_COLUMNS, TARGET_COLUMNS


def probability_frame(names: Sequence[str], probs: np.ndarray) -> pd.DataFrame:
    """image_name + p_<label> x17."""
    return pd.concat([pd.DataFrame({"image_name": list(names)}), pd.DataFrame(probs, columns=PROB_COLUMNS)], axis=1)


def validation_frame(names: Sequence[str], fold: int, probs: np.ndarray, targets: np.ndarray) -> pd.DataFrame:
    """The out-of-fold table an ensemble reads: image_name, fold, p_<label> x17, t_<label> x17."""
    return pd.concat(
        [
            pd.DataFrame({"image_name": list(names), "fold": fold}),
            pd.DataFrame(probs, columns=PROB_COLUMNS),
            pd.DataFrame(targets.astype(np.int8), columns=TARGET_COLUMNS),
        ],
        axis=1,
    )


def read_frame(path: Path) -> pd.DataFrame | None:
    """A probability table indexed by chip name (names read as strings), or None if absent; a
    damaged file (truncated, other columns, values outside [0, 1]) is an error naming it."""
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(
            path, dtype={"image_name": str}, keep_default_na=False, na_values={c: [""] for c in PROB_COLUMNS}
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path}: damaged probability file ({error})") from None
    missing = [column for column in ["image_name", *PROB_COLUMNS] if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a probability file of this project's 17 labels (missing {missing[:3]} ...)")
    probs = frame[PROB_COLUMNS].apply(pd.to_numeric, errors="coerce").to_numpy()
    bad = np.flatnonzero(~((probs >= 0) & (probs <= 1)).all(axis=1))
    if len(bad):
        raise ValueError(
            f"{path}: damaged probability file: {len(bad)} rows with missing or out-of-range "
            f"probabilities (first: line {bad[0] + 2})"
        )
    return frame.set_index("image_name")


def split_frame(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and targets of an out-of-fold table."""
    return frame[PROB_COLUMNS].to_numpy(), frame[TARGET_COLUMNS].to_numpy()


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A frame as a Markdown table (the reports' form), floats to `digits` decimals."""
    cell = lambda v: f"{v:.{digits}f}" if isinstance(v, float) else str(v)  # noqa: E731
    header = "| " + " | ".join(map(str, frame.columns)) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return header + "\n".join("| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False))
