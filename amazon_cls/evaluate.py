"""How good is a model, and is it better than another, on chips whose labels are known.

    python -m amazon_cls.evaluate ckpt=<model.ckpt> data.root=<data set> fold=0
    python -m amazon_cls.evaluate submission=<submission.csv> labels=<labels.csv>
    python -m amazon_cls.evaluate "compare=[<run folder>,<run folder>]" data.root=<data set> fold=0

Scores checkpoints, ensembles, run folders (their out-of-fold tables) or CSVs (tags, or probabilities
with thresholds) on the same chips: the chip-averaged F2 with a bootstrap interval, per-label
support, precision, recall and F2, the weather confusion, PR curves, and for each pair the paired
bootstrap difference (`evaluation`).
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from amazon_cls.evaluation.config import EvaluateConfig
from amazon_cls.runtime.command import command, is_rank_zero, task

log = logging.getLogger(__name__)


@task("evaluate", EvaluateConfig, hardware="predict")
def run(cfg: DictConfig) -> dict:
    """Everything `python -m amazon_cls.evaluate` does; returns the summary (on rank 0)."""
    from amazon_cls.evaluation.scoring import evaluate  # heavy libraries load once the config composed
    from amazon_cls.inference.predictor import PredictionRun

    summary = evaluate(cfg, lambda: PredictionRun(cfg.trainer, cfg.batch_size, cfg.num_workers, cfg.pin_memory))
    if summary and is_rank_zero():
        for result in summary["results"]:
            f2 = result["f2"]
            log.info("%s: F2 %.4f [%.4f, %.4f]", result["name"], f2["estimate"], f2["low"], f2["high"])
        for pair in summary["comparisons"]:
            d = pair["f2_difference"]
            log.info(
                "%s - %s: %+.4f [%+.4f, %+.4f], first better in %.1f%% of draws%s",
                pair["first"],
                pair["second"],
                d["estimate"],
                d["low"],
                d["high"],
                100 * pair["first_better"],
                " (significant)" if pair["significant"] else " (not significant)",
            )
        log.info("Report: %s/evaluation.md", cfg.output_dir)
    return summary


main = command(run)

if __name__ == "__main__":
    main()
