"""What predicts new chips: one checkpoint, or an ensemble folder's saved combination.

`predict` and `map` both go through `Predictor.predict`: every checkpoint it needs runs through
Lightning's `Trainer.predict` on the same chips, and the probabilities are combined exactly as
`ensemble` combined the members' test predictions (each model the mean of its checkpoints, then
the saved combination, then the rare-label specialists). The thresholds that turn them into tags
are those fitted under the TTA asked for; another view's are refused (`core.thresholds`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from amazon_cls.blending.methods import Combination, blend_rare
from amazon_cls.core.labels import LABELS, PROB_COLUMNS, TARGET_COLUMNS
from amazon_cls.core.thresholds import Thresholds
from amazon_cls.data.sources import SOURCES, Source, source_of
from amazon_cls.inference.writer import ProbabilityWriter
from amazon_cls.model.module import ChipClassifier
from amazon_cls.runtime.signals import StopOnSigterm, interrupted
from amazon_cls.runtime.trainer import make_trainer
from amazon_cls.store.checkpoint import checkpoint_hparams, checkpoint_thresholds, provenance, read_checkpoint
from amazon_cls.store.ensemble_folder import EnsembleFolder
from amazon_cls.store.records import changed
from amazon_cls.store.run_folder import RunFolder
from amazon_cls.store.tables import probability_frame, read_frame


class PredictionRun:
    """A Trainer that predicts (devices and precision from the `trainer` config, already resolved
    for this machine) and the writer that gathers its probabilities."""

    def __init__(self, trainer: DictConfig, batch_size: int, num_workers: int, pin_memory: bool = False) -> None:
        self.writer = ProbabilityWriter()
        self.trainer: L.Trainer = make_trainer(
            trainer, callbacks=[self.writer, StopOnSigterm()], logger=False, enable_checkpointing=False
        )
        # the loader options of the datamodules it predicts
        self.loader = {"batch_size": batch_size, "num_workers": num_workers, "pin_memory": pin_memory}


@dataclass
class Predictor:
    """Checkpoints per model, how their probabilities combine, and the thresholds that follow."""

    checkpoints: dict[str, list[str]]
    thresholds: np.ndarray  # for the view (TTA) it predicts with
    tta: str
    combination: Combination | None = None  # None: one model
    specialists: dict[str, list[str]] = field(default_factory=dict)  # rare-label specialists' checkpoints per model
    specialist_weight: float = 0.0
    source: str = ""
    files: list[str] = field(default_factory=list)  # what it was read from, besides the checkpoints
    # each checkpoint read once, for its thresholds, its data source and its weights, whatever the dates
    loaded: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, ckpt: str | None, ensemble: str | None, tta: str, thresholds: str | None = None) -> Predictor:
        """The predictor a command names: `ckpt=<model.ckpt>` or `ensemble=<ensemble folder>`."""
        if bool(ckpt) == bool(ensemble):
            given = "both" if ckpt else "neither"
            raise ValueError(f"give ckpt=<model.ckpt> or ensemble=<ensemble folder> ({given} given)")
        return cls.from_checkpoint(ckpt, tta, thresholds) if ckpt else cls.from_ensemble(ensemble, tta, thresholds)

    @classmethod
    def from_checkpoint(cls, ckpt: str | Path, tta: str, thresholds: str | Path | None = None) -> Predictor:
        """One checkpoint, with its own thresholds for `tta` or those of a thresholds file."""
        checkpoint = read_checkpoint(ckpt)
        fitted = Thresholds.read(thresholds) if thresholds else checkpoint_thresholds(checkpoint, str(ckpt))
        files = [str(thresholds)] if thresholds else []
        return cls(
            {Path(ckpt).stem: [str(ckpt)]},
            fitted.of_view(tta),
            tta,
            source=str(ckpt),
            files=files,
            loaded={str(ckpt): checkpoint},
        )

    @classmethod
    def from_ensemble(cls, folder: str | Path, tta: str, thresholds: str | Path | None = None) -> Predictor:
        """The combination an `ensemble` run saved in `folder` (its combination.json)."""
        path = EnsembleFolder(Path(folder)).combination
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: no {path.name}; give the output folder of `ensemble`")
        saved = json.loads(path.read_text())
        missing = [
            key for key in ("method", "models", "weights", "intercept", "thresholds", "checkpoints") if key not in saved
        ]
        if missing:
            raise ValueError(f"{path}: lacks {missing}; make it again with this version of `ensemble`")
        combination = Combination.from_dict(saved, str(path))
        missing_models = [model for model in combination.models if not saved["checkpoints"].get(model)]
        if missing_models:
            raise ValueError(f"{path}: no checkpoints for the model(s) {missing_models}; make the ensemble again")
        checkpoints = {model: list(saved["checkpoints"][model]) for model in combination.models}
        specialists = {model: list(paths) for model, paths in saved.get("specialist_checkpoints", {}).items()}
        if saved.get("specialists") and not specialists:
            raise ValueError(f"{path}: blends rare-label specialists without their checkpoints; make it again")
        for paths in [*checkpoints.values(), *specialists.values()]:
            for ckpt in paths:
                if not Path(ckpt).is_file():
                    raise FileNotFoundError(f"{path}: its checkpoint {ckpt} is gone")
        for recorded in saved.get("checkpoint_files", []):  # the very files the combination was fitted for
            if problem := changed(recorded):
                raise ValueError(f"{path}: made for other weights: {problem}; make the ensemble again")
        fitted = Thresholds.read(thresholds) if thresholds else Thresholds.from_json(saved["thresholds"], str(path))
        files = [str(path), *([str(thresholds)] if thresholds else [])]
        return cls(
            checkpoints,
            fitted.of_view(tta),
            tta,
            combination,
            specialists,
            float(saved.get("specialist_weight", 0.0)),
            str(folder),
            files,
        )

    def needed(self) -> list[str]:
        """The checkpoints whose predictions count (a model with zero weight is not run)."""
        used = [
            model
            for index, model in enumerate(self.checkpoints)
            if self.combination is None or np.any(self.combination.weights[index])
        ]
        return [ckpt for model in used for ckpt in self.checkpoints[model]] + [
            ckpt for paths in self.specialists.values() for ckpt in paths
        ]

    def out_of_fold(self, needed_for: str = "") -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold probabilities and targets of the view it predicts with (`out_of_fold_frame`)."""
        frame = self.out_of_fold_frame(needed_for)
        return frame[PROB_COLUMNS].to_numpy(), frame[TARGET_COLUMNS].to_numpy()

    def out_of_fold_frame(self, needed_for: str = "") -> pd.DataFrame:
        """The out-of-fold table of the view it predicts with, indexed by chip: a run folder's
        validation table, beside the checkpoint's folder, or the ensemble's combined one."""
        if self.combination is None:
            ckpt = Path(next(iter(self.checkpoints.values()))[0])
            folder = RunFolder(ckpt.parent.parent)
            trained = json.loads(folder.metrics.read_text()).get("tta") if folder.metrics.is_file() else None
            table = folder.val_probs if self.tta == trained else None  # the view the run scored itself with
            if table is None and self.tta == "none" and trained is not None:
                table = folder.val_probs_plain  # a TTA run keeps its plain view apart
        else:
            saved = json.loads(EnsembleFolder(Path(self.source)).combination.read_text())
            table = EnsembleFolder(Path(self.source)).oof_probs if saved.get("view") == self.tta else None
        frame = read_frame(table) if table else None
        if frame is None or not set(TARGET_COLUMNS) <= set(frame.columns):
            raise ValueError(
                f"{self.source}: no out-of-fold probabilities of tta={self.tta} with their targets "
                f"beside it (a run folder's val_probs.csv, an ensemble's oof_probs.csv){needed_for}"
            )
        return frame

    def checkpoint(self, ckpt: str) -> dict[str, Any]:
        """A checkpoint it runs, read once (`read_checkpoint`: weights only, its labels checked)."""
        if ckpt not in self.loaded:
            self.loaded[ckpt] = read_checkpoint(ckpt)
        return self.loaded[ckpt]

    def inputs(self) -> list[str]:
        """Every file its predictions depend on: the checkpoints it runs, its combination, its thresholds."""
        return [*self.needed(), *self.files]

    def input_source(self) -> Source:
        """The data source every needed model was trained on (they must agree: one scene is read once)."""
        hparams = [checkpoint_hparams(self.checkpoint(ckpt)) for ckpt in self.needed()]
        names = {source_of(h.get("source"), h["in_chans"]).name for h in hparams}
        if len(names) != 1:
            raise ValueError(
                f"the models were trained on different data sources {sorted(names)}; predict with one kind at a time"
            )
        return SOURCES[names.pop()]

    def chip_extent_m(self) -> float | None:
        """The ground side of the chips every needed model was trained on, in metres (None: a
        checkpoint made before models kept it); models that disagree are refused."""
        extents = {checkpoint_hparams(self.checkpoint(ckpt)).get("chip_extent_m") for ckpt in self.needed()}
        if len(extents) != 1:
            raise ValueError(
                "chip_size=auto: the models were trained on chips of different ground sizes "
                f"{sorted(map(str, extents))} m; give chip_size=<pixels>"
            )
        return extents.pop()

    def provenance(self) -> list[dict[str, Any]]:
        """Each model it runs: its checkpoint, what it learned from, its epochs and out-of-fold F2."""
        return [{"checkpoint": ckpt, **provenance(self.checkpoint(ckpt))} for ckpt in self.needed()]

    def demo_warning(self, what: str, inputs: Sequence[str | Path] = ()) -> str | None:
        """The warning for a model trained on the embedded synthetic data set meeting `what` (real
        scenes, chips), unless every one of `inputs` lies in that data set; None otherwise."""
        for model in self.provenance():
            trained_on = model["trained_on"] or {}
            if not trained_on.get("synthetic"):
                continue
            root = Path(trained_on.get("root", "")).resolve()
            if inputs and all(Path(given).resolve().is_relative_to(root) for given in inputs):
                continue  # its own data set's chips: what it is for
            return (
                f"{model['checkpoint']} was trained on the embedded synthetic data set (generated chips, not "
                f"imagery): what it says of {what} means nothing; train on real chips (data.root=<a Kaggle-layout "
                "folder>) before mapping real ground"
            )
        return None

    def describe(self) -> str:
        if self.combination is None:
            return self.source
        models = ", ".join(self.checkpoints)
        return f"{self.source} ({self.combination.method} of {models}: {len(self.needed())} checkpoints to run)"

    def predict(
        self,
        run: PredictionRun,
        chips_for: Callable[[ChipClassifier], L.LightningDataModule],
        compile: bool = False,
    ) -> pd.DataFrame | None:
        """Combined probabilities of the chips `chips_for(model)` serves (rank 0; None elsewhere)."""
        frames: dict[str, pd.DataFrame] = {}
        for ckpt in self.needed():
            model = ChipClassifier.from_checkpoint(ckpt, self.checkpoint(ckpt), tta=self.tta)
            if compile:  # worth it for many chips: compiling takes a minute, then inference is faster
                model.net = torch.compile(model.net)
            try:
                run.trainer.predict(model, datamodule=chips_for(model), return_predictions=False)
            except SystemExit as stop:  # SIGTERM or Ctrl+C: never status 0, nothing of these chips written
                raise interrupted(stop, "nothing was written for these chips", "the same command resumes") from None
            if run.trainer.is_global_zero:
                frames[ckpt] = run.writer.frame
        if not run.trainer.is_global_zero:
            return None
        return self.combine(frames)

    def combine(self, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """One probability table from each needed checkpoint's table (the same chips in the same order)."""
        names = next(iter(frames.values()))["image_name"]
        for ckpt, frame in frames.items():
            if not frame["image_name"].equals(names):
                raise RuntimeError(f"{ckpt} predicted other chips than the first checkpoint")
        mean = lambda ckpts: np.mean([frames[c][PROB_COLUMNS].to_numpy() for c in ckpts], axis=0)  # noqa: E731
        if self.combination is None:
            probs = mean(next(iter(self.checkpoints.values())))
        else:
            per_model = [
                mean(ckpts) if all(c in frames for c in ckpts) else np.zeros((len(names), len(LABELS)))
                for ckpts in self.checkpoints.values()
            ]
            probs = self.combination.apply(np.stack(per_model))
        if self.specialists:
            specialist = np.mean([mean(ckpts) for ckpts in self.specialists.values()], axis=0)
            probs = blend_rare(probs, specialist, self.specialist_weight)
        return probability_frame(list(names), probs)
