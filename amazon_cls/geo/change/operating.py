"""The operating point of alerts. F2 thresholds favour recall (on a mosaic of real chips they put
8-10 tags on a chip); an alert system must be right when it speaks. With `precision`, each change
label is on above the lowest threshold whose out-of-fold precision reaches the target; where no
threshold reaches it, the F2 threshold stays, and the report says so. The other labels (primary,
the weather) keep their F2 thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from amazon_cls.core.labels import LABEL_INDEX
from amazon_cls.core.metric import per_label_report
from amazon_cls.core.thresholds import precision_thresholds
from amazon_cls.geo.config import OPERATING_POINTS as MODES


def operating_point(
    f2_thresholds: np.ndarray,
    probs: np.ndarray | None,
    targets: np.ndarray | None,
    change: tuple[str, ...],
    mode: str,
    target: float,
) -> tuple[np.ndarray, pd.DataFrame]:
    """The thresholds alerts use, and per change label: threshold, where it comes from, and the
    precision and recall expected of it on the out-of-fold chips."""
    if mode not in MODES:
        raise ValueError(f"operating_point={mode!r}: choose one of {MODES}")
    thresholds = np.array(f2_thresholds, dtype=np.float64)
    columns = [LABEL_INDEX[label] for label in change]
    origin = ["F2"] * len(change)
    if mode == "precision":
        chosen, _, _ = precision_thresholds(probs[:, columns], targets[:, columns], target)
        for k, (column, value) in enumerate(zip(columns, chosen, strict=True)):
            if np.isfinite(value):
                thresholds[column], origin[k] = value, f"precision {target:g}"
            else:
                origin[k] = f"F2 (precision {target:g} not reached)"
    table = pd.DataFrame({"label": list(change), "threshold": thresholds[columns], "from": origin})
    if probs is not None:
        report = per_label_report(targets, probs > thresholds, thresholds).set_index("label").loc[list(change)]
        table["precision"], table["recall"] = report["precision"].to_numpy(), report["recall"].to_numpy()
        table["support"] = report["support"].to_numpy()
    return thresholds, table
