"""Per-label decision thresholds: fitted to maximise the chip-averaged F2 (or, with a
`rare_weight`, that plus the rare labels' mean F2: an alert's operating point), and kept with the
view they were fitted under.

A label is on when its probability is above its threshold. Probabilities of the plain view and of
the 8 dihedral views averaged (`tta=d4`) differ, and so do the thresholds that suit them, so a
`Thresholds` value maps each view it was fitted under to 17 thresholds in label order, and refuses
to serve a view it was not fitted under. Its JSON form, in checkpoints, `thresholds.json` and
`combination.json`, is `{view: {label: threshold}}`; a flat `{label: threshold}` file (written by
hand, or by an older version) has no known view and is used for any view with a warning.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amazon_cls.core.labels import LABELS, NUM_LABELS, RARE, RARE_INDEX
from amazon_cls.core.metric import binarize, chip_f2, error_counts, f2_from_counts

log = logging.getLogger(__name__)
THRESHOLD_GRID = np.round(np.arange(1, 101) / 100, 2)  # 0.01 ... 1.00; a label is on when p > t
START_THRESHOLD = 0.2
UNKNOWN_VIEW = "unknown"  # a flat file's view
_TIE = 1e-12


class ThresholdError(ValueError):
    """Thresholds that cannot serve what is asked: unreadable, incomplete, or of another view."""


@dataclass(frozen=True)
class Thresholds:
    """Thresholds per view (`none`, `d4`, ...), each 17 values in label order; `source` names
    where they come from in messages."""

    views: Mapping[str, np.ndarray]
    source: str = field(default="", compare=False)

    @classmethod
    def fitted(
        cls, view: str, probs: np.ndarray, targets: np.ndarray, source: str = "", rare_weight: float = 0.0
    ) -> Thresholds:
        return cls({view: fit_thresholds(probs, targets, rare_weight=rare_weight)}, source)

    @classmethod
    def start(cls, source: str = "") -> Thresholds:
        """Every label at START_THRESHOLD: what a model has before any fitting, for no view in particular."""
        return cls({UNKNOWN_VIEW: np.full(len(LABELS), START_THRESHOLD)}, source)

    def merged(self, other: Thresholds) -> Thresholds:
        """These views and `other`'s; `other` wins where both have a view."""
        return Thresholds({**self.views, **other.views}, other.source or self.source)

    def of_view(self, view: str) -> np.ndarray:
        """The thresholds fitted under `view`; another view is refused, not silently applied."""
        if view in self.views:
            return np.asarray(self.views[view], dtype=np.float64)
        if UNKNOWN_VIEW in self.views:
            log.warning("%s: thresholds of an unknown view (a file without one), used for tta=%s", self.source, view)
            return np.asarray(self.views[UNKNOWN_VIEW], dtype=np.float64)
        fitted = ", ".join(f"tta={name}" for name in self.views)
        raise ThresholdError(
            f"{self.source}: its thresholds were fitted under {fitted}, not tta={view}; predict with "
            f"{fitted}, or give thresholds=<a thresholds.json fitted under tta={view}>"
        )

    def to_json(self) -> dict[str, dict[str, float]]:
        return {
            view: dict(zip(LABELS, np.asarray(values, dtype=np.float64).tolist(), strict=True))
            for view, values in self.views.items()
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> Thresholds:
        """From `{view: {label: t}}`, or a flat `{label: t}` (view unknown); checked: every label
        once, every value a number in [0, 1]."""
        if isinstance(data, dict) and data and all(isinstance(value, dict) for value in data.values()):
            return cls({view: _label_vector(values, f"{source} ({view})") for view, values in data.items()}, source)
        return cls({UNKNOWN_VIEW: _label_vector(data, source)}, source)

    @classmethod
    def read(cls, path: str | Path) -> Thresholds:
        """A thresholds JSON file; any problem is an error naming it."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ThresholdError(f"{path}: not a readable thresholds file ({error})") from None
        return cls.from_json(data, str(path))


def _label_vector(thresholds: Any, source: str) -> np.ndarray:
    if not isinstance(thresholds, dict) or sorted(thresholds) != sorted(LABELS):
        found = sorted(thresholds) if isinstance(thresholds, dict) else type(thresholds).__name__
        raise ThresholdError(f"{source}: needs each of the 17 labels exactly once as a key; found {found}")
    bad = {label: value for label, value in thresholds.items() if not _is_probability(value)}
    if bad:
        raise ThresholdError(f"{source}: thresholds must be numbers in [0, 1]; found {bad}")
    return np.array([thresholds[label] for label in LABELS], dtype=np.float64)


def _is_probability(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def fit_thresholds(probs: np.ndarray, y_true: np.ndarray, max_passes: int = 20, rare_weight: float = 0.0) -> np.ndarray:
    """Per-label thresholds maximising chip-averaged F2 by coordinate ascent, plus, with
    `rare_weight`, that weight times the mean F2 of the rare labels (`rare_objective`).

    Starts every label at 0.2 and, label by label, moves it to the best point of the 0.01 grid
    with the others fixed; passes repeat until no label improves. Never lowers the objective of the start.

    With the other labels fixed, a chip's F2 takes one of two values (label on / off), so the
    score at grid point k is sum(f_off) + the sum of (f_on - f_off) over chips whose probability
    is above it: one weighted histogram over grid cells scores the whole grid at once (and two
    more, the label's own F2). Gives the thresholds of `fit_thresholds_reference`, thousands of
    times faster.
    """
    probs = np.asarray(probs, dtype=np.float64)
    truth = np.asarray(y_true, dtype=bool)
    thresholds = np.full(probs.shape[1], START_THRESHOLD)
    y_pred = binarize(probs, thresholds)
    tp, fp, fn = error_counts(truth, y_pred, axis=1)
    # the objective, as a sum over chips: chips x rare_weight / len(RARE) of each rare label's F2
    label_weight = len(probs) * rare_weights(probs.shape[1], rare_weight)
    label_terms = label_weight * f2_from_counts(*error_counts(truth, y_pred, axis=0))
    current = f2_from_counts(tp, fp, fn).sum() + label_terms.sum()
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
            f_on = f2_from_counts(tp + positive, fp + negative, fn)
            f_off = f2_from_counts(tp, fp, fn + positive)
            gain = np.bincount(cells[label], weights=f_on - f_off, minlength=len(THRESHOLD_GRID) + 1)
            scores = f_off.sum() + np.cumsum(gain[::-1])[::-1][1:]  # scores[k]: chips with cell > k are on
            own = np.zeros_like(scores)  # this label's weighted F2 at each grid point (0 unless it is rare)
            if label_weight[label]:
                own = label_weight[label] * _label_f2_on_grid(cells[label], positive)
            scores = scores + own + label_terms.sum() - label_terms[label]
            best = int(np.flatnonzero(scores >= scores.max() - _TIE)[0])
            if scores[best] > current + _TIE:
                thresholds[label] = THRESHOLD_GRID[best]
                predicted[label] = cells[label] > best
                current = scores[best]
                label_terms[label] = own[best]
                improved = True
            on = predicted[label]
            tp += positive * on
            fp += negative * on
            fn += positive * (1.0 - on)
        if not improved:
            break
    return thresholds


def rare_weights(labels: int, rare_weight: float) -> np.ndarray:
    """Each label's weight in the objective beside the chips' F2: `rare_weight` shared by the rare labels."""
    weights = np.zeros(labels)
    if rare_weight:
        if labels != NUM_LABELS:
            raise ValueError(f"rare_weight needs the {NUM_LABELS} labels' probabilities, not {labels}")
        if not (np.isfinite(rare_weight) and rare_weight > 0):
            raise ValueError(f"rare_weight={rare_weight!r}: must be a finite number >= 0")
        weights[RARE_INDEX] = rare_weight / len(RARE)
    return weights


def rare_objective(y_true: np.ndarray, y_pred: np.ndarray, rare_weight: float = 0.0) -> float:
    """What `fit_thresholds` maximises: the chips' F2 plus `rare_weight` x the rare labels' mean F2.

    The chips' F2 alone turns a weak rare label off, because its false positives cost more chip F2
    than its few true positives earn; an alert that must find slash-and-burn and mines can pay a
    little chip F2 for it (docs/results/rare-labels.md).
    """
    per_label = f2_from_counts(*error_counts(y_true, y_pred, axis=0))
    return chip_f2(y_true, y_pred) + float(rare_weights(np.shape(y_pred)[1], rare_weight) @ per_label)


def _label_f2_on_grid(cells: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """One label's F2 at every grid point (on where cell > k), from two histograms."""
    size = len(THRESHOLD_GRID) + 1
    tp = np.cumsum(np.bincount(cells, weights=positive, minlength=size)[::-1])[::-1][1:]
    on = np.cumsum(np.bincount(cells, minlength=size)[::-1])[::-1][1:].astype(np.float64)
    return f2_from_counts(tp, on - tp, positive.sum() - tp)


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
            trials = []
            for candidate in THRESHOLD_GRID:
                trial = thresholds.copy()
                trial[label] = candidate
                trials.append(score(y_true, binarize(probs, trial)) * chips)
            scores = np.asarray(trials)
            best = int(np.flatnonzero(scores >= scores.max() - _TIE)[0])
            if scores[best] > current + _TIE:
                thresholds[label] = THRESHOLD_GRID[best]
                current = scores[best]
                improved = True
        if not improved:
            break
    return thresholds


def precision_thresholds(
    probs: np.ndarray, y_true: np.ndarray, target: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per label, the lowest grid threshold whose precision on these chips reaches `target` (NaN
    where none does, or nothing is predicted), and the precision and recall there: the operating
    point of an alert system, which must be right when it speaks, rather than F2's, which favours recall."""
    probs, truth = np.asarray(probs, dtype=np.float64), np.asarray(y_true, dtype=bool)
    cells = _grid_cells(probs)  # label on at grid point k <=> k < cell
    size = len(THRESHOLD_GRID) + 1
    chosen, precision, recall = (np.full(probs.shape[1], np.nan) for _ in range(3))
    for label in range(probs.shape[1]):
        positives = np.bincount(cells[:, label], weights=truth[:, label], minlength=size)
        everything = np.bincount(cells[:, label], minlength=size).astype(np.float64)
        tp = np.cumsum(positives[::-1])[::-1][1:]  # tp[k]: positives above grid point k
        predicted = np.cumsum(everything[::-1])[::-1][1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            precise = np.where(predicted > 0, tp / predicted, 0.0)
        reached = np.flatnonzero((precise >= target) & (tp > 0))
        if len(reached):
            k = reached[0]
            chosen[label], precision[label] = THRESHOLD_GRID[k], precise[k]
            recall[label] = tp[k] / max(truth[:, label].sum(), 1)
    return chosen, precision, recall


def cross_fitted(
    probs: np.ndarray,
    y_true: np.ndarray,
    parts: int = 2,
    seed: int = 0,
    names: Sequence[str] | None = None,
    rare_weight: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """0/1 predictions of every chip by thresholds fitted on the other `parts - 1` parts of these
    chips, and those thresholds (parts x labels).

    Thresholds fitted on the chips they score flatter a label with few positives (a rare label's
    threshold can settle on its handful of positives); scored this way, no chip helped choose the
    threshold that labels it, so the score is what new chips would see. With the chips' `names`,
    each chip's part follows from its name (`parts_of`), so the training summary, the ensemble
    report and `evaluate` split the same chips the same way whatever order their tables are in.
    """
    if parts < 2:
        raise ValueError(f"cross-fitting needs at least 2 parts, not {parts}")
    probs, truth = np.asarray(probs, dtype=np.float64), np.asarray(y_true)
    if names is None:
        part = np.random.default_rng(seed).permutation(len(probs)) % parts
    else:
        part = parts_of(names, parts, seed)
    y_pred = np.zeros(probs.shape, dtype=bool)
    fitted = np.zeros((parts, probs.shape[1]))
    for k in range(parts):
        held_out = part == k
        fitted[k] = fit_thresholds(probs[~held_out], truth[~held_out], rare_weight=rare_weight)
        y_pred[held_out] = binarize(probs[held_out], fitted[k])
    return y_pred, fitted


def parts_of(names: Sequence[str], parts: int, seed: int = 0) -> np.ndarray:
    """Each chip's part (0..parts-1), a function of its name and `seed` alone."""
    return np.array([zlib.crc32(f"{seed}/{name}".encode()) % parts for name in names], dtype=np.int64)
