"""Combine ensemble members into one out-of-fold score and one Kaggle submission.

    python -m amazon_cls.ensemble sweep_dir=<multirun folder> [method=auto|mean|vote|weighted|select|stack]
    python -m amazon_cls.ensemble "runs=[<run folder>,<run folder>,...]" [order=<sample_submission.csv>]

A member is a finished training run (one model x fold x seed). Each model's out-of-fold
predictions are assembled over its folds (seeds averaged); the models are combined by one of the
methods of `blend.py`, every one scored cross-fitted, and `auto` (the default) keeps the best, or
the best model alone when no method beats it. Thresholds are fitted on the combined out-of-fold
set; the combination, its thresholds and the members' checkpoints are saved in `combination.json`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from amazon_cls import blend, runs
from amazon_cls.errors import one_line_errors
from amazon_cls.io import write_atomic, write_csv, write_json
from amazon_cls.labels import LABELS, PROB_COLUMNS, TARGET_COLUMNS
from amazon_cls.members import Member, common_chips, find_members, model_tables, one_seed_members
from amazon_cls.metrics import binarize, chip_f2, fit_thresholds, per_label_report, predict_labels

log = logging.getLogger(__name__)
OUTPUTS = ("oof_probs.csv", runs.THRESHOLDS, "ensemble_report.csv", "ensemble_report.md", "ensemble_per_label.csv",
           runs.COMBINATION, "ensemble_scores.json", "submission.csv", "submission_probs.csv")  # fmt: skip


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


def stacked(tables: dict[str, pd.DataFrame]) -> np.ndarray:
    """The models' probabilities as one array: models x chips x labels."""
    return np.stack([table[PROB_COLUMNS].to_numpy() for table in tables.values()])


def build_report(
    members: list[Member],
    oof: dict[str, pd.DataFrame],
    plain_singles: dict[str, np.ndarray],
    choice: blend.Choice,
    plain_choice: blend.Choice | None,
    chosen: str,
) -> pd.DataFrame:
    """Rows for every member, every model, every method (cross-fitted) and the ensemble."""
    targets = split(next(iter(oof.values())))[1]

    def variants(method: str) -> dict[str, tuple[np.ndarray, np.ndarray] | None]:
        without_tta = plain_choice.combined.get(method) if plain_choice else None
        if without_tta is None and method.startswith(f"{blend.SINGLE}:"):
            without_tta = plain_singles.get(method.split(":", 1)[1])
        return {"": (choice.combined[method], targets), "_notta": with_targets(without_tta)}

    def with_targets(probs: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        return None if probs is None else (probs, targets)

    rows = [
        score_row(
            "member",
            f"{m.run_dir.name} ({m.model}, fold {m.fold}, seed {m.seed})",
            {"": split(m.oof), "_notta": None if m.oof_plain is None else split(m.oof_plain)},
        )
        for m in members
    ]
    rows += [
        score_row("model", model, {"": split(oof[model]), "_notta": with_targets(plain_singles.get(model))})
        for model in oof
    ]
    rows += [score_row("method", method, variants(method)) for method in blend.METHODS]
    rows.append(score_row("ensemble", f"{chosen} of {len(oof)} models", variants(chosen)))
    return pd.DataFrame(rows)


def seed_candidates(one_seed: dict[str, list[Member]], table: str, names: pd.Index) -> dict[str, np.ndarray]:
    """The probabilities (of the chips `names`) of every one-seed candidate that predicted them all."""
    candidates = {}
    for name, members in one_seed.items():
        for merged in model_tables(members, table).values():  # none when a member lacks the table
            if names.isin(merged.index).all():
                candidates[name] = merged.loc[names, PROB_COLUMNS].to_numpy()
    return candidates


def fit_chosen(
    chosen: str,
    models: list[str],
    probs: np.ndarray,
    targets: np.ndarray,
    members: list[Member],
    one_seed: dict[str, list[Member]],
) -> tuple[blend.Combination, list[Member]]:
    """The chosen combination fitted on every out-of-fold chip, and the members whose checkpoints
    apply it to new chips: all of them, or, for one seed of a model alone, that seed's."""
    alone = chosen.split(":", 1)[1] if chosen.startswith(f"{blend.SINGLE}:") else None
    if alone not in one_seed:
        return blend.fit(chosen, models, probs, targets), members
    kept = one_seed[alone]
    used = [m for m in members if m.model != kept[0].model] + kept
    return blend.single_model(models, models.index(kept[0].model), len(LABELS), alone), used


def weights_table(combination: blend.Combination) -> pd.DataFrame:
    """The combination's weight of every model: one column, or one per label where they differ."""
    weights = pd.DataFrame(combination.weights, index=combination.models, columns=list(LABELS))
    if np.allclose(combination.weights, combination.weights[:, :1]):
        weights = weights.iloc[:, :1].set_axis(["weight"], axis=1)
    return weights.reset_index(names="model")


def report_markdown(
    report: pd.DataFrame, per_label: pd.DataFrame, combination: blend.Combination, reason: str, weather: bool
) -> str:
    def table(frame: pd.DataFrame) -> str:
        header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
        cell = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
        return header + "\n".join(
            "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
        )

    return (
        f"# Ensemble report\n\nCombination: **{combination.method}** ({reason}); weather rules in the "
        f"submission: **{weather}**.\n"
        "Scores are out-of-fold chip-averaged F2 with thresholds fitted on the rows scored "
        "(`f2`), the same plus the weather rules (`f2_weather`), every label at 0.2 (`f2@0.2`); "
        "`_notta` columns use the plain view instead of the 8 dihedral views. Method rows are "
        "cross-fitted: each fold (or, with one fold, each fifth of it) is combined with weights "
        "fitted on the others.\n\n"
        f"## Members, models, methods, ensemble\n\n{table(report)}\n\n"
        f"## Weights of the combination (fitted on every out-of-fold chip)\n\n{table(weights_table(combination))}\n\n"
        f"## Ensemble per label\n\n{table(per_label)}\n"
    )


def write_tensorboard(output_dir: Path, report: pd.DataFrame) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(output_dir / "tensorboard")) as writer:
        for row in report.itertuples(index=False):
            for column in ("f2", "f2_weather", "f2_notta"):
                value = getattr(row, column, None)
                if value is not None and not pd.isna(value):
                    writer.add_scalar(f"ensemble_{row.level}/{column}/{row.name}", value, 0)


def specialist_tables(runs: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, list[str]]]:
    """Out-of-fold and test probabilities of the rare-label specialist runs (models averaged), and
    their checkpoints per model (which apply the same blend to new chips)."""
    members = find_members(runs)
    average = lambda tables: sum(t[PROB_COLUMNS] for t in tables.values()) / len(tables)  # noqa: E731
    oof, test = model_tables(members, "oof"), model_tables(members, "test")
    checkpoints = {model: [m.checkpoint for m in members if m.model == model] for model in oof}
    return average(oof), (average(test) if test else None), checkpoints


def run_ensemble(
    run_dirs: list[Path],
    output_dir: Path,
    method: str = "auto",
    weather: bool = False,
    order: str | None = None,
    specialists: list[Path] | None = None,
    specialist_weight: float = 0.5,
) -> dict:
    """Everything `python -m amazon_cls.ensemble` does; returns the ensemble's scores and file paths."""
    if method not in ("auto", *blend.METHODS):
        raise ValueError(f"method={method!r}; choose one of {('auto', *blend.METHODS)}")
    members = find_members(run_dirs)
    without_test = [str(m.run_dir) for m in members if m.test is None]
    if 0 < len(without_test) < len(members):
        raise ValueError(
            f"{len(without_test)} of {len(members)} members have no {runs.TEST_PROBS} while the others do "
            f"(e.g. {without_test[0]}); train every member with the same predict_dirs"
        )
    for name in OUTPUTS:  # an earlier combination's files never sit beside this one's as if current
        (output_dir / name).unlink(missing_ok=True)
    oof = common_chips(model_tables(members, "oof"))
    plain = model_tables(members, "oof_plain")
    plain = common_chips(plain) if len(plain) == len(oof) else None
    tests = model_tables(members, "test")
    tests = common_chips(tests) if len(tests) == len(oof) else None
    first = next(iter(oof.values()))
    names, targets, models = first.index, first[TARGET_COLUMNS].to_numpy(), list(oof)
    groups = blend.groups_of(first["fold"].to_numpy())
    progress = lambda name: log.info("Cross-fitting %s over %d groups of chips", name, len(np.unique(groups)))  # noqa: E731
    probs = stacked(oof)
    one_seed = one_seed_members(members)
    alone = seed_candidates(one_seed, "oof", names)
    choice = blend.choose(models, probs, targets, groups, progress=progress, alone=alone)
    plain_alone = seed_candidates(one_seed, "oof_plain", names) if plain else {}
    plain_choice = blend.choose(models, stacked(plain), targets, groups, alone=plain_alone) if plain else None
    chosen = choice.method if method == "auto" else method
    reason = choice.reason if method == "auto" else "chosen explicitly"
    log.info("Combination: %s (%s)", chosen, reason)
    oof_probs = choice.combined[chosen]
    combination, members_used = fit_chosen(chosen, models, probs, targets, members, one_seed)
    if tests and members_used is not members:
        tests = common_chips(model_tables(members_used, "test"))
    test_probs = combination.apply(stacked(tests)) if tests else None
    plain_singles = {**{name: split(table)[0] for name, table in plain.items()}, **plain_alone} if plain else {}
    report = build_report(members, oof, plain_singles, choice, plain_choice, chosen)
    test_names = next(iter(tests.values())).index if tests else None
    if specialists:
        specialist_oof, specialist_test, specialist_checkpoints = specialist_tables(specialists)
        oof_probs = blend.blend_rare(oof_probs, specialist_oof.loc[names].to_numpy(), specialist_weight)
        name = f"{chosen} of {len(oof)} models + rare specialist (weight {specialist_weight})"
        report = pd.concat([report, pd.DataFrame([score_row("ensemble", name, {"": (oof_probs, targets)})])])
        if test_probs is not None and specialist_test is not None:
            test_probs = blend.blend_rare(test_probs, specialist_test.loc[test_names].to_numpy(), specialist_weight)
    thresholds = fit_thresholds(oof_probs, targets)
    y_pred = predict_labels(oof_probs, thresholds, weather)
    per_label = per_label_report(targets, y_pred, thresholds)

    write_csv(output_dir / "oof_probs.csv", runs.probability_frame(names, oof_probs))
    runs.write_thresholds(output_dir / runs.THRESHOLDS, thresholds)
    write_csv(output_dir / "ensemble_report.csv", report)
    write_csv(output_dir / "ensemble_per_label.csv", per_label)
    markdown = report_markdown(report, per_label, combination, reason, weather)
    write_atomic(output_dir / "ensemble_report.md", lambda tmp: tmp.write_text(markdown))
    write_tensorboard(output_dir, report)
    checkpoints = {model: [m.checkpoint for m in members_used if m.model == model] for model in models}
    saved = {**combination.to_dict(), "reason": reason, "cross_fitted_f2": choice.scores,
             "thresholds": dict(zip(LABELS, thresholds.tolist(), strict=True)), "checkpoints": checkpoints}  # fmt: skip
    if specialists:  # the thresholds were fitted after blending them into the rare labels
        saved.update(specialists=[str(run_dir) for run_dir in specialists], specialist_weight=specialist_weight,
                     specialist_checkpoints=specialist_checkpoints)  # fmt: skip
    write_json(output_dir / runs.COMBINATION, saved)
    result = {"oof_f2": chip_f2(targets, y_pred), "members": len(members), "models": models, "method": chosen}
    if test_probs is not None:
        frame = runs.probability_frame(test_names, test_probs)
        submission, _ = runs.write_submission(output_dir / "submission.csv", frame, thresholds, weather, order)
        result["submission"] = str(submission)
    write_json(output_dir / "ensemble_scores.json", result)
    return result


def run_folders(sweep_dir: str | None, listed: list[str] | None) -> list[Path]:
    """The member folders: those listed (`runs=[...]`), or every run of the sweep folder."""
    if listed:
        return [Path(run_dir) for run_dir in listed]
    if not sweep_dir:
        raise ValueError("give sweep_dir=<multirun folder> or runs=[<run folder>,...]")
    found = {p.parent for p in Path(sweep_dir).glob(f"*/{runs.SETTINGS}")}
    found |= {p.parent.parent for p in Path(sweep_dir).glob(f"*/{runs.HYDRA_CONFIG}")}  # runs made before settings.json
    return sorted(found)


@hydra.main(version_base="1.3", config_path="../conf", config_name="ensemble")
@one_line_errors
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
    method = result["method"]
    print(f"Ensemble out-of-fold F2 ({method} of {models} models, {members} members): {result['oof_f2']:.4f}")


if __name__ == "__main__":
    main()
