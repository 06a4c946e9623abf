"""The ensemble's report: every member, model and method scored out of fold, with and without TTA
and the weather rules, with thresholds fitted in sample and cross-fitted; how often the models
disagree; the weights chosen; per-label scores; and TensorBoard scalars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from amazon_cls.blending.members import Member
from amazon_cls.blending.methods import Choice, Combination
from amazon_cls.core.labels import LABELS
from amazon_cls.core.metric import binarize, chip_f2, per_label_report, predict_labels
from amazon_cls.core.thresholds import fit_thresholds
from amazon_cls.core.validation import cross_fitted_f2, rare_f2
from amazon_cls.store.tables import markdown_table, split_frame

# (probs, targets, chip names) of one way of predicting, if there is one
Variant = tuple[np.ndarray, np.ndarray, list[str]] | None


def variant_of(frame: pd.DataFrame, probs: np.ndarray | None = None) -> Variant:
    """An out-of-fold table (indexed by chip name) as a Variant, with `probs` instead of its own if given."""
    own, targets = split_frame(frame)
    return (own if probs is None else probs), targets, list(frame.index)


def scores(probs: np.ndarray, targets: np.ndarray, names: list[str]) -> dict[str, float]:
    """F2 at fitted thresholds, without and with the weather rules, and at 0.2; the rare labels'
    mean F2; and both F2s with thresholds cross-fitted (what in-sample thresholds flatter), the
    halves chosen by chip name as everywhere else."""
    thresholds = fit_thresholds(probs, targets)
    y_pred = binarize(probs, thresholds)
    f2_unseen, rare_unseen = cross_fitted_f2(probs, targets, names)
    return {
        "f2": chip_f2(targets, y_pred),
        "f2_weather": chip_f2(targets, predict_labels(probs, thresholds, weather_rules=True)),
        "f2@0.2": chip_f2(targets, binarize(probs, 0.2)),
        "rare_f2": rare_f2(per_label_report(targets, y_pred)),
        "f2_cross_fitted": f2_unseen,
        "rare_f2_cross_fitted": rare_unseen,
    }


def disagreement(oof: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """For every pair of models, the fraction of chip-labels on which their out-of-fold predictions
    (each at its own fitted thresholds) differ: members that agree everywhere cannot gain from
    being combined."""
    predicted = {}
    for model, table in oof.items():
        probs, targets = split_frame(table)
        predicted[model] = binarize(probs, fit_thresholds(probs, targets))
    rows = [
        {"first": first, "second": second, "disagreement": float((predicted[first] != predicted[second]).mean())}
        for i, first in enumerate(predicted)
        for second in list(predicted)[i + 1 :]
    ]
    return pd.DataFrame(rows, columns=["first", "second", "disagreement"])


def score_row(level: str, name: str, variants: dict[str, Variant]) -> dict:
    """One report row; `variants` maps a column suffix ("" with TTA, "_notta") to a Variant."""
    row: dict = {"level": level, "name": name}
    for suffix, variant in variants.items():
        if variant is not None:
            row["chips"] = len(variant[1])
            row.update({f"{key}{suffix}": value for key, value in scores(*variant).items()})
    return row


def build_report(
    members: list[Member],
    oof: dict[str, pd.DataFrame],
    plain: dict[str, pd.DataFrame] | None,
    choice: Choice,
    plain_choice: Choice | None,
    chosen: str,
) -> pd.DataFrame:
    """Rows for every member, every model, every method (cross-fitted) and the ensemble."""
    first = next(iter(oof.values()))

    def variants(name: str) -> dict[str, Variant]:
        without_tta = plain_choice.combined.get(name) if plain_choice else None
        return {
            "": variant_of(first, choice.combined[name]),
            "_notta": None if without_tta is None else variant_of(first, without_tta),
        }

    def member_variants(m: Member) -> dict[str, Variant]:
        return {"": variant_of(m.oof), "_notta": None if m.oof_plain is None else variant_of(m.oof_plain)}

    rows = [
        score_row("member", f"{m.run_dir.name} ({m.model}, fold {m.fold}, seed {m.seed})", member_variants(m))
        for m in members
    ]
    rows += [
        score_row("model", model, {"": variant_of(oof[model]), "_notta": variant_of(plain[model]) if plain else None})
        for model in oof
    ]
    rows += [score_row("method", method, variants(method)) for method in choice.scores]
    rows.append(score_row("ensemble", ensemble_name(chosen, choice, len(oof)), variants(chosen)))
    return pd.DataFrame(rows)


def ensemble_name(chosen: str, choice: Choice, models: int) -> str:
    """How the report names the ensemble: a method of the models, or one of them alone."""
    return f"{chosen} alone" if chosen in choice.single_scores else f"{chosen} of {models} models"


def weights_table(combination: Combination) -> pd.DataFrame:
    """The combination's weight of every model: one column, or one per label where they differ.
    A combination over every label's output shows each model's weight on the same label and,
    beside it, the absolute weights it puts on the other labels' outputs."""
    if combination.weights.ndim == 3:
        same = np.einsum("mkk->mk", combination.weights)
        others = np.abs(combination.weights).sum(axis=1) - np.abs(same)
        names = [f"{model} ({part})" for model in combination.models for part in ("same label", "other labels, |w|")]
        rows = np.stack([same, others], axis=1).reshape(-1, len(LABELS))
        return pd.DataFrame(rows, index=names, columns=list(LABELS)).reset_index(names="model")
    weights = pd.DataFrame(combination.weights, index=list(combination.models), columns=list(LABELS))
    if np.allclose(combination.weights, combination.weights[:, :1]):
        weights = weights.iloc[:, :1].set_axis(["weight"], axis=1)
    return weights.reset_index(names="model")


def report_markdown(
    report: pd.DataFrame,
    per_label: pd.DataFrame,
    combination: Combination,
    reason: str,
    weather: bool,
    disagreements: pd.DataFrame,
) -> str:
    return (
        f"# Ensemble report\n\nCombination: **{combination.describe()}** ({reason}); weather rules in the "
        f"submission: **{weather}**.\n"
        "Scores are out-of-fold chip-averaged F2 with thresholds fitted on the rows scored "
        "(`f2`), the same plus the weather rules (`f2_weather`), every label at 0.2 (`f2@0.2`); "
        "`_notta` columns use the plain view instead of the 8 dihedral views; `rare_f2` is the mean "
        "F2 of the rare labels. `_cross_fitted` columns score each half of the chips with thresholds "
        "fitted on the other half: what new chips would see, where in-sample thresholds flatter the "
        "rare labels. Method rows are cross-fitted: each fold (or, with one fold, each fifth of it) "
        "is combined with weights fitted on the others.\n\n"
        f"## Members, models, methods, ensemble\n\n{markdown_table(report, 4)}\n\n"
        "## How often the models disagree\n\nThe fraction of chip-labels on which two models' "
        "out-of-fold predictions (each at its own fitted thresholds) differ.\n\n"
        f"{markdown_table(disagreements, 4) if len(disagreements) else 'One model: nothing to compare.'}\n\n"
        f"## Weights of the combination (fitted on every out-of-fold chip)\n\n"
        f"{markdown_table(weights_table(combination), 4)}\n\n"
        f"## Ensemble per label\n\n{markdown_table(per_label, 4)}\n"
    )


def write_tensorboard(folder: Path, report: pd.DataFrame) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(folder)) as writer:
        for row in report.itertuples(index=False):
            for column in ("f2", "f2_weather", "f2_notta", "f2_cross_fitted", "rare_f2_cross_fitted"):
                value = getattr(row, column, None)
                if value is not None and not pd.isna(value):
                    writer.add_scalar(f"ensemble_{row.level}/{column}/{row.name}", value, 0)
