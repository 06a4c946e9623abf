"""Atomic file writes: a crash, a kill or a full disk never leaves a half-written file under a
final name, and the temporary files a killed write leaves are recognised and removed later.

A file is written to `.<name>.<host>-<pid>.<random>.tmp` in its destination folder, flushed to
disk, then renamed over `<name>` in one step; the previous file stays whole until then.

A command's outputs are a set (`output_set`): inside it, every file is written to its temporary
and none is renamed until all are complete, so a failed write keeps the whole previous set.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
FULL_BELOW = 256 * 1024  # bytes free: a library's write error on a disk this full was for want of room
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


def full(folder: Path) -> bool:
    """The filesystem of `folder` has (next to) no room left: how a library that writes through its
    own code (GDAL's GeoTIFF and GeoPackage drivers, SQLite) fails on a full disk, in its own words."""
    try:
        return shutil.disk_usage(folder).free < FULL_BELOW
    except OSError:
        return False


def cannot_write(target: Path, error: OSError, kept: str | None = None) -> OutputError:
    """The one line for a file that could not be written, and what is left of the previous one."""
    if kept is None:
        kept = "the previous file is unchanged" if target.exists() else "nothing was written"
    return OutputError(error.errno, f"{target}: cannot write ({error.strerror or error}); {kept}")


class OutputSet:
    """The files a command writes as one set: each written to its temporary, and all renamed over
    the previous set only once every one is complete (`output_set`)."""

    def __init__(self, replaces: Iterable[Path] = (), before_replacing: Callable[[], Any] | None = None) -> None:
        self.staged: dict[Path, Path] = {}  # target -> its complete temporary
        self.replaces = [Path(path) for path in replaces]
        self.before_replacing = before_replacing

    def join(self, replaces: Iterable[Path], before_replacing: Callable[[], Any] | None) -> None:
        """Take in a smaller set's old files and its step before replacing."""
        self.replaces += [Path(path) for path in replaces]
        steps = [step for step in (self.before_replacing, before_replacing) if step is not None]
        self.before_replacing = (lambda: [step() for step in steps]) if steps else None

    def stage(self, tmp: Path, target: Path) -> None:
        if (earlier := self.staged.pop(target, None)) is not None:
            earlier.unlink(missing_ok=True)  # written twice: the last one counts
        self.staged[target] = tmp

    def discard(self) -> None:
        for tmp in self.staged.values():
            tmp.unlink(missing_ok=True)
        self.staged.clear()

    def commit(self) -> list[Path]:
        """Rename every staged file over its target and remove the old set's files this one lacks;
        a failure names which files are new and which are still the previous set's."""
        for target in self.staged:
            if target.is_dir():  # the one rename failure that can be foreseen: refused before any
                self.discard()
                raise cannot_write(
                    target, IsADirectoryError(21, "a folder is in the way"), "no file of the set changed"
                )
        if self.before_replacing is not None:
            self.before_replacing()
        done: list[Path] = []
        for target, tmp in list(self.staged.items()):
            try:
                os.replace(tmp, target)
            except OSError as error:
                left = [path for path in self.staged if path not in done]
                self.discard()
                kept = f"new: {names(done) or 'none'}; still the previous run's: {names(left)}"
                raise cannot_write(target, error, kept) from error
            done.append(target)
        self.staged.clear()
        for path in self.replaces:
            if path not in done:
                path.unlink(missing_ok=True)  # the old set's, not made this time: never taken for this run's
        return done


def names(paths: Iterable[Path]) -> str:
    return ", ".join(str(path) for path in paths)


_OPEN_SET: ContextVar[OutputSet | None] = ContextVar("output_set", default=None)


@contextmanager
def output_set(replaces: Iterable[Path] = (), before_replacing: Callable[[], Any] | None = None) -> Iterator[OutputSet]:
    """Write a command's outputs as one set: every atomic write inside the block goes to its
    temporary, and only when the block ends well do they all replace the previous set, after
    `before_replacing` (a record of "finished" forgotten) and with the files of `replaces` that this
    set lacks removed. A failure inside the block leaves the previous set, record included, as it was."""
    if (outer := _OPEN_SET.get()) is not None:  # a part of a larger set: it joins that one
        outer.join(replaces, before_replacing)
        yield outer
        return
    opened = OutputSet(replaces, before_replacing)
    token = _OPEN_SET.set(opened)
    try:
        yield opened
    except BaseException:
        opened.discard()
        raise
    finally:
        _OPEN_SET.reset(token)
    opened.commit()


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; flush it and rename it over `target` only if the
    block succeeds (inside an `output_set`, when the set is complete). A failure to write is an
    `OutputError` naming `target`."""
    target = Path(target)
    tmp = None
    try:
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder is in the way")
        if file := next((folder for folder in target.parents if folder.exists() and not folder.is_dir()), None):
            raise NotADirectoryError(errno.ENOTDIR, f"{file} is a file, not a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{HOST}-{os.getpid()}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        yield Path(tmp)
        with open(tmp, "rb+") as written:  # on disk before the rename makes it the file
            os.fsync(written.fileno())
        if (staging := _OPEN_SET.get()) is not None:
            staging.stage(Path(tmp), target)
            tmp = None  # the set renames it, or removes it
        else:
            os.replace(tmp, target)
    except Exception as error:
        if isinstance(error, OutputError) or (not isinstance(error, OSError) and not full(target.parent)):
            raise
        reason = error if isinstance(error, OSError) else OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        in_set = _OPEN_SET.get() is not None
        raise cannot_write(target, reason, "no earlier output was changed" if in_set else None) from error
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
    return process_is_gone(int(pid))


def process_is_gone(pid: int) -> bool:
    """No process `pid` runs on this machine (one under another user still counts as running)."""
    try:
        os.kill(pid, 0)
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
