"""The output folders of the commands that report on what others made, defined once: the names of
their files. Each folder's record is written last (`store.done`).

- `evaluate`: `evaluation.md`, `evaluation.csv`, `pr_<name>.png`, `evaluation.json`
- `audit`: `label_issues.csv`, `label_quality.csv`, `label_counts.csv`, `exclude.csv`, `audit.md`,
  `gallery.png`, `audit.json`
- `tune`: `study.db`, `trials/`, `trials.csv`, `history.png`, `intermediate.png`, `importance.png`,
  `configs/experiment/<study>.yaml`, `study.json`
- `eda`: `label_frequency.png`, `cooccurrence.png`, `mean_colour.png`, `examples.png`, `summary.md`
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EvaluationFolder:
    path: Path

    @property
    def report(self) -> Path:
        return self.path / "evaluation.md"

    @property
    def per_label(self) -> Path:
        return self.path / "evaluation.csv"

    def precision_recall(self, name: str) -> Path:
        return self.path / f"pr_{name}.png"

    @property
    def record(self) -> Path:
        return self.path / "evaluation.json"


@dataclass(frozen=True)
class AuditFolder:
    path: Path

    @property
    def issues(self) -> Path:
        return self.path / "label_issues.csv"

    @property
    def quality(self) -> Path:
        return self.path / "label_quality.csv"

    @property
    def counts(self) -> Path:
        return self.path / "label_counts.csv"

    @property
    def exclude(self) -> Path:
        return self.path / "exclude.csv"

    @property
    def report(self) -> Path:
        return self.path / "audit.md"

    @property
    def gallery(self) -> Path:
        return self.path / "gallery.png"

    @property
    def record(self) -> Path:
        return self.path / "audit.json"


@dataclass(frozen=True)
class StudyFolder:
    path: Path

    @property
    def database(self) -> Path:
        return self.path / "study.db"

    @property
    def trials(self) -> Path:
        return self.path / "trials"

    @property
    def table(self) -> Path:
        return self.path / "trials.csv"

    def plot(self, name: str) -> Path:
        """One of Optuna's plots: `history`, `intermediate` or `importance`."""
        return self.path / f"{name}.png"

    @property
    def configs(self) -> Path:
        """The config folder to give `--config-dir`: the best trial as an experiment lives in it."""
        return self.path / "configs"

    def experiment(self, name: str) -> Path:
        return self.configs / "experiment" / f"{name}.yaml"

    @property
    def record(self) -> Path:
        return self.path / "study.json"


@dataclass(frozen=True)
class EdaFolder:
    path: Path

    @property
    def label_frequency(self) -> Path:
        return self.path / "label_frequency.png"

    @property
    def cooccurrence(self) -> Path:
        return self.path / "cooccurrence.png"

    @property
    def mean_colour(self) -> Path:
        return self.path / "mean_colour.png"

    @property
    def examples(self) -> Path:
        return self.path / "examples.png"

    @property
    def summary(self) -> Path:
        return self.path / "summary.md"
