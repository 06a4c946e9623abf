"""What one validation pass yields: every chip once, its probabilities and targets, the
thresholds fitted on them, and the scores every run reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from amazon_cls.core.labels import LABEL_INDEX, RARE
from amazon_cls.core.metric import binarize, chip_f2, per_label_report
from amazon_cls.core.thresholds import START_THRESHOLD, cross_fitted

# The scores of a validation pass, as TensorBoard and metrics.json name them, and as a person reads them.
SCORES = {
    "val/f2@0.5": "F2, every label at 0.5",
    "val/f2@0.2": "F2, every label at 0.2",
    "val/f2": "F2, fitted thresholds",
    "val/f2_clear_primary": "F2 of 'clear primary' everywhere",
    "val/rare_f2": "mean F2 of the rare labels",
    "val/f2_cross_fitted": "F2, thresholds cross-fitted",
    "val/rare_f2_cross_fitted": "rare labels' F2, cross-fitted",
}


@dataclass
class ValidationResult:
    """Every validation chip exactly once, with its probabilities, targets and the fitted thresholds."""

    index: np.ndarray
    probs: np.ndarray  # averaged over the TTA views when TTA is on
    probs_plain: np.ndarray  # the plain view alone
    targets: np.ndarray
    thresholds: np.ndarray  # fitted on `probs`
    view: str = "none"  # the TTA of `probs`
    names: Sequence[str] | None = None  # the chips' names, which decide the cross-fitted halves
    rare_weight: float = 0.0  # the thresholds' objective (core.thresholds.rare_objective), cross-fitted too

    def scores(self) -> dict[str, float]:
        clear_primary = np.zeros_like(self.targets, dtype=bool)
        clear_primary[:, [LABEL_INDEX["clear"], LABEL_INDEX["primary"]]] = True
        return {
            "val/f2@0.5": chip_f2(self.targets, binarize(self.probs, 0.5)),
            "val/f2@0.2": chip_f2(self.targets, binarize(self.probs, START_THRESHOLD)),
            "val/f2": chip_f2(self.targets, binarize(self.probs, self.thresholds)),
            "val/f2_clear_primary": chip_f2(self.targets, clear_primary),
            "val/rare_f2": rare_f2(self.report),
            **self.cross_fitted_scores(),
        }

    def cross_fitted_scores(self) -> dict[str, float]:
        """The F2 of thresholds fitted on one half of these chips and scored on the other (and the
        other way round): what unseen chips would score, where in-sample thresholds flatter rare labels."""
        f2, rare = cross_fitted_f2(self.probs, self.targets, self.names, self.rare_weight)
        return {"val/f2_cross_fitted": f2, "val/rare_f2_cross_fitted": rare}

    @cached_property
    def report(self) -> pd.DataFrame:
        """Per-label support, precision, recall, F2 and threshold (computed once, fields never change)."""
        return per_label_report(self.targets, binarize(self.probs, self.thresholds), self.thresholds)


def rare_f2(report: pd.DataFrame) -> float:
    return float(report.set_index("label").loc[list(RARE), "f2"].mean())


def cross_fitted_f2(
    probs: np.ndarray, targets: np.ndarray, names: Sequence[str] | None = None, rare_weight: float = 0.0
) -> tuple[float, float]:
    """F2 and the rare labels' mean F2 with thresholds fitted on one half of the chips and scored on
    the other (and the other way round): what every report shows beside the in-sample figures. The
    chips' names choose the halves, so every report of the same chips agrees."""
    y_pred, _ = cross_fitted(probs, targets, parts=2, seed=0, names=names, rare_weight=rare_weight)
    return chip_f2(targets, y_pred), rare_f2(per_label_report(targets, y_pred))


def format_scores(metrics: dict[str, float]) -> str:
    """The scores of `metrics` that are known, one per line, with their readable names."""
    return "\n".join(f"  {name:<34} {metrics[key]:.4f}" for key, name in SCORES.items() if key in metrics)
