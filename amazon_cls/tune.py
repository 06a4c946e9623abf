"""Search the training config with Optuna: what to try next.

    python -m amazon_cls.tune model=plain_cnn model.image_size=32 data.root=<data> trainer.max_epochs=3
    python -m amazon_cls.tune tune=recipe n_trials=40 "folds=[0,1]" storage=postgresql://host/db  # one per worker

Every trial composes the training config with its parameters (`conf/tune/*.yaml`: distributions
over any key or group), trains it with the project's training function (a TensorBoard run in its
folder) and is pruned on `val/f2`. The study lives in a database, so the same command resumes it
and many workers share it. Writes trials.csv, Optuna's plots, the best trial as an `experiment=`
config and study.json into the study folder (`search`).
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from amazon_cls.runtime.command import command, task
from amazon_cls.search.config import TuneConfig

log = logging.getLogger(__name__)


@task("tune", TuneConfig)
def run(cfg: DictConfig) -> dict:
    """Everything `python -m amazon_cls.tune` does; returns the study's summary."""
    from amazon_cls.search.tuning import tune  # heavy libraries load once the config composed

    summary = tune(cfg)
    best = summary.get("best") or summary.get("best_so_far")
    log.info(
        "Study %s: %d of %d trials counted (%s)",
        summary["study"],
        summary["counted"],
        summary["n_trials"],
        ", ".join(f"{count} {state}" for state, count in summary["states"].items()),
    )
    if best:
        log.info(
            "Best%s: trial %d, %s %.4f, %s; as an experiment: %s",
            "" if summary["finished"] else " so far (the study is not finished)",
            best["number"],
            cfg.objective,
            best["value"],
            best["params"],
            best["experiment"],
        )
    return summary


main = command(run)

if __name__ == "__main__":
    main()
