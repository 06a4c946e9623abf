"""Alerts from a cell's history: where forest became fields, roads, mines or burn scars, and when.

A cell is observable at a date when it was read there (inside the scene's footprint, enough
valid pixels) and is not predicted with one of the `unobservable` labels (cloud). It is forest
when it shows `primary` and none of the change labels. An alert is raised at date t when the
cell's last observable state before t was forest and at t it shows a change label; unobservable
dates neither raise nor clear one. Its confidence comes from the next observable date:
`confirmed` when it shows a change label again, `retracted` when it is forest again, `probable`
otherwise (or when there is no later date). Everything is computed over all cells at once, date
by date, so 100,000 cells x 10 dates take a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from amazon_cls.core.labels import ALARMS, LABEL_INDEX, LABELS

CHANGE_LABELS = (
    "agriculture",
    "habitation",
    "road",
    "bare_ground",
    "slash_burn",
    "selective_logging",
    "artisinal_mine",
    "conventional_mine",
    "blow_down",
)
FOREST, CHANGED, OTHER, UNSEEN = 1, 2, 3, 0
CONFIDENCE = ("probable", "confirmed", "retracted")


@dataclass(frozen=True)
class Rules:
    """What an alert is: the thresholds that make labels on, the labels of change, the labels that
    make a cell unobservable."""

    thresholds: np.ndarray  # 17, label order
    change: tuple[str, ...] = CHANGE_LABELS
    unobservable: tuple[str, ...] = ("cloudy",)

    def __post_init__(self) -> None:
        for key, labels in (("change_labels", self.change), ("unobservable", self.unobservable)):
            unknown = [label for label in labels if label not in LABEL_INDEX]
            if unknown:
                raise ValueError(f"{key}: unknown labels {unknown} (known: {', '.join(LABELS)})")
        if not self.change:
            raise ValueError("change_labels: name at least one label")


@dataclass(frozen=True)
class States:
    """Per date and cell (dates x cells): observable, forest, changed, and which labels are on."""

    observable: np.ndarray
    forest: np.ndarray
    changed: np.ndarray
    on: np.ndarray  # dates x cells x 17, bool


def states_of(probs: np.ndarray, read: np.ndarray, rules: Rules) -> States:
    """`probs` (dates x cells x 17; anything where not `read`) and `read` (dates x cells) -> states."""
    on = (np.nan_to_num(probs, nan=0.0) > rules.thresholds) & read[..., None]
    hidden = on[..., [LABEL_INDEX[label] for label in rules.unobservable]].any(-1) if rules.unobservable else False
    observable = read & ~hidden
    changed = on[..., [LABEL_INDEX[label] for label in rules.change]].any(-1) & observable
    forest = on[..., LABEL_INDEX["primary"]] & ~changed & observable
    return States(observable, forest, changed, on)


def alarm_type(labels: Sequence[str]) -> str:
    """The most alarming category (`core.labels.ALARMS`, shared with the map's preview) of `labels`."""
    return next((name for name, members in ALARMS.items() if set(members) & set(labels)), labels[0])


def find_alerts(states: States, rules: Rules) -> pd.DataFrame:
    """One row per cell alert: cell (its index), first_seen and last_forest (date indexes),
    labels, type and confidence."""
    dates, cells = states.observable.shape
    last_state, last_forest = np.full(cells, UNSEEN), np.full(cells, -1)
    found = []
    for t in range(dates):
        seen = states.observable[t]
        raised = np.flatnonzero(seen & (last_state == FOREST) & states.changed[t])
        found.append(pd.DataFrame({"cell": raised, "first_seen": t, "last_forest": last_forest[raised]}))
        now = np.where(states.forest[t], FOREST, np.where(states.changed[t], CHANGED, OTHER))
        last_state = np.where(seen, now, last_state)
        last_forest = np.where(states.forest[t], t, last_forest)
    alerts = pd.concat(found, ignore_index=True)
    change = [LABEL_INDEX[label] for label in rules.change]
    on = states.on[alerts["first_seen"].to_numpy(), alerts["cell"].to_numpy()][:, change]
    alerts["labels"] = [" ".join(label for label, flag in zip(rules.change, row, strict=True) if flag) for row in on]
    alerts["type"] = [alarm_type(labels.split()) for labels in alerts["labels"]]
    alerts["confidence"] = confidence_of(states, alerts)
    return alerts


def confidence_of(states: States, alerts: pd.DataFrame) -> list[str]:
    """`confirmed` when the next observable date shows change again, `retracted` when it shows
    forest, else `probable`."""
    dates, cells = states.observable.shape
    following = np.full((dates, cells), -1)  # the next observable date after each date
    later = np.full(cells, -1)
    for t in range(dates - 1, -1, -1):
        following[t] = later
        later = np.where(states.observable[t], t, later)
    t, cell = alerts["first_seen"].to_numpy(), alerts["cell"].to_numpy()
    nxt = following[t, cell]
    seen = nxt >= 0
    confirmed = seen & states.changed[np.maximum(nxt, 0), cell]
    retracted = seen & states.forest[np.maximum(nxt, 0), cell]
    return np.select([confirmed, retracted], ["confirmed", "retracted"], "probable").tolist()
