"""The competition metric and threshold fitting, defined once for the whole project.

Kaggle scored F-beta with beta=2 *per chip* and averaged over chips
(`sklearn.metrics.fbeta_score(y, y_hat, beta=2, average="samples")`). torchmetrics'
multilabel F-beta averages over labels instead, so it cannot stand in for it here.
A chip with no true and no predicted label scores 0, as in sklearn's default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from amazon_cls.labels import LABEL_INDEX, LABELS, RARE, WEATHER

BETA2 = 4.0  # beta squared, beta = 2: recall weighs four times as much as precision
THRESHOLD_GRID = np.round(np.arange(1, 101) / 100, 2)  # 0.01 ... 1.00; a label is on when p > t
START_THRESHOLD = 0.2
_TIE = 1e-12


def _f2_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    numerator = (1 + BETA2) * tp
    denominator = numerator + BETA2 * fn + fp
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64), where=denominator > 0)


def _counts(y_true: np.ndarray, y_pred: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives per chip (axis=1) or per label (axis=0)."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    tp = (y_true & y_pred).sum(axis=axis).astype(np.float64)
    fp = (~y_true & y_pred).sum(axis=axis).astype(np.float64)
    fn = (y_true & ~y_pred).sum(axis=axis).astype(np.float64)
    return tp, fp, fn


def chip_f2_scores(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """F2 of every chip (rows of 0/1 matrices of shape chips x labels)."""
    return _f2_from_counts(*_counts(y_true, y_pred, axis=1))


def chip_f2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The Kaggle score: per-chip F2 averaged over chips."""
    return float(chip_f2_scores(y_true, y_pred).mean())


def binarize(probs: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """Labels on where the probability is strictly above its label's threshold."""
    return np.asarray(probs) > np.asarray(thresholds)


def apply_weather_rules(probs: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Exactly one weather label per chip (the most probable), and nothing else on a cloudy chip."""
    weather = [LABEL_INDEX[name] for name in WEATHER]
    y_pred = np.array(y_pred, dtype=bool, copy=True)
    chosen = np.asarray(weather)[np.argmax(np.asarray(probs)[:, weather], axis=1)]
    y_pred[:, weather] = False
    y_pred[np.arange(len(y_pred)), chosen] = True
    y_pred[chosen == LABEL_INDEX["cloudy"]] = False
    y_pred[chosen == LABEL_INDEX["cloudy"], LABEL_INDEX["cloudy"]] = True
    return y_pred


def predict_labels(probs: np.ndarray, thresholds: np.ndarray | float, weather_rules: bool = False) -> np.ndarray:
    """0/1 predictions: thresholds, then (optionally) the weather rules."""
    y_pred = binarize(probs, thresholds)
    return apply_weather_rules(probs, y_pred) if weather_rules else y_pred


def fit_thresholds(probs: np.ndarray, y_true: np.ndarray, max_passes: int = 20) -> np.ndarray:
    """Per-label thresholds maximising chip-averaged F2 by coordinate ascent.

    Starts every label at 0.2 and, label by label, moves it to the best point of the 0.01 grid
    with the others fixed; passes repeat until no label improves. Never lowers the F2 of the start.

    With the other labels fixed, a chip's F2 takes one of two values (label on / off), so the
    score at grid point k is sum(f_off) + the sum of (f_on - f_off) over chips whose probability
    is above it: one weighted histogram over grid cells scores the whole grid at once. Gives the
    thresholds of `fit_thresholds_reference`, thousands of times faster.
    """
    probs = np.asarray(probs, dtype=np.float64)
    truth = np.asarray(y_true, dtype=bool)
    thresholds = np.full(probs.shape[1], START_THRESHOLD)
    y_pred = binarize(probs, thresholds)
    tp, fp, fn = _counts(truth, y_pred, axis=1)
    current = _f2_from_counts(tp, fp, fn).sum()
    # one row per label (contiguous), as 0/1 floats
    cells = _grid_cells(probs).T.copy()  # label on at grid point k <=> k < cell
    positives = truth.T.astype(np.float64)
    predicted = y_pred.T.astype(np.float64)
    for _ in range(max_passes):
        improved = False
        for label in range(probs.shape[1]):
            positive, negative, on = positives[label], 1.0 - positives[label], predicted[label]
            tp -= positive * on  # leaves the other labels' counts
            fp -= negative * on
            fn -= positive * (1.0 - on)
            f_on = _f2_from_counts(tp + positive, fp + negative, fn)
            f_off = _f2_from_counts(tp, fp, fn + positive)
            gain = np.bincount(cells[label], weights=f_on - f_off, minlength=len(THRESHOLD_GRID) + 1)
            scores = f_off.sum() + np.cumsum(gain[::-1])[::-1][1:]  # scores[k]: chips with cell > k are on
            best = int(np.flatnonzero(scores >= scores.max() - _TIE)[0])
            if scores[best] > current + _TIE:
                thresholds[label] = THRESHOLD_GRID[best]
                predicted[label] = cells[label] > best
                current = scores[best]
                improved = True
            on = predicted[label]
            tp += positive * on
            fp += negative * on
            fn += positive * (1.0 - on)
        if not improved:
            break
    return thresholds


def _grid_cells(probs: np.ndarray) -> np.ndarray:
    """For every probability, how many grid thresholds lie strictly below it (0..100).

    Arithmetic first guess, then one exact correction against the grid's float values (a binary
    search per value would cost more than the whole threshold fit).
    """
    grid = np.concatenate([THRESHOLD_GRID, [np.inf]])
    cells = np.clip(np.ceil(probs * 100).astype(np.int64) - 1, 0, len(THRESHOLD_GRID))
    cells += grid[cells] < probs
    cells -= (cells > 0) & (grid[np.maximum(cells - 1, 0)] >= probs)
    return cells


def fit_thresholds_reference(
    probs: np.ndarray, y_true: np.ndarray, max_passes: int = 20, score: Callable[..., float] = chip_f2
) -> np.ndarray:
    """The same coordinate ascent, scoring each candidate with a full F2 evaluation `score(y, y_hat)`.

    Slow (one F2 per candidate and label); kept as the definition that tests and `make bench`
    check `fit_thresholds` against (the bench passes sklearn's F2, the way it is usually written).
    """
    probs = np.asarray(probs, dtype=np.float64)
    chips = len(probs)
    thresholds = np.full(probs.shape[1], START_THRESHOLD)
    current = score(y_true, binarize(probs, thresholds)) * chips
    for _ in range(max_passes):
        improved = False
        for label in range(probs.shape[1]):
            scores = []
            for candidate in THRESHOLD_GRID:
                trial = thresholds.copy()
                trial[label] = candidate
                scores.append(score(y_true, binarize(probs, trial)) * chips)
            scores = np.asarray(scores)
            best = int(np.flatnonzero(scores >= scores.max() - _TIE)[0])
            if scores[best] > current + _TIE:
                thresholds[label] = THRESHOLD_GRID[best]
                current = scores[best]
                improved = True
        if not improved:
            break
    return thresholds


def per_label_report(y_true: np.ndarray, y_pred: np.ndarray, thresholds: np.ndarray | None = None) -> pd.DataFrame:
    """Support, precision, recall and F2 of every label (zero where undefined)."""
    tp, fp, fn = _counts(y_true, y_pred, axis=0)
    report = pd.DataFrame(
        {
            "label": list(LABELS),
            "support": (tp + fn).astype(int),
            "predicted": (tp + fp).astype(int),
            "precision": np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0),
            "recall": np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0),
            "f2": _f2_from_counts(tp, fp, fn),
        }
    )
    if thresholds is not None:
        report["threshold"] = np.asarray(thresholds, dtype=np.float64)
    return report


@dataclass
class ValidationResult:
    """Every validation chip exactly once, with its probabilities, targets and the fitted thresholds."""

    index: np.ndarray
    probs: np.ndarray  # averaged over the TTA views when TTA is on
    probs_plain: np.ndarray  # the plain view alone
    targets: np.ndarray
    thresholds: np.ndarray

    def scores(self) -> dict[str, float]:
        clear_primary = np.zeros_like(self.targets, dtype=bool)
        clear_primary[:, [LABEL_INDEX["clear"], LABEL_INDEX["primary"]]] = True
        return {
            "val/f2@0.5": chip_f2(self.targets, binarize(self.probs, 0.5)),
            "val/f2@0.2": chip_f2(self.targets, binarize(self.probs, START_THRESHOLD)),
            "val/f2": chip_f2(self.targets, binarize(self.probs, self.thresholds)),
            "val/f2_clear_primary": chip_f2(self.targets, clear_primary),
            "val/rare_f2": float(self.report.set_index("label").loc[list(RARE), "f2"].mean()),
        }

    @cached_property
    def report(self) -> pd.DataFrame:
        """Per-label support, precision, recall, F2 and threshold (computed once, fields never change)."""
        return per_label_report(self.targets, binarize(self.probs, self.thresholds), self.thresholds)
