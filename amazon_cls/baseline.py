"""Baseline for context: a random forest on per-chip colour statistics, scored like the CNNs.

    python -m amazon_cls.baseline data.root=<kaggle data> data.fold=0

Same folds, same threshold fitting and the same F2 as `amazon_cls.train`, so its scores sit in
the same table as the deep models' (the run folder gets metrics.json and val_probs.csv).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hydra
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig
from sklearn.ensemble import RandomForestClassifier

from amazon_cls import runs
from amazon_cls.data.chips import load_chip
from amazon_cls.errors import one_line_errors
from amazon_cls.io import write_csv, write_json
from amazon_cls.metrics import ValidationResult, fit_thresholds

log = logging.getLogger(__name__)
FEATURE_SIZE = 32  # statistics of chips decoded at 1/8 scale


def colour_features(image: np.ndarray) -> np.ndarray:
    """Per channel: mean, std, 10/50/90th percentiles and mean gradient magnitude (texture): 18 numbers."""
    pixels = image.reshape(-1, 3).astype(np.float32)
    gradient = np.abs(np.diff(image.astype(np.float32), axis=0)).mean(axis=(0, 1))
    percentiles = np.percentile(pixels, [10, 50, 90], axis=0).ravel()
    return np.concatenate([pixels.mean(0), pixels.std(0), percentiles, gradient])


def features_of(paths: list[Path]) -> np.ndarray:
    with ThreadPoolExecutor() as pool:
        return np.stack(list(pool.map(lambda p: colour_features(load_chip(p, FEATURE_SIZE)), paths, chunksize=64)))


def run_baseline(cfg: DictConfig, output_dir: Path) -> dict[str, float]:
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    names, targets, folds = datamodule.labelled_chips()
    features = features_of(list(datamodule.layout.chip_paths(names)))
    train, val = folds != cfg.data.fold, folds == cfg.data.fold
    forest = RandomForestClassifier(n_estimators=cfg.trees, min_samples_leaf=3, n_jobs=-1, random_state=cfg.seed).fit(
        features[train], targets[train]
    )
    # one (chips x 2) array per label; a label absent from the training fold has a single column
    probs = np.stack(
        [p[:, -1] if p.shape[1] == 2 else np.zeros(len(p)) for p in forest.predict_proba(features[val])], 1
    )
    result = ValidationResult(np.flatnonzero(val), probs, probs, targets[val], fit_thresholds(probs, targets[val]))
    metrics = result.scores()
    val_names = list(np.asarray(names)[val])
    write_csv(output_dir / runs.VAL_PROBS, runs.validation_frame(val_names, cfg.data.fold, probs, targets[val]))
    write_csv(output_dir / runs.VAL_REPORT, result.report)
    write_json(output_dir / runs.METRICS, metrics)
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="baseline")
@one_line_errors
def main(cfg: DictConfig) -> None:
    metrics = run_baseline(cfg, Path(cfg.paths.output_dir))
    print("\n".join(f"{key:<22} {value:.4f}" for key, value in metrics.items()))


if __name__ == "__main__":
    main()
