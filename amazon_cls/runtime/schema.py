"""What each command's config may hold, checked before anything heavy is imported, before any
Trainer, data check or checkpoint load: every key's type and range, every input path's existence
and every output path's room, named by its key.

One table per command (`SCHEMAS`); a key a config lacks is not checked (groups differ), and a
value computed by one of the project's resolvers is left to the code that computes it. Choices
that extension registries own (a loss's name, a TTA, an ensemble method) are checked by their
registry when the objects are built, so that a new entry needs no second home here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from amazon_cls.runtime.config import RESOLVERS

Problem = str | None
KIND_WORDS = {"whole": "whole number", "number": "number", "flag": "true or false", "text": "a word"}
PATH_WORDS = {
    "file": "an existing file",
    "dir": "an existing folder",
    "any": "an existing file or folder",
    "out-file": "a file to write",
    "out-dir": "a folder to write into",
}


@dataclass(frozen=True)
class Rule:
    """A value's kind and range; `words` are strings allowed beside it (`auto`)."""

    kind: str  # whole | number | flag | text | path | list
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    words: tuple[str, ...] = ()
    nullable: bool = False
    path: str = ""  # file | dir | any (for kind path): what must exist; out-file | out-dir: what may be written
    null_means: str = "none"  # what null stands for, said when an empty string is given instead
    item: Rule | None = None  # for kind list: each item's rule
    length: int | None = None  # for kind list: exactly this many items
    one_for_all: bool = False  # for kind list: one item alone is allowed too (it stands for every item)

    def problem(self, value: Any) -> Problem:
        """What is wrong with `value`, or None."""
        if value is None:
            return None if self.nullable else "must be given (null is not allowed here)"
        if isinstance(value, str) and value in self.words:
            return None
        check = {
            "whole": self._whole,
            "number": self._number,
            "flag": self._flag,
            "text": self._text,
            "path": self._path,
            "list": self._list,
        }[self.kind]
        return check(value)

    def describe(self) -> str:
        """What the rule allows, in words (the documentation's "allowed" column is generated from it)."""
        if self.kind == "list":
            item = self.item.describe() if self.item else "values"
            size = f" of {self.length}" if self.length else ""
            alone = " (or one value, for all)" if self.one_for_all else ""
            said = f"a list{size}{alone}, each {item}"
        elif self.kind == "path":
            said = PATH_WORDS[self.path or "any"]
        else:
            said = " ".join(filter(None, (KIND_WORDS[self.kind], self._range())))
        words = " or ".join(f"`{word}`" for word in self.words)
        said = f"{words} or {said}" if words else said
        if not self.nullable:
            return said
        return said + ("; or null" if self.null_means == "none" else f"; null: {self.null_means}")

    def _expected(self) -> str:
        words = " or ".join(repr(word) for word in self.words)
        return f"{words} or " if words else ""

    def _range(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return " and ".join(parts)

    def _in_range(self, value: float) -> Problem:
        low_bad = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        high_bad = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        return f"must be {self._range()}" if low_bad or high_bad else None

    def _whole(self, value: Any) -> Problem:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be {self._expected()}a whole number" + (f" {self._range()}" if self._range() else "")
        return self._in_range(value)

    def _number(self, value: Any) -> Problem:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"must be {self._expected()}a finite number" + (f" {self._range()}" if self._range() else "")
        return self._in_range(value)

    def _flag(self, value: Any) -> Problem:
        return None if isinstance(value, bool) else f"must be {self._expected()}true or false"

    def _text(self, value: Any) -> Problem:
        if not isinstance(value, str) or not value.strip():
            return f"must be {self._expected()}a non-empty word"
        return None

    def _path(self, value: Any) -> Problem:
        if not isinstance(value, str):
            return "must be a path"
        if not value.strip():
            return "an empty path" + (f"; null (not an empty string) means {self.null_means}" if self.nullable else "")
        path = Path(value)
        if self.path == "file" and not path.is_file():
            return "no such file" if not path.exists() else "is a folder, not a file"
        if self.path == "dir" and not path.is_dir():
            return "no such folder" if not path.exists() else "is a file, not a folder"
        if self.path == "any" and not path.exists():
            return "no such file or folder"
        if self.path == "out-file" and path.is_dir():
            return "is an existing folder; give the file to write"
        if self.path == "out-dir" and path.exists() and not path.is_dir():
            return "is an existing file; give the folder to write into"
        return None

    def _list(self, value: Any) -> Problem:
        if isinstance(value, str) or not isinstance(value, Sequence):
            if self.item and (self.one_for_all or (self.item.kind == "path" and isinstance(value, str))):
                return self.item.problem(value)  # one path (or value) where a list of them is allowed
            return "must be a list"
        if self.length is not None and len(value) != self.length:
            return f"must hold {self.length} values, not {len(value)}"
        for index, item in enumerate(value):
            if self.item and (problem := self.item.problem(item)):
                return f"item {index} ({item!r}) {problem}"
        return None


def whole(low: float | None = None, high: float | None = None, **options: Any) -> Rule:
    return Rule("whole", low, high, **options)


def number(low: float | None = None, high: float | None = None, **options: Any) -> Rule:
    return Rule("number", low, high, **options)


def flag(**options: Any) -> Rule:
    return Rule("flag", **options)


def text(**options: Any) -> Rule:
    return Rule("text", **options)


def path(kind: str, **options: Any) -> Rule:
    return Rule("path", path=kind, **options)


def listing(item: Rule, **options: Any) -> Rule:
    return Rule("list", item=item, **options)


AUTO = ("auto",)
PRECISIONS = ("auto", "32", "32-true", "64", "64-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")
PROBABILITY = number(0, 1)
TRAINER = {
    "trainer.max_epochs": whole(1),
    "trainer.min_epochs": whole(0, nullable=True),
    "trainer.num_nodes": whole(1),
    "trainer.precision": Rule("whole", words=PRECISIONS),
    "trainer.accelerator": text(),
    "trainer.log_every_n_steps": whole(1),
    "trainer.check_val_every_n_epoch": whole(1),
    "trainer.enable_progress_bar": flag(),
    "trainer.deterministic": flag(words=("warn",)),
}
DATA = {
    "data.root": path("dir", nullable=True, null_means="the embedded synthetic data set"),
    "data.labels_csv": text(),
    "data.format": text(),
    "data.image_dir": text(nullable=True),
    "data.image_ext": text(nullable=True),
    "data.synthetic.num_train": whole(5),
    "data.synthetic.num_test": whole(0),
    "data.synthetic.size": whole(8),
    "data.synthetic.seed": whole(),
    "data.fold": whole(0),
    "data.num_folds": whole(2),
    "data.fold_seed": whole(),
    "data.batch_size": whole(1),
    "data.num_workers": whole(0, words=AUTO),
    "data.pin_memory": flag(words=AUTO, nullable=True),
    "data.persistent_workers": flag(),
    "data.cache": flag(),
    "data.check": flag(),
    "data.dehaze": flag(),
    "data.on_bad_chip": text(),
    "data.train_subset": text(),
    "data.oversample_rare": whole(1),
    "data.exclude": path("file", nullable=True),
}
MODEL = {
    "model.backbone": text(),
    "model.pretrained": flag(),
    "model.pretrained_file": path("file", nullable=True),
    "model.drop_rate": number(0, 1, high_open=True),
    "model.image_size": whole(8, nullable=True),
    "model.in_chans": whole(1),
    "model.channels_last": flag(),
    "model.optimizer.name": text(),
    "model.optimizer.lr": number(0, low_open=True),
    "model.optimizer.weight_decay": number(0),
    "model.scheduler.name": text(),
    "model.scheduler.warmup_pct": number(0, 1, high_open=True),
    "model.loss.name": text(),
    "model.loss.pos_weight": listing(number(0, low_open=True), length=17, words=AUTO, nullable=True),
    "model.loss.gamma": number(0),
    "model.loss.alpha": PROBABILITY,
    "model.loss.gamma_neg": number(0),
    "model.loss.gamma_pos": number(0),
    "model.loss.clip": number(0, 1, nullable=True),
    "model.loss_labels": text(),
    "model.mixup": number(0),
}
PREDICTING = {
    "ckpt": path("file", nullable=True),
    "ensemble": path("dir", nullable=True),
    "thresholds": path("file", nullable=True),
    "tta": text(),
    "postprocess.weather": flag(),
    "batch_size": whole(1),
    "num_workers": whole(0, words=AUTO),
    "pin_memory": flag(words=AUTO, nullable=True),
    "compile": flag(),
}
SCENE_PIPELINE = {  # conf/pipeline/scene.yaml: what map and monitor share
    **PREDICTING,
    "chip_size": whole(1),
    "stride": whole(1, nullable=True),
    "resolution": number(0, low_open=True, nullable=True),
    "edge": text(),
    "min_valid": PROBABILITY,
    "crs": text(nullable=True),
    "bands": listing(whole(1), nullable=True),
    "scale_16bit": number(0, low_open=True),
}
SCHEMAS: dict[str, dict[str, Rule]] = {
    "train": {
        **TRAINER,
        **DATA,
        **MODEL,
        "seed": whole(),
        "tta": text(),
        "rare_weight": number(0),
        "ckpt_path": Rule("path", path="file", words=("last",), nullable=True),
        "validate_best": flag(),
        "skip_finished": flag(),
        "allow_changed_settings": flag(),
        "predict_dirs": listing(path("dir")),
    },
    "predict": {
        **TRAINER,
        **PREDICTING,
        "input": listing(path("dir")),
        "output": path("out-file"),
        "order": path("file", nullable=True),
    },
    "map": {
        **TRAINER,
        **SCENE_PIPELINE,
        "scene": listing(path("file")),
        "output_dir": path("out-dir"),
        "outputs": listing(text()),
    },
    "ensemble": {
        "sweep_dir": path("dir", nullable=True),
        "runs": listing(path("dir"), nullable=True),
        "output_dir": path("out-dir", nullable=True),
        "method": text(),
        "order": path("file", nullable=True),
        "postprocess.weather": flag(),
        "specialists": listing(path("dir"), nullable=True),
        "specialist_weight": PROBABILITY,
        "rare_weight": number(0),
    },
    "monitor": {
        **TRAINER,
        **SCENE_PIPELINE,
        "scenes": listing(path("file")),
        "dates": listing(text(), nullable=True),
        "grid": path("file", nullable=True),
        "output_dir": path("out-dir"),
        "operating_point": text(),
        "alert_precision": number(0, 1, low_open=True, high_open=True),
        "change_labels": listing(text()),
        "unobservable": listing(text()),
        "min_area_ha": number(0),
        "regions": path("file", nullable=True),
        "region_key": text(nullable=True),
        "evidence": whole(0),
    },
    "evaluate": {
        **TRAINER,
        **DATA,
        **PREDICTING,
        "submission": path("file", nullable=True),
        "compare": listing(path("any"), nullable=True),
        "names": listing(text(), nullable=True),
        "fold": whole(0, nullable=True),
        "labels": path("file", nullable=True),
        "input": listing(path("dir"), nullable=True),
        "cross_fit": whole(0),
        "cross_fit_seed": whole(),
        "rare_weight": listing(number(0), one_for_all=True),
        "bootstrap.draws": whole(1),
        "bootstrap.seed": whole(),
        "bootstrap.confidence": number(0, 1, low_open=True, high_open=True),
        "output_dir": path("out-dir"),
    },
    "tune": {
        **TRAINER,
        **DATA,
        **MODEL,
        "n_trials": whole(1),
        "timeout": number(0, low_open=True, nullable=True),
        "folds": listing(whole(0)),
        "objective": text(),
        "pruning": flag(),
        "storage": text(nullable=True),
        "study_name": text(),
        "tune.enqueue_recipe": flag(),
    },
    "audit": {
        **DATA,
        "sweep_dir": path("dir", nullable=True),
        "runs": listing(path("dir"), nullable=True),
        "folds": listing(whole(0), nullable=True),
        "min_count": whole(1),
        "filter_by": text(),
        "exclude_top": whole(1, nullable=True),
        "gallery": whole(0),
        "output_dir": path("out-dir"),
    },
    "check": {**DATA},
    "eda": {**DATA, "output_dir": path("out-dir")},
    "baseline": {**DATA, "trees": whole(1), "seed": whole()},
}
# Rules between keys: (the keys, what must hold, how to say it).
RELATIONS: list[tuple[tuple[str, ...], Callable[..., bool], str]] = [
    (("data.fold", "data.num_folds"), lambda fold, folds: fold < folds, "data.fold={} must be below data.num_folds={}"),
    (
        ("fold", "data.num_folds"),
        lambda fold, folds: fold is None or fold < folds,
        "fold={} must be below data.num_folds={}",
    ),
    (
        ("folds", "data.num_folds"),
        lambda folds, count: folds is None or all(fold < count for fold in folds),
        "folds={} must each be below data.num_folds={}",
    ),
    (("cross_fit",), lambda parts: parts != 1, "cross_fit={}: 0 (the thresholds given) or at least 2 parts"),
]


def value_of(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    """(present and to be checked, its value). A value the project's resolvers compute (the image
    size from timm, the bands from the data source) is checked by the code that computes it."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig) or leaf not in node.keys():  # noqa: SIM118 (`in node` would resolve it)
        return False, None
    raw = OmegaConf.to_container(node, resolve=False)[leaf]
    if isinstance(raw, str) and any(f"${{{resolver}:" in raw for resolver in RESOLVERS):
        return False, None
    value = node[leaf]
    return True, OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig | ListConfig) else value


def problems_of(cfg: DictConfig, schema: Mapping[str, Rule]) -> list[str]:
    """Every problem of `cfg` against `schema`, as `key=value: what is wrong`."""
    found, values = [], {}
    for key, rule in schema.items():
        present, value = value_of(cfg, key)
        if not present:
            continue
        values[key] = value
        if problem := rule.problem(value):
            found.append(f"{key}={value!r}: {problem}")
    bad = {problem.split("=", 1)[0] for problem in found}
    for keys, holds, message in RELATIONS:
        if all(key in values and key not in bad for key in keys) and not holds(*(values[key] for key in keys)):
            found.append(message.format(*(values[key] for key in keys)))
    return found


def check_config(cfg: DictConfig, command: str) -> None:
    """Refuse a config with any problem, naming every key at fault, before any work; then give
    every list key its one shape (`listed_paths`)."""
    found = problems_of(cfg, SCHEMAS[command])
    if found:
        raise ValueError("; ".join(found))
    listed_paths(cfg, SCHEMAS[command])


def listed_paths(cfg: DictConfig, schema: Mapping[str, Rule]) -> None:
    """A path given alone where a list of paths is allowed (`input=a`) becomes a list of one, so
    that the code reading the config never takes a string for a list of its characters."""
    for key, rule in schema.items():
        present, value = value_of(cfg, key)
        if present and isinstance(value, str) and rule.kind == "list" and rule.item and rule.item.kind == "path":
            with open_dict(cfg):
                OmegaConf.update(cfg, key, [value], merge=False)
