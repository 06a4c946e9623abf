"""Error-adjusted areas and accuracies from a stratified random sample (Olofsson et al. 2013,
2014; Stehman 2014 for strata that are not the map's classes).

Every figure is a stratified estimate of a mean or of a ratio of two means: each stratum h has the
weight W_h = A_h / A (its mapped share of the area) and n_h reviewed units. An area proportion is
the mean of an indicator y (the unit's reference class is j): p = sum_h W_h mean_h(y), with the
variance sum_h W_h^2 s2_h(y) / n_h. A user's or producer's accuracy is a ratio R = Y / X of two
such means (y: map and reference agree that it is change; x: the map says change, or the
reference does), with the variance (1 / X^2) sum_h W_h^2 (s2(y) + R^2 s2(x) - 2 R s(x, y)) / n_h.
With one stratum per map class these are the formulas of Olofsson et al. (2014); as there, no
finite population correction is applied, which errs on the safe side where a stratum is sampled
heavily. Areas are A p, with the 95% interval A p +- 1.96 A SE(p).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

Z95 = 1.959964  # the normal quantile of a two-sided 95% interval


@dataclass(frozen=True)
class Estimate:
    """A stratified estimate and its standard error."""

    value: float
    se: float

    @property
    def low(self) -> float:
        return self.value - Z95 * self.se

    @property
    def high(self) -> float:
        return self.value + Z95 * self.se


@dataclass(frozen=True)
class Design:
    """The reviewed units of a stratified sample: each unit's stratum, and each stratum's mapped area."""

    strata: np.ndarray  # per unit: its stratum's name
    areas: pd.Series  # mapped area per stratum, in any unit (pixels, hectares)

    def __post_init__(self) -> None:
        counts = pd.Series(self.strata).value_counts()
        missing = sorted(set(self.areas.index) - set(counts.index))
        if missing:
            raise ValueError(f"strata with no reviewed unit: {missing}; no area can be estimated without one")
        few = sorted(name for name, n in counts.items() if n < 2)
        if few:
            raise ValueError(f"strata with fewer than 2 reviewed units: {few}; a variance needs two")
        unknown = sorted(set(counts.index) - set(self.areas.index))
        if unknown:
            raise ValueError(f"units of strata that have no mapped area: {unknown}")

    @property
    def total(self) -> float:
        return float(self.areas.sum())

    def mean(self, y: np.ndarray) -> Estimate:
        """The stratified estimate of the mean of `y` over the area, and its standard error."""
        value, variance = 0.0, 0.0
        for name, area in self.areas.items():
            values = np.asarray(y, float)[self.strata == name]
            weight = area / self.total
            value += weight * values.mean()
            variance += weight**2 * values.var(ddof=1) / len(values)
        return Estimate(value, float(np.sqrt(variance)))

    def ratio(self, y: np.ndarray, x: np.ndarray) -> Estimate:
        """The stratified ratio estimate of mean(y) / mean(x), and its standard error."""
        y, x = np.asarray(y, float), np.asarray(x, float)
        ratio = self.mean(y).value / self.mean(x).value
        variance = 0.0
        for name, area in self.areas.items():
            inside = self.strata == name
            yh, xh = y[inside], x[inside]
            covariance = np.cov(yh, xh, ddof=1)[0, 1]
            spread = yh.var(ddof=1) + ratio**2 * xh.var(ddof=1) - 2 * ratio * covariance
            variance += (area / self.total) ** 2 * spread / len(yh)
        return Estimate(ratio, float(np.sqrt(variance)) / self.mean(x).value)


def area_of(design: Design, reference: np.ndarray, name: str) -> Estimate:
    """The area of reference class `name`, in the unit of the strata's areas."""
    proportion = design.mean(reference == name)
    return Estimate(design.total * proportion.value, design.total * proportion.se)


def error_matrix(design: Design, reference: np.ndarray, classes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts (strata x reference classes) and the estimated area proportions p_ij = W_i n_ij / n_i."""
    counts = pd.crosstab(pd.Series(design.strata, name="stratum"), pd.Series(reference, name="reference"))
    counts = counts.reindex(index=design.areas.index, columns=classes, fill_value=0)
    weights = design.areas / design.total
    proportions = counts.div(counts.sum(axis=1), axis=0).mul(weights, axis=0)
    return counts, proportions
