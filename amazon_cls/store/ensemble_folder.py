"""An ensemble's output folder, defined once: the names of its files:

- `combination.json`: the method, its fitted weights, thresholds per view, the members' checkpoints:
  all that applies the ensemble to new chips (`predict ensemble=`, `map ensemble=`)
- `oof_probs.csv`: the combined out-of-fold probabilities
- `thresholds.json`: the thresholds fitted on them, per view
- `ensemble_report.md/.csv, ensemble_per_label.csv`: what was compared and chosen, and why
- `submission.csv, submission_probs.csv`: the Kaggle submission, when the members predicted test chips
- `ensemble_scores.json`: the summary, written last
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amazon_cls.store.folder import File


@dataclass(frozen=True)
class EnsembleFolder:
    path: Path

    combination = File("combination.json")
    oof_probs = File("oof_probs.csv")
    thresholds = File("thresholds.json")
    report_csv = File("ensemble_report.csv")
    report_md = File("ensemble_report.md")
    per_label = File("ensemble_per_label.csv")
    submission = File("submission.csv")
    submission_probs = File("submission_probs.csv")
    scores = File("ensemble_scores.json")
    tensorboard = File("tensorboard")

    def outputs(self) -> list[Path]:
        """Every file an ensemble writes here (an earlier combination's are removed before a new one)."""
        return [
            self.combination,
            self.oof_probs,
            self.thresholds,
            self.report_csv,
            self.report_md,
            self.per_label,
            self.submission,
            self.submission_probs,
            self.scores,
        ]
