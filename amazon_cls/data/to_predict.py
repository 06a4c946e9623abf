"""Chips to predict, as Lightning datamodules: given files, folders of them, or (`geo.tiles`) the
windows of a scene. Apart from the training datamodule so that predicting imports nothing of
training's (folds, augmentations)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from amazon_cls.data.dataset import ChipDataset, epoch_loader
from amazon_cls.data.layout import list_chips
from amazon_cls.data.sources import Source


class ChipsToPredict(L.LightningDataModule):
    """Chips to predict, prepared as the model was trained (its `image_size`, data source and
    `dehaze`); under DDP each rank predicts its share. Subclasses say which chips: `predict_set`,
    made in `setup`."""

    def __init__(
        self,
        image_size: int,
        source: Source,
        dehaze: bool = False,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.image_size, self.source, self.dehaze = image_size, source, dehaze
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.predict_set: ChipDataset | None = None

    def predict_dataloader(self) -> DataLoader:
        return epoch_loader(self.predict_set, self.batch_size, self.num_workers, self.pin_memory)


class ChipFiles(ChipsToPredict):
    """Given chip files to predict, in the given order (the chips of a labelled set, say)."""

    def __init__(self, paths: Sequence[str | os.PathLike], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paths = [Path(path) for path in paths]

    def setup(self, stage: str | None = None) -> None:
        self.predict_set = ChipDataset(self.paths, None, self.image_size, dehaze=self.dehaze, source=self.source)


class ChipFolders(ChipsToPredict):
    """Folders of chips to predict, in a stable order (by name within each folder)."""

    def __init__(self, folders: Sequence[str | os.PathLike], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.folders = [Path(folder) for folder in folders]

    def setup(self, stage: str | None = None) -> None:
        paths = list_chips(self.folders, self.source.suffixes)
        if not paths:
            suffixes = ", ".join(self.source.suffixes)
            raise FileNotFoundError(f"no chips ({suffixes}) in {[str(f) for f in self.folders]}")
        first: dict[str, Path] = {}
        for path in paths:  # a submission row per chip name: the same name twice is ambiguous
            if first.setdefault(path.stem, path) != path:
                raise ValueError(f"chip {path.stem!r} is in two input folders: {first[path.stem]} and {path}")
        self.predict_set = ChipDataset(paths, None, self.image_size, dehaze=self.dehaze, source=self.source)
