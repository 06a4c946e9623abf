"""The audit `audit` runs: the data set's chips of the audited folds, their out-of-fold
probabilities from the runs that validated them, cleanlab's verdict, and the report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from amazon_cls.auditing.issues import audit_labels
from amazon_cls.auditing.oof import out_of_fold
from amazon_cls.auditing.report import write_report
from amazon_cls.blending.members import run_folders
from amazon_cls.evaluation.truth import from_data_set
from amazon_cls.store.atomic import remove_stale_temporaries
from amazon_cls.store.run_folder import RunFolder

log = logging.getLogger(__name__)


def audit(cfg: DictConfig) -> dict[str, Any]:
    """Everything `audit` does; returns audit.json's content."""
    output_dir = Path(cfg.output_dir)
    remove_stale_temporaries(output_dir)
    run_dirs = run_folders(cfg.sweep_dir, cfg.runs)
    truth = from_data_set(cfg.data, None)
    folds = sorted(set(range(cfg.data.num_folds)) if cfg.folds is None else {int(f) for f in cfg.folds})
    truth = truth.subset(np.isin(truth.folds, folds), f"folds {folds}")
    oof = out_of_fold(run_dirs, truth)
    log.info("Auditing %s with the out-of-fold probabilities of %s", truth.description, ", ".join(oof.models))
    result = audit_labels(truth.targets, oof.probs, cfg.min_count, cfg.filter_by)
    settings = {
        "folds": folds,
        "models": oof.models,
        "runs": [str(run) for run in oof.runs],
        "min_count": cfg.min_count,
        "filter_by": cfg.filter_by,
        "truth": truth.description,
    }
    inputs = [Path(cfg.data.root or cfg.data.synthetic_dir) / cfg.data.labels_csv]
    inputs += [path for run in oof.runs for path in (RunFolder(run).metrics, RunFolder(run).val_probs)]
    return write_report(output_dir, truth, result, settings, cfg.exclude_top, cfg.gallery, inputs)
