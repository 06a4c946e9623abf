"""The chips an evaluation scores and their labels: a labelled data set in the Kaggle layout (all
of it, or one fold of it, split as training split it), or a labels file with folders of chips.

Every chip scored has labels and, where a model must predict it, a file; a chip missing either is
an error naming the files, never a smaller evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from amazon_cls.data.layout import DataError, list_chips, read_labels
from amazon_cls.data.sources import SOURCES, Source


@dataclass(frozen=True)
class Truth:
    """Chip names, their 0/1 labels (chips x 17) and, when known, their files."""

    names: list[str]
    targets: np.ndarray
    paths: np.ndarray | None  # one file per chip, or None: only tables can be scored
    source: Source
    origin: str  # where the labels come from, for reports
    scope: str = ""  # which of its chips: "validation fold 0 of 5", ...
    folds: np.ndarray | None = None  # each chip's fold, for a data set split as training splits it

    @property
    def description(self) -> str:
        return f"{len(self.names)} chips of {self.origin}" + (f", {self.scope}" if self.scope else "")

    @property
    def index(self) -> pd.Index:
        return pd.Index(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, keep: np.ndarray, what: str) -> Truth:
        """The chips where `keep` is true, `what` added to the description."""
        rows = np.flatnonzero(keep)
        pick = lambda values: None if values is None else values[rows]  # noqa: E731
        scope = f"{self.scope}, {what}" if self.scope else what
        return Truth(
            [self.names[i] for i in rows],
            self.targets[rows],
            pick(self.paths),
            self.source,
            self.origin,
            scope,
            pick(self.folds),
        )


def truth_of(cfg: DictConfig) -> Truth:
    """The chips `evaluate` scores: `labels=<csv>` (with `input=<folders>` for a model to predict),
    or the data set of the `data` group (`fold=<k>`: its validation fold only)."""
    if cfg.labels:
        return from_labels_file(Path(cfg.labels), [Path(folder) for folder in cfg.input or []], cfg.data.format)
    return from_data_set(cfg.data, cfg.fold)


def from_labels_file(labels: Path, folders: list[Path], format: str) -> Truth:
    """The chips of a labels file; with folders, every labelled chip must have a file there and every file labels."""
    names, targets = read_labels(labels)
    source = SOURCES[format]
    if not folders:
        return Truth(names, targets, None, source, str(labels))
    paths = {path.stem: path for path in list_chips(folders, source.suffixes)}
    unlabelled = sorted(set(paths) - set(names))
    without_chip = [name for name in names if name not in paths]
    if unlabelled:
        raise DataError(
            f"{', '.join(map(str, folders))}: {len(unlabelled)} chips have no labels in {labels} "
            f"(e.g. {unlabelled[:3]}); label them or leave them out of input="
        )
    if without_chip:
        raise DataError(
            f"{labels}: {len(without_chip)} labelled chips have no file in {', '.join(map(str, folders))} "
            f"(e.g. {without_chip[:3]})"
        )
    chip_paths = np.array([paths[name] for name in names], dtype=object)
    return Truth(names, targets, chip_paths, source, f"{labels} in {', '.join(map(str, folders))}")


def from_data_set(data: DictConfig, fold: int | None) -> Truth:
    """A Kaggle-layout data set's labelled chips (checked as training checks them), or one fold's
    (`fold` checked against `data.num_folds` with the config, `runtime.schema`)."""
    module = hydra.utils.instantiate(data, fold=fold or 0, cache=False, num_workers=0, pin_memory=False)
    module.prepare_data()  # the embedded data set is generated on first use; the data check runs (cached)
    names, targets, folds = module.labelled_chips()
    keep = np.arange(len(names)) if fold is None else np.flatnonzero(folds == fold)
    scope = f"validation fold {fold} of {data.num_folds}" if fold is not None else ""
    paths = module.layout.chip_paths(names)[keep]
    return Truth(
        [names[i] for i in keep],
        targets[keep],
        paths,
        module.source,
        str(module.layout.labels_path),
        scope,
        folds[keep],
    )
