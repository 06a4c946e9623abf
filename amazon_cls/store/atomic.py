"""Atomic file writes: a crash, a kill or a full disk never leaves a half-written file under a
final name, and the temporary files a killed write leaves are recognised and removed later.

A file is written to `.<name>.<host>-<pid>.<random>.tmp` in its destination folder, flushed to
disk, then renamed over `<name>` in one step; the previous file stays whole until then.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
HOST = socket.gethostname().replace(".", "_").replace("-", "_")


@cache
def _umask() -> int:
    """The process's umask (read once, when the first file is written: reading it means setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputError(OSError):
    """A file that could not be written (a full disk, no permission): the message names it and says
    that the previous file, if any, is unchanged."""

    def __str__(self) -> str:
        return str(self.strerror)


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; flush it and rename it over `target` only if the
    block succeeds. A failure to write is an `OutputError` naming `target`."""
    target = Path(target)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{HOST}-{os.getpid()}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        yield Path(tmp)
        with open(tmp, "rb+") as written:  # on disk before the rename makes it the file
            os.fsync(written.fileno())
        os.replace(tmp, target)
    except OSError as error:
        if isinstance(error, OutputError):
            raise
        kept = "the previous file is unchanged" if target.exists() else "nothing was written"
        raise OutputError(error.errno, f"{target}: cannot write ({error.strerror or error}); {kept}") from error
    finally:
        if tmp and os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(target: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp_path)` and move the result to `target` in one rename."""
    with atomic_path(target) as tmp:
        write(tmp)
    return Path(target)


def write_json(target: str | os.PathLike, data: Any) -> Path:
    """JSON, strictly: a NaN or infinity is an error here, never a bare `NaN` that is not JSON."""
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    return write_atomic(target, lambda tmp: tmp.write_text(text))


def write_text(target: str | os.PathLike, text: str) -> Path:
    return write_atomic(target, lambda tmp: tmp.write_text(text))


def write_csv(target: str | os.PathLike, frame: pd.DataFrame) -> Path:
    return write_atomic(target, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))


def _writer_is_gone(tmp: Path) -> bool:
    """A temporary file of ours whose writing process, on this host, no longer runs."""
    owner = tmp.name.removesuffix(".tmp").rsplit(".", 2)
    if len(owner) != 3 or "-" not in owner[1]:
        return False
    host, _, pid = owner[1].rpartition("-")
    if host != HOST or not pid.isdigit():
        return False  # another machine's write (shared filesystem) may still be running
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, under another user
    return False


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed writes left in `folder` and below; returns them."""
    folder = Path(folder)
    stale = [tmp for tmp in folder.rglob(".*.tmp") if _writer_is_gone(tmp)] if folder.is_dir() else []
    for tmp in stale:
        tmp.unlink(missing_ok=True)
        log.warning("Removed %s, left by a write that was killed", tmp)
    return stale
