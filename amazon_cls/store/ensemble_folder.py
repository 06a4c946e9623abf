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


@dataclass(frozen=True)
class EnsembleFolder:
    path: Path

    @property
    def combination(self) -> Path:
        return self.path / "combination.json"

    @property
    def oof_probs(self) -> Path:
        return self.path / "oof_probs.csv"

    @property
    def thresholds(self) -> Path:
        return self.path / "thresholds.json"

    @property
    def report_csv(self) -> Path:
        return self.path / "ensemble_report.csv"

    @property
    def report_md(self) -> Path:
        return self.path / "ensemble_report.md"

    @property
    def per_label(self) -> Path:
        return self.path / "ensemble_per_label.csv"

    @property
    def submission(self) -> Path:
        return self.path / "submission.csv"

    @property
    def submission_probs(self) -> Path:
        return self.path / "submission_probs.csv"

    @property
    def scores(self) -> Path:
        return self.path / "ensemble_scores.json"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

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
