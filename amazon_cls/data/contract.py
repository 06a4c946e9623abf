"""What the training callbacks may ask of a datamodule, written down as a type.

`PlanetDataModule` is one; a datamodule of another data set that offers these members works with
the same callbacks (`model.callbacks`), and one that does not is refused by name when training
starts, not deep inside a callback.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from amazon_cls.data.dataset import ChipDataset
from amazon_cls.data.sources import Source


@runtime_checkable
class TrainingData(Protocol):
    """A labelled data set split into a training and a validation fold."""

    train_set: ChipDataset | None  # set in `setup`
    val_set: ChipDataset | None  # set in `setup`; its `names` name the validation chips

    @property
    def fold(self) -> int:
        """The validation fold's number (recorded beside its out-of-fold predictions)."""
        ...

    @property
    def source(self) -> Source:
        """The chips' data source (their bands, and which are red, green and blue)."""
        ...

    def label_frequency(self) -> tuple[np.ndarray, int]:
        """Chips carrying each label in the training fold, and the fold's number of chips."""
        ...

    def band_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-band mean and standard deviation of the training fold's chips, in raw units."""
        ...


def training_data(datamodule: Any) -> TrainingData:
    """`datamodule`, checked to be what the training callbacks need."""
    if not isinstance(datamodule, TrainingData):
        missing = [
            name
            for name in ("train_set", "val_set", "fold", "source", "label_frequency", "band_statistics")
            if not hasattr(datamodule, name)
        ]
        raise TypeError(
            f"{type(datamodule).__name__} is not a training datamodule of this project: it lacks {missing} "
            "(see amazon_cls.data.contract.TrainingData)"
        )
    return datamodule
