"""What predicts new chips: one checkpoint, or an ensemble folder's saved combination.

`predict` and `map` both go through `Predictor.predict`: every checkpoint it needs runs through
Lightning's `Trainer.predict` on the same chips, and the probabilities are combined exactly as
`ensemble` combined the members' test predictions (each model the mean of its checkpoints, then
the saved combination, then the rare-label specialists), with the thresholds saved beside them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from amazon_cls import blend, hardware, runs
from amazon_cls.callbacks import ProbabilityWriter
from amazon_cls.labels import LABELS, PROB_COLUMNS
from amazon_cls.module import ChipClassifier

log = logging.getLogger(__name__)


class StopOnSigterm(L.Callback):
    """Lightning notes a SIGTERM, but only its training loop stops for it: prediction stops at the
    next batch too (as SIGTERMException, the SystemExit the training loop raises)."""

    def on_predict_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.received_sigterm:
            raise SIGTERMException()


class PredictionRun:
    """A Trainer that predicts (devices and precision from the `trainer` config, its `auto` values
    resolved for this machine and logged) and the writer that gathers its probabilities."""

    def __init__(self, trainer: DictConfig, batch_size: int, num_workers: int | str) -> None:
        choices = hardware.resolve(trainer.accelerator, trainer.precision, num_workers)
        for name, choice in choices.items():
            rank_zero_info(f"Hardware choice: {choice.describe(name)}")
        self.writer = ProbabilityWriter()
        self.trainer: L.Trainer = instantiate(
            trainer, precision=choices["precision"].value, callbacks=[self.writer, StopOnSigterm()], logger=False,
            enable_checkpointing=False,
        )  # fmt: skip
        # the loader options of the datamodules it predicts
        self.loader = {"batch_size": batch_size, "num_workers": choices["num_workers"].value,
                       "pin_memory": choices["pin_memory"].value}  # fmt: skip


@dataclass
class Predictor:
    """Checkpoints per model, how their probabilities combine, and the thresholds that follow."""

    checkpoints: dict[str, list[str]]
    thresholds: np.ndarray
    combination: blend.Combination | None = None  # None: one model
    specialists: dict[str, list[str]] = field(default_factory=dict)  # rare-label specialists' checkpoints per model
    specialist_weight: float = 0.0
    source: str = ""

    @classmethod
    def of(cls, ckpt: str | None, ensemble: str | None, thresholds: str | None = None) -> Predictor:
        """The predictor a command names: `ckpt=<model.ckpt>` or `ensemble=<ensemble folder>`."""
        if bool(ckpt) == bool(ensemble):
            given = "both" if ckpt else "neither"
            raise ValueError(f"give ckpt=<model.ckpt> or ensemble=<ensemble folder> ({given} given)")
        return cls.from_checkpoint(ckpt, thresholds) if ckpt else cls.from_ensemble(ensemble, thresholds)

    @classmethod
    def from_checkpoint(cls, ckpt: str | Path, thresholds: str | Path | None = None) -> Predictor:
        """One checkpoint, with its stored thresholds or those of a thresholds.json."""
        if thresholds:
            fitted = runs.read_thresholds(thresholds)
        else:  # the model's own buffer, fitted on its validation fold
            fitted = runs.read_checkpoint(ckpt)["state_dict"]["thresholds"].numpy()
        return cls({Path(ckpt).stem: [str(ckpt)]}, fitted, source=str(ckpt))

    @classmethod
    def from_ensemble(cls, folder: str | Path, thresholds: str | Path | None = None) -> Predictor:
        """The combination an `ensemble` run saved in `folder` (its combination.json)."""
        path = Path(folder) / runs.COMBINATION
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: no {runs.COMBINATION}; give the output folder of `ensemble`")
        saved = json.loads(path.read_text())
        missing = [
            key for key in ("method", "models", "weights", "intercept", "thresholds", "checkpoints") if key not in saved
        ]
        if missing:
            raise ValueError(f"{path}: lacks {missing}; make it again with this version of `ensemble`")
        combination = blend.Combination.from_dict(saved)
        checkpoints = {model: list(saved["checkpoints"][model]) for model in combination.models}
        specialists = {model: list(paths) for model, paths in saved.get("specialist_checkpoints", {}).items()}
        if saved.get("specialists") and not specialists:
            raise ValueError(f"{path}: blends rare-label specialists without their checkpoints; make it again")
        for paths in [*checkpoints.values(), *specialists.values()]:
            for ckpt in paths:
                if not Path(ckpt).is_file():
                    raise FileNotFoundError(f"{path}: its checkpoint {ckpt} is gone")
        fitted = runs.read_thresholds(thresholds) if thresholds else runs.thresholds_of(saved["thresholds"], path)
        return cls(checkpoints, fitted, combination, specialists,
                   float(saved.get("specialist_weight", 0.0)), str(folder))  # fmt: skip

    def needed(self) -> list[str]:
        """The checkpoints whose predictions count (a model with zero weight is not run)."""
        used = [
            model for index, model in enumerate(self.checkpoints)
            if self.combination is None or np.any(self.combination.weights[index])
        ]  # fmt: skip
        return [ckpt for model in used for ckpt in self.checkpoints[model]] + [
            ckpt for paths in self.specialists.values() for ckpt in paths
        ]

    def describe(self) -> str:
        if self.combination is None:
            return self.source
        models = ", ".join(self.checkpoints)
        return f"{self.source} ({self.combination.method} of {models}: {len(self.needed())} checkpoints to run)"

    def predict(
        self,
        run: PredictionRun,
        chips_for: Callable[[ChipClassifier], L.LightningDataModule],
        tta: str,
        compile: bool = False,
    ) -> pd.DataFrame | None:
        """Combined probabilities of the chips `chips_for(model)` serves (rank 0; None elsewhere)."""
        frames: dict[str, pd.DataFrame] = {}
        for ckpt in self.needed():
            model = ChipClassifier.from_checkpoint(ckpt, tta=tta)
            if compile:  # worth it for many chips: compiling takes a minute, then inference is faster
                model.net = torch.compile(model.net)
            try:
                run.trainer.predict(model, datamodule=chips_for(model), return_predictions=False)
            except SystemExit as stop:  # SIGTERM or Ctrl+C: never status 0, nothing of these chips written
                signal_name, code = runs.interruption(stop)
                log.error(
                    "Interrupted (%s): nothing was written for these chips; the same command resumes", signal_name
                )
                raise SystemExit(code) from None
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
            probs = blend.blend_rare(probs, specialist, self.specialist_weight)
        return runs.probability_frame(list(names), probs)
