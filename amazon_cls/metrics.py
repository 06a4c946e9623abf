"""The competition metric and threshold fitting, defined once for the whole project.

Kaggle scored F-beta with beta=2 *per chip* and averaged over chips
(`sklearn.metrics.fbeta_score(y, y_hat, beta=2, average="samples")`). torchmetrics'
multilabel F-beta averages over labels instead, so it cannot stand in for it here.
A chip with no true and no predicted label scores 0, as in sklearn's default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from amazon_cls.labels import LABEL_INDEX, LABELS, WEATHER

BETA2 = 4.0  # beta squared, beta = 2: recall weighs four times as much as precision
THRESHOLD_GRID = np.round(np.arange(1, 101) / 100, 2)  # 0.01 ... 1.00; a label is on when p > t
START_THRESHOLD = 0.2
_TIE = 1e-12


def _f2_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    numerator = (1 + BETA2) * tp
    denominator = numerator + BETA2 * fn + fp
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64), where=denominator > 0)


def chip_f2_scores(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """F2 of every chip (rows of 0/1 matrices of shape chips x labels)."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    tp = (y_true & y_pred).sum(axis=1).astype(np.float64)
    fp = (~y_true & y_pred).sum(axis=1).astype(np.float64)
    fn = (y_true & ~y_pred).sum(axis=1).astype(np.float64)
    return _f2_from_counts(tp, fp, fn)


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


def _grid_scores_for_label(probs: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, label: int) -> np.ndarray:
    """Summed chip F2 for every grid threshold of one label, the other labels' predictions fixed.

    Each chip's F2 takes one of two values (label on / off), so the score at threshold t is
    sum(f_off) + sum of (f_on - f_off) over chips with p > t: one sort and one cumulative sum
    score the whole grid, instead of one full F2 evaluation per candidate.
    """
    truth = y_true[:, label]
    others_true = np.delete(y_true, label, axis=1)
    others_pred = np.delete(y_pred, label, axis=1)
    tp = (others_true & others_pred).sum(axis=1).astype(np.float64)
    fp = (~others_true & others_pred).sum(axis=1).astype(np.float64)
    fn = (others_true & ~others_pred).sum(axis=1).astype(np.float64)
    f_on = _f2_from_counts(tp + truth, fp + ~truth, fn)
    f_off = _f2_from_counts(tp, fp, fn + truth)

    order = np.argsort(probs[:, label], kind="stable")
    sorted_probs = probs[order, label]
    gain_above = np.concatenate([np.cumsum((f_on - f_off)[order][::-1])[::-1], [0.0]])
    first_above = np.searchsorted(sorted_probs, THRESHOLD_GRID, side="right")
    return f_off.sum() + gain_above[first_above]


def fit_thresholds(probs: np.ndarray, y_true: np.ndarray, max_passes: int = 20) -> np.ndarray:
    """Per-label thresholds maximising chip-averaged F2 by coordinate ascent.

    Starts every label at 0.2 and, label by label, moves it to the best point of the 0.01 grid
    with the others fixed; passes repeat until no label improves. Never lowers the F2 of the start.
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=bool)
    thresholds = np.full(probs.shape[1], START_THRESHOLD)
    y_pred = binarize(probs, thresholds)
    current = chip_f2_scores(y_true, y_pred).sum()
    for _ in range(max_passes):
        improved = False
        for label in range(probs.shape[1]):
            scores = _grid_scores_for_label(probs, y_true, y_pred, label)
            best = int(np.flatnonzero(scores >= scores.max() - _TIE)[0])
            if scores[best] > current + _TIE:
                thresholds[label] = THRESHOLD_GRID[best]
                y_pred[:, label] = probs[:, label] > thresholds[label]
                current = scores[best]
                improved = True
        if not improved:
            break
    return thresholds


def fit_thresholds_reference(probs: np.ndarray, y_true: np.ndarray, max_passes: int = 20) -> np.ndarray:
    """The same coordinate ascent, scoring each candidate with a full F2 evaluation.

    Slow (one F2 per candidate and label); kept as the definition that tests and `make bench`
    check `fit_thresholds` against.
    """
    probs = np.asarray(probs, dtype=np.float64)
    thresholds = np.full(probs.shape[1], START_THRESHOLD)
    current = chip_f2_scores(y_true, binarize(probs, thresholds)).sum()
    for _ in range(max_passes):
        improved = False
        for label in range(probs.shape[1]):
            scores = []
            for candidate in THRESHOLD_GRID:
                trial = thresholds.copy()
                trial[label] = candidate
                scores.append(chip_f2_scores(y_true, binarize(probs, trial)).sum())
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
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    tp = (y_true & y_pred).sum(axis=0).astype(np.float64)
    fp = (~y_true & y_pred).sum(axis=0).astype(np.float64)
    fn = (y_true & ~y_pred).sum(axis=0).astype(np.float64)
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
