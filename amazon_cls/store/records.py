"""How a record of finished work names its inputs and outputs: by what they hold. A file's identity
is its size and a hash of its content (BLAKE2b), beside its modification and status-change times.
Those times are a shortcut: while the size and both times are unchanged the content is taken as
unchanged without hashing again, and a file written since (even at the same size, even with its
modification time put back, since the status-change time cannot be) is hashed and compared. So a
scene replaced in place is found, and a folder copied elsewhere (new times, same bytes) is not
taken for a damaged one."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HASH = "blake2b"


def identity(path: str | os.PathLike) -> dict[str, Any]:
    """What a file is, as a record keeps it: its path, size, times and content hash."""
    stat = os.stat(path)
    return {
        "path": str(path),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
        HASH: content_hash(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino),
    }


@functools.lru_cache(maxsize=1024)
def content_hash(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    """The file's BLAKE2b, computed once per process while its size, times and inode stay these."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def changed(recorded: dict[str, Any]) -> str | None:
    """How the file a record names differs from what the record says, or None if it holds the same."""
    path = Path(recorded["path"])
    if not path.is_file():
        return f"{path} is gone"
    stat = path.stat()
    if stat.st_size != recorded["size"]:
        return f"{path} changed since (size {recorded['size']} -> {stat.st_size} bytes)"
    if HASH not in recorded:  # a record made before content hashes: its times are all it has
        if stat.st_mtime_ns != recorded["mtime_ns"]:
            return f"{path} changed since (modified; recorded before content hashes were kept)"
        return None
    if (stat.st_mtime_ns, stat.st_ctime_ns) == (recorded["mtime_ns"], recorded.get("ctime_ns")):
        return None  # not written since: no need to read it
    if identity(path)[HASH] != recorded[HASH]:
        return f"{path} changed since (same size, other content)"
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
