"""Atomic file writes: a crash never leaves a half-written file that a later step reads as valid."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(target: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp_path)` and move the result to `target` in one rename."""
    with atomic_path(target) as tmp:
        write(tmp)
    return Path(target)


def write_json(target: str | os.PathLike, data: Any) -> Path:
    return write_atomic(target, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def write_csv(target: str | os.PathLike, frame: pd.DataFrame) -> Path:
    return write_atomic(target, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))
