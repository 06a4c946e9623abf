"""The Kaggle layout, defined once: the labels file, where each chip lives, folders of chips to predict.

- `<root>/train_v2.csv`: image_name,tags (tags space-separated)
- `<root>/<source folder>/<image_name><suffix>`: the chips of the data source (`data.sources`):
  `train-jpg/*.jpg` (RGB), `train-tif-v2/*.tif` (4-band 16-bit)
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amazon_cls.core.labels import NUM_LABELS, parse_tags, tags_to_vector
from amazon_cls.data.sources import SOURCES, Source

LABELS_CSV = "train_v2.csv"
DECLARATION = "dataset.json"  # optional, in a data set's root: what the data set says of itself (chip_extent_m)


class DataError(ValueError):
    """The data set has problems that would spoil training; the message names the file or row."""


@dataclass(frozen=True)
class Layout:
    """Where a labelled data set's files are: `root/labels_csv` and `root/image_dir/<name><image_ext>`."""

    root: Path
    source: Source
    labels_csv: str = LABELS_CSV
    image_dir: str = ""  # "": the source's folder
    image_ext: str = ""  # "": the source's suffix

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_dir", self.image_dir or self.source.image_dir)
        object.__setattr__(self, "image_ext", self.image_ext or self.source.suffix)

    def declared(self, key: str) -> Any:
        """What the data set's `dataset.json` says of `key` (None without one, or without the key)."""
        path = self.root / DECLARATION
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text()).get(key)
        except (ValueError, AttributeError) as error:
            raise DataError(f"{path}: not a JSON object ({error})") from None

    @classmethod
    def of(
        cls,
        root: str | os.PathLike | None,
        synthetic_dir: str | os.PathLike,
        labels_csv: str = LABELS_CSV,
        format: str = "jpg",
        image_dir: str | None = None,
        image_ext: str | None = None,
    ) -> Layout:
        """From the keys of a data config (`conf/data/planet.yaml`): root null means the embedded
        data set; image_dir and image_ext null mean the source's own folder and suffix."""
        if root is not None and not str(root).strip():
            raise DataError("data.root='': an empty path; null (not an empty string) means the embedded data set")
        root = Path(synthetic_dir if root is None else root)
        return cls(root, SOURCES[format], labels_csv, image_dir or "", image_ext or "")

    @classmethod
    def of_config(cls, data: Any) -> Layout:
        """From a composed data config (`cfg.data`), or the datamodule's own hyperparameters: the one
        place that reads which keys name the data set's files."""
        named = {key: data.get(key) for key in ("labels_csv", "format", "image_dir", "image_ext")}
        return cls.of(data.get("root"), data.synthetic_dir, **{k: v for k, v in named.items() if v is not None})

    @property
    def labels_path(self) -> Path:
        return self.root / self.labels_csv

    @property
    def image_folder(self) -> Path:
        return self.root / self.image_dir

    def chip_path(self, name: str) -> Path:
        return self.image_folder / f"{name}{self.image_ext}"

    def chip_paths(self, names: Sequence[str]) -> np.ndarray:
        """Paths of these chips, as an object array (indexable by a fold's rows)."""
        return np.array([self.chip_path(name) for name in names], dtype=object)


def read_name_table(path: Path, columns: Sequence[str], what: str, hint: str = "") -> pd.DataFrame:
    """A CSV table keyed by chip names, every value a string (a chip named `NA` stays `NA`); a clear
    error naming the file for a missing file, another encoding, another delimiter, trailing commas
    or missing columns."""
    if not path.is_file():
        raise DataError(f"{path}: {what} not found{hint}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason}); save it as UTF-8") from error
    except pd.errors.ParserError as error:
        raise DataError(f"{path}: not a CSV table ({error})") from error
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file; expected the columns {list(columns)}") from None
    header = ",".join(map(str, table.columns))
    for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
        if delimiter in header and not set(columns) <= set(table.columns):
            raise DataError(f"{path}: columns separated by {name}; this project reads comma-separated files")
    if any(str(column).startswith("Unnamed:") for column in table.columns):
        raise DataError(f"{path}: rows end with a trailing comma (an unnamed extra column); remove it")
    if not isinstance(table.index, pd.RangeIndex):  # pandas makes the first field the index of such rows
        raise DataError(
            f"{path}: its rows have one field more than its header (a trailing comma on every row?); remove it"
        )
    missing = set(columns) - set(table.columns)
    if missing:
        raise DataError(f"{path}: missing column(s) {sorted(missing)}; found {list(table.columns)}")
    if "image_name" in table.columns:
        refuse_names_outside(path, table["image_name"])
    return table


def outside_its_folder(name: str) -> bool:
    """A chip name that would lead out of its folder, or to no file: empty, `.`, `..`, or a path."""
    return name.strip() in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name


def refuse_names_outside(path: Path, names: pd.Series) -> None:
    """Every chip name of a table stays in its folder (`../../x` would read a file elsewhere)."""
    bad = [(row + 2, name) for row, name in enumerate(names) if outside_its_folder(name)]
    if bad:
        shown = ", ".join(f"row {row}: {name!r}" for row, name in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise DataError(
            f"{path}: {len(bad)} chip name(s) are paths, not names ({shown}); a chip name holds no '/' or "
            "'\\', and is not empty, '.' or '..'"
        )


def read_labels_csv(labels_csv: Path) -> pd.DataFrame:
    """The `image_name,tags` table (see `read_name_table`); a labels file needs rows. A run reads it
    from several stages (the data check, the folds, the datamodule, the run's record): it is parsed
    once per process while the file keeps its size and modification time, and each caller gets a copy."""
    try:
        status = Path(labels_csv).stat()
    except OSError:
        return parse_labels_csv(Path(labels_csv))  # says what is wrong with the path
    return parsed_labels(str(labels_csv), status.st_size, status.st_mtime_ns).copy()


@functools.lru_cache(maxsize=4)
def parsed_labels(path: str, size: int, mtime_ns: int) -> pd.DataFrame:
    """One parse of a labels file, kept for as long as its size and modification time stay these."""
    return parse_labels_csv(Path(path))


def parse_labels_csv(labels_csv: Path) -> pd.DataFrame:
    others = sorted(p.name for p in labels_csv.parent.glob("*.csv")) if labels_csv.parent.is_dir() else []
    hint = (
        f"; the folder holds {others}: name yours with data.labels_csv=<file> (and data.image_dir=<folder> "
        "for its chips)"
        if others
        else " (set data.root / data.labels_csv)"
    )
    table = read_name_table(labels_csv, ("image_name", "tags"), "labels file", hint)
    if table.empty:
        raise DataError(f"{labels_csv}: the labels file has a header but no rows")
    return table


def read_labels(labels_csv: Path, skip_rows: Collection[int] = ()) -> tuple[list[str], np.ndarray]:
    """Chip names and multi-hot targets of an `image_name,tags` CSV, without the rows in `skip_rows`."""
    table = read_labels_csv(labels_csv)
    keep = np.setdiff1d(np.arange(len(table)), np.asarray(list(skip_rows), dtype=int))
    names = table["image_name"].iloc[keep].tolist()
    targets = np.zeros((len(keep), NUM_LABELS), np.float32)
    for i, (row, tags) in enumerate(zip(keep, table["tags"].iloc[keep], strict=True)):
        targets[i] = tags_to_vector(parse_tags(tags), where=f"{labels_csv} row {row + 2} ({names[i]})")
    return names, targets


def list_chips(folders: Sequence[str | os.PathLike], suffixes: Sequence[str]) -> list[Path]:
    """Every chip file (one of `suffixes`) in `folders`, sorted by name within each folder: the
    order of predictions."""
    paths: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not a folder of chips")
        paths += sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
    return paths
