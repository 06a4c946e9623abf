"""How an ensemble combines its models' probabilities: the methods, cross-fitting and the choice.

Every method fits a `Combination` on out-of-fold probabilities (models x chips x labels):
    mean      equal weights
    vote      the fraction of models above their own fitted thresholds
    weighted  non-negative weights summing to 1, one per model, fitted by log-loss
    weighted_per_label  the same, one set of weights per label
    select    greedy selection with replacement (Caruana et al. 2004): weights are selection counts
    stack     per label, a ridge regression over the models (weights and an intercept)
Each is linear in the models' probabilities (the vote, in their 0/1 votes), so a combination is
stored as weights and applies to any new chips (`Combination.apply`, saved with the ensemble).

Scores are cross-fitted: each group of chips (a fold, or with one fold a random fifth of it) is
combined by a combination fitted on the other groups, so no chip is scored by weights fitted on it.
`choose` compares the methods and the single models that way and keeps the best.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import Ridge

from amazon_cls.labels import LABEL_INDEX, RARE
from amazon_cls.metrics import binarize, chip_f2, fit_thresholds

METHODS = ("mean", "vote", "weighted", "weighted_per_label", "select", "stack")
SINGLE = "model"  # "model:<name>": the method name of a combination that is one model alone
INNER_GROUPS = 5  # with a single fold, cross-fitting splits its chips into this many groups
EPSILON = 1e-6
# An ensemble must beat its best model by this much F2 to be used: a smaller gain is noise, and
# would cost every member's prediction on new chips.
MIN_GAIN = 0.0005


@dataclass
class Combination:
    """Weights (models x labels), an intercept per label and, for the vote, each model's thresholds."""

    method: str
    models: list[str]
    weights: np.ndarray
    intercept: np.ndarray
    vote_thresholds: np.ndarray | None = None

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """Combined probabilities (chips x labels) of the models' probabilities (models x chips x labels)."""
        inputs = probs > self.vote_thresholds[:, None, :] if self.vote_thresholds is not None else probs
        combined = np.einsum("mcl,ml->cl", np.asarray(inputs, dtype=np.float64), self.weights) + self.intercept
        return np.clip(combined, 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        data = {"method": self.method, "models": self.models, "weights": self.weights.tolist(),
                "intercept": self.intercept.tolist()}  # fmt: skip
        if self.vote_thresholds is not None:
            data["vote_thresholds"] = self.vote_thresholds.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Combination:
        thresholds = data.get("vote_thresholds")
        return cls(data["method"], list(data["models"]), np.asarray(data["weights"]), np.asarray(data["intercept"]),
                   None if thresholds is None else np.asarray(thresholds))  # fmt: skip


def fitted_f2(probs: np.ndarray, targets: np.ndarray) -> float:
    """Chip-averaged F2 at thresholds fitted on the same rows (how every row of the report is scored)."""
    return chip_f2(targets, binarize(probs, fit_thresholds(probs, targets)))


def single_model(models: Sequence[str], index: int, labels: int, name: str | None = None) -> Combination:
    """The combination that is model `index` alone (`name`: how to call it, default the model's)."""
    weights = np.zeros((len(models), labels))
    weights[index] = 1.0
    return Combination(f"{SINGLE}:{name or models[index]}", list(models), weights, np.zeros(labels))


def fit_weights(probs: np.ndarray, targets: np.ndarray, per_label: bool = False) -> np.ndarray:
    """Non-negative weights summing to 1 (a softmax of free parameters) that minimise the log-loss of
    the weighted mean: per model, shared by the labels, or one set per label."""
    labels = probs.shape[2]
    if not per_label:
        return np.repeat(_log_loss_weights(probs, targets)[:, None], labels, axis=1)
    return np.stack([_log_loss_weights(probs[:, :, [k]], targets[:, [k]]) for k in range(labels)], axis=1)


def _log_loss_weights(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    truth = targets.astype(np.float64)

    def loss(theta: np.ndarray) -> float:
        weights = np.exp(theta - theta.max())
        weights /= weights.sum()
        p = np.clip(np.einsum("mcl,m->cl", probs, weights), EPSILON, 1 - EPSILON)
        return float(-(truth * np.log(p) + (1 - truth) * np.log(1 - p)).mean())

    theta = minimize(loss, np.zeros(len(probs)), method="L-BFGS-B").x
    weights = np.exp(theta - theta.max())
    return weights / weights.sum()


def select_counts(probs: np.ndarray, targets: np.ndarray, max_rounds: int = 25) -> np.ndarray:
    """Greedy selection with replacement: add the model whose inclusion most raises the F2 of the
    running mean, until no model raises it. Returns how often each model was chosen."""
    counts = np.zeros(len(probs))
    total = np.zeros(probs.shape[1:])
    best = -np.inf
    for _ in range(max_rounds):
        trials = [fitted_f2((total + p) / (counts.sum() + 1), targets) for p in probs]
        chosen = int(np.argmax(trials))
        if trials[chosen] <= best + 1e-9:
            break
        counts[chosen] += 1
        total += probs[chosen]
        best = trials[chosen]
    return counts


def ridge_weights(probs: np.ndarray, targets: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per label, a ridge regression of the label on the models' probabilities."""
    models, _, labels = probs.shape
    weights, intercept = np.zeros((models, labels)), np.zeros(labels)
    for label in range(labels):
        ridge = Ridge(alpha=alpha).fit(probs[:, :, label].T, targets[:, label])
        weights[:, label], intercept[label] = ridge.coef_, ridge.intercept_
    return weights, intercept


def fit(method: str, models: Sequence[str], probs: np.ndarray, targets: np.ndarray) -> Combination:
    """The combination `method` fits on these chips."""
    count, _, labels = probs.shape
    uniform, zero = np.full((count, labels), 1.0 / count), np.zeros(labels)
    models = list(models)
    if method == "mean":
        return Combination(method, models, uniform, zero)
    if method == "vote":
        thresholds = np.stack([fit_thresholds(p, targets) for p in probs])
        return Combination(method, models, uniform, zero, thresholds)
    if method in ("weighted", "weighted_per_label"):
        return Combination(method, models, fit_weights(probs, targets, per_label=method == "weighted_per_label"), zero)
    if method == "select":
        counts = select_counts(probs, targets)
        return Combination(method, models, np.repeat((counts / counts.sum())[:, None], labels, axis=1), zero)
    if method == "stack":
        return Combination(method, models, *ridge_weights(probs, targets))
    if method.startswith(f"{SINGLE}:"):
        return single_model(models, models.index(method.split(":", 1)[1]), labels)
    raise ValueError(f"method={method!r}; choose one of {(*METHODS, 'auto')}")


def groups_of(folds: np.ndarray, seed: int = 0) -> np.ndarray:
    """The cross-fitting groups: the folds when there are two or more, else INNER_GROUPS random
    parts of the single fold's chips."""
    if len(np.unique(folds)) >= 2:
        return np.asarray(folds)
    return np.random.default_rng(seed).permutation(len(folds)) % INNER_GROUPS


def cross_fit(
    method: str, models: Sequence[str], probs: np.ndarray, targets: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """Combined probabilities of every chip, each group combined by a fit on the other groups."""
    combined = np.zeros(probs.shape[1:])
    for group in np.unique(groups):
        held_out = groups == group
        fitted = fit(method, models, probs[:, ~held_out], targets[~held_out])
        combined[held_out] = fitted.apply(probs[:, held_out])
    return combined


@dataclass
class Choice:
    """What `choose` found: the method used, why, and the cross-fitted scores it compared."""

    method: str
    reason: str
    scores: dict[str, float]  # method or "model:<name>" -> cross-fitted out-of-fold F2
    combined: dict[str, np.ndarray]  # method -> its cross-fitted out-of-fold probabilities


def choose(
    models: Sequence[str],
    probs: np.ndarray,
    targets: np.ndarray,
    groups: np.ndarray,
    methods: Sequence[str] = METHODS,
    progress: Callable[[str], None] = lambda _: None,
    alone: Mapping[str, np.ndarray] | None = None,
) -> Choice:
    """The method with the best cross-fitted out-of-fold F2, or the best single model when no
    method beats it by MIN_GAIN, so that the ensemble never scores below its best model.
    `alone` adds other single candidates (chips x labels), such as one seed of a model."""
    combined = {}
    for method in methods:
        progress(method)
        combined[method] = cross_fit(method, models, probs, targets, groups)
    scores = {method: fitted_f2(combined[method], targets) for method in methods}
    candidates = {**dict(zip(models, probs, strict=True)), **(alone or {})}
    singles = {f"{SINGLE}:{name}": fitted_f2(p, targets) for name, p in candidates.items()}
    best_method = max(scores, key=scores.get)
    best_single = max(singles, key=singles.get)
    if scores[best_method] >= singles[best_single] + MIN_GAIN:
        reason = f"best cross-fitted out-of-fold F2 of {', '.join(methods)} ({scores[best_method]:.4f})"
        reason += f", above the best model, {best_single.split(':', 1)[1]} ({singles[best_single]:.4f})"
        return Choice(best_method, reason, {**scores, **singles}, combined)
    reason = (
        f"no ensemble beats the best model by {MIN_GAIN}: {best_method} {scores[best_method]:.5f} vs "
        f"{best_single.split(':', 1)[1]} {singles[best_single]:.5f}; using that model alone"
    )
    combined[best_single] = candidates[best_single.split(":", 1)[1]]
    return Choice(best_single, reason, {**scores, **singles}, combined)


def blend_rare(probs: np.ndarray, specialist: np.ndarray, weight: float) -> np.ndarray:
    """The rare-label columns as a weighted mean with a rare-label specialist's probabilities
    (both chips x labels, same chips)."""
    rare = [LABEL_INDEX[name] for name in RARE]
    blended = probs.copy()
    blended[:, rare] = (1 - weight) * probs[:, rare] + weight * specialist[:, rare]
    return blended
