"""The out-of-fold probabilities an audit reads: every chip of the audited folds predicted by a
model that never trained on it (the runs of a sweep, each model's seeds averaged and its folds
concatenated, the models averaged), checked to cover every chip and to carry the same labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amazon_cls.blending.members import Member, find_members, model_tables
from amazon_cls.core.labels import PROB_COLUMNS, TARGET_COLUMNS
from amazon_cls.data.layout import LABELS_CSV
from amazon_cls.evaluation.truth import Truth


@dataclass(frozen=True)
class OutOfFold:
    probs: np.ndarray  # chips x 17, in the truth's order
    models: list[str]
    runs: list[Path]


def labels_elsewhere(members: list[Member], truth: Truth) -> list[str]:
    """The labels files the runs recorded that are not the audited one (the embedded data set's
    runs record no root)."""
    audited = Path(truth.origin).resolve()
    found = set()
    for member in members:
        root = member.settings.get("data.root")
        labels = Path(root) / (member.settings.get("data.labels_csv") or LABELS_CSV) if root else None
        if labels is None or labels.resolve() != audited:
            found.add(str(labels) if labels else "the embedded synthetic data set")
    return sorted(found)


def out_of_fold(run_dirs: list[Path], truth: Truth) -> OutOfFold:
    """Every chip of `truth`, predicted out of fold by each model of the runs, models averaged; a
    model that misses chips is refused, naming how many and the folds without a run."""
    members = find_members(run_dirs)
    tables = model_tables(members, "oof")
    probs = []
    for model, table in tables.items():
        missing = truth.index.difference(table.index)
        if len(missing) and (elsewhere := labels_elsewhere(members, truth)):
            raise ValueError(
                f"{model}: {len(missing)} chips of the audited folds have no out-of-fold prediction: the runs "
                f"were trained on {elsewhere} (their settings.json says), not on {truth.origin}; audit them "
                "with the data set they were trained on, or train runs on this one"
            )
        if len(missing):
            folds_of = dict(zip(truth.names, truth.folds, strict=True)) if truth.folds is not None else {}
            without = sorted({int(folds_of[name]) for name in missing if name in folds_of})
            trained = sorted({m.fold for m in members if m.model == model})
            raise ValueError(
                f"{model}: {len(missing)} chips of the audited folds have no out-of-fold prediction "
                f"(e.g. {missing[:3].tolist()}): fold(s) {without} have no finished run of it (runs "
                f"found for folds {trained}); train them, or audit folds={trained}"
            )
        rows = table.loc[truth.index]
        recorded = rows[TARGET_COLUMNS].to_numpy() > 0.5
        changed = np.flatnonzero((recorded != truth.targets.astype(bool)).any(axis=1))
        if len(changed):
            raise ValueError(
                f"{model}: the labels of {len(changed)} chips differ from those it was trained with "
                f"(e.g. {truth.names[changed[0]]}); audit the labels the runs were trained on"
            )
        probs.append(rows[PROB_COLUMNS].to_numpy())
    return OutOfFold(np.mean(probs, axis=0), list(tables), sorted({m.run_dir for m in members}))
