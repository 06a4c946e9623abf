"""The 17 Planet labels, defined once, and conversions between tag strings and vectors.

Order (fixed, used for every vector, column and threshold in the project):
the 4 weather labels, then the common land labels, then the 7 rare ones (each on ~2% of chips or fewer).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

WEATHER: tuple[str, ...] = ("clear", "partly_cloudy", "haze", "cloudy")
COMMON: tuple[str, ...] = (
    "primary",
    "agriculture",
    "road",
    "water",
    "cultivation",
    "habitation",
)
RARE: tuple[str, ...] = (
    "bare_ground",
    "artisinal_mine",
    "blooming",
    "blow_down",
    "conventional_mine",
    "selective_logging",
    "slash_burn",
)
LABELS: tuple[str, ...] = WEATHER + COMMON + RARE
NUM_LABELS = len(LABELS)
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(LABELS)}
# the rare labels' columns: a list, which numpy and torch both index by (a tuple would index dimensions)
RARE_INDEX: list[int] = [LABEL_INDEX[name] for name in RARE]


class UnknownTagError(ValueError):
    """A tag outside the 17-label vocabulary."""


class LabelVocabularyError(ValueError):
    """A checkpoint or file made for another label list than this project's."""


def check_label_vocabulary(labels: Sequence[str] | None, source: str) -> None:
    """Refuse predictions whose columns would mean other labels than ours."""
    if labels is not None and list(labels) != list(LABELS):
        raise LabelVocabularyError(
            f"{source}: its label list {list(labels)} differs from this project's {list(LABELS)}"
        )


def parse_tags(tags: str | float | None) -> set[str]:
    """Split a space-separated tag string into a set (the real CSV repeats some tokens)."""
    if not isinstance(tags, str):
        return set()
    return set(tags.split())


def tags_to_vector(tags: Iterable[str], where: str = "") -> np.ndarray:
    """Multi-hot float32 vector in LABELS order; `where` names the row in the error."""
    vector = np.zeros(NUM_LABELS, dtype=np.float32)
    for tag in tags:
        if tag not in LABEL_INDEX:
            raise UnknownTagError(f"{where}: unknown tag {tag!r} (known: {', '.join(LABELS)})")
        vector[LABEL_INDEX[tag]] = 1.0
    return vector


def vector_to_tags(vector: Iterable[float | bool | int]) -> str:
    """Space-separated tags (in LABELS order) of the non-zero entries of a 0/1 vector."""
    return " ".join(name for name, on in zip(LABELS, vector, strict=True) if on)


# Column names of every probability / target table the project writes (val, test, ensemble).
PROB_COLUMNS: list[str] = [f"p_{name}" for name in LABELS]
TARGET_COLUMNS: list[str] = [f"t_{name}" for name in LABELS]

# What people who track deforestation look for, most alarming first: a chip (or an alert) is
# shown as the first of these its labels name. One list, shared by every picture and alert.
ALARMS: dict[str, tuple[str, ...]] = {
    "mines": ("artisinal_mine", "conventional_mine"),
    "slash_burn": ("slash_burn",),
    "selective_logging": ("selective_logging",),
    "clearings": ("bare_ground", "blow_down"),
    "habitation": ("habitation",),
    "road": ("road",),
    "agriculture": ("agriculture", "cultivation"),
}


def alarm_of(labels: Sequence[float | bool | int]) -> str | None:
    """The most alarming of ALARMS that a 0/1 label vector shows, or None."""
    for name, members in ALARMS.items():
        if any(labels[LABEL_INDEX[label]] for label in members):
            return name
    return None
