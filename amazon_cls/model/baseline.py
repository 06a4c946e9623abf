"""A baseline for context (`python -m amazon_cls.baseline`): a random forest on per-chip colour
statistics, with the same folds, threshold fitting and F2 as the CNNs, so its scores sit in the
same table (its run folder gets metrics.json, val_report.csv and val_probs.csv)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from amazon_cls.core.thresholds import fit_thresholds
from amazon_cls.core.validation import ValidationResult
from amazon_cls.data.datamodule import PlanetDataModule
from amazon_cls.data.decode import load_chip
from amazon_cls.data.sources import Source
from amazon_cls.store.atomic import output_set, write_csv
from amazon_cls.store.run_folder import RunFolder
from amazon_cls.store.tables import validation_frame

log = logging.getLogger(__name__)
FEATURE_SIZE = 32  # statistics of chips decoded at 1/8 scale


def colour_features(image: np.ndarray) -> np.ndarray:
    """Per band: mean, std, 10/50/90th percentiles and mean gradient magnitude (texture): 18 numbers for RGB."""
    pixels = image.reshape(-1, image.shape[-1]).astype(np.float32)
    gradient = np.abs(np.diff(image.astype(np.float32), axis=0)).mean(axis=(0, 1))
    percentiles = np.percentile(pixels, [10, 50, 90], axis=0).ravel()
    return np.concatenate([pixels.mean(0), pixels.std(0), percentiles, gradient])


def features_of(paths: list[Path], source: Source) -> np.ndarray:
    with ThreadPoolExecutor() as pool:
        features = pool.map(lambda p: colour_features(load_chip(p, FEATURE_SIZE, source)), paths, chunksize=64)
        return np.stack(list(features))


def run_baseline(datamodule: PlanetDataModule, output_dir: Path, trees: int, seed: int) -> dict[str, float]:
    """Fit the forest on the training folds, score it on the validation fold, write the run files."""
    datamodule.prepare_data()
    names, targets, folds = datamodule.labelled_chips()
    features = features_of(list(datamodule.layout.chip_paths(names)), datamodule.source)
    train, val = folds != datamodule.fold, folds == datamodule.fold
    forest = RandomForestClassifier(n_estimators=trees, min_samples_leaf=3, n_jobs=-1, random_state=seed).fit(
        features[train], targets[train]
    )
    # one (chips x 2) array per label; a label absent from the training fold has a single column
    probs = np.stack(
        [p[:, -1] if p.shape[1] == 2 else np.zeros(len(p)) for p in forest.predict_proba(features[val])], 1
    )
    val_names = list(np.asarray(names)[val])
    thresholds = fit_thresholds(probs, targets[val])
    result = ValidationResult(np.flatnonzero(val), probs, probs, targets[val], thresholds, names=val_names)
    metrics = result.scores()
    folder = RunFolder(output_dir)
    with output_set():
        write_csv(folder.val_probs, validation_frame(val_names, datamodule.fold, probs, targets[val]))
        write_csv(folder.val_report, result.report)
    folder.write_metrics(metrics, [folder.val_probs, folder.val_report])
    return metrics
