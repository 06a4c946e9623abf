"""One record of finished work, for every step that skips what it did before: a training run
(`metrics.json`), a mapped scene (`<scene>_map.json`), a monitored series (`monitor.json`) and each
date it predicted (`predictions/<date>_<scene>.json`).

A record is a JSON file in the folder of the outputs it describes. It is removed before any of them
is rewritten (`forget`) and written last, once they all exist (`write`), so it never outlives what
it describes. It names its outputs by identity (`store.records`), relative to its folder, and the
work is finished when the record holds the fields asked for (the settings, the inputs by identity)
and every output it lists is still the file that was written (`finished`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amazon_cls.store.atomic import write_json
from amazon_cls.store.records import changed, identity


@dataclass(frozen=True)
class Done:
    """The record of finished work at `path`."""

    path: Path

    def forget(self) -> None:
        """Remove the record before any output is rewritten: from here on the work is unfinished."""
        self.path.unlink(missing_ok=True)

    def write(self, outputs: Iterable[Path], fields: dict[str, Any]) -> dict[str, Any]:
        """The record, last: `fields` and every output's identity, named relative to the record's folder
        (an `outputs` among the fields, an earlier record's, is replaced)."""
        listed = {self.name_of(Path(output)): identity(output) for output in outputs}
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

    def finished(self, outputs: Iterable[Path], expected: dict[str, Any]) -> dict[str, Any] | None:
        """The record, if the work it describes is finished as asked: each of `expected` equal to the
        record's, each of `outputs` present, and every output it lists unchanged; else None."""
        record = self.read()
        if record is None or any(record.get(key) != value for key, value in expected.items()):
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
