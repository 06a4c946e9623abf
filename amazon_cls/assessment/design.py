"""The sample design: the map's strata over the run's period, how many units each gets, and the
stratified random draw (Olofsson et al. 2014, section 5.1).

Strata are the map's own classes, one per cell: `alert_<type>` (a cell with an alert that was not
retracted; `stratify=confidence` splits alerts by confidence instead, `none` keeps them as one
`alert`), `retracted`, `forest_no_alert` (observable forest that raised nothing), `other`
(observable, never forest) and `unobservable` (never observable: not sampled, not estimated, its
area stated). Each sampled stratum gets `min_per_stratum` units or all its cells, whichever is
fewer, as the paper recommends for rare classes, and the rest of the sample in proportion to area.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNOBSERVABLE, RETRACTED, FOREST, OTHER = "unobservable", "retracted", "forest_no_alert", "other"
STRATIFY = ("type", "confidence", "none")


def strata_of(cells: pd.DataFrame, stratify: str = "type") -> pd.Series:
    """Each cell's stratum, from monitor's `cells.csv`."""
    confidence = cells["confidence"].fillna("").astype(str)
    alerted = (confidence != "") & (confidence != RETRACTED)
    split = {"type": cells["alert_type"], "confidence": confidence, "none": None}[stratify]
    alert = "alert_" + split.fillna("").astype(str) if split is not None else pd.Series("alert", index=cells.index)
    named = np.select(
        [cells["observable_dates"] == 0, alerted, confidence == RETRACTED, cells["forest_dates"] > 0],
        [UNOBSERVABLE, alert, RETRACTED, FOREST],
        OTHER,
    )
    return pd.Series(named, index=cells.index, name="stratum")


def is_alert(stratum: str) -> bool:
    """The map says change in this stratum."""
    return stratum.startswith("alert")


def strata_table(cells: pd.DataFrame, strata: pd.Series) -> pd.DataFrame:
    """stratum, cells, area_ha (ground areas): alert strata first, then the others as the map ranks them."""
    table = cells.groupby(strata)["area_ha"].agg(["count", "sum"]).rename(columns={"count": "cells", "sum": "area_ha"})
    order = sorted(table.index, key=lambda name: (not is_alert(name), ORDER.get(name, 0), name))
    return table.loc[order].rename_axis("stratum").reset_index()


ORDER = {RETRACTED: 1, FOREST: 2, OTHER: 3, UNOBSERVABLE: 4}


def sampled(table: pd.DataFrame) -> pd.DataFrame:
    """The strata a sample is drawn from: observable ones of 2 cells or more."""
    return table[(table["stratum"] != UNOBSERVABLE) & (table["cells"] >= 2)]


def allocate(table: pd.DataFrame, size: int, min_per_stratum: int) -> pd.Series:
    """Units per stratum (indexed by stratum): the minimum each, then the rest by area (largest
    remainders), never more than a stratum's cells."""
    table = sampled(table).set_index("stratum")
    units = np.minimum(min_per_stratum, table["cells"]).astype(int)
    if size < units.sum():
        raise ValueError(
            f"size={size} is below what min_per_stratum={min_per_stratum} gives the {len(units)} strata "
            f"({int(units.sum())}); give a larger size or a smaller min_per_stratum"
        )
    left = size - int(units.sum())
    while left > 0 and (room := table["cells"] - units).sum() > 0:
        share = table["area_ha"].where(room > 0, 0.0)
        wanted = share / share.sum() * left
        more = np.minimum(np.floor(wanted).astype(int), room)
        if more.sum() == 0:  # fewer units left than strata with room: by largest remainder
            more = pd.Series(0, index=units.index)
            more[(wanted - np.floor(wanted)).where(room > 0, -1).idxmax()] = 1
        units, left = units + more, left - int(more.sum())
    return units


def change_se(table: pd.DataFrame, units: pd.Series, anticipated: pd.Series) -> float:
    """The standard error the change-area proportion would have with `units` per stratum, if each
    stratum's share of real change is as `anticipated` (the planning formula: p(1 - p) / n)."""
    table = sampled(table).set_index("stratum")
    weights = table["area_ha"] / table["area_ha"].sum()
    p = anticipated.reindex(table.index)
    return float(np.sqrt((weights**2 * p * (1 - p) / units.reindex(table.index)).sum()))


def size_for(table: pd.DataFrame, target_se: float, min_per_stratum: int, anticipated: pd.Series) -> int:
    """The smallest total size whose allocation reaches `target_se` (or every cell, if none does)."""
    low = int(np.minimum(min_per_stratum, sampled(table)["cells"]).sum())
    high = int(sampled(table)["cells"].sum())
    if change_se(table, allocate(table, high, min_per_stratum), anticipated) > target_se:
        return high
    while low < high:
        middle = (low + high) // 2
        if change_se(table, allocate(table, middle, min_per_stratum), anticipated) <= target_se:
            high = middle
        else:
            low = middle + 1
    return low


def anticipated_change(strata: pd.Index, alert_accuracy: float, omission: float) -> pd.Series:
    """Each stratum's share of real change as planned: the alerts' anticipated user's accuracy,
    one half for retracted alerts (the least known), the anticipated omission elsewhere."""
    return pd.Series(
        [alert_accuracy if is_alert(name) else 0.5 if name == RETRACTED else omission for name in strata],
        index=strata,
    )


def draw(cells: pd.DataFrame, strata: pd.Series, units: pd.Series, seed: int) -> pd.DataFrame:
    """A stratified random sample without replacement, in a random order (the page never groups a
    stratum together), numbered S0001, S0002, ... in that order."""
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(strata.to_numpy() == name), n, replace=False) for name, n in units.items()]
    picked = cells.iloc[rng.permutation(np.concatenate(chosen))].copy()
    picked.insert(0, "stratum", strata.loc[picked.index].to_numpy())
    picked.insert(0, "sample_id", [f"S{k + 1:04d}" for k in range(len(picked))])
    return picked.reset_index(drop=True)
