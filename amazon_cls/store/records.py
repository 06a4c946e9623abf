"""How a record of finished work names its inputs and outputs: by what they are (size and
modification time beside the path), so that a file replaced at the same path (a re-trained
`best` checkpoint, a scene written again, a labels file edited) is never taken for the one the
record describes. Hashing every byte of a scene or a data set would cost more than the work."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def identity(path: str | os.PathLike) -> dict[str, Any]:
    """What a file is, as a record keeps it: its path, size and modification time."""
    stat = os.stat(path)
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def changed(recorded: dict[str, Any]) -> str | None:
    """How the file a record names differs from what the record says, or None if it is the same."""
    path = Path(recorded["path"])
    if not path.is_file():
        return f"{path} is gone"
    now = identity(path)
    if (now["size"], now["mtime_ns"]) != (recorded["size"], recorded["mtime_ns"]):
        return f"{path} changed since (size {recorded['size']} -> {now['size']} bytes)"
    return None


def fingerprint(paths: Iterable[str | os.PathLike], salt: str = "") -> str:
    """One hash of many files' names, sizes and modification times (missing ones count as missing)."""
    digest = hashlib.sha1(salt.encode())
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            digest.update(f"{path}:missing\n".encode())
    return digest.hexdigest()[:16]
