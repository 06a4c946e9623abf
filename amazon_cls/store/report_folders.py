"""The output folders of the commands that report on what others made, defined once: the names of
their files. Each folder's record is written last (`store.done`).

- `evaluate`: `evaluation.md`, `evaluation.csv`, `pr_<name>.png`, `evaluation.json`
- `audit`: `label_issues.csv`, `label_quality.csv`, `label_counts.csv`, `exclude.csv`, `audit.md`,
  `gallery.png`, `audit.json`
- `tune`: `study.db`, `trials/`, `trials.csv`, `history.png`, `intermediate.png`, `importance.png`,
  `configs/experiment/<study>.yaml`, `study.json`
- `eda`: `label_frequency.png`, `cooccurrence.png`, `mean_colour.png`, `examples.png`, `summary.md`
- `sample`: `strata.csv`, `strata_by_region.csv` (with regions), `sample.csv`, `review.html` and its
  pictures in `review/`, `sample.json`
- `area`: `area.csv`, `accuracy.csv`, `error_matrix.csv`, `area_by_region.csv` (with regions),
  `area.md`, `area.json`
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amazon_cls.store.folder import File


@dataclass(frozen=True)
class EvaluationFolder:
    path: Path

    report = File("evaluation.md")
    per_label = File("evaluation.csv")

    def precision_recall(self, name: str) -> Path:
        return self.path / f"pr_{name}.png"

    record = File("evaluation.json")


@dataclass(frozen=True)
class AuditFolder:
    path: Path

    issues = File("label_issues.csv")
    quality = File("label_quality.csv")
    counts = File("label_counts.csv")
    exclude = File("exclude.csv")
    report = File("audit.md")
    gallery = File("gallery.png")
    record = File("audit.json")


@dataclass(frozen=True)
class StudyFolder:
    path: Path

    database = File("study.db")
    trials = File("trials")
    table = File("trials.csv")

    def plot(self, name: str) -> Path:
        """One of Optuna's plots: `history`, `intermediate` or `importance`."""
        return self.path / f"{name}.png"

    configs = File("configs")

    def experiment(self, name: str) -> Path:
        return self.configs / "experiment" / f"{name}.yaml"

    record = File("study.json")


@dataclass(frozen=True)
class EdaFolder:
    path: Path

    label_frequency = File("label_frequency.png")
    cooccurrence = File("cooccurrence.png")
    mean_colour = File("mean_colour.png")
    examples = File("examples.png")
    summary = File("summary.md")


@dataclass(frozen=True)
class SampleFolder:
    path: Path

    strata = File("strata.csv")
    strata_by_region = File("strata_by_region.csv")
    sample = File("sample.csv")
    review = File("review.html")
    pictures = File("review")
    record = File("sample.json")


@dataclass(frozen=True)
class AreaFolder:
    path: Path

    area = File("area.csv")
    accuracy = File("accuracy.csv")
    error_matrix = File("error_matrix.csv")
    by_region = File("area_by_region.csv")
    report = File("area.md")
    record = File("area.json")
