"""Finished training runs as an ensemble's members: their model (backbone @ image size), fold,
seed, settings, prediction tables and best checkpoint, and the checks that they belong together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from amazon_cls.store.run_folder import RunFolder, differences, fold_assignment
from amazon_cls.store.tables import read_frame

log = logging.getLogger(__name__)


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
    checkpoint: str  # the best checkpoint, which predicts new chips
    settings: dict[str, Any]  # what it was trained with (see `result_settings`)


def run_folders(sweep_dir: str | None, listed: list[str] | None) -> list[Path]:
    """The member folders: those listed (`runs=[...]`), or every run of the sweep folder."""
    if listed:
        return [Path(run_dir) for run_dir in listed]
    if not sweep_dir:
        raise ValueError("give sweep_dir=<multirun folder> or runs=[<run folder>,...]")
    found = {p.parent for p in Path(sweep_dir).glob("*/settings.json")}
    found |= {p.parent.parent for p in Path(sweep_dir).glob("*/.hydra/config.yaml")}  # runs made before settings.json
    if not found:
        raise FileNotFoundError(
            f"sweep_dir={sweep_dir}: no run folders in it (each member's folder holds settings.json)"
        )
    return sorted(found)


def load_member(run_dir: Path) -> Member | None:
    """The member in `run_dir`, or None if that run has not finished."""
    folder = RunFolder(run_dir)
    metrics = folder.finished_metrics()
    settings = folder.recorded_settings()
    if metrics is None or settings is None:
        return None
    return Member(
        run_dir=run_dir,
        model=f"{settings.get('model_name') or settings['model.backbone']}@{settings['model.image_size']}px",
        fold=int(settings["data.fold"]),
        seed=int(settings["seed"]),
        oof=read_frame(folder.val_probs),
        oof_plain=read_frame(folder.val_probs_plain),
        test=read_frame(folder.test_probs),
        checkpoint=str(metrics.get("best_checkpoint", "")),
        settings=settings,
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
    for model in {m.model for m in members}:  # one model option given other backbones: told apart
        same = [m for m in members if m.model == model]
        if len({m.settings["model.backbone"] for m in same}) > 1:
            for member in same:
                name, _, size = member.model.partition("@")
                member.model = f"{name}:{member.settings['model.backbone']}@{size}"
    first = members[0]
    for member in members[1:]:
        changed = differences(fold_assignment(first.settings), fold_assignment(member.settings))
        if changed:
            raise ValueError(
                f"members {first.run_dir} and {member.run_dir} were trained on different fold assignments "
                f"({'; '.join(changed)}); an ensemble combines members of one fold assignment"
            )
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


def one_seed_members(members: list[Member]) -> dict[str, list[Member]]:
    """For every model trained with several seeds, each seed's members as "<model> seed <s>": the
    candidates for when one seed alone scores above the seeds' mean (the mean is not always better)."""
    variants = {}
    for model in sorted({m.model for m in members}):
        seeds = sorted({m.seed for m in members if m.model == model})
        for seed in seeds if len(seeds) > 1 else []:
            variants[f"{model} seed {seed}"] = [m for m in members if m.model == model and m.seed == seed]
    return variants
