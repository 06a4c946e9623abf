"""The scores of evaluated predictions on one set of chips, their intervals, the paired comparisons,
and the files that say so: evaluation.json (written last: the record that the evaluation
finished, naming its inputs), evaluation.md, evaluation.csv (per label) and pr_<name>.png."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amazon_cls.core.labels import LABEL_INDEX, LABELS, RARE, WEATHER
from amazon_cls.core.metric import per_label_report
from amazon_cls.evaluation.bootstrap import Bootstrap, Interval, chip_f2_statistic, label_f2_statistic
from amazon_cls.evaluation.predictions import Predictions
from amazon_cls.evaluation.truth import Truth
from amazon_cls.store.atomic import write_csv, write_text
from amazon_cls.store.done import Done
from amazon_cls.store.figures import new_figure, save_figure
from amazon_cls.store.records import identity
from amazon_cls.store.report_folders import EvaluationFolder
from amazon_cls.store.tables import markdown_table

NO_WEATHER, SEVERAL = "none", "several"


@dataclass(frozen=True)
class Scores:
    """One evaluated thing's scores on the truth's chips."""

    predictions: Predictions
    f2: Interval
    rare_f2: Interval
    per_label: pd.DataFrame
    weather: pd.DataFrame


@dataclass(frozen=True)
class Comparison:
    first: str
    second: str
    f2: Interval  # first - second
    first_better: float  # share of draws in which the first scores higher
    rare_f2: Interval
    rare_first_better: float

    @property
    def significant(self) -> bool:
        return self.f2.excludes_zero()


def score(truth: Truth, predictions: Predictions, bootstrap: Bootstrap) -> Scores:
    y_true, y_pred = truth.targets, predictions.y_pred
    return Scores(
        predictions,
        bootstrap.interval(chip_f2_statistic(y_true, y_pred)),
        bootstrap.interval(label_f2_statistic(y_true, y_pred, RARE)),
        per_label_report(y_true, y_pred, _or_nan(predictions.thresholds)),
        weather_confusion(y_true, y_pred),
    )


def _or_nan(thresholds: np.ndarray | None) -> np.ndarray:
    return np.full(len(LABELS), np.nan) if thresholds is None else thresholds


def compare(truth: Truth, first: Predictions, second: Predictions, bootstrap: Bootstrap) -> Comparison:
    """The paired bootstrap difference first - second, overall and over the rare labels."""
    chip = lambda p: chip_f2_statistic(truth.targets, p.y_pred)  # noqa: E731
    rare = lambda p: label_f2_statistic(truth.targets, p.y_pred, RARE)  # noqa: E731
    f2, better = bootstrap.paired(chip(first), chip(second))
    rare_f2, rare_better = bootstrap.paired(rare(first), rare(second))
    return Comparison(first.name, second.name, f2, better, rare_f2, rare_better)


def comparisons(truth: Truth, evaluated: list[Predictions], bootstrap: Bootstrap) -> list[Comparison]:
    return [compare(truth, a, b, bootstrap) for a, b in combinations(evaluated, 2)]


def weather_of(y: np.ndarray) -> np.ndarray:
    """Each chip's weather label, `none` without one, `several` with more than one."""
    weather = np.asarray(y, bool)[:, [LABEL_INDEX[name] for name in WEATHER]]
    named = np.asarray(WEATHER, dtype=object)[weather.argmax(axis=1)]
    counts = weather.sum(axis=1)
    return np.where(counts == 0, NO_WEATHER, np.where(counts > 1, SEVERAL, named))


def weather_confusion(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Chips by true weather (rows) and predicted weather (columns)."""
    order = [*WEATHER, NO_WEATHER, SEVERAL]
    table = pd.crosstab(
        pd.Categorical(weather_of(y_true), order), pd.Categorical(weather_of(y_pred), order), dropna=False
    )
    table.index.name, table.columns.name = "true", "predicted"
    return table.loc[[name for name in order if table.loc[name].sum() or name in WEATHER]]


def pr_figure(truth: Truth, scores: Scores, path: Path) -> Path | None:
    """Precision against recall per label as its threshold moves, the threshold used marked."""
    predictions = scores.predictions
    if predictions.probs is None:
        return None
    from sklearn.metrics import precision_recall_curve

    figure, axes = new_figure(3, 6, figsize=(18, 9))
    for index, (label, ax) in enumerate(zip(LABELS, axes.ravel(), strict=False)):
        truth_column = truth.targets[:, index].astype(bool)
        row = scores.per_label.iloc[index]
        if truth_column.any():
            precision, recall, _ = precision_recall_curve(truth_column, predictions.probs[:, index])
            ax.plot(recall, precision, lw=1.2)
            ax.axhline(truth_column.mean(), ls=":", color="grey")
            ax.plot([row.recall], [row.precision], "o", color="crimson")
        ax.set(title=f"{label} ({row.support})", xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
        ax.label_outer()
    legend = axes.ravel()[-1]
    legend.axis("off")
    note = (
        f"{predictions.name}\nF2 {scores.f2.describe()}\n\nred: the thresholds used\n({predictions.thresholds_from})"
        "\ndotted: the label's share of chips\n(n): chips with the label"
    )
    legend.text(0, 0.5, note, fontsize=10, wrap=True)
    return save_figure(figure, path)


def file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def markdown(truth: Truth, scored: list[Scores], compared: list[Comparison], bootstrap: Bootstrap) -> str:
    level = f"{bootstrap.confidence:.0%}"
    lines = [
        "# Evaluation",
        "",
        f"{truth.description}. Intervals: {level} bootstrap over chips ({bootstrap.draws} draws, seed "
        f"{bootstrap.seed}); the thresholds are fixed while chips are resampled.",
        "",
        f"| predictions | kind | F2 [{level}] | mean F2 of the {len(RARE)} rare labels [{level}] | thresholds |",
        "|---|---|---|---|---|",
        *(
            f"| {s.predictions.name} | {s.predictions.kind} | {s.f2.describe()} | {s.rare_f2.describe()} | "
            f"{s.predictions.thresholds_from} |"
            for s in scored
        ),
    ]
    if compared:
        lines += [
            "",
            "## Paired comparisons",
            "",
            "The same bootstrap draws score both sides; a difference is called significant when its interval "
            "excludes zero.",
            "",
            f"| first | second | F2 difference [{level}] | draws the first is better | significant | "
            f"rare-label F2 difference [{level}] |",
            "|---|---|---|---|---|---|",
            *(
                f"| {c.first} | {c.second} | {c.f2.describe()} | {c.first_better:.1%} | "
                f"{'yes' if c.significant else 'no'} | {c.rare_f2.describe()} |"
                for c in compared
            ),
        ]
    for s in scored:
        lines += [
            "",
            f"## {s.predictions.name}",
            "",
            s.predictions.source,
            "",
            markdown_table(s.per_label),
            "",
            "Weather: true (rows) and predicted (columns)",
            "",
            markdown_table(s.weather.reset_index()),
        ]
    return "\n".join(lines) + "\n"


def summary(truth: Truth, scored: list[Scores], compared: list[Comparison], bootstrap: Bootstrap) -> dict[str, Any]:
    inputs = sorted({path for s in scored for path in s.predictions.inputs if Path(path).is_file()})
    return {
        "chips": len(truth),
        "truth": truth.description,
        "bootstrap": {"draws": bootstrap.draws, "seed": bootstrap.seed, "confidence": bootstrap.confidence},
        "results": [
            {
                "name": s.predictions.name,
                "kind": s.predictions.kind,
                "source": s.predictions.source,
                "thresholds": s.predictions.thresholds_from,
                "f2": s.f2.to_json(),
                "rare_f2": s.rare_f2.to_json(),
                "per_label": s.per_label.astype(object).where(s.per_label.notna(), None).to_dict(orient="records"),
                "weather_confusion": s.weather.to_dict(orient="index"),
            }
            for s in scored
        ],
        "comparisons": [
            {
                "first": c.first,
                "second": c.second,
                "f2_difference": c.f2.to_json(),
                "first_better": c.first_better,
                "significant": c.significant,
                "rare_f2_difference": c.rare_f2.to_json(),
                "rare_first_better": c.rare_first_better,
            }
            for c in compared
        ],
        "inputs": [identity(path) for path in inputs],
    }


def write_report(
    output_dir: Path, truth: Truth, scored: list[Scores], compared: list[Comparison], bootstrap: Bootstrap
) -> dict[str, Path]:
    """Every output, as one set (a failed write keeps the previous one); evaluation.json last, so it
    never describes other files."""
    folder = EvaluationFolder(output_dir)
    done = Done(folder.record)
    per_label = pd.concat([s.per_label.assign(predictions=s.predictions.name) for s in scored], ignore_index=True)
    with done.rewriting():
        written = {
            "csv": write_csv(folder.per_label, per_label[["predictions", *scored[0].per_label.columns]]),
            "markdown": write_text(folder.report, markdown(truth, scored, compared, bootstrap)),
        }
        for s in scored:
            if figure := pr_figure(truth, s, folder.precision_recall(file_name(s.predictions.name))):
                written[f"pr {s.predictions.name}"] = figure
    done.write(written.values(), summary(truth, scored, compared, bootstrap))
    written["record"] = folder.record
    return written
