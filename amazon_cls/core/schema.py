"""The vocabulary of the typed config schemas: what a value may be (`Rule`: its kind, range and the
words allowed beside it), declared on each group's dataclass beside the code that owns it
(`data.config`, `model.config`, ...), and the rules across keys (`Relation`). The check that reads
a composed config against a schema is `runtime.schema`; this module is pure Python, so a schema
costs nothing to import before a command's config is checked, for example::

    @dataclass
    class DataConfig:
        fold: int = checked(whole(0))
        num_folds: int = checked(whole(2))
        relations: ClassVar = [Relation(("fold", "num_folds"), lambda f, n: f < n, "{}={} must be below {}={}")]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

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

    kind: str  # whole | number | flag | text | path | list | choice
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
        if self.kind == "choice":
            return f"must be {' or '.join(repr(word) for word in self.words)}"
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
        elif self.kind == "choice":
            said = " or ".join(f"`{word}`" for word in self.words)
            return said + ("; or null" if self.nullable else "")
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


def choice(*words: str, **options: Any) -> Rule:
    """One of `words`, where no registry owns the choice (a registry checks its own names)."""
    return Rule("choice", words=words, **options)


def listing(item: Rule, **options: Any) -> Rule:
    return Rule("list", item=item, **options)


AUTO = ("auto",)
PROBABILITY = number(0, 1)


@dataclass(frozen=True)
class Relation:
    """A rule across keys: `holds(*values)` must be true. `message` says what is wrong, with a `{}`
    for each key and each value in turn: `"{}={} must be below {}={}"`."""

    keys: tuple[str, ...]
    holds: Callable[..., bool]
    message: str

    def under(self, prefix: str) -> Relation:
        """The same rule for a group nested at `prefix` (`data.`)."""
        return Relation(tuple(prefix + key for key in self.keys), self.holds, self.message)

    def describe(self, values: Sequence[Any]) -> str:
        return self.message.format(*(part for pair in zip(self.keys, values, strict=True) for part in pair))


def checked(rule: Rule) -> Any:
    """A schema field whose value the config check holds to `rule` (its default lives in the YAML)."""
    return field(default=None, metadata={"rule": rule})


def group(schema: type) -> Any:
    """A schema field holding a config group of its own (`data`, `model.optimizer`)."""
    return field(default=None, metadata={"group": schema})


def rules_of(schema: type, prefix: str = "") -> dict[str, Rule]:
    """Every checked key of a schema, nested groups included, as dotted keys."""
    found: dict[str, Rule] = {}
    for item in fields(schema):
        if "group" in item.metadata:
            found.update(rules_of(item.metadata["group"], f"{prefix}{item.name}."))
        elif "rule" in item.metadata:
            found[prefix + item.name] = item.metadata["rule"]
    return found


def open_prefixes(schema: type, prefix: str = "") -> list[str]:
    """Where keys the schema does not list are still read, as dotted prefixes: a group handed whole to
    a constructor that refuses what it does not take (Lightning's Trainer), or a free-form table (a
    search space). A schema says so with `open_keys`; "" opens its whole group."""
    found = [prefix + key for key in getattr(schema, "open_keys", ())]
    for item in fields(schema):
        if "group" in item.metadata:
            found += open_prefixes(item.metadata["group"], f"{prefix}{item.name}.")
    return found


def relations_of(schema: type, prefix: str = "") -> list[Relation]:
    """Every rule across keys of a schema and of its nested groups, as dotted keys."""
    found = [relation.under(prefix) for relation in getattr(schema, "relations", [])]
    for item in fields(schema):
        if "group" in item.metadata:
            found += relations_of(item.metadata["group"], f"{prefix}{item.name}.")
    return found


def problems_in(schema: type, values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """What is wrong with `values` (dotted keys of the schema) against it, each named by its key with
    `prefix` before it: the config check's (`runtime.schema`), and a constructor's when it is called
    without a config (`data.fold=7 ...`)."""
    rules, bad = rules_of(schema), set()
    for key, value in values.items():
        if key in rules and (problem := rules[key].problem(value)):
            bad.add(key)
            yield f"{prefix}{key}={value!r}: {problem}"
    for relation in relations_of(schema):  # a rule across keys is judged on good values only
        given = [values[key] for key in relation.keys if key in values and key not in bad]
        if len(given) == len(relation.keys) and not relation.holds(*given):
            yield relation.under(prefix).describe(given)
