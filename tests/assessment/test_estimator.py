"""The estimator against the paper's worked example and against a simulated map of known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from amazon_cls.assessment.estimator import Design, area_of, error_matrix

# Olofsson et al. (2014), section 5: mapped areas in pixels, and the sample's counts (rows: map
# class, columns: reference class, in the same order).
CLASSES = ["deforestation", "forest_gain", "stable_forest", "stable_non_forest"]
MAPPED_PX = [200_000, 150_000, 3_200_000, 6_450_000]
COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
HA_PER_PX = 0.09  # 30 m Landsat pixels


def paper_design() -> tuple[Design, np.ndarray]:
    strata, reference = [], []
    for mapped, row in zip(CLASSES, COUNTS, strict=True):
        for truth, count in zip(CLASSES, row, strict=True):
            strata += [mapped] * count
            reference += [truth] * count
    areas = pd.Series(MAPPED_PX, index=CLASSES, dtype=float)
    return Design(np.array(strata), areas), np.array(reference)


def test_the_papers_worked_example_comes_out_exactly() -> None:
    design, reference = paper_design()
    in_px = area_of(design, reference, "deforestation")
    assert in_px.value / design.total == pytest.approx(0.0235086, abs=5e-8)
    assert round(in_px.value) == 235_086 and round(1.96 * in_px.se) == 68_418
    hectares = Design(design.strata, design.areas * HA_PER_PX)
    in_ha = area_of(hectares, reference, "deforestation")
    assert (round(in_ha.value), round(1.96 * in_ha.se)) == (21_158, 6_158)


def test_the_papers_accuracies() -> None:
    design, reference = paper_design()
    mapped = design.strata
    users = design.ratio((mapped == "deforestation") & (reference == "deforestation"), mapped == "deforestation")
    producers = design.ratio((mapped == "deforestation") & (reference == "deforestation"), reference == "deforestation")
    overall = design.mean(mapped == reference)
    assert users.value == pytest.approx(66 / 75) and users.se == pytest.approx(np.sqrt(0.88 * 0.12 / 74))
    assert (round(producers.value, 2), round(overall.value, 2)) == (0.75, 0.95)  # the paper's table 8
    counts, proportions = error_matrix(design, reference, CLASSES)
    assert counts.to_numpy().tolist() == COUNTS and proportions.to_numpy().sum() == pytest.approx(1.0)
    assert proportions.loc["deforestation", "deforestation"] == pytest.approx(0.0176, abs=5e-5)  # table 4


def test_the_interval_covers_the_true_area_about_95_times_in_100() -> None:
    """A map of 20,000 cells with a known truth: 600 mapped as change (70% truly change), 19,400 as
    no change (4% truly change); 400 stratified samples of 60 + 300 units. (With 1.5% omission and
    120 units, about two changes expected in the sample, the normal interval covers only 83%:
    `area` warns where a stratum found so few.)"""
    rng = np.random.default_rng(7)
    mapped = np.r_[np.ones(600, bool), np.zeros(19_400, bool)]
    truth = np.r_[rng.random(600) < 0.7, rng.random(19_400) < 0.04]
    areas = pd.Series({"change": 600.0, "no_change": 19_400.0})
    covered, draws = 0, 400
    for _ in range(draws):
        units = np.r_[rng.choice(600, 60, replace=False), 600 + rng.choice(19_400, 300, replace=False)]
        strata = np.where(mapped[units], "change", "no_change")
        estimate = area_of(Design(strata, areas), np.where(truth[units], "change", "no_change"), "change")
        covered += estimate.low <= truth.sum() <= estimate.high
    share = covered / draws
    assert abs(share - 0.95) < 3 * np.sqrt(0.95 * 0.05 / draws), share  # within three standard errors


def test_a_stratum_with_fewer_than_two_reviewed_units_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"fewer than 2 reviewed units: \['rare'\]"):
        Design(np.array(["common", "common", "rare"]), pd.Series({"common": 10.0, "rare": 1.0}))
