"""Which labels are probably wrong: cleanlab's multi-label confident learning on out-of-fold
probabilities (`find_label_issues` for the chips, `find_multilabel_issues_per_class` for which of
their labels, `get_label_quality_scores` for the order).

cleanlab warns against classes that are missing or extremely rare: its per-class noise estimates
need examples of both kinds. A label with fewer than `min_count` positives among the audited chips
is therefore left out of the audit altogether (its column dropped, as cleanlab's FAQ advises):
nothing is suggested for it, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from amazon_cls.core.labels import LABELS


@dataclass(frozen=True)
class Audit:
    quality: np.ndarray  # per chip, 0 (surely wrong) .. 1 (surely right), over the audited labels
    flagged: np.ndarray  # per chip: some audited label looks wrong
    missing: np.ndarray  # chips x 17: the label looks absent from the chip's tags by mistake
    extra: np.ndarray  # chips x 17: the tag looks wrong
    audited: np.ndarray  # per label: enough positives to audit
    positives: np.ndarray  # per label, among the audited chips

    def suggestions(self, index: int) -> str:
        """`+label` for a label to add, `-label` for one to remove."""
        added = [f"+{label}" for label, on in zip(LABELS, self.missing[index], strict=True) if on]
        removed = [f"-{label}" for label, on in zip(LABELS, self.extra[index], strict=True) if on]
        return " ".join(added + removed)

    def counts(self) -> pd.DataFrame:
        """Per label: positives, whether audited, and the chips flagged as missing or extra."""
        return pd.DataFrame(
            {
                "label": list(LABELS),
                "positives": self.positives,
                "audited": self.audited,
                "flagged_missing": self.missing.sum(axis=0),
                "flagged_extra": self.extra.sum(axis=0),
            }
        )


def audit_labels(targets: np.ndarray, probs: np.ndarray, min_count: int, filter_by: str) -> Audit:
    """The audit of these labels against these out-of-fold probabilities."""
    from cleanlab.multilabel_classification.filter import find_label_issues, find_multilabel_issues_per_class
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    truth = np.asarray(targets, dtype=bool)
    positives = truth.sum(axis=0)
    audited = (positives >= min_count) & (positives <= len(truth) - min_count)
    if audited.sum() < 2:
        raise ValueError(
            f"min_count={min_count}: fewer than 2 labels have that many positives (and negatives) "
            f"among {len(truth)} chips; lower it, or audit more chips"
        )
    columns = np.flatnonzero(audited)
    labels = [list(np.flatnonzero(row)) for row in truth[:, columns]]
    pred_probs = np.clip(np.asarray(probs, dtype=np.float64)[:, columns], 1e-6, 1 - 1e-6)
    flagged = find_label_issues(labels, pred_probs, filter_by=filter_by)
    per_class = find_multilabel_issues_per_class(labels, pred_probs, filter_by=filter_by)
    wrong = np.zeros(truth.shape, dtype=bool)
    per_class = np.asarray(per_class, dtype=bool)  # chips x audited labels (cleanlab 2.9; older: labels x chips)
    wrong[:, columns] = per_class if per_class.shape == (len(truth), len(columns)) else per_class.T
    return Audit(
        quality=get_label_quality_scores(labels, pred_probs),
        flagged=np.asarray(flagged, dtype=bool),
        missing=wrong & ~truth,
        extra=wrong & truth,
        audited=audited,
        positives=positives,
    )
