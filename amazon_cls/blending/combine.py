"""The combination step of an ensemble: members -> each model's out-of-fold and test tables ->
the chosen combination (cross-fitted to score it, then fitted on every out-of-fold chip) ->
thresholds per view -> the ensemble folder's files (`store.ensemble_folder`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from amazon_cls.blending.members import Member, common_chips, find_members, model_tables, one_seed_members
from amazon_cls.blending.methods import METHODS, Choice, Combination, blend_rare, choose, fit, groups_of, single_model
from amazon_cls.blending.report import (
    build_report,
    disagreement,
    ensemble_name,
    report_markdown,
    score_row,
    variant_of,
    write_tensorboard,
)
from amazon_cls.core.labels import NUM_LABELS, PROB_COLUMNS, TARGET_COLUMNS
from amazon_cls.core.metric import chip_f2, per_label_report, predict_labels
from amazon_cls.core.thresholds import Thresholds
from amazon_cls.data.submission import write_submission
from amazon_cls.store.atomic import output_set, remove_stale_temporaries, write_csv, write_json, write_text
from amazon_cls.store.ensemble_folder import EnsembleFolder
from amazon_cls.store.records import identity
from amazon_cls.store.tables import probability_frame, validation_frame

log = logging.getLogger(__name__)
AUTO = "auto"


def stacked(tables: dict[str, pd.DataFrame]) -> np.ndarray:
    """The models' probabilities as one array: models x chips x labels."""
    return np.stack([table[PROB_COLUMNS].to_numpy() for table in tables.values()])


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
    choice: Choice,
    models: list[str],
    probs: np.ndarray,
    targets: np.ndarray,
    members: list[Member],
    one_seed: dict[str, list[Member]],
) -> tuple[Combination, list[Member]]:
    """The chosen combination fitted on every out-of-fold chip, and the members whose checkpoints
    apply it to new chips: all of them, or, for one seed of a model alone, that seed's."""
    if chosen in one_seed:
        kept = one_seed[chosen]
        used = [m for m in members if m.model != kept[0].model] + kept
        return single_model(models, models.index(kept[0].model), NUM_LABELS, chosen), used
    if chosen in choice.single_scores:
        return single_model(models, models.index(chosen), NUM_LABELS), members
    return fit(chosen, models, probs, targets), members


def members_view(members: list[Member]) -> str:
    """The TTA every member validated with: the view of their out-of-fold probabilities."""
    views = {str(m.settings.get("tta") or "none") for m in members}
    if len(views) > 1:
        raise ValueError(f"the members were validated with different TTA ({sorted(views)}); combine one kind")
    return views.pop()


def specialist_tables(runs: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, list[str]]]:
    """Out-of-fold and test probabilities of the rare-label specialist runs (models averaged), and
    their checkpoints per model (which apply the same blend to new chips)."""
    members = find_members(runs)
    average = lambda tables: sum(t[PROB_COLUMNS] for t in tables.values()) / len(tables)  # noqa: E731
    oof, test = model_tables(members, "oof"), model_tables(members, "test")
    checkpoints = {model: [m.checkpoint for m in members if m.model == model] for model in oof}
    return average(oof), (average(test) if test else None), checkpoints


@dataclass
class Tables:
    """Each model's probability tables over the chips every model has: out of fold in the members'
    view and in the plain view, and of the test chips (None where some member lacks them)."""

    oof: dict[str, pd.DataFrame]
    plain: dict[str, pd.DataFrame] | None
    tests: dict[str, pd.DataFrame] | None

    @classmethod
    def of(cls, members: list[Member]) -> Tables:
        oof = common_chips(model_tables(members, "oof"))
        plain, tests = model_tables(members, "oof_plain"), model_tables(members, "test")
        return cls(
            oof,
            common_chips(plain) if len(plain) == len(oof) else None,
            common_chips(tests) if len(tests) == len(oof) else None,
        )

    @property
    def first(self) -> pd.DataFrame:
        """The first model's out-of-fold table: its chips, folds and targets are every model's."""
        return next(iter(self.oof.values()))


def checked_members(run_dirs: list[Path], method: str) -> list[Member]:
    """The members of the runs, refused before any output is touched: an unknown method, members of
    different views, or test probabilities from some members only."""
    if method != AUTO and method not in METHODS:  # refused before any file is read
        raise ValueError(f"method={method!r}: choose auto or one of {list(METHODS)}")
    members = find_members(run_dirs)
    members_view(members)
    without_test = [str(m.run_dir) for m in members if m.test is None]
    if 0 < len(without_test) < len(members):
        raise ValueError(
            f"{len(without_test)} of {len(members)} members have no test_probs.csv while the others do "
            f"(e.g. {without_test[0]}); train every member with the same predict_dirs"
        )
    return members


def run_ensemble(
    run_dirs: list[Path],
    output_dir: Path,
    method: str = AUTO,
    weather: bool = False,
    order: str | None = None,
    specialists: list[Path] | None = None,
    specialist_weight: float = 0.5,
    rare_weight: float = 0.0,
    escape_formulas: bool = False,
) -> dict:
    """Everything `python -m amazon_cls.ensemble` does; returns the ensemble's scores and file paths."""
    folder = EnsembleFolder(output_dir)
    remove_stale_temporaries(folder.path)
    members = checked_members(run_dirs, method)
    view = members_view(members)
    tables = Tables.of(members)
    names, targets = tables.first.index, tables.first[TARGET_COLUMNS].to_numpy()
    blend = choose_blend(tables, members, method)
    report = build_report(members, tables.oof, tables.plain, blend.choice, blend.plain_choice, blend.chosen)
    if specialists:
        blend, report = with_specialists(blend, report, tables, specialists, specialist_weight)
    thresholds = ensemble_thresholds(blend, tables, members, view, str(folder.combination), rare_weight, specialists)
    y_pred = predict_labels(blend.oof_probs, thresholds.of_view(view), weather)
    per_label = per_label_report(targets, y_pred, thresholds.of_view(view))
    disagreements = disagreement(tables.oof)
    result = {
        "oof_f2": chip_f2(targets, y_pred),
        "members": len(members),
        "models": list(tables.oof),
        "method": blend.combination.describe(),
        "disagreement": disagreements.to_dict("records"),
    }
    # One set: a failed write keeps the previous combination whole, and an earlier combination's
    # files this one lacks (its submission) never sit beside this one's as if current.
    with output_set(replaces=folder.outputs()):
        write_csv(folder.oof_probs, validation_frame(names, tables.first["fold"].to_numpy(), blend.oof_probs, targets))
        write_json(folder.thresholds, thresholds.to_json())
        write_csv(folder.report_csv, report)
        write_csv(folder.per_label, per_label)
        markdown = report_markdown(report, per_label, blend.combination, blend.reason, weather, disagreements)
        write_text(folder.report_md, markdown)
        saved = saved_combination(blend, list(tables.oof), view, thresholds, specialists, specialist_weight)
        write_json(folder.combination, saved)
        if blend.test_probs is not None:
            frame = probability_frame(blend.test_names, blend.test_probs)
            submission, _ = write_submission(
                folder.submission, frame, thresholds.of_view(view), weather, order, escape_formulas
            )
            result["submission"] = str(submission)
        write_json(folder.scores, result)
    write_tensorboard(folder.tensorboard, report)
    return result


def ensemble_thresholds(
    blend: Blend,
    tables: Tables,
    members: list[Member],
    view: str,
    source: str,
    rare_weight: float,
    specialists: list[Path] | None,
) -> Thresholds:
    """Thresholds fitted on the combined out-of-fold chips in the members' view, and in the plain view
    (for `predict ensemble= tta=none`) where the members kept it and no specialist was blended in."""
    targets = tables.first[TARGET_COLUMNS].to_numpy()
    thresholds = Thresholds.fitted(view, blend.oof_probs, targets, source=source, rare_weight=rare_weight)
    if tables.plain and not specialists and view != "none":
        plain = model_tables(blend.members, "oof_plain") if blend.members is not members else tables.plain
        plain_probs = blend.combination.apply(stacked(common_chips(plain)))
        thresholds = Thresholds.fitted("none", plain_probs, targets, rare_weight=rare_weight).merged(thresholds)
    return thresholds


@dataclass
class Blend:
    """The chosen combination: why, its out-of-fold and test probabilities, the members that apply it."""

    chosen: str
    reason: str
    choice: Choice
    plain_choice: Choice | None
    combination: Combination
    members: list[Member]
    oof_probs: np.ndarray
    test_probs: np.ndarray | None
    test_names: pd.Index | None
    specialist_checkpoints: dict[str, list[str]] = field(default_factory=dict)


def choose_blend(tables: Tables, members: list[Member], method: str) -> Blend:
    """Every method scored cross-fitted (and in the plain view), the chosen one fitted on every chip."""
    names, targets, models = tables.first.index, tables.first[TARGET_COLUMNS].to_numpy(), list(tables.oof)
    groups = groups_of(tables.first["fold"].to_numpy())
    progress = lambda name: log.info("Cross-fitting %s over %d groups of chips", name, len(np.unique(groups)))  # noqa: E731
    probs = stacked(tables.oof)
    one_seed = one_seed_members(members)
    choice = choose(models, probs, targets, groups, progress=progress, alone=seed_candidates(one_seed, "oof", names))
    plain_choice = None
    if tables.plain:
        plain_alone = seed_candidates(one_seed, "oof_plain", names)
        plain_choice = choose(models, stacked(tables.plain), targets, groups, alone=plain_alone)
    chosen = choice.chosen if method == AUTO else method
    reason = choice.reason if method == AUTO else "chosen explicitly"
    log.info("Combination: %s (%s)", chosen, reason)
    combination, used = fit_chosen(chosen, choice, models, probs, targets, members, one_seed)
    tests = tables.tests
    if tests and used is not members:
        tests = common_chips(model_tables(used, "test"))
    test_probs = combination.apply(stacked(tests)) if tests else None
    test_names = next(iter(tests.values())).index if tests else None
    return Blend(
        chosen, reason, choice, plain_choice, combination, used, choice.combined[chosen], test_probs, test_names
    )


def with_specialists(
    blend: Blend, report: pd.DataFrame, tables: Tables, specialists: list[Path], weight: float
) -> tuple[Blend, pd.DataFrame]:
    """The rare-label specialists' probabilities blended into the rare columns, and a report row for it."""
    specialist_oof, specialist_test, checkpoints = specialist_tables(specialists)
    oof_probs = blend_rare(blend.oof_probs, specialist_oof.loc[tables.first.index].to_numpy(), weight)
    name = f"{ensemble_name(blend.chosen, blend.choice, len(tables.oof))} + rare specialist (weight {weight})"
    row = score_row("ensemble", name, {"": variant_of(tables.first, oof_probs)})
    test_probs = blend.test_probs
    if test_probs is not None and specialist_test is not None:
        test_probs = blend_rare(test_probs, specialist_test.loc[blend.test_names].to_numpy(), weight)
    blended = replace(blend, oof_probs=oof_probs, test_probs=test_probs, specialist_checkpoints=checkpoints)
    return blended, pd.concat([report, pd.DataFrame([row])])


def saved_combination(
    blend: Blend,
    models: list[str],
    view: str,
    thresholds: Thresholds,
    specialists: list[Path] | None,
    specialist_weight: float,
) -> dict:
    """`combination.json`: all that applies the ensemble to new chips, its members' checkpoints by identity."""
    checkpoints = {model: [m.checkpoint for m in blend.members if m.model == model] for model in models}
    files = [identity(ckpt) for paths in checkpoints.values() for ckpt in paths if Path(ckpt).is_file()]
    saved = {
        **blend.combination.to_dict(),
        "reason": blend.reason,
        "cross_fitted_f2": blend.choice.scores,
        "view": view,
        "thresholds": thresholds.to_json(),
        "checkpoints": checkpoints,
        "checkpoint_files": files,
    }
    if specialists:  # the thresholds were fitted after blending them into the rare labels
        saved.update(
            specialists=[str(run_dir) for run_dir in specialists],
            specialist_weight=specialist_weight,
            specialist_checkpoints=blend.specialist_checkpoints,
        )
    return saved
