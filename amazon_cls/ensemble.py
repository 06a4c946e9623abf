"""Combine ensemble members into one out-of-fold score and one Kaggle submission.

    python -m amazon_cls.ensemble sweep_dir=<multirun folder> [method=auto|mean|vote|weighted|...|stack]
    python -m amazon_cls.ensemble "runs=[<run folder>,<run folder>,...]" [order=<sample_submission.csv>]

A member is a finished training run (one model x fold x seed). Each model's out-of-fold
predictions are assembled over its folds (seeds averaged); the models are combined by one of the
methods of `blending.methods`, every one scored cross-fitted, and `auto` (the default) keeps the
best, or the best model alone when no method beats it. Thresholds are fitted on the combined
out-of-fold set; the combination, its thresholds and the members' checkpoints are saved in
`combination.json` (`blending.combine`).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from amazon_cls.blending.config import EnsembleConfig
from amazon_cls.runtime.command import command, task


@task("ensemble", EnsembleConfig)
def run(cfg: DictConfig) -> dict:
    from amazon_cls.blending.combine import run_ensemble  # heavy libraries load once the config composed
    from amazon_cls.blending.members import run_folders
    from amazon_cls.store.ensemble_folder import EnsembleFolder

    run_dirs = run_folders(cfg.sweep_dir, cfg.runs)
    output_dir = Path(cfg.output_dir or Path(cfg.sweep_dir or ".") / "ensemble")
    specialists = [Path(run) for run in cfg.specialists] if cfg.specialists else None
    result = run_ensemble(
        run_dirs,
        output_dir,
        cfg.method,
        cfg.postprocess.weather,
        cfg.order,
        specialists,
        cfg.specialist_weight,
        cfg.rare_weight,
        cfg.escape_formulas,
    )
    print(f"Report: {EnsembleFolder(output_dir).report_md}")
    if "submission" in result:
        print(f"Submission: {result['submission']}")
    models, members, method = len(result["models"]), result["members"], result["method"]
    print(f"Ensemble out-of-fold F2 ({method}; {models} models, {members} members): {result['oof_f2']:.4f}")
    return result


main = command(run)

if __name__ == "__main__":
    main()
