"""evaluate: a known confusion, intervals that cover the truth, paired comparisons that find a
planted difference and not noise, checkpoints and run folders agreeing, and inputs refused by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from amazon_cls.core.labels import LABEL_INDEX, LABELS, NUM_LABELS, PROB_COLUMNS, RARE, vector_to_tags
from amazon_cls.core.metric import chip_f2, per_label_report
from amazon_cls.evaluate import run as evaluate
from amazon_cls.evaluation.bootstrap import Bootstrap, chip_f2_statistic, label_f2_statistic
from amazon_cls.store.run_folder import RunFolder
from tests.helpers import compose_config, fails_on_a_full_disk, needs_tmpfs, small_disk

CLEAR, HAZE, CLOUDY, PRIMARY, ROAD = (LABEL_INDEX[n] for n in ("clear", "haze", "cloudy", "primary", "road"))


def write_tags(path: Path, names: list[str], y: np.ndarray) -> Path:
    pd.DataFrame({"image_name": names, "tags": [vector_to_tags(row) for row in y]}).to_csv(path, index=False)
    return path


def run_evaluate(tmp_path: Path, *overrides: str) -> dict:
    out = tmp_path / "evaluation"
    evaluate(
        compose_config(
            "evaluate",
            [
                *overrides,
                "num_workers=0",
                "trainer.enable_progress_bar=false",
                "bootstrap.draws=200",
                f"output_dir={out}",
            ],
            out,
        )
    )
    return json.loads((out / "evaluation.json").read_text())


def known_case() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ten chips: 6 clear (one predicted hazy), 2 hazy (one predicted clear, one with two weathers),
    2 cloudy; primary everywhere but the cloudy ones; road on 3 chips, predicted on 2 of them and 1 other."""
    truth, pred = np.zeros((10, NUM_LABELS), bool), np.zeros((10, NUM_LABELS), bool)
    truth[:6, CLEAR], truth[6:8, HAZE], truth[8:, CLOUDY] = True, True, True
    pred[:5, CLEAR], pred[5, HAZE], pred[6, CLEAR], pred[7, [HAZE, CLEAR]], pred[8:, CLOUDY] = (True,) * 5
    truth[:8, PRIMARY], pred[:8, PRIMARY] = True, True
    truth[[0, 1, 2], ROAD], pred[[0, 1, 3], ROAD] = True, True
    return [f"chip_{i}" for i in range(10)], truth, pred


def test_a_known_confusion_is_reported_exactly(tmp_path: Path) -> None:
    names, truth, pred = known_case()
    labels = write_tags(tmp_path / "labels.csv", names, truth)
    submission = write_tags(tmp_path / "submission.csv", names[::-1], pred[::-1])  # another order: matched by name
    summary = run_evaluate(tmp_path, f"labels={labels}", f"submission={submission}")
    (result,) = summary["results"]
    assert summary["chips"] == 10 and result["kind"] == "tags"
    assert result["f2"]["estimate"] == pytest.approx(chip_f2(truth, pred))
    road = next(row for row in result["per_label"] if row["label"] == "road")
    assert (road["support"], road["predicted"]) == (3, 3)
    assert road["precision"] == pytest.approx(2 / 3) and road["recall"] == pytest.approx(2 / 3)
    confusion = result["weather_confusion"]
    assert confusion["clear"] == {"clear": 5, "partly_cloudy": 0, "haze": 1, "cloudy": 0, "none": 0, "several": 0}
    assert confusion["haze"] == {"clear": 1, "partly_cloudy": 0, "haze": 0, "cloudy": 0, "none": 0, "several": 1}
    assert confusion["cloudy"]["cloudy"] == 2 and confusion["partly_cloudy"] == dict.fromkeys(confusion["clear"], 0)
    report = (tmp_path / "evaluation" / "evaluation.md").read_text()
    assert "| road | 3 | 3 | 0.667 | 0.667 |" in report
    table = pd.read_csv(tmp_path / "evaluation" / "evaluation.csv")
    assert table["label"].tolist() == list(LABELS) and table["predictions"].unique().tolist() == ["submission"]


def noisy_predictions(truth: np.ndarray, flip: float, rng: np.random.Generator) -> np.ndarray:
    """The truth with a share `flip` of its chip-labels flipped."""
    return truth ^ (rng.random(truth.shape) < flip)


def population(chips: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((chips, NUM_LABELS)) < np.linspace(0.6, 0.02, NUM_LABELS)


@pytest.mark.parametrize("statistic", ["chip F2", "rare-label F2"])
def test_the_interval_covers_the_true_f2_about_as_often_as_it_claims(statistic: str) -> None:
    rng = np.random.default_rng(0)
    truth = population(100_000, 1)
    pred = noisy_predictions(truth, 0.08, rng)
    make = {"chip F2": chip_f2_statistic, "rare-label F2": lambda y, p: label_f2_statistic(y, p, RARE)}[statistic]
    true_value = make(truth, pred)(np.ones((1, len(truth))))[0]
    covered = []
    for repeat in range(120):
        sample = rng.choice(len(truth), 800, replace=False)
        interval = Bootstrap(800, draws=300, seed=repeat).interval(make(truth[sample], pred[sample]))
        covered.append(interval.low <= true_value <= interval.high)
    assert 0.88 <= np.mean(covered) <= 0.99, np.mean(covered)


def test_the_paired_comparison_finds_a_planted_difference() -> None:
    rng = np.random.default_rng(2)
    truth = population(2000, 3)
    worse = noisy_predictions(truth, 0.10, rng)
    better = worse.copy()
    fixed = rng.random(len(truth)) < 0.15  # the better model gets 15% of the chips right where the other erred
    better[fixed] = truth[fixed]
    bootstrap = Bootstrap(len(truth), draws=500, seed=0)
    difference, first_better = bootstrap.paired(chip_f2_statistic(truth, better), chip_f2_statistic(truth, worse))
    assert difference.excludes_zero() and difference.low > 0 and first_better > 0.99
    assert difference.estimate == pytest.approx(chip_f2(truth, better) - chip_f2(truth, worse))


def test_the_paired_comparison_does_not_call_noise_significant() -> None:
    """Two models of the same quality (each the truth with 10% of chip-labels flipped at random):
    a 95% interval excludes zero in about 5% of such comparisons, not more."""
    rng = np.random.default_rng(4)
    truth = population(1500, 5)
    significant = []
    for repeat in range(60):
        a, b = noisy_predictions(truth, 0.10, rng), noisy_predictions(truth, 0.10, rng)
        difference, _ = Bootstrap(len(truth), draws=300, seed=repeat).paired(
            chip_f2_statistic(truth, a), chip_f2_statistic(truth, b)
        )
        significant.append(difference.excludes_zero())
    assert np.mean(significant) <= 0.12, np.mean(significant)


def probability_table(path: Path, names: list[str], probs: np.ndarray) -> Path:
    frame = pd.DataFrame(probs, columns=PROB_COLUMNS)
    frame.insert(0, "image_name", names)
    frame.to_csv(path, index=False)
    return path


def labelled_chips(tmp_path: Path, chips: int, seed: int) -> tuple[np.ndarray, list[str], Path]:
    """Random labels of `chips` chips, their names and the labels.csv that lists them."""
    truth = population(chips, seed)
    names = [f"c{i}" for i in range(chips)]
    return truth, names, write_tags(tmp_path / "labels.csv", names, truth)


def test_compare_scores_tables_and_cross_fits_their_thresholds(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    truth, names, labels = labelled_chips(tmp_path, 600, 7)
    good = probability_table(tmp_path / "good.csv", names, np.clip(truth * 0.7 + rng.random(truth.shape) * 0.3, 0, 1))
    poor = probability_table(tmp_path / "poor.csv", names, rng.random(truth.shape))
    summary = run_evaluate(tmp_path, f"labels={labels}", f"compare=[{good},{poor}]", "cross_fit=2")
    scores = {r["name"]: r["f2"]["estimate"] for r in summary["results"]}
    assert scores["good"] > 0.95 > scores["poor"]
    (pair,) = summary["comparisons"]
    assert (pair["first"], pair["second"], pair["significant"]) == ("good", "poor", True)
    assert pair["first_better"] == 1.0 and pair["f2_difference"]["low"] > 0
    assert "cross-fitted on 2 parts" in summary["results"][0]["thresholds"]
    assert {Path(i["path"]).name for i in summary["inputs"]} == {"good.csv", "poor.csv"}
    assert (tmp_path / "evaluation" / "pr_good.png").stat().st_size > 10_000


def test_a_rare_weight_per_item_trades_chip_f2_for_the_rare_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    truth, names, labels = labelled_chips(tmp_path, 800, 9)
    table = probability_table(tmp_path / "weak.csv", names, np.clip(truth * 0.3 + rng.random(truth.shape) * 0.7, 0, 1))
    summary = run_evaluate(
        tmp_path,
        f"labels={labels}",
        f"compare=[{table},{table}]",
        "names=[chips,alert]",
        "cross_fit=2",
        "rare_weight=[0,1]",
    )
    chips, alert = summary["results"]
    assert alert["rare_f2"]["estimate"] > chips["rare_f2"]["estimate"]
    assert alert["f2"]["estimate"] < chips["f2"]["estimate"]
    assert "rare_weight 1" in alert["thresholds"] and "rare_weight" not in chips["thresholds"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [(["rare_weight=0.05"], "needs cross_fit=2"), (["cross_fit=2", "rare_weight=[0,1,2]"], "or 1, one per item")],
)
def test_a_rare_weight_that_cannot_apply_is_named(tmp_path: Path, overrides: list[str], message: str) -> None:
    _, names, labels = labelled_chips(tmp_path, 40, 1)
    table = probability_table(tmp_path / "p.csv", names, np.random.default_rng(0).random((40, NUM_LABELS)))
    with pytest.raises(ValueError, match=rf"rare_weight=.*{message}"):
        run_evaluate(tmp_path, f"labels={labels}", f"compare=[{table}]", *overrides)


def test_training_and_evaluate_cross_fit_the_same_halves(trained_run: Path, tiny_root: Path, tmp_path: Path) -> None:
    metrics = json.loads((trained_run / "metrics.json").read_text())
    summary = run_evaluate(
        tmp_path,
        f"data.root={tiny_root}",
        "fold=0",
        f"compare=[{trained_run}]",
        "cross_fit=2",
        f"data.folds_dir={tmp_path}/folds",
    )
    (result,) = summary["results"]
    assert result["f2"]["estimate"] == pytest.approx(metrics["val/f2_cross_fitted"], abs=1e-6)


def test_a_checkpoint_and_its_run_folder_score_the_same(trained_run: Path, tiny_root: Path, tmp_path: Path) -> None:
    ckpt = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    summary = run_evaluate(
        tmp_path,
        f"data.root={tiny_root}",
        "fold=0",
        f"compare=[{ckpt},{trained_run}]",
        "names=[predicted,recorded]",
        f"data.folds_dir={tmp_path}/folds",
        "trainer.precision=32",  # as the run trained and validated; auto is bf16-mixed on a bf16 CPU
    )
    predicted, recorded = summary["results"]
    assert (predicted["kind"], recorded["kind"]) == ("checkpoint", "run")
    assert predicted["f2"]["estimate"] == pytest.approx(recorded["f2"]["estimate"], abs=1e-3)
    recorded_f2 = json.loads((trained_run / "metrics.json").read_text())["val/f2"]
    assert predicted["f2"]["estimate"] == pytest.approx(recorded_f2, abs=1e-3)
    assert not summary["comparisons"][0]["significant"]
    val = pd.read_csv(trained_run / "val_probs.csv")
    assert summary["chips"] == len(val)
    report = per_label_report(val.filter(like="t_").to_numpy(), val.filter(like="p_").to_numpy() > 0.5)
    assert [row["support"] for row in recorded["per_label"]] == report["support"].tolist()


def test_a_run_trained_without_tta_is_scored_on_its_own_table(
    trained_run: Path, tiny_root: Path, tmp_path: Path
) -> None:
    plain = tmp_path / "plain_run"
    shutil.copytree(trained_run, plain)
    (plain / "val_probs_notta.csv").replace(plain / "val_probs.csv")  # what a run with tta=none writes
    folder = RunFolder(plain)
    metrics = json.loads(folder.metrics.read_text())
    scores = {key: value for key, value in metrics.items() if key not in ("outputs", "checkpoint")}
    scores["best_checkpoint"] = str(plain / "checkpoints" / Path(metrics["best_checkpoint"]).name)
    folder.write_metrics(
        {**scores, "tta": "none"}, [plain / name for name in metrics["outputs"] if (plain / name).exists()]
    )
    summary = run_evaluate(
        tmp_path,
        f"data.root={tiny_root}",
        "fold=0",
        f"compare=[{plain},{trained_run}]",
        "names=[plain,d4]",
        "tta=none",
        f"data.folds_dir={tmp_path}/folds",
    )
    plain_result, d4_result = summary["results"]
    assert plain_result["f2"]["estimate"] == pytest.approx(d4_result["f2"]["estimate"])  # both the plain view
    with pytest.raises(ValueError, match="no out-of-fold probabilities of tta=d4"):
        run_evaluate(
            tmp_path,
            f"data.root={tiny_root}",
            "fold=0",
            f"compare=[{plain},{trained_run}]",
            "tta=d4",
            f"data.folds_dir={tmp_path}/folds",
        )


@pytest.fixture
def labelled_folder(tmp_path: Path, tiny_root: Path) -> tuple[Path, Path]:
    """Five chips of the tiny data set in a folder of their own, and their labels."""
    folder = tmp_path / "chips"
    folder.mkdir()
    labels = pd.read_csv(tiny_root / "train_v2.csv").head(5)
    for name in labels["image_name"]:
        (folder / f"{name}.jpg").write_bytes((tiny_root / "train-jpg" / f"{name}.jpg").read_bytes())
    labels.to_csv(tmp_path / "labels.csv", index=False)
    return folder, tmp_path / "labels.csv"


def test_chips_without_labels_and_labels_without_chips_are_named(
    labelled_folder: tuple[Path, Path], trained_run: Path, tmp_path: Path
) -> None:
    folder, labels = labelled_folder
    ckpt = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    (folder / "stray.jpg").write_bytes(next(folder.glob("*.jpg")).read_bytes())
    with pytest.raises(ValueError, match=r"chips: 1 chips have no labels in .*labels.csv \(e.g. \['stray'\]\)"):
        run_evaluate(tmp_path, f"labels={labels}", f"input={folder}", f"ckpt={ckpt}")
    (folder / "stray.jpg").unlink()
    gone = sorted(folder.glob("*.jpg"))[0]
    gone.unlink()
    with pytest.raises(ValueError, match=rf"labels.csv: 1 labelled chips have no file in .*\['{gone.stem}'\]"):
        run_evaluate(tmp_path, f"labels={labels}", f"input={folder}", f"ckpt={ckpt}")


def test_a_submission_outside_the_vocabulary_or_the_chips_is_named(tmp_path: Path) -> None:
    names, truth, pred = known_case()
    labels = write_tags(tmp_path / "labels.csv", names, truth)
    other = tmp_path / "other.csv"
    pd.DataFrame({"image_name": names, "tags": ["clear primary"] * 9 + ["clear deforestation"]}).to_csv(
        other, index=False
    )
    with pytest.raises(ValueError, match=r"other.csv row 11: unknown tag 'deforestation'"):
        run_evaluate(tmp_path, f"labels={labels}", f"submission={other}")
    fewer = write_tags(tmp_path / "fewer.csv", names[:8], pred[:8])
    with pytest.raises(ValueError, match=r"fewer.csv: not the chips scored .* 2 labelled chips are not in it"):
        run_evaluate(tmp_path, f"labels={labels}", f"submission={fewer}")
    full = write_tags(tmp_path / "full.csv", names, pred)
    with pytest.raises(ValueError, match=r"full.csv and .*fewer.csv are over different chips \(2 only in the first"):
        run_evaluate(tmp_path, f"labels={labels}", f"compare=[{full},{fewer}]")
    probs = probability_table(tmp_path / "probs.csv", names, pred.astype(float))
    with pytest.raises(ValueError, match=r"probs.csv: probabilities need thresholds .* or cross_fit=2"):
        run_evaluate(tmp_path, f"labels={labels}", f"submission={probs}")
    assert not (tmp_path / "evaluation" / "evaluation.json").exists()


def test_one_thing_to_evaluate_is_asked_for(tmp_path: Path) -> None:
    names, truth, _ = known_case()
    labels = write_tags(tmp_path / "labels.csv", names, truth)
    with pytest.raises(
        ValueError, match=r"give one of ckpt=, ensemble=, submission= or compare=\[...\] \(none given\)"
    ):
        run_evaluate(tmp_path, f"labels={labels}")
    with pytest.raises(ValueError, match=r"cross_fit=1: 0 \(the thresholds given\) or at least 2 parts"):
        run_evaluate(tmp_path, f"labels={labels}", f"submission={labels}", "cross_fit=1")


@needs_tmpfs
def test_a_full_disk_keeps_the_previous_evaluation(tmp_path: Path) -> None:
    names, truth, pred = known_case()
    labels = write_tags(tmp_path / "labels.csv", names, truth)
    submission = write_tags(tmp_path / "submission.csv", names, pred)
    with small_disk(tmp_path / "evaluation"):
        run_evaluate(tmp_path, f"labels={labels}", f"submission={submission}")
        rerun = lambda: run_evaluate(tmp_path, f"labels={labels}", f"submission={submission}", "bootstrap.seed=1")  # noqa: E731
        fails_on_a_full_disk(tmp_path / "evaluation", rerun)
