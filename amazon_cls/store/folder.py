"""A file of an output folder, named once: `report = File("report.md")` in a folder's class makes
`folder.report` the path `folder.path / "report.md"`, so each folder class is its list of names."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class File:
    """A descriptor: the path of the named file (or folder) inside the instance's `path`."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, folder: Any, owner: type | None = None) -> Path:
        if folder is None:  # on the class (documentation, introspection): the name itself
            return Path(*self.parts)
        return Path(folder.path, *self.parts)
