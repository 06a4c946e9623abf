"""Ensemble methods on constructed models whose right answer is known; cross-fitting is honest."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from amazon_cls.blending import methods as blend
from amazon_cls.blending.combine import run_ensemble
from amazon_cls.core.labels import NUM_LABELS, PROB_COLUMNS
from tests.helpers import CHIPS, TEST_CHIPS, make_member

FOLDS = np.arange(CHIPS) % 3


def noisy(targets: np.ndarray, rng: np.random.Generator, signal: float) -> np.ndarray:
    """Probabilities that follow the truth with weight `signal`, the rest uniform noise."""
    return np.clip(signal * targets + (1 - signal) * rng.random(targets.shape), 0, 1)


@pytest.fixture()
def targets() -> np.ndarray:
    return np.random.default_rng(0).random((CHIPS, NUM_LABELS)) < 0.3


def test_auto_is_the_good_model_when_the_other_is_noise(targets: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    probs = np.stack([noisy(targets, rng, 0.6), rng.random(targets.shape)])
    choice = blend.choose(["good", "noise"], probs, targets, blend.groups_of(FOLDS))
    assert {**choice.scores, **choice.single_scores}[choice.chosen] >= choice.single_scores["good"]
    if choice.single:
        combination = blend.single_model(["good", "noise"], ["good", "noise"].index(choice.chosen), NUM_LABELS)
    else:
        combination = blend.fit(choice.chosen, ["good", "noise"], probs, targets)
    assert combination.weights[1].max() < 0.05  # the noise model gets (almost) nothing
    np.testing.assert_allclose(combination.apply(probs), probs[0], atol=0.05)


def test_weighted_blend_of_complementary_models_beats_both(targets: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    first, second = noisy(targets, rng, 0.5), noisy(targets, rng, 0.5)
    first[:, NUM_LABELS // 2 :] = rng.random((CHIPS, NUM_LABELS - NUM_LABELS // 2))  # knows only the first labels
    second[:, : NUM_LABELS // 2] = rng.random((CHIPS, NUM_LABELS // 2))  # knows only the others
    probs, groups = np.stack([first, second]), blend.groups_of(FOLDS)
    best_single = max(blend.fitted_f2(p, targets) for p in probs)
    weighted = blend.cross_fit("weighted_per_label", ["a", "b"], probs, targets, groups)
    assert blend.fitted_f2(weighted, targets) > best_single + 0.02
    per_label = blend.fit("weighted_per_label", ["a", "b"], probs, targets).weights
    assert (per_label[0, : NUM_LABELS // 2] > 0.8).all() and (per_label[1, NUM_LABELS // 2 :] > 0.8).all()


def test_every_method_runs_on_one_fold(targets: np.ndarray, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    probs = np.stack([noisy(targets, rng, 0.5), noisy(targets, rng, 0.3)])
    groups = blend.groups_of(np.zeros(CHIPS, dtype=int))
    assert len(np.unique(groups)) == blend.INNER_GROUPS  # cross-fitting over parts of the single fold
    choice = blend.choose(["a", "b"], probs, targets, groups)
    assert set(blend.METHODS) <= set(choice.scores)
    assert all(np.isfinite(choice.combined[m]).all() for m in blend.METHODS)
    run_dirs = []  # the whole command on one fold's members, with the stack
    for name, p in zip(("a", "b"), probs, strict=True):
        run_dirs.append(make_member(tmp_path, name, 0, p, targets, rng.random((TEST_CHIPS, NUM_LABELS))))
    result = run_ensemble(run_dirs, tmp_path / "out", method="stack")
    assert result["method"] == "stack" and Path(result["submission"]).is_file()


def test_a_member_perfect_on_some_chips_does_not_inflate_the_score(targets: np.ndarray) -> None:
    """A leaky model, perfect on fold 0 and noise elsewhere: fold 0 is combined with weights fitted
    on folds 1 and 2, where it is noise, so its perfection there does not reach the reported score."""
    rng = np.random.default_rng(4)
    leaky = rng.random(targets.shape)
    leaky[FOLDS == 0] = targets[FOLDS == 0]
    honest = noisy(targets, rng, 0.4)
    probs = np.stack([honest, leaky])
    fold0 = FOLDS == 0
    assert blend.fitted_f2(leaky[fold0], targets[fold0]) == 1.0
    for method in ("weighted", "select", "stack", "stack_all"):
        combined = blend.cross_fit(method, ["honest", "leaky"], probs, targets, FOLDS)
        in_sample = blend.fit(method, ["honest", "leaky"], probs, targets).apply(probs)
        assert blend.fitted_f2(combined, targets) < blend.fitted_f2(in_sample, targets)
        # on fold 0 the combination scores what the honest model scores there, not the leak's 1.0
        assert blend.fitted_f2(combined[fold0], targets[fold0]) <= blend.fitted_f2(honest[fold0], targets[fold0]) + 0.01


def test_stack_all_reads_a_label_from_the_labels_that_go_with_it(targets: np.ndarray) -> None:
    """Label 1 is present exactly where label 0 is; the model knows label 0 and guesses label 1.
    Only the stack over every label's output can answer label 1, and it does so cross-fitted."""
    rng = np.random.default_rng(8)
    targets = targets.copy()
    targets[:, 1] = targets[:, 0]
    model = noisy(targets, rng, 0.6)
    model[:, 1] = rng.random(CHIPS)
    probs, groups = model[None], blend.groups_of(FOLDS)
    same_label = blend.cross_fit("stack", ["m"], probs, targets, groups)
    every_label = blend.cross_fit("stack_all", ["m"], probs, targets, groups)
    assert blend.fitted_f2(every_label, targets) > blend.fitted_f2(same_label, targets) + 0.01
    weights = blend.fit("stack_all", ["m"], probs, targets).weights
    assert weights.shape == (1, NUM_LABELS, NUM_LABELS)
    assert weights[0, 0, 1] > 0.5 > abs(weights[0, 1, 1])  # label 1 is read from label 0's output


def test_a_saved_combination_of_the_wrong_shape_is_named(targets: np.ndarray) -> None:
    saved = blend.fit("stack_all", ["a", "b"], np.stack([targets, targets]).astype(float), targets).to_dict()
    saved["weights"] = np.asarray(saved["weights"])[:, :, :3].tolist()
    with pytest.raises(ValueError, match=r"'weights' has shape \(2, 17, 3\), not \(2, 17\) or \(2, 17, 17\)"):
        blend.Combination.from_dict(saved, "c.json")


def test_combination_round_trips_through_json(targets: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    probs = np.stack([noisy(targets, rng, 0.5), noisy(targets, rng, 0.4)])
    for method in blend.METHODS:
        fitted = blend.fit(method, ["a", "b"], probs, targets)
        again = blend.Combination.from_dict(json.loads(json.dumps(fitted.to_dict())))
        np.testing.assert_array_equal(again.apply(probs), fitted.apply(probs))


def test_unknown_method_is_refused_before_the_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"method='median': choose auto or one of \['mean', 'vote'"):
        run_ensemble([tmp_path / "nothing"], tmp_path / "out", method="median")


def test_one_seed_alone_is_used_when_it_beats_the_mean_of_its_seeds(targets: np.ndarray, tmp_path: Path) -> None:
    """'good' has a good seed and a noise seed: their mean is worse than the good seed alone, so the
    ensemble is that seed, and scores what its members score: never below the best member."""
    rng = np.random.default_rng(6)
    good, bad, other = noisy(targets, rng, 0.6), rng.random(targets.shape), noisy(targets, rng, 0.2)
    tests = {name: rng.random((TEST_CHIPS, NUM_LABELS)) for name in ("good", "bad", "other")}
    run_dirs = [
        make_member(tmp_path, model, fold, p, targets, tests[key], seed)
        for model, seed, key, p in (("good", 1, "good", good), ("good", 2, "bad", bad), ("other", 1, "other", other))
        for fold in range(3)
    ]
    result = run_ensemble(run_dirs, tmp_path / "out")
    assert result["method"] == "good@32px seed 1 alone"
    assert result["oof_f2"] >= blend.fitted_f2(good, targets) - 1e-9
    saved = json.loads((tmp_path / "out" / "combination.json").read_text())
    assert [Path(c).parent.name for c in saved["checkpoints"]["good@32px"]] == [f"good_fold{f}_seed1" for f in range(3)]
    submitted = pd.read_csv(tmp_path / "out" / "submission_probs.csv").set_index("image_name")
    submitted = submitted.loc[[f"t{i}" for i in range(TEST_CHIPS)], PROB_COLUMNS].to_numpy()
    np.testing.assert_allclose(submitted, tests["good"], atol=1e-6)  # the good seed's test predictions alone


def test_a_new_method_is_one_registered_function(targets: np.ndarray, tmp_path: Path) -> None:
    """The better model per label: registered, compared by `auto`, chosen by name, saved and applied."""

    @blend.METHODS.register("best_per_label")
    def best_per_label(probs: np.ndarray, targets: np.ndarray) -> blend.Weights:
        labels = probs.shape[2]
        losses = [[np.mean((p[:, k] - targets[:, k]) ** 2) for k in range(labels)] for p in probs]
        weights = np.zeros((len(probs), labels))
        weights[np.argmin(losses, axis=0), np.arange(labels)] = 1.0
        return blend.Weights(weights, np.zeros(labels))

    try:
        rng = np.random.default_rng(7)
        first, second = noisy(targets, rng, 0.6), noisy(targets, rng, 0.6)
        first[:, :8], second[:, 8:] = rng.random((CHIPS, 8)), rng.random((CHIPS, NUM_LABELS - 8))
        choice = blend.choose(["a", "b"], np.stack([first, second]), targets, blend.groups_of(FOLDS))
        assert "best_per_label" in choice.scores
        run_dirs = [
            make_member(tmp_path, name, fold, p, targets, rng.random((TEST_CHIPS, NUM_LABELS)))
            for name, p in (("a", first), ("b", second))
            for fold in range(3)
        ]
        assert run_ensemble(run_dirs, tmp_path / "out", method="best_per_label")["method"] == "best_per_label"
        weights = np.array(json.loads((tmp_path / "out" / "combination.json").read_text())["weights"])
        assert (weights[1, :8] == 1).all() and (weights[0, 8:] == 1).all()
    finally:
        blend.METHODS._entries.pop("best_per_label")
