"""Combine ensemble members into one out-of-fold score and one Kaggle submission.

    python -m amazon_cls.ensemble sweep_dir=<multirun folder> [method=mean|vote|stack] [order=<sample_submission.csv>]
    python -m amazon_cls.ensemble "runs=[<run folder>,<run folder>,...]"

A member is a finished training run (one model x fold x seed). Each model's out-of-fold
predictions are assembled over its folds (seeds averaged); models are combined by probability
mean, vote (fraction of models above their own fitted thresholds) or a per-label ridge stack
cross-fitted over the folds; thresholds are fitted on the combined out-of-fold set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from sklearn.linear_model import Ridge

from amazon_cls import runs
from amazon_cls.io import write_atomic, write_csv, write_json
from amazon_cls.labels import LABEL_INDEX, PROB_COLUMNS, RARE, TARGET_COLUMNS
from amazon_cls.metrics import binarize, chip_f2, fit_thresholds, per_label_report, predict_labels

log = logging.getLogger(__name__)
METHODS = ("mean", "vote", "stack")


@dataclass
class Member:
    """One finished training run and its prediction tables (indexed by image_name)."""

    run_dir: Path
    model: str
    fold: int
    seed: int
    oof: pd.DataFrame  # fold, p_* (TTA as trained), t_*
    oof_plain: pd.DataFrame | None  # the same without TTA, when the run used TTA
    test: pd.DataFrame | None  # p_* of the test chips


def load_member(run_dir: Path) -> Member | None:
    """The member in `run_dir`, or None if that run has not finished."""
    if runs.finished_metrics(run_dir) is None:
        return None
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    model = f"{cfg.model.backbone}@{cfg.model.image_size}px"
    return Member(
        run_dir=run_dir,
        model=model,
        fold=int(cfg.data.fold),
        seed=int(cfg.seed),
        oof=runs.read_frame(run_dir / runs.VAL_PROBS),
        oof_plain=runs.read_frame(run_dir / runs.VAL_PROBS_PLAIN),
        test=runs.read_frame(run_dir / runs.TEST_PROBS),
    )


def find_members(run_dirs: list[Path]) -> list[Member]:
    """Finished members among `run_dirs` (unfinished ones are reported and left out)."""
    members = []
    for run_dir in run_dirs:
        member = load_member(run_dir)
        if member is None:
            log.warning("Leaving out %s: no finished run there (metrics.json and its outputs)", run_dir)
        else:
            members.append(member)
    if not members:
        raise FileNotFoundError(f"no finished members in {[str(d) for d in run_dirs]}")
    return members


def model_tables(members: list[Member], table: str) -> dict[str, pd.DataFrame]:
    """Per model: the chosen table of its members, seeds averaged and folds concatenated."""
    tables: dict[str, pd.DataFrame] = {}
    for model in sorted({m.model for m in members}):
        frames = [getattr(m, table) for m in members if m.model == model]
        if any(frame is None for frame in frames):
            continue
        stacked = pd.concat(frames)
        tables[model] = stacked.groupby(level=0, sort=True).mean()
    return tables


def common_chips(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Restrict every model to the chips all models predicted (warns about the rest)."""
    names = sorted(set.intersection(*(set(t.index) for t in tables.values())))
    for model, table in tables.items():
        if len(table) != len(names):
            log.warning(
                "%s: %d of its %d chips are not predicted by every model; left out",
                model,
                len(table) - len(names),
                len(table),
            )
    return {model: table.loc[names] for model, table in tables.items()}


def combine(
    oof: dict[str, pd.DataFrame], test: dict[str, pd.DataFrame] | None, method: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Combined out-of-fold and (if given) test probabilities of several models."""
    oof_probs = np.stack([t[PROB_COLUMNS].to_numpy() for t in oof.values()])  # models x chips x labels
    test_probs = np.stack([test[m][PROB_COLUMNS].to_numpy() for m in oof]) if test else None
    if method == "mean":
        return oof_probs.mean(0), None if test_probs is None else test_probs.mean(0)
    targets = next(iter(oof.values()))[TARGET_COLUMNS].to_numpy()
    if method == "vote":
        thresholds = np.stack([fit_thresholds(p, targets) for p in oof_probs])[:, None, :]
        vote = lambda probs: (probs > thresholds).mean(0)  # noqa: E731 - the fraction of models voting yes
        return vote(oof_probs), None if test_probs is None else vote(test_probs)
    if method == "stack":
        folds = next(iter(oof.values()))["fold"].to_numpy()
        return ridge_stack(oof_probs, targets, folds, test_probs)
    raise ValueError(f"method={method!r}; choose one of {METHODS}")


def ridge_stack(
    oof_probs: np.ndarray, targets: np.ndarray, folds: np.ndarray, test_probs: np.ndarray | None, alpha: float = 1.0
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per label, a ridge regression over the models' probabilities.

    Out-of-fold: each fold is predicted by a ridge fitted on the other folds, so the thresholds
    fitted afterwards see honest predictions. Test: a ridge fitted on every fold.
    """
    stacked_oof = np.zeros(oof_probs.shape[1:])
    stacked_test = None if test_probs is None else np.zeros(test_probs.shape[1:])
    for label in range(oof_probs.shape[2]):
        features = oof_probs[:, :, label].T
        for fold in np.unique(folds):
            held_out = folds == fold
            ridge = Ridge(alpha=alpha).fit(features[~held_out], targets[~held_out, label])
            stacked_oof[held_out, label] = ridge.predict(features[held_out])
        if test_probs is not None:
            ridge = Ridge(alpha=alpha).fit(features, targets[:, label])
            stacked_test[:, label] = ridge.predict(test_probs[:, :, label].T)
    clip = lambda probs: None if probs is None else np.clip(probs, 0.0, 1.0)  # noqa: E731
    return clip(stacked_oof), clip(stacked_test)


def scores(probs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """F2 at fitted thresholds, without and with the weather rules, and at 0.2."""
    thresholds = fit_thresholds(probs, targets)
    return {
        "f2": chip_f2(targets, binarize(probs, thresholds)),
        "f2_weather": chip_f2(targets, predict_labels(probs, thresholds, weather_rules=True)),
        "f2@0.2": chip_f2(targets, binarize(probs, 0.2)),
    }


def split(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and targets of an out-of-fold table."""
    return frame[PROB_COLUMNS].to_numpy(), frame[TARGET_COLUMNS].to_numpy()


def score_row(level: str, name: str, variants: dict[str, tuple[np.ndarray, np.ndarray] | None]) -> dict:
    """One report row; `variants` maps a column suffix ("" with TTA, "_notta") to (probs, targets)."""
    row: dict = {"level": level, "name": name}
    for suffix, variant in variants.items():
        if variant is not None:
            row["chips"] = len(variant[1])
            row.update({f"{key}{suffix}": value for key, value in scores(*variant).items()})
    return row


def build_report(
    members: list[Member],
    method: str,
    oof: dict[str, pd.DataFrame],
    plain: dict[str, pd.DataFrame] | None,
    combined: np.ndarray,
) -> pd.DataFrame:
    """Rows for every member, every model and the ensemble (`combined`: its out-of-fold probabilities)."""
    targets = split(next(iter(oof.values())))[1]
    combined_plain = None if plain is None else (combine(plain, None, method)[0], targets)
    rows = [
        score_row(
            "member",
            f"{m.run_dir.name} ({m.model}, fold {m.fold}, seed {m.seed})",
            {"": split(m.oof), "_notta": None if m.oof_plain is None else split(m.oof_plain)},
        )
        for m in members
    ]
    rows += [
        score_row("model", model, {"": split(oof[model]), "_notta": split(plain[model]) if plain else None})
        for model in oof
    ]
    variants = {"": (combined, targets), "_notta": combined_plain}
    rows.append(score_row("ensemble", f"{method} of {len(oof)} models", variants))
    return pd.DataFrame(rows)


def report_markdown(report: pd.DataFrame, per_label: pd.DataFrame, method: str, weather: bool) -> str:
    def table(frame: pd.DataFrame) -> str:
        header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
        cell = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
        return header + "\n".join(
            "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
        )

    return (
        f"# Ensemble report\n\nCombination: **{method}**; weather rules in the submission: **{weather}**.\n"
        "Scores are out-of-fold chip-averaged F2 with thresholds fitted on the rows scored "
        "(`f2`), the same plus the weather rules (`f2_weather`), every label at 0.2 (`f2@0.2`); "
        "`_notta` columns use the plain view instead of the 8 dihedral views.\n\n"
        f"## Members, models, ensemble\n\n{table(report)}\n\n## Ensemble per label\n\n{table(per_label)}\n"
    )


def write_tensorboard(output_dir: Path, report: pd.DataFrame) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(output_dir / "tensorboard")) as writer:
        for row in report.itertuples(index=False):
            for column in ("f2", "f2_weather", "f2_notta"):
                value = getattr(row, column, None)
                if value is not None and not pd.isna(value):
                    writer.add_scalar(f"ensemble_{row.level}/{column}/{row.name}", value, 0)


def blend_rare(probs: np.ndarray, names: pd.Index, specialist: pd.DataFrame, weight: float) -> np.ndarray:
    """The rare-label columns as a weighted mean with a rare-label specialist's probabilities."""
    rare = [LABEL_INDEX[name] for name in RARE]
    blended = probs.copy()
    specialist_probs = specialist.loc[names, PROB_COLUMNS].to_numpy()
    blended[:, rare] = (1 - weight) * probs[:, rare] + weight * specialist_probs[:, rare]
    return blended


def specialist_tables(runs: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Out-of-fold and test probabilities of the rare-label specialist runs (models averaged)."""
    members = find_members(runs)
    average = lambda tables: sum(t[PROB_COLUMNS] for t in tables.values()) / len(tables)  # noqa: E731
    oof, test = model_tables(members, "oof"), model_tables(members, "test")
    return average(oof), (average(test) if test else None)


def run_ensemble(
    run_dirs: list[Path],
    output_dir: Path,
    method: str = "mean",
    weather: bool = False,
    order: str | None = None,
    specialists: list[Path] | None = None,
    specialist_weight: float = 0.5,
) -> dict:
    """Everything `python -m amazon_cls.ensemble` does; returns the ensemble's scores and file paths."""
    members = find_members(run_dirs)
    oof = common_chips(model_tables(members, "oof"))
    plain = model_tables(members, "oof_plain")
    plain = common_chips(plain) if len(plain) == len(oof) else None
    tests = model_tables(members, "test")
    tests = common_chips(tests) if len(tests) == len(oof) else None
    names = next(iter(oof.values())).index
    targets = next(iter(oof.values()))[TARGET_COLUMNS].to_numpy()
    oof_probs, test_probs = combine(oof, tests, method)  # once: vote and stack fit models of their own
    report = build_report(members, method, oof, plain, oof_probs)
    test_names = next(iter(tests.values())).index if tests else None
    if specialists:
        specialist_oof, specialist_test = specialist_tables(specialists)
        oof_probs = blend_rare(oof_probs, names, specialist_oof, specialist_weight)
        name = f"{method} of {len(oof)} models + rare specialist (weight {specialist_weight})"
        report = pd.concat([report, pd.DataFrame([score_row("ensemble", name, {"": (oof_probs, targets)})])])
        if test_probs is not None and specialist_test is not None:
            test_probs = blend_rare(test_probs, test_names, specialist_test, specialist_weight)
    thresholds = fit_thresholds(oof_probs, targets)
    y_pred = predict_labels(oof_probs, thresholds, weather)
    per_label = per_label_report(targets, y_pred, thresholds)

    write_csv(output_dir / "oof_probs.csv", runs.probability_frame(names, oof_probs))
    runs.write_thresholds(output_dir / runs.THRESHOLDS, thresholds)
    write_csv(output_dir / "ensemble_report.csv", report)
    write_csv(output_dir / "ensemble_per_label.csv", per_label)
    markdown = report_markdown(report, per_label, method, weather)
    write_atomic(output_dir / "ensemble_report.md", lambda tmp: tmp.write_text(markdown))
    write_tensorboard(output_dir, report)
    result = {"oof_f2": chip_f2(targets, y_pred), "members": len(members), "models": list(oof)}
    if test_probs is not None:
        frame = runs.probability_frame(test_names, test_probs)
        submission, _ = runs.write_submission(output_dir / "submission.csv", frame, thresholds, weather, order)
        result["submission"] = str(submission)
    write_json(output_dir / "ensemble_scores.json", result)
    return result


def run_folders(sweep_dir: str | None, runs: list[str] | None) -> list[Path]:
    if runs:
        return [Path(r) for r in runs]
    if not sweep_dir:
        raise ValueError("give sweep_dir=<multirun folder> or runs=[<run folder>,...]")
    return sorted(p.parent.parent for p in Path(sweep_dir).glob("*/.hydra/config.yaml"))


@hydra.main(version_base="1.3", config_path="../conf", config_name="ensemble")
def main(cfg: DictConfig) -> None:
    run_dirs = run_folders(cfg.sweep_dir, cfg.runs)
    output_dir = Path(cfg.output_dir or Path(cfg.sweep_dir or ".") / "ensemble")
    specialists = [Path(run) for run in cfg.specialists] if cfg.specialists else None
    result = run_ensemble(
        run_dirs, output_dir, cfg.method, cfg.postprocess.weather, cfg.order, specialists, cfg.specialist_weight
    )
    print(f"Report: {output_dir / 'ensemble_report.md'}")
    if "submission" in result:
        print(f"Submission: {result['submission']}")
    models, members = len(result["models"]), result["members"]
    print(f"Ensemble out-of-fold F2 ({cfg.method} of {models} models, {members} members): {result['oof_f2']:.4f}")


if __name__ == "__main__":
    main()
