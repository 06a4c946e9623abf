"""One record of finished work, for every step that skips what it did before: a training run
(`metrics.json`), a mapped scene (`<scene>_map.json`), a monitored series (`monitor.json`) and each
date it predicted (`predictions/<date>_<scene>.json`).

A record is a JSON file in the folder of the outputs it describes. New outputs are written as one
set (`rewriting`): the old record and the old outputs stay as they were until every new file is
complete; the record goes just before the new set replaces the old one (`forget`) and is written
last, once they all exist (`write`), so it never outlives what it describes. It names its outputs
by identity (`store.records`), relative to its folder, and the work is finished when the record
holds the fields asked for (the settings, the inputs by identity) and every output it lists is
still the file that was written (`finished`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amazon_cls.store.atomic import OutputSet, output_set, write_json
from amazon_cls.store.records import changed, identity


@dataclass(frozen=True)
class Done:
    """The record of finished work at `path`."""

    path: Path

    def forget(self) -> None:
        """Remove the record before any output is rewritten: from here on the work is unfinished."""
        self.path.unlink(missing_ok=True)

    def rewriting(self) -> AbstractContextManager[OutputSet]:
        """The outputs this record describes, written anew as one set (`store.atomic.output_set`):
        nothing of the old set or of this record changes unless every new file is complete; then the
        record is forgotten, the new files replace the old, and old ones the new set lacks are removed.
        `write` the record after the block."""
        return output_set(self.listed(), before_replacing=self.forget)

    def listed(self) -> list[Path]:
        """The outputs the present record lists (none without a record)."""
        outputs = (self.read() or {}).get("outputs", {})
        return [self.path.parent / name for name in outputs] if isinstance(outputs, dict) else []

    def write(
        self, outputs: Iterable[Path], fields: dict[str, Any], inputs: Iterable[str | Path] = ()
    ) -> dict[str, Any]:
        """The record, last: `fields`, the identity of each of `inputs` (the files the work read)
        and every output's, named relative to the record's folder (an `outputs` among the fields,
        an earlier record's, is replaced)."""
        listed = {self.name_of(Path(output)): identity(output) for output in outputs}
        if read := [identity(path) for path in inputs]:
            fields = {**fields, "inputs": read}
        record = {**fields, "outputs": listed}
        write_json(self.path, record)
        return record

    def read(self) -> dict[str, Any] | None:
        """The record as written, or None where there is none or it cannot be read (never finished)."""
        try:
            record = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def problems(self, record: dict[str, Any]) -> list[str]:
        """How the outputs a record lists differ from what it says (gone, cut, rewritten since)."""
        listed = record.get("outputs", {})
        if not isinstance(listed, dict):
            return []
        recorded = [{**identity_of, "path": str(self.path.parent / name)} for name, identity_of in listed.items()]
        return [problem for problem in map(changed, recorded) if problem]

    def finished(
        self, outputs: Iterable[Path], expected: dict[str, Any], inputs: Iterable[str | Path] = ()
    ) -> dict[str, Any] | None:
        """The record, if the work it describes is finished as asked: each of `expected` equal to the
        record's, made from these `inputs` as they are now (unchanged files are not read again: see
        `store.records`), each of `outputs` present, and every output it lists unchanged; else None."""
        record = self.read()
        if record is None or any(record.get(key) != value for key, value in expected.items()):
            return None
        if (inputs := [str(path) for path in inputs]) and not same_inputs(record.get("inputs"), inputs):
            return None
        if not all(Path(output).is_file() for output in outputs) or self.problems(record):
            return None
        return record

    def name_of(self, output: Path) -> str:
        """An output's name in the record: relative to the record's folder where it lies inside it."""
        try:
            return output.resolve().relative_to(self.path.parent.resolve()).as_posix()
        except ValueError:
            return str(output)


def same_inputs(recorded: Any, inputs: list[str]) -> bool:
    """The record names these input files, in this order, and none has changed since."""
    if not isinstance(recorded, list) or not all(isinstance(item, dict) for item in recorded):
        return False
    return [item.get("path") for item in recorded] == inputs and not any(map(changed, recorded))
