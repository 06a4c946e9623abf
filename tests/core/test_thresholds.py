"""Thresholds carry the view (TTA) they were fitted under, and refuse to serve another."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from amazon_cls.core.labels import LABELS, RARE_INDEX
from amazon_cls.core.metric import binarize, chip_f2, per_label_report
from amazon_cls.core.thresholds import (
    UNKNOWN_VIEW,
    ThresholdError,
    Thresholds,
    cross_fitted,
    fit_thresholds,
    fit_thresholds_reference,
    parts_of,
    rare_objective,
)
from amazon_cls.inference.predictor import Predictor
from tests.core.test_metric import random_case


def values(offset: float) -> dict[str, float]:
    return {label: round(offset + 0.01 * i, 2) for i, label in enumerate(LABELS)}


def test_views_round_trip_through_json() -> None:
    thresholds = Thresholds.from_json({"d4": values(0.1), "none": values(0.2)}, "test")
    again = Thresholds.from_json(json.loads(json.dumps(thresholds.to_json())), "again")
    assert set(again.views) == {"d4", "none"}
    np.testing.assert_allclose(again.of_view("d4"), list(values(0.1).values()))
    np.testing.assert_allclose(again.of_view("none"), list(values(0.2).values()))


def test_another_view_is_refused_naming_the_source_and_the_fix() -> None:
    thresholds = Thresholds.from_json({"d4": values(0.1)}, "model.ckpt")
    with pytest.raises(
        ThresholdError,
        match=r"model\.ckpt: its thresholds were fitted under tta=d4, not tta=none; "
        r"predict with tta=d4, or give thresholds=",
    ):
        thresholds.of_view("none")


def test_a_flat_file_has_no_view_and_serves_any_with_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(values(0.3)))
    thresholds = Thresholds.read(path)
    assert list(thresholds.views) == [UNKNOWN_VIEW]
    with caplog.at_level(logging.WARNING):
        np.testing.assert_allclose(thresholds.of_view("d4"), list(values(0.3).values()))
    assert "thresholds of an unknown view" in caplog.text


def test_a_run_trained_with_tta_fits_both_views_and_predict_takes_the_asked_one(trained_run: Path) -> None:
    best = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    views = json.loads((trained_run / "thresholds.json").read_text())
    for view in ("d4", "none"):
        predictor = Predictor.of(str(best), None, view)
        np.testing.assert_allclose(predictor.thresholds, list(views[view].values()))


def test_a_checkpoint_without_the_asked_view_is_refused_before_predicting(trained_run: Path, tmp_path: Path) -> None:
    checkpoint = torch.load(next((trained_run / "checkpoints").glob("best-*.ckpt")), weights_only=True)
    checkpoint["thresholds"] = {"d4": checkpoint["thresholds"]["d4"]}
    torch.save(checkpoint, tmp_path / "d4_only.ckpt")
    with pytest.raises(ThresholdError, match=r"d4_only\.ckpt: its thresholds were fitted under tta=d4, not tta=none"):
        Predictor.of(str(tmp_path / "d4_only.ckpt"), None, "none")


def test_an_older_checkpoint_keeps_its_recorded_view(trained_run: Path, tmp_path: Path) -> None:
    """Older versions stored a flat mapping, the view beside it, and a thresholds buffer."""
    checkpoint = torch.load(next((trained_run / "checkpoints").glob("best-*.ckpt")), weights_only=True)
    flat = checkpoint["thresholds"]["d4"]
    checkpoint.update(thresholds=flat, thresholds_tta="d4")
    checkpoint["state_dict"]["thresholds"] = torch.tensor(list(flat.values()))
    torch.save(checkpoint, tmp_path / "older.ckpt")
    np.testing.assert_allclose(Predictor.of(str(tmp_path / "older.ckpt"), None, "d4").thresholds, list(flat.values()))
    with pytest.raises(ThresholdError, match="fitted under tta=d4, not tta=none"):
        Predictor.of(str(tmp_path / "older.ckpt"), None, "none")


def test_cross_fitted_thresholds_label_each_chip_with_a_fit_that_never_saw_it() -> None:
    rng = np.random.default_rng(0)
    targets = rng.random((400, 17)) < 0.3
    probs = np.clip(targets * 0.3 + rng.random((400, 17)) * 0.7, 0, 1)
    y_pred, fitted = cross_fitted(probs, targets, parts=2, seed=5)
    part = np.random.default_rng(5).permutation(400) % 2
    for k in range(2):
        np.testing.assert_array_equal(fitted[k], fit_thresholds(probs[part != k], targets[part != k]))
        np.testing.assert_array_equal(y_pred[part == k], probs[part == k] > fitted[k])
    noise = rng.random((400, 17))  # no signal: fitted on the chips it scores, F2 flatters it
    in_sample = chip_f2(targets, noise > fit_thresholds(noise, targets))
    assert chip_f2(targets, cross_fitted(noise, targets, parts=2)[0]) < in_sample


def test_named_chips_keep_their_cross_fitted_half_in_any_order() -> None:
    rng = np.random.default_rng(1)
    targets = rng.random((300, 17)) < 0.2
    probs = np.clip(targets * 0.4 + rng.random((300, 17)) * 0.6, 0, 1)
    names = [f"train_{i}" for i in range(300)]
    order = rng.permutation(300)
    y_pred, _ = cross_fitted(probs, targets, 2, 0, names)
    shuffled, _ = cross_fitted(probs[order], targets[order], 2, 0, [names[i] for i in order])
    np.testing.assert_array_equal(shuffled, y_pred[order])  # the training summary and evaluate agree
    halves = parts_of(names, 2)
    assert 100 < (halves == 0).sum() < 200
    assert not np.array_equal(halves, parts_of(names, 2, seed=1))


@pytest.mark.parametrize("seed", range(2))
def test_the_rare_objective_is_fitted_as_a_full_grid_search_would(seed: int) -> None:
    y_true, probs = random_case(seed, chips=150)
    rare = RARE_INDEX
    y_true[:, rare] &= np.random.default_rng(seed).random((150, len(rare))) < 0.3  # rare: few positives
    fast = fit_thresholds(probs, y_true, rare_weight=0.5)
    reference = fit_thresholds_reference(probs, y_true, score=lambda y, p: rare_objective(y, p, 0.5))
    np.testing.assert_array_equal(fast, reference)


def test_a_rare_weight_trades_chip_f2_for_the_rare_labels_f2() -> None:
    y_true, probs = random_case(0, chips=400)
    rare = RARE_INDEX
    chips_only, weighted = fit_thresholds(probs, y_true), fit_thresholds(probs, y_true, rare_weight=1.0)
    rare_f2 = {
        key: per_label_report(y_true, binarize(probs, t)).f2.to_numpy()[rare].mean()
        for key, t in (("chips", chips_only), ("weighted", weighted))
    }
    assert rare_f2["weighted"] > rare_f2["chips"]
    assert chip_f2(y_true, binarize(probs, weighted)) <= chip_f2(y_true, binarize(probs, chips_only))
    assert rare_objective(y_true, binarize(probs, chips_only)) == chip_f2(y_true, binarize(probs, chips_only))


@pytest.mark.parametrize("weight", [-0.1, float("nan")])
def test_a_bad_rare_weight_is_refused(weight: float) -> None:
    y_true, probs = random_case(0, chips=50)
    with pytest.raises(ValueError, match="rare_weight"):
        fit_thresholds(probs, y_true, rare_weight=weight)
