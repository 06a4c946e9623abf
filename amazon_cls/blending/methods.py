"""How an ensemble combines its models' probabilities: the methods, cross-fitting and the choice.

Every method fits weights on out-of-fold probabilities (models x chips x labels)::

    mean      equal weights
    vote      the fraction of models above their own fitted thresholds
    weighted  non-negative weights summing to 1, one per model, fitted by log-loss
    weighted_per_label  the same, one set of weights per label
    select    greedy selection with replacement (Caruana et al. 2004): weights are selection counts
    stack     per label, a ridge regression over the models (weights and an intercept)
    stack_all per label, a ridge regression over every label's output of every model (the Kaggle
              winner's stack: it can use how labels go together, slash_burn beside agriculture)

Each is linear in the models' probabilities (the vote, in their 0/1 votes), so a `Combination`
is stored as weights and applies to any new chips (saved with the ensemble): models x labels when
each label is combined from the same label's outputs, models x labels x labels (input label,
output label) when from every label's. A new method is a function registered with `METHODS`
that returns `Weights`.

Scores are cross-fitted: each group of chips (a fold, or with one fold a random fifth of it) is
combined by a combination fitted on the other groups, so no chip is scored by weights fitted on it.
`choose` compares the methods and the single models that way and keeps the best.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from amazon_cls.core.labels import NUM_LABELS, RARE_INDEX
from amazon_cls.core.metric import binarize, chip_f2
from amazon_cls.core.registry import Registry
from amazon_cls.core.thresholds import fit_thresholds

SINGLE = "single"  # the method of a combination that is one model (or one seed of it) alone
INNER_GROUPS = 5  # with a single fold, cross-fitting splits its chips into this many groups
EPSILON = 1e-6
# An ensemble must beat its best model by this much F2 to be used: a smaller gain is noise, and
# would cost every member's prediction on new chips.
MIN_GAIN = 0.0005


@dataclass
class Weights:
    """What a method fits: weights (models x labels, or models x input labels x labels), an
    intercept per label and, for the vote, each model's thresholds (its inputs are then the
    models' 0/1 votes)."""

    weights: np.ndarray
    intercept: np.ndarray
    vote_thresholds: np.ndarray | None = None


Method = Callable[[np.ndarray, np.ndarray], Weights]  # (probs: models x chips x labels, targets) -> Weights
METHODS: Registry[Method] = Registry("method")


@dataclass
class Combination(Weights):
    """A fitted method (or one model alone), with the models it weighs, in their order."""

    method: str = "mean"
    models: Sequence[str] = ()
    alone: str | None = None  # the method SINGLE: the model (or "<model> seed <s>") used alone

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """Combined probabilities (chips x labels) of the models' probabilities (models x chips x labels)."""
        inputs = probs > self.vote_thresholds[:, None, :] if self.vote_thresholds is not None else probs
        pattern = "mck,mkl->cl" if self.weights.ndim == 3 else "mcl,ml->cl"
        combined = np.einsum(pattern, np.asarray(inputs, dtype=np.float64), self.weights) + self.intercept
        return np.clip(combined, 0.0, 1.0)

    def describe(self) -> str:
        return f"{self.alone} alone" if self.method == SINGLE else self.method

    def to_dict(self) -> dict[str, Any]:
        data = {
            "method": self.method,
            "models": list(self.models),
            "weights": self.weights.tolist(),
            "intercept": self.intercept.tolist(),
        }
        if self.alone is not None:
            data["alone"] = self.alone
        if self.vote_thresholds is not None:
            data["vote_thresholds"] = self.vote_thresholds.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "a saved combination") -> Combination:
        """From its saved form, checked: the models, and weights, intercept and vote thresholds of
        their shapes and finite, so that a damaged file is named rather than applied."""
        check_saved(data, source)
        method, alone = data["method"], data.get("alone")
        if method.startswith("model:"):  # how older versions named a model alone
            method, alone = SINGLE, method.split(":", 1)[1]
        votes = None if data.get("vote_thresholds") is None else np.asarray(data["vote_thresholds"])
        weights, intercept = np.asarray(data["weights"]), np.asarray(data["intercept"])
        return cls(weights, intercept, votes, method, list(data["models"]), alone)


def check_saved(data: dict[str, Any], source: str) -> None:
    """A saved combination's arrays have the shapes of its models and labels, and finite values."""
    models = data.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise ValueError(f"{source}: 'models' must list the models' names")
    per_label, every_label = (len(models), NUM_LABELS), (len(models), NUM_LABELS, NUM_LABELS)
    shapes = {"weights": (per_label, every_label), "intercept": ((NUM_LABELS,),)}
    if data.get("vote_thresholds") is not None:
        shapes["vote_thresholds"] = (per_label,)
    for key, allowed in shapes.items():
        try:
            array = np.asarray(data[key], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{source}: '{key}' must be numbers of shape {allowed[0]}") from None
        if array.shape not in allowed:
            expected = " or ".join(map(str, allowed))
            raise ValueError(f"{source}: '{key}' has shape {array.shape}, not {expected} ({len(models)} models)")
        if not np.isfinite(array).all():
            raise ValueError(f"{source}: '{key}' holds values that are not finite numbers (NaN or infinity)")


def fit(method: str, models: Sequence[str], probs: np.ndarray, targets: np.ndarray) -> Combination:
    """The combination `method` fits on these chips."""
    fitted = METHODS[method](probs, targets)
    return Combination(fitted.weights, fitted.intercept, fitted.vote_thresholds, method, list(models))


def single_model(models: Sequence[str], index: int, labels: int, name: str | None = None) -> Combination:
    """The combination that is model `index` alone (`name`: how to call it, default the model's)."""
    weights = np.zeros((len(models), labels))
    weights[index] = 1.0
    return Combination(weights, np.zeros(labels), None, SINGLE, list(models), name or models[index])


def _uniform(probs: np.ndarray) -> np.ndarray:
    count, _, labels = probs.shape
    return np.full((count, labels), 1.0 / count)


@METHODS.register("mean")
def mean(probs: np.ndarray, targets: np.ndarray) -> Weights:
    return Weights(_uniform(probs), np.zeros(probs.shape[2]))


@METHODS.register("vote")
def vote(probs: np.ndarray, targets: np.ndarray) -> Weights:
    thresholds = np.stack([fit_thresholds(p, targets) for p in probs])
    return Weights(_uniform(probs), np.zeros(probs.shape[2]), thresholds)


@METHODS.register("weighted")
def weighted(probs: np.ndarray, targets: np.ndarray) -> Weights:
    return Weights(
        np.repeat(_log_loss_weights(probs, targets)[:, None], probs.shape[2], axis=1), np.zeros(probs.shape[2])
    )


@METHODS.register("weighted_per_label")
def weighted_per_label(probs: np.ndarray, targets: np.ndarray) -> Weights:
    labels = probs.shape[2]
    weights = np.stack([_log_loss_weights(probs[:, :, [k]], targets[:, [k]]) for k in range(labels)], axis=1)
    return Weights(weights, np.zeros(labels))


@METHODS.register("select")
def select(probs: np.ndarray, targets: np.ndarray) -> Weights:
    counts = select_counts(probs, targets)
    return Weights(np.repeat((counts / counts.sum())[:, None], probs.shape[2], axis=1), np.zeros(probs.shape[2]))


@METHODS.register("stack")
def stack(probs: np.ndarray, targets: np.ndarray) -> Weights:
    return Weights(*ridge_weights(probs, targets))


@METHODS.register("stack_all")
def stack_all(probs: np.ndarray, targets: np.ndarray) -> Weights:
    return Weights(*ridge_over_every_label(probs, targets))


def fitted_f2(probs: np.ndarray, targets: np.ndarray) -> float:
    """Chip-averaged F2 at thresholds fitted on the same rows (how every row of the report is scored)."""
    return chip_f2(targets, binarize(probs, fit_thresholds(probs, targets)))


def _log_loss_weights(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 (a softmax of free parameters) that minimise the log-loss
    of the weighted mean."""
    truth = targets.astype(np.float64)

    def loss(theta: np.ndarray) -> float:
        weights = np.exp(theta - theta.max())
        weights /= weights.sum()
        p = np.clip(np.einsum("mcl,m->cl", probs, weights), EPSILON, 1 - EPSILON)
        return float(-(truth * np.log(p) + (1 - truth) * np.log(1 - p)).mean())

    from scipy.optimize import minimize  # fitting only: predicting with a combination never imports it

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
    from sklearn.linear_model import Ridge  # fitting only: predicting never imports scikit-learn

    models, _, labels = probs.shape
    weights, intercept = np.zeros((models, labels)), np.zeros(labels)
    for label in range(labels):
        ridge = Ridge(alpha=alpha).fit(probs[:, :, label].T, targets[:, label])
        weights[:, label], intercept[label] = ridge.coef_, ridge.intercept_
    return weights, intercept


def ridge_over_every_label(probs: np.ndarray, targets: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per label, a ridge regression of the label on every label's probability of every model:
    weights models x input labels x labels."""
    from sklearn.linear_model import Ridge  # fitting only: predicting never imports scikit-learn

    models, chips, labels = probs.shape
    inputs = probs.transpose(1, 0, 2).reshape(chips, models * labels)  # chips x (model, label)
    ridge = Ridge(alpha=alpha).fit(inputs, targets)  # one fit, every label an output
    return ridge.coef_.T.reshape(models, labels, labels), ridge.intercept_


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
    """What `choose` found: the method used or the candidate used alone, why, and what it compared."""

    chosen: str  # a method's name, or a single candidate's (then `single` is true)
    single: bool
    reason: str
    scores: dict[str, float]  # method -> cross-fitted out-of-fold F2
    single_scores: dict[str, float]  # candidate -> its out-of-fold F2
    combined: dict[str, np.ndarray]  # method or candidate -> its (cross-fitted) out-of-fold probabilities

    @property
    def probs(self) -> np.ndarray:
        return self.combined[self.chosen]

    def describe(self) -> str:
        return f"{self.chosen} alone" if self.single else self.chosen


def choose(
    models: Sequence[str],
    probs: np.ndarray,
    targets: np.ndarray,
    groups: np.ndarray,
    methods: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
    alone: Mapping[str, np.ndarray] | None = None,
) -> Choice:
    """The method with the best cross-fitted out-of-fold F2, or the best single model when no
    method beats it by MIN_GAIN, so that the ensemble never scores below its best model.
    `alone` adds other single candidates (chips x labels), such as one seed of a model."""
    methods = list(methods or METHODS.names())
    combined = {}
    for method in methods:
        progress(method)
        combined[method] = cross_fit(method, models, probs, targets, groups)
    scores = {method: fitted_f2(combined[method], targets) for method in methods}
    candidates = {**dict(zip(models, probs, strict=True)), **(alone or {})}
    singles = {name: fitted_f2(p, targets) for name, p in candidates.items()}
    best_method = max(scores, key=scores.get)
    best_single = max(singles, key=singles.get)
    combined.update(candidates)
    if scores[best_method] >= singles[best_single] + MIN_GAIN:
        reason = (
            f"{best_method} has the best cross-fitted out-of-fold F2 of the {len(methods)} methods "
            f"({scores[best_method]:.4f}), above the best model alone, {best_single} ({singles[best_single]:.4f})"
        )
        return Choice(best_method, False, reason, scores, singles, combined)
    reason = (
        f"no method beats the best model by {MIN_GAIN}: the best method, {best_method}, scores "
        f"{scores[best_method]:.5f} and {best_single} alone {singles[best_single]:.5f}; using that model alone"
    )
    return Choice(best_single, True, reason, scores, singles, combined)


def blend_rare(probs: np.ndarray, specialist: np.ndarray, weight: float) -> np.ndarray:
    """The rare-label columns as a weighted mean with a rare-label specialist's probabilities
    (both chips x labels, same chips)."""
    rare = RARE_INDEX
    blended = probs.copy()
    blended[:, rare] = (1 - weight) * probs[:, rare] + weight * specialist[:, rare]
    return blended
