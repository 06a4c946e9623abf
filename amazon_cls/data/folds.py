"""K-fold assignment shared by every model of an ensemble.

Folds are multi-label stratified (iterative stratification, Sechidis et al. 2011) so every label
with at least k chips reaches every fold. The assignment is computed once per (labels file
content, k, seed), written to a CSV, and read back by every later run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

from amazon_cls.store.atomic import write_csv


def assign_folds(targets: np.ndarray, num_folds: int, seed: int) -> np.ndarray:
    """Fold number (0..k-1) of every chip, stratified over all labels at once."""
    folds = np.full(len(targets), -1, dtype=np.int64)
    splitter = MultilabelStratifiedKFold(n_splits=num_folds, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(targets)), targets)):
        folds[held_out] = fold
    return folds


def fold_file(
    folds_dir: str | os.PathLike, dataset: str, names: list[str], targets: np.ndarray, num_folds: int, seed: int
) -> Path:
    """Where the fold assignment of these chips and labels, k and seed lives (keyed by their content)."""
    digest = hashlib.sha1("\n".join(names).encode() + np.ascontiguousarray(targets, np.uint8).tobytes())
    return Path(folds_dir) / f"{dataset}-{digest.hexdigest()[:12]}_k{num_folds}_seed{seed}.csv"


def load_or_create_folds(
    names: list[str], targets: np.ndarray, path: str | os.PathLike, num_folds: int, seed: int
) -> np.ndarray:
    """Read the fold file at `path`, or write it first; returns folds aligned with `names`."""
    path = Path(path)
    if len(names) < num_folds:
        raise ValueError(f"{len(names)} labelled chips cannot fill data.num_folds={num_folds} folds")
    if not path.is_file():
        table = pd.DataFrame({"image_name": names, "fold": assign_folds(targets, num_folds, seed)})
        write_csv(path, table)
    # chip names stay strings: a chip named NA or null is a chip, not a missing value
    table = pd.read_csv(path, dtype={"image_name": str, "fold": np.int64}, keep_default_na=False)
    table = table.set_index("image_name")
    missing = set(names) - set(table.index)
    if missing:
        raise ValueError(
            f"{path}: fold file lacks {len(missing)} chips of the labels file "
            f"(e.g. {sorted(missing)[0]}); delete it to recompute"
        )
    folds = table.loc[names, "fold"].to_numpy()
    empty = sorted(set(range(num_folds)) - set(folds.tolist()))
    if empty:
        raise ValueError(f"{path}: fold(s) {empty} get no chips; delete it to recompute, or lower data.num_folds")
    return folds
