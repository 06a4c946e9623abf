"""The Kaggle submission, defined once: `image_name,tags` (space-separated tags in label order),
rows in the sample submission's order when one is given, and the probabilities beside it in
`<stem>_probs.csv`, so that a submission never stands without the numbers it came from."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from amazon_cls.core.labels import PROB_COLUMNS, vector_to_tags
from amazon_cls.core.metric import predict_labels
from amazon_cls.data.layout import read_name_table
from amazon_cls.store.atomic import output_set, write_csv

log = logging.getLogger(__name__)


def submission_frame(names: Sequence[str], y_pred: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"image_name": list(names), "tags": [vector_to_tags(row) for row in y_pred]})


def probs_path(output: str | Path) -> Path:
    """Where a submission's probabilities go: beside it, as `<stem>_probs.csv`."""
    output = Path(output)
    return output.with_name(f"{output.stem}_probs.csv")


def order_like(frame: pd.DataFrame, order_csv: str | Path) -> pd.DataFrame:
    """Rows in exactly the order of `order_csv` (a sample submission); the two row sets must match."""
    order = read_name_table(Path(order_csv), ["image_name"], "order file")["image_name"]
    missing = pd.Index(order).difference(frame["image_name"])
    extra = pd.Index(frame["image_name"]).difference(order)
    if len(missing) or len(extra) or not order.is_unique:
        raise ValueError(
            f"{order_csv}: row sets differ: {len(missing)} chips listed there were not predicted "
            f"(e.g. {list(missing[:3])}), {len(extra)} predicted chips are not listed (e.g. {list(extra[:3])})"
            + ("" if order.is_unique else ", and it lists some chips twice")
        )
    return frame.set_index("image_name").loc[order].reset_index()


# What a spreadsheet takes for the start of a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NOT_ESCAPED = (
    "a spreadsheet opening the file may run them (written as they are, as Kaggle needs them; "
    "escape_formulas=true writes a ' before them for files meant for spreadsheets)"
)


def formula_like(names: pd.Series) -> list[str]:
    """The chip names a spreadsheet would run as formulas."""
    return [name for name in names if name.startswith(FORMULA_STARTS)]


def escaped(names: pd.Series) -> pd.Series:
    """Names a spreadsheet shows as text: a `'` before those that start like a formula (OWASP's advice)."""
    return names.map(lambda name: f"'{name}" if name.startswith(FORMULA_STARTS) else name)


def write_submission(
    output: str | Path,
    probs: pd.DataFrame,
    thresholds: np.ndarray,
    weather_rules: bool = False,
    order: str | Path | None = None,
    escape_formulas: bool = False,
) -> tuple[Path, Path]:
    """`image_name,tags` at `output` and the probabilities at `<output stem>_probs.csv`, as one set:
    the two never come from different runs, and a failed write keeps both old files. Chip names
    that a spreadsheet would run as formulas are warned about, by name; Kaggle needs them as they
    are, so they are escaped only with `escape_formulas` (for files meant for spreadsheets)."""
    if order:
        probs = order_like(probs, order)
    if risky := formula_like(probs["image_name"]):
        shown = ", ".join(map(repr, risky[:10])) + (f" and {len(risky) - 10} more" if len(risky) > 10 else "")
        done = "they are written with a ' before them" if escape_formulas else NOT_ESCAPED
        log.warning("%d chip name(s) start like a spreadsheet formula: %s; %s", len(risky), shown, done)
    if escape_formulas:
        probs = probs.assign(image_name=escaped(probs["image_name"]))
    y_pred = predict_labels(probs[PROB_COLUMNS].to_numpy(), thresholds, weather_rules)
    output = Path(output)
    with output_set():
        write_csv(probs_path(output), probs)
        write_csv(output, submission_frame(probs["image_name"], y_pred))
    return output, probs_path(output)
