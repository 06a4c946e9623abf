"""Lightning's prediction writer for this project: every chip once, in the predict set's order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from amazon_cls.core.labels import NUM_LABELS
from amazon_cls.model.distributed import gather_unique
from amazon_cls.store.atomic import write_csv
from amazon_cls.store.tables import probability_frame


class ProbabilityWriter(BasePredictionWriter):
    """Writes the probabilities of `Trainer.predict` to `output`: every chip exactly once, in the
    order of the predict set, however many ranks shared the work (their padding repeats removed).
    Rank 0 keeps the table in `frame`; with no `output`, nothing is written."""

    def __init__(self, output: str | Path | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output = Path(output) if output else None
        self.frame: pd.DataFrame | None = None

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices) -> None:
        batches = predictions or []
        index = torch.cat([batch["index"] for batch in batches]) if batches else torch.zeros(0, dtype=torch.int64)
        probs = torch.cat([batch["probs"] for batch in batches]) if batches else torch.zeros(0, NUM_LABELS)
        index, probs = gather_unique(pl_module, index, probs)
        if trainer.is_global_zero:
            names = trainer.datamodule.predict_set.names
            self.frame = probability_frame([names[i] for i in index], probs)
            if self.output:
                write_csv(self.output, self.frame)
