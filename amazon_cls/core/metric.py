"""The competition metric and threshold fitting, defined once for the whole project.

Kaggle scored F-beta with beta=2 *per chip* and averaged over chips
(`sklearn.metrics.fbeta_score(y, y_hat, beta=2, average="samples")`). torchmetrics'
multilabel F-beta averages over labels instead, so it cannot stand in for it here.
A chip with no true and no predicted label scores 0, as in sklearn's default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from amazon_cls.core.labels import LABEL_INDEX, LABELS, WEATHER

BETA2 = 4.0  # beta squared, beta = 2: recall weighs four times as much as precision


def f2_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F2 from true positives, false positives and false negatives (0 where all three are 0), so that
    threshold searches and bootstraps score many candidates from counts without the chips."""
    numerator = (1 + BETA2) * tp
    denominator = numerator + BETA2 * fn + fp
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64), where=denominator > 0)


def error_counts(y_true: np.ndarray, y_pred: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives per chip (axis=1) or per label (axis=0)."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    tp = (y_true & y_pred).sum(axis=axis).astype(np.float64)
    fp = (~y_true & y_pred).sum(axis=axis).astype(np.float64)
    fn = (y_true & ~y_pred).sum(axis=axis).astype(np.float64)
    return tp, fp, fn


def chip_f2_scores(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """F2 of every chip (rows of 0/1 matrices of shape chips x labels)."""
    return f2_from_counts(*error_counts(y_true, y_pred, axis=1))


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


def per_label_report(y_true: np.ndarray, y_pred: np.ndarray, thresholds: np.ndarray | None = None) -> pd.DataFrame:
    """Support, precision, recall and F2 of every label (zero where undefined)."""
    tp, fp, fn = error_counts(y_true, y_pred, axis=0)
    report = pd.DataFrame(
        {
            "label": list(LABELS),
            "support": (tp + fn).astype(int),
            "predicted": (tp + fp).astype(int),
            "precision": np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0),
            "recall": np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0),
            "f2": f2_from_counts(tp, fp, fn),
        }
    )
    if thresholds is not None:
        report["threshold"] = np.asarray(thresholds, dtype=np.float64)
    return report
