import numpy as np
import pytest
import torch
from sklearn.metrics import fbeta_score, precision_score, recall_score
from torchmetrics.classification import MultilabelFBetaScore

from amazon_cls.core.labels import NUM_LABELS
from amazon_cls.core.metric import binarize, chip_f2, per_label_report
from amazon_cls.core.thresholds import START_THRESHOLD, fit_thresholds, fit_thresholds_reference


def random_case(seed: int, chips: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.random((chips, NUM_LABELS)) < rng.uniform(0.02, 0.5, NUM_LABELS)
    probs = np.clip(0.35 * y_true + 0.65 * rng.random((chips, NUM_LABELS)), 0, 1)
    return y_true, probs


@pytest.mark.parametrize("seed", range(5))
def test_chip_f2_equals_sklearn_samples_average(seed: int) -> None:
    y_true, probs = random_case(seed)
    y_pred = probs > 0.4
    y_true[:3] = False  # chips with nothing true
    y_pred[2:5] = False  # and chips with nothing predicted: both edge cases score 0 in sklearn
    expected = fbeta_score(y_true, y_pred, beta=2, average="samples", zero_division=0)
    assert chip_f2(y_true, y_pred) == pytest.approx(expected, abs=1e-12)


def test_torchmetrics_default_fbeta_is_a_different_average() -> None:
    y_true, probs = random_case(7)
    ours = chip_f2(y_true, probs > 0.5)
    theirs = MultilabelFBetaScore(beta=2.0, num_labels=NUM_LABELS)(torch.tensor(probs), torch.tensor(y_true))
    assert abs(ours - float(theirs)) > 1e-3


def test_per_label_report_matches_sklearn_and_torchmetrics() -> None:
    y_true, probs = random_case(11)
    y_pred = probs > 0.5
    report = per_label_report(y_true, y_pred)
    per_label = MultilabelFBetaScore(beta=2.0, num_labels=NUM_LABELS, average=None, zero_division=0)
    np.testing.assert_allclose(report["f2"], per_label(torch.tensor(y_pred).int(), torch.tensor(y_true)), atol=1e-6)
    np.testing.assert_allclose(report["precision"], precision_score(y_true, y_pred, average=None, zero_division=0))
    np.testing.assert_allclose(report["recall"], recall_score(y_true, y_pred, average=None, zero_division=0))
    np.testing.assert_array_equal(report["support"], y_true.sum(axis=0))


@pytest.mark.parametrize("seed", range(4))
def test_fitted_thresholds_never_lower_f2(seed: int) -> None:
    y_true, probs = random_case(seed)
    thresholds = fit_thresholds(probs, y_true)
    assert chip_f2(y_true, binarize(probs, thresholds)) >= chip_f2(y_true, binarize(probs, START_THRESHOLD))


def test_threshold_fitting_finds_known_optimum() -> None:
    """Label 0 is positive exactly when p > 0.63, label 1 when p > 0.27, label 2 always; the rest never."""
    rng = np.random.default_rng(0)
    probs = rng.uniform(0, 1, (2000, NUM_LABELS)).round(3)
    probs[:, 2] = rng.uniform(0.5, 1, 2000)
    probs[:, 3:] = rng.uniform(0, 0.15, (2000, NUM_LABELS - 3))
    y_true = np.zeros_like(probs, dtype=bool)
    y_true[:, 2] = True
    y_true[:, 0] = probs[:, 0] > 0.63
    y_true[:, 1] = probs[:, 1] > 0.27
    thresholds = fit_thresholds(probs, y_true)
    assert thresholds[0] == pytest.approx(0.63)
    assert thresholds[1] == pytest.approx(0.27)
    assert chip_f2(y_true, binarize(probs, thresholds)) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(3))
def test_fast_threshold_fitting_equals_grid_search(seed: int) -> None:
    y_true, probs = random_case(seed, chips=150)
    np.testing.assert_array_equal(fit_thresholds(probs, y_true), fit_thresholds_reference(probs, y_true))
