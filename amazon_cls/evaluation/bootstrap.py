"""Uncertainty of a score on a finite set of chips: chips resampled with replacement, the
predictions (and thresholds) fixed.

Each draw is a vector of how many times each chip is drawn, so any score that is a sum over chips
is one matrix product per batch of draws: the chip-averaged F2 (a mean of per-chip scores), and a
label's F2 (from its true and false positive counts). A comparison scores both sides on the same
draws (paired), so that what the chips share cancels, and calls a difference significant only
when its interval excludes zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from amazon_cls.core.labels import LABEL_INDEX
from amazon_cls.core.metric import chip_f2_scores, f2_from_counts

Statistic = Callable[[np.ndarray], np.ndarray]  # chip multiplicities (draws x chips) -> one value per draw
_BATCH = 100  # draws per matrix product


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    confidence: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def describe(self) -> str:
        return f"{self.estimate:.4f} [{self.low:.4f}, {self.high:.4f}]"

    def to_json(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "confidence": self.confidence}


class Bootstrap:
    """`draws` resamplings of `chips` chips, seeded: every statistic, and both sides of every
    comparison, see the same draws."""

    def __init__(self, chips: int, draws: int = 1000, seed: int = 0, confidence: float = 0.95) -> None:
        if chips < 1 or draws < 1:
            raise ValueError(f"a bootstrap needs chips and draws (got {chips} chips, {draws} draws)")
        self.chips, self.draws, self.seed, self.confidence = chips, draws, seed, confidence
        rng = np.random.default_rng(seed)
        counts = np.zeros((draws, chips), dtype=np.uint8)  # a chip drawn > 255 times in one draw: never
        for start in range(0, draws, _BATCH):
            rows = min(_BATCH, draws - start)
            picked = rng.integers(0, chips, (rows, chips)) + np.arange(rows)[:, None] * chips
            counts[start : start + rows] = np.bincount(picked.ravel(), minlength=rows * chips).reshape(rows, chips)
        self.error_counts = counts

    def values(self, statistic: Statistic) -> np.ndarray:
        """The statistic on every draw."""
        return np.concatenate(
            [
                statistic(self.error_counts[start : start + _BATCH].astype(np.float64))
                for start in range(0, self.draws, _BATCH)
            ]
        )

    def interval(self, statistic: Statistic) -> Interval:
        """The statistic on all chips and its percentile interval over the draws."""
        return self._interval(statistic(np.ones((1, self.chips)))[0], self.values(statistic))

    def paired(self, first: Statistic, second: Statistic) -> tuple[Interval, float]:
        """first - second on the same draws: its interval, and the share of draws in which the first is higher."""
        difference = lambda weights: first(weights) - second(weights)  # noqa: E731
        values = self.values(difference)
        return self._interval(difference(np.ones((1, self.chips)))[0], values), float((values > 0).mean())

    def _interval(self, estimate: float, values: np.ndarray) -> Interval:
        tail = (1 - self.confidence) / 2 * 100
        low, high = np.percentile(values, [tail, 100 - tail])
        return Interval(float(estimate), float(low), float(high), self.confidence)


def chip_f2_statistic(y_true: np.ndarray, y_pred: np.ndarray) -> Statistic:
    """The chip-averaged F2 (the Kaggle score) of resampled chips."""
    scores = chip_f2_scores(y_true, y_pred)
    return lambda weights: weights @ scores / weights.sum(axis=1)


def label_f2_statistic(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> Statistic:
    """The mean over `labels` of each label's F2 (from its counts on the resampled chips)."""
    columns = [LABEL_INDEX[label] for label in labels]
    truth, predicted = np.asarray(y_true, bool)[:, columns], np.asarray(y_pred, bool)[:, columns]
    tp, fp, fn = (
        (truth & predicted).astype(float),
        (~truth & predicted).astype(float),
        (truth & ~predicted).astype(float),
    )
    return lambda weights: f2_from_counts(weights @ tp, weights @ fp, weights @ fn).mean(axis=1)
