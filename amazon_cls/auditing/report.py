"""What an audit leaves: label_issues.csv (the flagged chips, most doubtful first), label_quality.csv
(every audited chip, ranked by cleanlab's label quality), label_counts.csv,
exclude.csv (for `data.exclude=`), gallery.png (the top chips with their tags and the suggested
changes), audit.md and audit.json (written last: the record that the audit finished)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amazon_cls.auditing.issues import Audit
from amazon_cls.core.labels import vector_to_tags
from amazon_cls.data.decode import load_chip
from amazon_cls.evaluation.truth import Truth
from amazon_cls.store.atomic import write_csv, write_text
from amazon_cls.store.done import Done
from amazon_cls.store.figures import new_figure, save_figure
from amazon_cls.store.records import identity
from amazon_cls.store.report_folders import AuditFolder

GALLERY_COLUMNS = 5


def ranked_frame(truth: Truth, audit: Audit) -> pd.DataFrame:
    """Every audited chip, most doubtful first: name, fold, quality, flagged, given tags, suggested
    changes (for flagged chips). A chip low in quality but not flagged is still worth a look: the
    flags come from per-label noise estimates, the ranking from each chip's own probabilities."""
    rows = np.argsort(audit.quality, kind="stable")
    return pd.DataFrame(
        {
            "image_name": [truth.names[i] for i in rows],
            "fold": truth.folds[rows] if truth.folds is not None else -1,
            "quality": np.round(audit.quality[rows], 6),
            "flagged": audit.flagged[rows],
            "tags": [vector_to_tags(truth.targets[i]) for i in rows],
            "suggested": [audit.suggestions(i) if audit.flagged[i] else "" for i in rows],
        }
    )


def picture(path: Path, truth: Truth, size: int = 128) -> np.ndarray:
    """A chip as red, green and blue in [0, 1] for a figure."""
    chip = load_chip(path, size, truth.source)[..., list(truth.source.rgb)].astype(np.float64)
    top = 255.0 if truth.source.dtype == "uint8" else max(np.percentile(chip, 99), 1.0)
    return np.clip(chip / top, 0, 1)


def gallery(truth: Truth, issues: pd.DataFrame, count: int, path: Path) -> Path | None:
    """The `count` most doubtful chips: the picture, the given tags and the suggested changes."""
    shown = issues.head(count)
    if shown.empty or truth.paths is None:
        return None
    position = {name: i for i, name in enumerate(truth.names)}
    rows = -(-len(shown) // GALLERY_COLUMNS)
    figure, axes = new_figure(rows, GALLERY_COLUMNS, figsize=(3.2 * GALLERY_COLUMNS, 3.9 * rows))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, row in zip(np.ravel(axes), shown.itertuples(), strict=False):
        ax.imshow(picture(truth.paths[position[row.image_name]], truth), interpolation="nearest")
        ax.set_title(
            f"{row.image_name} (q {row.quality:.3f})\n{_wrapped(row.tags)}\n{_wrapped(row.suggested)}",
            fontsize=8,
            loc="left",
        )
    figure.suptitle("Tags given (line 2) and changes suggested (line 3: + add, - remove)", fontsize=11)
    return save_figure(figure, path, dpi=100)


def _wrapped(text: str, width: int = 38) -> str:
    return "\n".join(textwrap.wrap(text, width)[:2]) or "(none)"


def markdown(truth: Truth, audit: Audit, counts: pd.DataFrame, issues: pd.DataFrame, settings: dict[str, Any]) -> str:
    lines = [
        "# Label audit",
        "",
        f"{truth.description}; out-of-fold probabilities of {', '.join(settings['models'])}. cleanlab "
        f"(filter_by={settings['filter_by']}) flags {int(audit.flagged.sum())} chips "
        f"({audit.flagged.mean():.1%}). Labels with fewer than {settings['min_count']} positives (or negatives) are "
        "not audited: nothing is suggested for them.",
        "",
        "| label | positives | audited | flagged missing | flagged extra |",
        "|---|---|---|---|---|",
        *(
            f"| {r.label} | {r.positives} | {'yes' if r.audited else 'no'} | {r.flagged_missing} | {r.flagged_extra} |"
            for r in counts.itertuples()
        ),
        "",
        "## The most doubtful chips",
        "",
        "| chip | fold | quality | tags | suggested |",
        "|---|---|---|---|---|",
        *(
            f"| {r.image_name} | {r.fold} | {r.quality:.3f} | {r.tags} | {r.suggested} |"
            for r in issues.head(50).itertuples()
        ),
    ]
    return "\n".join(lines) + "\n"


def write_report(
    output_dir: Path,
    truth: Truth,
    audit: Audit,
    settings: dict[str, Any],
    exclude_top: int | None,
    gallery_size: int,
    inputs: list[Path],
) -> dict[str, Any]:
    """Every output, as one set (a failed write keeps the previous one); audit.json last."""
    folder = AuditFolder(output_dir)
    done = Done(folder.record)
    ranked = ranked_frame(truth, audit)
    issues = ranked[ranked["flagged"]].drop(columns="flagged")
    excluded = issues if exclude_top is None else issues.head(exclude_top)
    counts = audit.counts()
    with done.rewriting():
        written = [
            write_csv(folder.issues, issues),
            write_csv(folder.quality, ranked),
            write_csv(folder.counts, counts),
            write_csv(folder.exclude, excluded[["image_name", "quality", "suggested"]]),
            write_text(folder.report, markdown(truth, audit, counts, issues, settings)),
        ]
        if figure := gallery(truth, issues, gallery_size, folder.gallery):
            written.append(figure)
    summary = {
        **settings,
        "chips": len(truth),
        "flagged": int(audit.flagged.sum()),
        "excluded": len(excluded),
        "per_label": counts.to_dict(orient="records"),
        "inputs": [identity(path) for path in inputs],
    }
    return done.write(written, summary)
